import type { AppContext } from '../app-context.js';
import { queueCommand } from '../adapters/queue.js';
import { logger } from '../log/logger.js';

/**
 * A webhook hands the making of a callback task to a job instead of making it before it answers
 * Twilio: reading the call back, opening the caller's number and sealing it again costs more than
 * the rest of a final status callback, or of a patient's text. The webhook answers once its own
 * durable record is stored (the call's outcome, the sealed text); this job, on the maintenance
 * queue, makes the task (ids only in the payload), and the task sweep (./background.ts) makes any
 * task whose job was lost, so a 2xx still means the task will be there.
 */

/** A callback task to make from a stored record. Ids only: BullMQ keeps job data in clear text. */
export interface CallbackTaskJobData {
  task: 'callback-task';
  source: 'abandoned_call' | 'patient_text';
  practiceId: string;
  /** The call's SID, or the text's id. */
  sourceId: string;
}

/** One job per source (a repeated webhook queues nothing twice); no `:` in BullMQ ids. */
export function callbackTaskJobId(source: CallbackTaskJobData['source'], sourceId: string): string {
  return `task-${source}-${sourceId}`;
}

/**
 * Queues the task's job. Never throws: the record is stored already, and a job that could not be
 * queued (Redis down or slow) is the task sweep's to make up, within its interval.
 */
export async function queueCallbackTask(deps: Pick<AppContext, 'queues'>, input: Omit<CallbackTaskJobData, 'task'>): Promise<void> {
  const data: CallbackTaskJobData = { task: 'callback-task', ...input };
  try {
    await queueCommand(deps.queues.maintenance, () => deps.queues.maintenance.add('callback-task', data, { jobId: callbackTaskJobId(input.source, input.sourceId) }));
  } catch (err) {
    logger.warn('callback task not queued; the task sweep will make it', { err, practiceId: input.practiceId, source: input.source });
  }
}
