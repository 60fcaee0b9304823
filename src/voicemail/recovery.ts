import type { AppContext } from '../app-context.js';
import type { Services } from '../services.js';
import { AuditAction } from '../audit/events.js';
import { pingDb } from '../adapters/postgres.js';
import { lastQueueFailureAt, queueIsReady } from '../adapters/queue.js';
import { logger } from '../log/logger.js';
import { withDeadline } from '../adapters/deadline.js';
import { replaySpooledRecording } from '../calls/voice-service.js';
import { enqueueVoicemail } from './pipeline.js';
import { reconcileRecordings } from './maintenance.js';
import { unfinishedVoicemails } from './store.js';

/**
 * Recovery of voicemail after a fault, in every instance that runs the workers, on a local timer
 * (not a BullMQ job: Redis may be what failed):
 *
 * - at start-up, and then every RECOVER_EVERY_MS (rows untouched for RECOVER_UNTOUCHED_MS), rows
 *   left `received` or `stored` (a crash between the row and its job, a job lost with Redis) are
 *   queued again — an urgent message is no longer 15 minutes late after a crash; a job already
 *   waiting, delayed or running is left alone;
 * - every tick, spooled recording callbacks (./spool.ts) are replayed once PostgreSQL answers; an
 *   entry that failed SPOOL_MAX_TRIES replays is dead-lettered (audited, logged), and entries still
 *   waiting do not hold up the passes below;
 * - when PostgreSQL answers again after failing (or spooled callbacks were replayed), the
 *   reconciler runs at once instead of waiting for its 15-minute timer;
 * - when the queue's Redis is back after failing (or a voicemail's job could not be queued since
 *   the last pass), stranded rows are queued at once.
 *
 * A job whose worker died mid-run is BullMQ's: another worker's stalled-job check moves it back to
 * waiting once its lock (30 s) lapses.
 */

export const RECOVERY_TICK_MS = 5_000;
export const RECOVER_EVERY_MS = 30_000;
/**
 * The periodic pass leaves rows touched more recently alone (their callback or job may be queueing
 * them right now). Passes after a fault, and at start-up, take every row.
 */
export const RECOVER_UNTOUCHED_MS = 30_000;
const RECOVER_BATCH = 500;

/**
 * Queues every voicemail still in the pipeline without a live job (`untouchedForMs`: only rows not
 * updated for that long). Idempotent (jobId per RecordingSid).
 */
export async function recoverVoicemails(
  services: Pick<AppContext, 'db' | 'queues' | 'audit' | 'clock'>,
  opts: { untouchedForMs?: number } = {},
): Promise<{ requeued: number; alreadyQueued: number }> {
  const untouchedSince = opts.untouchedForMs !== undefined ? new Date(services.clock().getTime() - opts.untouchedForMs) : undefined;
  const rows = await unfinishedVoicemails(services.db, RECOVER_BATCH, untouchedSince);
  let requeued = 0;
  let alreadyQueued = 0;
  for (const v of rows) {
    if ((await enqueueVoicemail(services, v)) === 'already_queued') {
      alreadyQueued += 1;
      continue;
    }
    requeued += 1;
    await services.audit({
      action: AuditAction.VoicemailRequeued,
      actor: 'system:recovery',
      practiceId: v.practice_id,
      callSid: v.call_sid,
      subjectId: v.id,
      details: { reason: 'recovery', previousState: v.state },
    });
  }
  return { requeued, alreadyQueued };
}

export interface VoicemailRecovery {
  /** One pass (what the timer runs); exported for tests. */
  tick(): Promise<void>;
  close(): Promise<void>;
}

/**
 * What the recovery loop uses: the spool, what replaying a spooled callback takes (the call path's
 * own dependencies, calls/voice-service.ts) and what the reconciler takes.
 */
export type RecoveryDeps = Pick<Services, 'recordingSpool'> & Parameters<typeof replaySpooledRecording>[0] & Parameters<typeof reconcileRecordings>[0];

export function startVoicemailRecovery(services: RecoveryDeps, opts: { tickMs?: number; recoverEveryMs?: number } = {}): VoicemailRecovery {
  const tickMs = opts.tickMs ?? RECOVERY_TICK_MS;
  const recoverEveryMs = opts.recoverEveryMs ?? RECOVER_EVERY_MS;
  let dbWasDown = false;
  let queueWasDown = false;
  // Start-up counts as a recovery: whatever a crash left is queued on the first tick.
  let lastRecover = Number.NEGATIVE_INFINITY;
  let running: Promise<void> | null = null;
  let closed = false;

  const pass = async (): Promise<void> => {
    try {
      await pingDb(services.db);
    } catch {
      dbWasDown = true;
      return;
    }
    const replayed = await services.recordingSpool.replay((e) => replaySpooledRecording(services, e));
    if (replayed.done > 0 || replayed.kept > 0) logger.info('spooled recording callbacks replayed', { count: replayed.done, waiting: replayed.kept });
    for (const recordingSid of replayed.deadLettered) {
      // Kept in spool/dead.jsonl; the reconciler still finds the recording at Twilio.
      logger.error('spooled recording callback dead-lettered after repeated failed replays', { recordingSid });
      await services
        .audit({ action: AuditAction.VoicemailSpoolDeadLettered, actor: 'system:recovery', practiceId: null, subjectId: recordingSid })
        .catch((err: unknown) => logger.error('audit write failed', { err }));
    }
    // Entries still waiting (the database failed again, or one entry keeps failing) hold up nothing below.
    if (dbWasDown || replayed.done > 0) {
      dbWasDown = false;
      // Callbacks Twilio gave up on while PostgreSQL was away: found now, not in 15 minutes.
      // Once: should Twilio's API fail now, the reconciler's own 15-minute timer tries again.
      const reconciled = await reconcileRecordings(services).catch((err: unknown) => {
        logger.warn('reconciler after recovery failed; its timer will try again', { err });
        return null;
      });
      if (reconciled) logger.info('reconciled after the database came back', { count: reconciled.queued });
      // Nothing else to queue: a job that met the outage is still in BullMQ (retrying), and a row
      // whose job could not be queued is owed one through the queue's failure, below.
    }
    if (!(await queueIsReady(services.queues.voicemail))) {
      queueWasDown = true;
      return;
    }
    const now = Date.now();
    // A voicemail whose job could not be queued since the last pass (Redis down or hung) is owed one.
    const enqueueFailed = lastQueueFailureAt(services.queues.voicemail) >= lastRecover;
    const afterFault = queueWasDown || enqueueFailed || lastRecover === Number.NEGATIVE_INFINITY;
    if (afterFault || now - lastRecover >= recoverEveryMs) {
      const result = await recoverVoicemails(services, afterFault ? {} : { untouchedForMs: RECOVER_UNTOUCHED_MS });
      queueWasDown = false;
      lastRecover = now;
      if (result.requeued > 0) logger.info('stranded voicemails queued again', { count: result.requeued });
    }
  };

  const tick = (): Promise<void> => {
    if (running) return running;
    const current = pass()
      .catch((err: unknown) => {
        logger.warn('voicemail recovery pass failed', { err });
      })
      .finally(() => {
        running = null;
      });
    running = current;
    return current;
  };

  const timer = setInterval(() => {
    if (!closed) void tick();
  }, tickMs);
  timer.unref();
  void tick();

  return {
    tick,
    close: async () => {
      closed = true;
      clearInterval(timer);
      // A pass stuck on a hung database is not waited for beyond a moment: the pools close next.
      if (running) await withDeadline(running, 1_000, { unref: true });
    },
  };
}
