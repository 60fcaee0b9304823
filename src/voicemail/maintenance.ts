import type { AppContext } from '../app-context.js';
import { AuditAction } from '../audit/events.js';
import { deleteAtTwilio, enqueueVoicemail, receiveRecording, type ReceiveDeps } from './pipeline.js';
import { logger } from '../log/logger.js';
import { latestDetailsOfCall } from '../audit/store.js';
import { countRequeue, dueForRetention, findByRecordingSid, markExpired, requeueFailed, sweepCandidates } from './store.js';

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
export async function reconcileRecordings(services: ReceiveDeps & Pick<AppContext, 'twilio'>): Promise<{ seen: number; queued: number }> {
  const since = new Date(services.clock().getTime() - RECONCILE_WINDOW_MS);
  let seen = 0;
  let queued = 0;
  for await (const rec of services.twilio.listRecordings({ dateCreatedAfter: since, pageSize: 100 })) {
    seen += 1;
    if (rec.status !== 'completed') continue;
    if ((await findByRecordingSid(services.db, rec.sid)) !== undefined) continue;
    // Urgency from what the call recorded when the message was taken; unknown counts as urgent.
    const takenDetails = (await latestDetailsOfCall(services.db, rec.callSid, AuditAction.VoicemailTaken)) as { urgency?: string; verified?: unknown } | undefined;
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
export async function applyRetention(services: Pick<AppContext, 'db' | 'audit' | 'clock' | 'twilio' | 'storage'>): Promise<{ deleted: number; twilioPending: number }> {
  const now = services.clock();
  const due = await dueForRetention(services.db, now, 500);
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
    await markExpired(services.db, v.id, now);
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
export async function sweepVoicemails(services: Pick<AppContext, 'db' | 'audit' | 'clock' | 'queues'>, now: Date = services.clock()): Promise<{ requeued: number; alreadyQueued: number }> {
  const stuckBefore = new Date(now.getTime() - STUCK_AFTER_MS);
  const retryBefore = new Date(now.getTime() - DEAD_LETTER_RETRY_AFTER_MS);
  const notifyAfter = new Date(now.getTime() - NOTIFY_WITHIN_MS);
  const transientAfter = new Date(now.getTime() - RECONCILE_WINDOW_MS);
  const rows = await sweepCandidates(services.db, { stuckBefore, retryBefore, notifyAfter, transientAfter, maxRequeues: MAX_SWEEP_REQUEUES, limit: SWEEP_BATCH });
  let requeued = 0;
  let alreadyQueued = 0;
  for (const v of rows) {
    const reason: SweepReason = v.state === 'failed' || v.dead_letter_reason !== null ? 'dead_letter_retry' : 'stuck';
    try {
      if (v.state === 'failed') {
        // Back to `received` before the job exists, so the job finds work to do. Should the
        // enqueue fail, the row is an ordinary stuck one for the next sweep.
        if (!(await requeueFailed(services.db, v.id, now))) continue;
        await enqueueVoicemail(services, v);
      } else {
        if ((await enqueueVoicemail(services, v)) === 'already_queued') {
          alreadyQueued += 1;
          continue;
        }
        await countRequeue(services.db, v.id, now);
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
