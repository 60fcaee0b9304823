import { sql, type Selectable } from 'kysely';
import type { Db } from '../adapters/postgres.js';
import type { VoicemailsTable } from '../adapters/db-schema.js';
import type { PracticeScope } from '../tenancy/scope.js';

/**
 * The voicemail pipeline's query module: the `voicemails` rows as the store job, its failures
 * and an admin's retry move them along. pipeline.ts decides and does the I/O outside the
 * database; every read and write of the table for it happens here. The API's reads, playback
 * tokens and the provider's "heard" mark are in ./playback-store.ts.
 */

export type VoicemailRecord = Selectable<VoicemailsTable>;
export type VoicemailState = VoicemailRecord['state'];
type Failure = { error: string; transient: boolean };

export async function loadVoicemail(db: Db, id: string): Promise<VoicemailRecord | undefined> {
  return db.selectFrom('voicemails').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The scope's voicemail by id (another practice's id is not found). */
export async function loadPracticeVoicemail(scope: PracticeScope, id: string): Promise<VoicemailRecord | undefined> {
  return scope.db.selectFrom('voicemails').selectAll().where('id', '=', id).where('practice_id', '=', scope.practiceId).executeTakeFirst();
}

export async function findByRecordingSid(db: Db, recordingSid: string): Promise<Pick<VoicemailRecord, 'id' | 'recording_sid' | 'state'> | undefined> {
  return db.selectFrom('voicemails').select(['id', 'recording_sid', 'state']).where('recording_sid', '=', recordingSid).executeTakeFirst();
}

/**
 * Inserts a received voicemail; undefined when its recording is already recorded, or when its
 * reference code is in use by a page or a voicemail of another call (the call's own page lends
 * its code: one code plays the message and stops the paging).
 */
export async function insertReceived(
  db: Db,
  v: {
    practiceId: string;
    callSid: string;
    recordingSid: string;
    referenceCode: string;
    urgency: 'urgent' | 'routine';
    callerVerified: boolean;
    patientId: string | null;
    flowNode: string | null;
    durationSeconds: number | null;
    at: Date;
  },
): Promise<Pick<VoicemailRecord, 'id' | 'recording_sid' | 'state'> | undefined> {
  const inUse = sql<boolean>`(EXISTS (SELECT 1 FROM pages WHERE reference_code = ${v.referenceCode} AND call_sid <> ${v.callSid})
    OR EXISTS (SELECT 1 FROM voicemails WHERE reference_code = ${v.referenceCode} AND call_sid <> ${v.callSid}))`;
  return db
    .insertInto('voicemails')
    .columns(['practice_id', 'call_sid', 'recording_sid', 'reference_code', 'urgency', 'caller_verified', 'patient_id', 'flow_node', 'duration_seconds', 'updated_at'])
    .expression(
      db
        .selectNoFrom([
          sql<string>`${v.practiceId}::uuid`.as('practice_id'),
          sql<string>`${v.callSid}::text`.as('call_sid'),
          sql<string>`${v.recordingSid}::text`.as('recording_sid'),
          sql<string>`${v.referenceCode}::text`.as('reference_code'),
          sql<string>`${v.urgency}::text`.as('urgency'),
          sql<boolean>`${v.callerVerified}::boolean`.as('caller_verified'),
          sql<string | null>`${v.patientId}::uuid`.as('patient_id'),
          sql<string | null>`${v.flowNode}::text`.as('flow_node'),
          sql<number | null>`${v.durationSeconds}::int`.as('duration_seconds'),
          sql<Date>`${v.at}::timestamptz`.as('updated_at'),
        ])
        .where(sql<boolean>`NOT ${inUse}`),
    )
    .onConflict((oc) => oc.doNothing())
    .returning(['id', 'recording_sid', 'state'])
    .executeTakeFirst();
}

/** A received voicemail is stored: its encrypted copy's key, sizes and digest. */
export async function markStored(
  db: Db,
  id: string,
  stored: { storageKey: string; contentType: string; plaintextBytes: number; plaintextSha256: string; ciphertextBytes: number; simulated: boolean; at: Date },
): Promise<void> {
  await db
    .updateTable('voicemails')
    .set({
      state: 'stored',
      storage_key: stored.storageKey,
      content_type: stored.contentType,
      plaintext_bytes: stored.plaintextBytes,
      plaintext_sha256: stored.plaintextSha256,
      ciphertext_bytes: stored.ciphertextBytes,
      simulated: stored.simulated,
      stored_at: stored.at,
      last_error: null,
      last_error_transient: false,
      updated_at: stored.at,
    })
    .where('id', '=', id)
    .where('state', '=', 'received')
    .execute();
}

/** Twilio's copy is gone: the pipeline completes a stored voicemail; retention only notes it. */
export async function markTwilioDeleted(db: Db, id: string, by: 'pipeline' | 'retention', at: Date): Promise<void> {
  if (by === 'pipeline') {
    await db.updateTable('voicemails').set({ state: 'complete', twilio_deleted_at: at, updated_at: at }).where('id', '=', id).where('state', '=', 'stored').execute();
  } else {
    await db.updateTable('voicemails').set({ twilio_deleted_at: at, updated_at: at }).where('id', '=', id).where('twilio_deleted_at', 'is', null).execute();
  }
}

/** Off the dead-letter list: every step is done. */
export async function clearDeadLetter(db: Db, id: string, at: Date): Promise<void> {
  await db.updateTable('voicemails').set({ dead_letter_reason: null, last_error: null, last_error_transient: false, updated_at: at }).where('id', '=', id).execute();
}

/** Counts a job attempt; false when the row is gone. */
export async function countAttempt(db: Db, id: string): Promise<boolean> {
  const updated = await db
    .updateTable('voicemails')
    .set({ attempts: sql<number>`attempts + 1` })
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) > 0;
}

/** A failed attempt that will be retried. */
export async function recordTransientFailure(db: Db, id: string, f: Failure, at: Date): Promise<void> {
  await db.updateTable('voicemails').set({ last_error: f.error, last_error_transient: f.transient, updated_at: at }).where('id', '=', id).execute();
}

/** A received voicemail whose store ran out of attempts: failed (dead-lettered). */
export async function markStoreFailed(db: Db, id: string, f: Failure, at: Date): Promise<void> {
  await db
    .updateTable('voicemails')
    .set({ state: 'failed', last_error: f.error, last_error_transient: f.transient, updated_at: at })
    .where('id', '=', id)
    .where('state', '=', 'received')
    .execute();
}

/** A stored voicemail whose deletion or announcement ran out of attempts: dead-lettered with the reason. */
export async function markDeadLettered(db: Db, id: string, reason: 'twilio_delete_failed' | 'notify_failed', f: Failure, at: Date): Promise<void> {
  await db
    .updateTable('voicemails')
    .set({ dead_letter_reason: reason, last_error: f.error, last_error_transient: f.transient, updated_at: at })
    .where('id', '=', id)
    .execute();
}

/** An admin's retry of a failed voicemail: back to received with a fresh requeue budget; false if it changed meanwhile. */
export async function reopenFailed(scope: PracticeScope, id: string, at: Date): Promise<boolean> {
  const moved = await scope.db
    .updateTable('voicemails')
    .set({ state: 'received', last_error: null, last_error_transient: false, updated_at: at, requeues: 0 })
    .where('id', '=', id)
    .where('practice_id', '=', scope.practiceId)
    .where('state', '=', 'failed')
    .executeTakeFirst();
  return Number(moved.numUpdatedRows) > 0;
}

/** An admin's retry of a stored voicemail: a fresh requeue budget, state unchanged. */
export async function resetRequeues(scope: PracticeScope, id: string, at: Date): Promise<void> {
  await scope.db.updateTable('voicemails').set({ updated_at: at, requeues: 0 }).where('id', '=', id).where('practice_id', '=', scope.practiceId).execute();
}

// ---------------------------------------------------------------------------
// Announcement (./notify.ts)

/** The recipients (keys) a voicemail was already announced to. */
export async function notifiedRecipients(db: Db, voicemailId: string): Promise<Set<string>> {
  const rows = await db.selectFrom('voicemail_notifications').select('recipient').where('voicemail_id', '=', voicemailId).execute();
  return new Set(rows.map((r) => r.recipient));
}

export async function recordNotification(db: Db, n: { voicemailId: string; recipient: string; messageSid: string; at: Date }): Promise<void> {
  await db
    .insertInto('voicemail_notifications')
    .values({ voicemail_id: n.voicemailId, recipient: n.recipient, message_sid: n.messageSid, sent_at: n.at })
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/** Marks a voicemail announced; false when it already was. */
export async function markNotified(db: Db, id: string, at: Date): Promise<boolean> {
  const marked = await db.updateTable('voicemails').set({ notified_at: at }).where('id', '=', id).where('notified_at', 'is', null).executeTakeFirst();
  return Number(marked.numUpdatedRows) > 0;
}

// ---------------------------------------------------------------------------
// Upkeep (./maintenance.ts, ./recovery.ts)

export interface RetentionDue extends Pick<VoicemailRecord, 'id' | 'practice_id' | 'call_sid' | 'recording_sid' | 'simulated' | 'storage_key' | 'twilio_deleted_at'> {
  voicemail_retention_days: number;
}

/** Stored voicemails older than their practice's retention (at most `limit`), across practices. */
export async function dueForRetention(db: Db, now: Date, limit: number): Promise<RetentionDue[]> {
  return db
    .selectFrom('voicemails')
    .innerJoin('practices', 'practices.id', 'voicemails.practice_id')
    .select([
      'voicemails.id',
      'voicemails.practice_id',
      'voicemails.call_sid',
      'voicemails.recording_sid',
      'voicemails.simulated',
      'voicemails.storage_key',
      'voicemails.twilio_deleted_at',
      'practices.voicemail_retention_days',
    ])
    .where('voicemails.state', 'in', ['stored', 'complete'])
    .where('voicemails.storage_key', 'is not', null)
    .where(sql<boolean>`voicemails.created_at < ${now}::timestamptz - make_interval(days => practices.voicemail_retention_days)`)
    .limit(limit)
    .execute();
}

export async function markExpired(db: Db, id: string, at: Date): Promise<void> {
  await db.updateTable('voicemails').set({ state: 'expired', audio_deleted_at: at, updated_at: at }).where('id', '=', id).execute();
}

export type SweepCandidate = Pick<VoicemailRecord, 'id' | 'practice_id' | 'call_sid' | 'recording_sid' | 'state' | 'last_error' | 'dead_letter_reason' | 'requeues'>;

/**
 * What the upkeep sweep puts back on the queue: rows stuck in the pipeline (not dead-lettered,
 * untouched since `stuckBefore`; an unannounced complete one only while `notifyAfter`), and
 * dead-lettered rows a later try may fix (untouched since `retryBefore`, under `maxRequeues`).
 */
export async function sweepCandidates(
  db: Db,
  w: { stuckBefore: Date; retryBefore: Date; notifyAfter: Date; transientAfter: Date; maxRequeues: number; limit: number },
): Promise<SweepCandidate[]> {
  return db
    .selectFrom('voicemails')
    .select(['id', 'practice_id', 'call_sid', 'recording_sid', 'state', 'last_error', 'dead_letter_reason', 'requeues'])
    .where((eb) =>
      eb.or([
        // Stuck in the pipeline, not dead-lettered.
        eb.and([
          eb('dead_letter_reason', 'is', null),
          eb('updated_at', '<', w.stuckBefore),
          eb.or([eb('state', 'in', ['received', 'stored']), eb.and([eb('state', '=', 'complete'), eb('notified_at', 'is', null), eb('created_at', '>', w.notifyAfter)])]),
        ]),
        // Dead-lettered, and a later try may succeed.
        eb.and([
          eb('updated_at', '<', w.retryBefore),
          eb('requeues', '<', w.maxRequeues),
          eb.or([
            eb.and([eb('state', '=', 'failed'), eb('last_error_transient', '=', true), eb('created_at', '>', w.transientAfter)]),
            eb.and([eb('state', 'in', ['stored', 'complete']), eb('dead_letter_reason', '=', 'twilio_delete_failed')]),
            eb.and([eb('state', 'in', ['stored', 'complete']), eb('dead_letter_reason', '=', 'notify_failed'), eb('created_at', '>', w.notifyAfter)]),
          ]),
        ]),
      ]),
    )
    .orderBy('updated_at')
    .limit(w.limit)
    .execute();
}

/** The sweep's requeue of a failed voicemail: back to received, one more requeue counted; false if it changed meanwhile. */
export async function requeueFailed(db: Db, id: string, at: Date): Promise<boolean> {
  const moved = await db
    .updateTable('voicemails')
    .set((eb) => ({ state: 'received' as const, requeues: eb('requeues', '+', 1), updated_at: at }))
    .where('id', '=', id)
    .where('state', '=', 'failed')
    .executeTakeFirst();
  return Number(moved.numUpdatedRows) > 0;
}

export async function countRequeue(db: Db, id: string, at: Date): Promise<void> {
  await db
    .updateTable('voicemails')
    .set((eb) => ({ requeues: eb('requeues', '+', 1), updated_at: at }))
    .where('id', '=', id)
    .execute();
}

/** Rows left received or stored with no dead-letter reason, oldest first (optionally untouched since `untouchedSince`). */
export async function unfinishedVoicemails(db: Db, limit: number, untouchedSince?: Date): Promise<Array<Pick<VoicemailRecord, 'id' | 'practice_id' | 'call_sid' | 'recording_sid' | 'state'>>> {
  let query = db
    .selectFrom('voicemails')
    .select(['id', 'practice_id', 'call_sid', 'recording_sid', 'state'])
    .where('dead_letter_reason', 'is', null)
    .where('state', 'in', ['received', 'stored']);
  if (untouchedSince !== undefined) query = query.where('updated_at', '<', untouchedSince);
  return query.orderBy('created_at').limit(limit).execute();
}
