import type { Job, Queue } from 'bullmq';
import { until } from './until.js';

export interface FinishedJob {
  id: string;
  name: string;
  state: string;
  returnvalue: unknown;
}

/**
 * Moves a queue's time forward instead of waiting for it: waits until a delayed job that
 * `match` picks exists (a worker has scheduled it), promotes every such job (BullMQ's
 * `Job.promote`: due now) and returns once the worker has finished them, with each one's final
 * state and return value. A job the worker retries (delayed again by its backoff) is not
 * finished: this waits on, and names `what` if it times out.
 */
export async function runDelayedNow(queue: Queue, what: string, match: (job: Job) => boolean): Promise<FinishedJob[]> {
  const due = await until(`${what} (delayed)`, async () => {
    const jobs = (await queue.getDelayed()).filter(match);
    return jobs.length > 0 ? jobs : undefined;
  });
  for (const job of due) await promoteIfStillDelayed(job);
  return until(`${what} (finished)`, async () => {
    const done = await Promise.all(
      due.map(async (job): Promise<FinishedJob> => {
        const id = job.id ?? '';
        // The state first, then the job read again: a job read while active and found completed a moment
        // later would carry no return value yet.
        const state = (await (await queue.getJob(id))?.getState()) ?? 'missing';
        const fresh = state === 'completed' || state === 'failed' ? await queue.getJob(id) : undefined;
        return { id, name: job.name, state, returnvalue: fresh?.returnvalue };
      }),
    );
    return done.every((d) => d.state === 'completed' || d.state === 'failed') ? done : undefined;
  });
}

/** The pages queue's next round of one page (a `page` job, not a recipient's `page-send`). */
export function pageRound(pageId: string): (job: Job) => boolean {
  return (job) => job.name === 'page' && (job.data as { pageId?: unknown }).pageId === pageId;
}

/** The pages queue's sends of one page's round (each recipient's `page-send` job). */
export function pageSends(pageId: string, round: number): (job: Job) => boolean {
  return (job) => {
    const data = job.data as { pageId?: unknown; round?: unknown };
    return job.name === 'page-send' && data.pageId === pageId && data.round === round;
  };
}

/**
 * Holds a queue for a test that must not meet its scheduled work (a sweep sharing a queue object
 * the test changes, an upkeep racing the test's own call): paused, and no job of it still running.
 * `queue.resume()` lets it go again.
 */
export async function holdQueue(queue: Queue): Promise<void> {
  await queue.pause();
  await until(`no ${queue.name} job running`, async () => (await queue.getActiveCount()) === 0);
}

/** The jobs `match` picks that are still to run (delayed, waiting, active or prioritized). */
export async function pendingJobs(queue: Queue, match: (job: Job) => boolean): Promise<Job[]> {
  return (await queue.getJobs(['delayed', 'waiting', 'active', 'prioritized'])).filter(match);
}

/** Adds a job due now (e.g. a timer that fired after all) and returns once the worker has finished it. */
export async function runJobNow(queue: Queue, what: string, name: string, data: object): Promise<FinishedJob> {
  const job = await queue.add(name, data);
  return untilFinished(queue, what, job.id ?? '');
}

/** Waits until the job with this id has finished (completed or failed), with its final state and return value. */
export async function untilFinished(queue: Queue, what: string, id: string, ms?: number): Promise<FinishedJob> {
  return until(
    `${what} (finished)`,
    async () => {
      const job = await queue.getJob(id);
      const state = (await job?.getState()) ?? 'missing';
      if (state !== 'completed' && state !== 'failed') return undefined;
      return { id, name: job?.name ?? '', state, returnvalue: (await queue.getJob(id))?.returnvalue };
    },
    ms,
  );
}

/**
 * Promotes a job found delayed a moment ago. On a loaded machine its delay may run out between the
 * listing and the promote (the worker then takes it on its own): that is not a failure.
 */
async function promoteIfStillDelayed(job: Job): Promise<void> {
  try {
    await job.promote();
  } catch (err) {
    if ((await job.getState()) === 'delayed') throw err;
  }
}

/** Promotes the delayed jobs `match` picks, if any, without waiting for them (for `until`'s onPoll). */
export async function promoteDelayed(queue: Queue, match: (job: Job) => boolean): Promise<void> {
  for (const job of (await queue.getDelayed()).filter(match)) await job.promote().catch(() => undefined);
}
