import type { AppContext } from '../app-context.js';
import type { Db } from '../adapters/postgres.js';
import { dropFinishedSchedules, overdueQueuedDrops, takeDueDrops, type DueDrop } from './campaign-store.js';

/**
 * The dispatcher (issue 15, item 7): planning writes each sendable drop's send time in the
 * campaign schedule (`drop_schedule`, migration 0044: one narrow row a drop) and leaves the drop
 * pending; this sweep, run by the maintenance queue every DISPATCH_EVERY_MS and by planning for
 * its own campaign at once, takes the rows due within DISPATCH_WINDOW_MS in bounded batches
 * (`FOR UPDATE SKIP LOCKED`, so two instances never take the same rows). Each batch deletes its
 * rows and makes their drops queued with a new schedule version in one transaction, then queues
 * their BullMQ jobs (ids only, jobId per version) once that has committed: a job never runs
 * before its row says queued. Should the queue fail or the process stop between the commit and
 * the queue, the drops are queued with no job: the sweep also adds again the job of every queued
 * drop of a running campaign more than DISPATCH_WINDOW_MS past its time whose job is gone or
 * ended (requeueOverdue), and throws away the rows of campaigns cancelled or completed.
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

/** What the sweep touches: the database it claims through (the system pool, or planning's scope), the drop queue and the time. */
export interface DispatchDeps extends Pick<AppContext, 'queues' | 'clock'> {
  db: Db;
}

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

/** One batch: up to `limit` due schedule rows taken and their drops queued (committed), then their jobs. Rows taken, and drops queued. */
async function dispatchBatch(deps: DispatchDeps, now: Date, horizon: Date, limit: number, campaignId: string | undefined): Promise<{ taken: number; queued: number }> {
  const { taken, queued } = await deps.db.transaction().execute((trx) => takeDueDrops(trx, horizon, limit, now, campaignId));
  await queueDropJobs(deps, queued, now);
  return { taken, queued: queued.length };
}

/**
 * The sweep: every drop due within the window gets its job, in bounded batches; `campaignId`
 * limits it to one campaign (planning's, at once). Then, for the whole sweep only, the jobs of
 * overdue queued drops are added again (at most one batch). How many drops were queued.
 */
export async function dispatchDueDrops(
  deps: DispatchDeps,
  opts: { batch?: number; maxBatches?: number; campaignId?: string } = {},
): Promise<{ dispatched: number }> {
  const batch = opts.batch ?? DISPATCH_BATCH;
  const maxBatches = opts.maxBatches ?? DISPATCH_MAX_BATCHES;
  const now = deps.clock();
  const horizon = new Date(now.getTime() + DISPATCH_WINDOW_MS);
  let dispatched = 0;
  for (let i = 0; i < maxBatches; i++) {
    const { taken, queued } = await dispatchBatch(deps, now, horizon, batch, opts.campaignId);
    dispatched += queued;
    if (taken < batch) break;
  }
  if (!opts.campaignId) {
    await requeueOverdue(deps, await overdueQueuedDrops(deps.db, new Date(now.getTime() - DISPATCH_WINDOW_MS), batch), now);
    await dropFinishedSchedules(deps.db);
  }
  return { dispatched };
}

/**
 * Overdue queued drops: one with a job still to run (delayed, waiting, active, retrying) is left
 * to it; one whose job is gone (a stop after the commit) gets it again; one whose job ended
 * (failed for good on an unexpected error, or finished without settling the drop) while the drop
 * still waits at that version is tried again (a failed job retried, its attempts left spent, so
 * the run is its last and a provider error settles the drop; a finished one replaced), so no drop
 * stays queued for ever and its campaign can complete. The worker's claim (version and status in
 * one update) still sends each drop at most once.
 */
async function requeueOverdue(deps: Pick<AppContext, 'queues'>, rows: readonly DueDrop[], now: Date): Promise<void> {
  // The lookups side by side (one batch, at most DISPATCH_BATCH rows), not a round trip after another.
  const missing = await Promise.all(
    rows.map(async (row): Promise<DueDrop | null> => {
      const job = await deps.queues.drops.getJob(dropJobId(row.id, row.schedule_version));
      if (!job) return row;
      const state = await job.getState();
      if (state === 'failed') await job.retry('failed');
      else if (state === 'completed') await job.remove();
      return state === 'completed' || state === 'unknown' ? row : null;
    }),
  );
  await queueDropJobs(deps, missing.filter((r): r is DueDrop => r !== null), now);
}
