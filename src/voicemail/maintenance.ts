import { sql } from 'kysely';
import type { Services } from '../services.js';
import { AuditAction } from '../audit/events.js';
import { deleteAtTwilio, enqueueVoicemail, receiveRecording } from './pipeline.js';
import { logger } from '../log/logger.js';

/**
 * Scheduled upkeep of voicemail: the reconciler (nothing lost even if a recording callback
 * never arrived), the sweep (nothing stranded: a row whose job was never queued or whose
 * dead-lettered failure may pass goes back on the queue) and retention (audio deleted when a
 * practice's retention runs out, Twilio's copy first; the row and its audit events stay).
 */

export const RECONCILE_EVERY_MS = 15 * 60_000;
export const RETENTION_EVERY_MS = 60 * 60_000;
/** How far back the reconciler looks at Twilio's recordings. */
export const RECONCILE_WINDOW_MS = 7 * 24 * 60 * 60_000;


/** Compares Twilio's recordings for the account with ours and queues any we never heard of. */
export async function reconcileRecordings(services: Services): Promise<{ seen: number; queued: number }> {
  const since = new Date(services.clock().getTime() - RECONCILE_WINDOW_MS);
  let seen = 0;
  let queued = 0;
  for await (const rec of services.twilio.listRecordings({ dateCreatedAfter: since, pageSize: 100 })) {
    seen += 1;
    if (rec.status !== 'completed') continue;
    const known = await services.db.selectFrom('voicemails').select('id').where('recording_sid', '=', rec.sid).executeTakeFirst();
    if (known) continue;
    // Urgency from what the call recorded when the message was taken; unknown counts as urgent.
    const taken = await services.db
      .selectFrom('audit_log')
      .select('details')
      .where('call_sid', '=', rec.callSid)
      .where('action', '=', 'voicemail.taken')
      .orderBy('seq', 'desc')
      .executeTakeFirst();
    const takenDetails = taken?.details as { urgency?: string; verified?: unknown } | undefined;
    const urgency = takenDetails?.urgency === 'routine' ? 'routine' : 'urgent';
    const result = await receiveRecording(services, {
      callSid: rec.callSid,
      recordingSid: rec.sid,
      durationSeconds: rec.duration,
      urgency,
      node: null,
      source: 'reconciler',
      ...(typeof takenDetails?.verified === 'boolean' ? { verified: takenDetails.verified } : {}),
    });
    if (result?.created) {
      queued += 1;
      await services.audit({ action: AuditAction.VoicemailReconciled, actor: 'system:reconciler', practiceId: null, callSid: rec.callSid, subjectId: result.voicemailId, details: { recordingSid: rec.sid } });
    }
  }
  return { seen, queued };
}

/**
 * Deletes the audio of voicemails older than their practice's retention. Twilio's copy goes
 * first: a voicemail whose Twilio recording cannot be deleted now keeps its audio too (and is
 * tried again next run), so retention never leaves a copy at Twilio behind.
 */
export async function applyRetention(services: Services): Promise<{ deleted: number; twilioPending: number }> {
  const now = services.clock();
  const due = await services.db
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
    .limit(500)
    .execute();
  let deleted = 0;
  let twilioPending = 0;
  for (const v of due) {
    if (v.twilio_deleted_at === null) {
      try {
        await deleteAtTwilio(services, v, 'retention');
      } catch (err) {
        logger.warn('retention: twilio copy not deleted yet; audio kept', { err, voicemailId: v.id });
        twilioPending += 1;
        continue;
      }
    }
    if (v.storage_key) await services.storage.delete(v.storage_key);
    await services.db.updateTable('voicemails').set({ state: 'expired', audio_deleted_at: now, updated_at: now }).where('id', '=', v.id).execute();
    await services.audit({
      action: AuditAction.VoicemailAudioDeleted,
      actor: 'system:retention',
      practiceId: v.practice_id,
      callSid: v.call_sid,
      subjectId: v.id,
      details: { retentionDays: v.voicemail_retention_days },
    });
    deleted += 1;
  }
  return { deleted, twilioPending };
}

export const VOICEMAIL_SWEEP_EVERY_MS = 5 * 60_000;
/** A row in the pipeline untouched this long has no job moving it (a job touches it at every attempt). */
const STUCK_AFTER_MS = 15 * 60_000;
/** A dead-lettered failure that may pass is retried after this long… */
const DEAD_LETTER_RETRY_AFTER_MS = 30 * 60_000;
/** …at most this many times (an admin's retry resets the count). */
const MAX_SWEEP_REQUEUES = 48;
/** An announcement still owed is retried this long after the voicemail arrived, no longer. */
const NOTIFY_WITHIN_MS = 24 * 60 * 60_000;
const SWEEP_BATCH = 200;

type SweepReason = 'stuck' | 'dead_letter_retry';

/**
 * Puts back on the queue what would otherwise stay where it is: rows `received`/`stored` (or
 * `complete` but not announced) that nothing touched for STUCK_AFTER_MS — the recording
 * callback stored the row but Redis failed before its job was queued, or a job vanished — and
 * dead-lettered rows whose last error was transient (storage, KMS or Twilio down longer than the
 * job's attempts), or whose Twilio deletion or announcement ran out of attempts. Idempotent:
 * a job already waiting, delayed or running under the voicemail's jobId is left alone.
 */
export async function sweepVoicemails(services: Services, now: Date = services.clock()): Promise<{ requeued: number; alreadyQueued: number }> {
  const stuckBefore = new Date(now.getTime() - STUCK_AFTER_MS);
  const retryBefore = new Date(now.getTime() - DEAD_LETTER_RETRY_AFTER_MS);
  const notifyAfter = new Date(now.getTime() - NOTIFY_WITHIN_MS);
  const transientAfter = new Date(now.getTime() - RECONCILE_WINDOW_MS);
  const rows = await services.db
    .selectFrom('voicemails')
    .select(['id', 'practice_id', 'call_sid', 'recording_sid', 'state', 'last_error', 'dead_letter_reason', 'requeues'])
    .where((eb) =>
      eb.or([
        // Stuck in the pipeline, not dead-lettered.
        eb.and([
          eb('dead_letter_reason', 'is', null),
          eb('updated_at', '<', stuckBefore),
          eb.or([eb('state', 'in', ['received', 'stored']), eb.and([eb('state', '=', 'complete'), eb('notified_at', 'is', null), eb('created_at', '>', notifyAfter)])]),
        ]),
        // Dead-lettered, and a later try may succeed.
        eb.and([
          eb('updated_at', '<', retryBefore),
          eb('requeues', '<', MAX_SWEEP_REQUEUES),
          eb.or([
            eb.and([eb('state', '=', 'failed'), eb('last_error_transient', '=', true), eb('created_at', '>', transientAfter)]),
            eb.and([eb('state', 'in', ['stored', 'complete']), eb('dead_letter_reason', '=', 'twilio_delete_failed')]),
            eb.and([eb('state', 'in', ['stored', 'complete']), eb('dead_letter_reason', '=', 'notify_failed'), eb('created_at', '>', notifyAfter)]),
          ]),
        ]),
      ]),
    )
    .orderBy('updated_at')
    .limit(SWEEP_BATCH)
    .execute();
  let requeued = 0;
  let alreadyQueued = 0;
  for (const v of rows) {
    const reason: SweepReason = v.state === 'failed' || v.dead_letter_reason !== null ? 'dead_letter_retry' : 'stuck';
    try {
      if (v.state === 'failed') {
        // Back to `received` before the job exists, so the job finds work to do. Should the
        // enqueue fail, the row is an ordinary stuck one for the next sweep.
        const moved = await services.db
          .updateTable('voicemails')
          .set((eb) => ({ state: 'received' as const, requeues: eb('requeues', '+', 1), updated_at: now }))
          .where('id', '=', v.id)
          .where('state', '=', 'failed')
          .executeTakeFirst();
        if (Number(moved.numUpdatedRows) === 0) continue;
        await enqueueVoicemail(services, v);
      } else {
        if ((await enqueueVoicemail(services, v)) === 'already_queued') {
          alreadyQueued += 1;
          continue;
        }
        await services.db
          .updateTable('voicemails')
          .set((eb) => ({ requeues: eb('requeues', '+', 1), updated_at: now }))
          .where('id', '=', v.id)
          .execute();
      }
      await services.audit({
        action: AuditAction.VoicemailRequeued,
        actor: 'system:upkeep',
        practiceId: v.practice_id,
        callSid: v.call_sid,
        subjectId: v.id,
        details: { reason, previousState: v.state, previousError: v.last_error, requeues: v.requeues + 1 },
      });
      requeued += 1;
    } catch (err) {
      logger.error('voicemail sweep could not requeue', { err, voicemailId: v.id });
    }
  }
  return { requeued, alreadyQueued };
}
