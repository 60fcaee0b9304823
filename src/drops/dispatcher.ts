import type { AppContext } from '../app-context.js';
import { claimDueDrops, markDispatched, type DueDrop } from './campaign-store.js';

/**
 * The dispatcher (issue 15, item 7): planning writes every drop's send time in the table
 * (`drops.scheduled_for`) and queues a BullMQ job only for what is due within DISPATCH_WINDOW_MS;
 * this sweep, run by the maintenance queue every DISPATCH_EVERY_MS, queues the rest as they come
 * due. It claims due drops of running campaigns in bounded batches (`FOR UPDATE SKIP LOCKED`, so
 * two instances never take the same rows), queues their jobs (ids only, jobId per schedule
 * version, so a repeat is a no-op) and records the version queued (`dispatched_version`) in the
 * same transaction: a failed queue leaves the rows for the next sweep.
 *
 * Sends per second stay held to each campaign's and provider's rate by the worker
 * (./rate-limit.ts): a job arriving early for its slot is moved to the slot.
 */

/** How far ahead the dispatcher queues: a drop due within this is given its (delayed) job now. */
export const DISPATCH_WINDOW_MS = 2 * 60_000;
/** How often the maintenance queue runs the sweep: well inside the window, so nothing is late. */
export const DISPATCH_EVERY_MS = 20_000;
/** Rows per claim, and claims per sweep: a sweep's work is bounded whatever the backlog. */
export const DISPATCH_BATCH = 1_000;
export const DISPATCH_MAX_BATCHES = 20;

/** A drop job carries ids only: the drop and the schedule version it was queued for. */
export interface DropJobData {
  dropId: string;
  version: number;
}

export const dropJobId = (dropId: string, version: number): string => `drop-${dropId}-${version}`;

type DispatchDeps = Pick<AppContext, 'db' | 'queues' | 'clock'>;

/** Queues these drops' jobs, each delayed until its send time (no earlier than now). */
export async function queueDropJobs(deps: Pick<AppContext, 'queues'>, rows: readonly DueDrop[], now: Date): Promise<void> {
  if (rows.length === 0) return;
  await deps.queues.drops.addBulk(
    rows.map((r) => ({
      name: 'drop',
      data: { dropId: r.id, version: r.schedule_version } satisfies DropJobData,
      opts: { jobId: dropJobId(r.id, r.schedule_version), delay: Math.max(0, r.scheduled_for.getTime() - now.getTime()) },
    })),
  );
}

/** One claim: up to `limit` queued drops of running campaigns due by `horizon` with no job for their version, oldest first; queued and marked. */
async function dispatchBatch(deps: DispatchDeps, now: Date, horizon: Date, limit: number): Promise<number> {
  return deps.db.transaction().execute(async (trx) => {
    const due = await claimDueDrops(trx, horizon, limit);
    await queueDropJobs(deps, due, now);
    await markDispatched(trx, due);
    return due.length;
  });
}

/** The sweep: every drop due within the window gets its job, in bounded batches. How many were queued. */
export async function dispatchDueDrops(deps: DispatchDeps, opts: { batch?: number; maxBatches?: number } = {}): Promise<{ dispatched: number }> {
  const batch = opts.batch ?? DISPATCH_BATCH;
  const maxBatches = opts.maxBatches ?? DISPATCH_MAX_BATCHES;
  const now = deps.clock();
  const horizon = new Date(now.getTime() + DISPATCH_WINDOW_MS);
  let dispatched = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = await dispatchBatch(deps, now, horizon, batch);
    dispatched += n;
    if (n < batch) break;
  }
  return { dispatched };
}
