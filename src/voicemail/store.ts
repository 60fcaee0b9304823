import { sql, type Selectable } from 'kysely';
import type { Db } from '../adapters/postgres.js';
import type { VoicemailsTable } from '../adapters/db-schema.js';

/**
 * The voicemail pipeline's query module: the `voicemails` rows as the store job, its failures
 * and an admin's retry move them along. pipeline.ts decides and does the I/O outside the
 * database; every read and write of the table for it happens here. The API's reads, playback
 * tokens and the provider's "heard" mark are in ./playback.ts.
 */

export type VoicemailRecord = Selectable<VoicemailsTable>;
export type VoicemailState = VoicemailRecord['state'];
type Failure = { error: string; transient: boolean };

export async function loadVoicemail(db: Db, id: string): Promise<VoicemailRecord | undefined> {
  return db.selectFrom('voicemails').selectAll().where('id', '=', id).executeTakeFirst();
}

/** A practice's voicemail by id (another practice's id is not found). */
export async function loadPracticeVoicemail(db: Db, practiceId: string, id: string): Promise<VoicemailRecord | undefined> {
  return db.selectFrom('voicemails').selectAll().where('id', '=', id).where('practice_id', '=', practiceId).executeTakeFirst();
}

export async function findByRecordingSid(db: Db, recordingSid: string): Promise<Pick<VoicemailRecord, 'id' | 'recording_sid' | 'state'> | undefined> {
  return db.selectFrom('voicemails').select(['id', 'recording_sid', 'state']).where('recording_sid', '=', recordingSid).executeTakeFirst();
}

/** Inserts a received voicemail; undefined when its recording (or reference code) is already taken. */
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
  return db
    .insertInto('voicemails')
    .values({
      practice_id: v.practiceId,
      call_sid: v.callSid,
      recording_sid: v.recordingSid,
      reference_code: v.referenceCode,
      urgency: v.urgency,
      caller_verified: v.callerVerified,
      patient_id: v.patientId,
      flow_node: v.flowNode,
      duration_seconds: v.durationSeconds,
      updated_at: v.at,
    })
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
export async function reopenFailed(db: Db, id: string, at: Date): Promise<boolean> {
  const moved = await db
    .updateTable('voicemails')
    .set({ state: 'received', last_error: null, last_error_transient: false, updated_at: at, requeues: 0 })
    .where('id', '=', id)
    .where('state', '=', 'failed')
    .executeTakeFirst();
  return Number(moved.numUpdatedRows) > 0;
}

/** An admin's retry of a stored voicemail: a fresh requeue budget, state unchanged. */
export async function resetRequeues(db: Db, id: string, at: Date): Promise<void> {
  await db.updateTable('voicemails').set({ updated_at: at, requeues: 0 }).where('id', '=', id).execute();
}
