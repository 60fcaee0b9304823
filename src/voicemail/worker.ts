import type { Worker } from 'bullmq';
import { isLastAttempt, startWorker } from '../adapters/queue.js';
import type { AppContext } from '../app-context.js';
import { processVoicemailJob, type VoicemailJobDeps, VOICEMAIL_BACKOFF_BASE_MS, VOICEMAIL_BACKOFF_TYPE, voicemailBackoffMs, type VoicemailJobData } from './pipeline.js';

/**
 * The voicemail queue's worker. It has its own backoff strategy (exponential from 5 s, capped
 * at 10 min, jittered: BullMQ's built-in exponential has no cap) and tells the processor which
 * attempt is the last, so the dead-letter list is written by the job itself — awaited, not from
 * a fire-and-forget 'failed' listener.
 */
export function startVoicemailWorker(services: VoicemailJobDeps & Pick<AppContext, 'config'>, concurrency = 2): Worker<VoicemailJobData> {
  return startWorker<VoicemailJobData>(
    services.config,
    'voicemail',
    async (job) => processVoicemailJob(services, job.data, { number: job.attemptsMade + 1, last: isLastAttempt(job) }),
    concurrency,
    {
      backoffStrategy: (attemptsMade, type, _err, job) => {
        const backoff = job?.opts.backoff;
        const base = typeof backoff === 'object' && typeof backoff.delay === 'number' ? backoff.delay : VOICEMAIL_BACKOFF_BASE_MS;
        // Only our type reaches a custom strategy; anything else retries at once rather than never.
        return type === VOICEMAIL_BACKOFF_TYPE ? voicemailBackoffMs(attemptsMade, base) : 0;
      },
    },
  );
}
