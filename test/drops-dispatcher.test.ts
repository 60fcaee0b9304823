import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createPractice, type Practice } from '../src/practices/store.js';
import { DISPATCH_WINDOW_MS, dispatchDueDrops, dropJobId, queueDropJobs } from '../src/drops/dispatcher.js';
import { commandCampaign } from '../src/drops/campaigns.js';
import { createDb } from '../src/adapters/postgres.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { startHarness, type Harness } from './support/harness.js';
import { until } from './support/until.js';
import { holdQueue } from './support/queue-time.js';

/**
 * The dispatcher (issue 15, item 7): planned drops wait pending, their send times in the campaign
 * schedule; the sweep takes only the rows due within the window, in bounded batches, queues
 * those drops with their BullMQ jobs (once per schedule version), throws away rows whose drop is
 * no longer pending, and never takes a campaign that is not running. Real PostgreSQL, Redis, BullMQ.
 */

const NOW = new Date('2026-12-01T15:00:00Z');
let now = NOW;
let h: Harness;
let practice: Practice;

/** A campaign in `state` with `n` pending drops in the schedule, the i-th due at `first + i * stepMs`. */
async function plannedCampaign(name: string, state: 'running' | 'paused', n: number, first: Date, stepMs: number): Promise<string> {
  await sql`
    INSERT INTO patients (practice_id, phone_index, dob_enc, phone_enc)
    SELECT ${practice.id}::uuid, md5(${name} || '-' || g) || md5('p-' || g), '\\x00'::bytea, '\\x00'::bytea FROM generate_series(1, ${n}) AS g
  `.execute(h.services.db);
  const campaign = await h.services.db
    .insertInto('campaigns')
    .values({ practice_id: practice.id, name, template_id: 'recall', provider: 'rvm_http', created_by: 'test', state, rate_per_minute: 600 })
    .returning('id')
    .executeTakeFirstOrThrow();
  await sql`
    INSERT INTO drops (campaign_id, practice_id, patient_id, provider)
    SELECT ${campaign.id}::uuid, practice_id, id, 'rvm_http'
    FROM patients WHERE practice_id = ${practice.id}::uuid
      AND phone_index IN (SELECT md5(${name} || '-' || g) || md5('p-' || g) FROM generate_series(1, ${n}) AS g)
  `.execute(h.services.db);
  await sql`
    INSERT INTO drop_schedule (drop_id, campaign_id, practice_id, at)
    SELECT id, campaign_id, practice_id, ${first}::timestamptz + (row_number() OVER (ORDER BY id) - 1) * make_interval(secs => ${stepMs / 1000})
    FROM drops WHERE campaign_id = ${campaign.id}::uuid
  `.execute(h.services.db);
  return campaign.id;
}

/** The drop jobs in BullMQ (any state) for this campaign's drops. */
async function jobsOf(campaignId: string): Promise<Array<{ dropId: string; version: number; delay: number }>> {
  const ids = new Set((await h.services.db.selectFrom('drops').select('id').where('campaign_id', '=', campaignId).execute()).map((d) => d.id));
  const jobs = await h.services.queues.drops.getJobs(['delayed', 'waiting', 'active', 'completed', 'failed', 'prioritized']);
  return jobs.filter((j) => ids.has((j.data as { dropId: string }).dropId)).map((j) => ({ ...(j.data as { dropId: string; version: number }), delay: j.opts.delay ?? 0 }));
}

/** A running campaign of `n` drops as a dispatcher's committed claim leaves them, overdue: queued, version 1, out of the schedule, no job. */
async function overdueQueued(name: string, n: number): Promise<{ id: string; past: Date }> {
  const past = new Date(now.getTime() - DISPATCH_WINDOW_MS - 60_000);
  const id = await plannedCampaign(name, 'running', n, past, 1000);
  await h.services.db.deleteFrom('drop_schedule').where('campaign_id', '=', id).execute();
  await h.services.db.updateTable('drops').set({ status: 'queued', schedule_version: 1, scheduled_for: past }).where('campaign_id', '=', id).execute();
  return { id, past };
}

beforeAll(async () => {
  h = await startHarness('drops-dispatcher', {}, { clock: () => now });
  // The scheduled sweep would race the test's own calls: this file runs the sweep itself.
  await h.services.queues.maintenance.removeJobScheduler('drop-dispatch');
  // A run the scheduler had already queued before its removal would race too: no upkeep runs here.
  await holdQueue(h.services.queues.maintenance);
  practice = await createPractice(h.services.db, { slug: 'dispatch', name: 'Dispatch Dental', timeZone: 'America/New_York', numbers: ['+12025550990'] });
}, 60_000);

afterAll(async () => {
  await h?.close();
});

describe('the dispatcher', () => {
  it('of 1,000 planned drops queues only those due within the window, in bounded batches, once each', async () => {
    // Due from 60 s on, 100 ms apart: 601 within the two-minute window (60 s … 120 s), 399 later.
    const id = await plannedCampaign('thousand', 'running', 1000, new Date(NOW.getTime() + 60_000), 100);
    const paused = await plannedCampaign('resting', 'paused', 50, new Date(NOW.getTime() + 60_000), 100);
    const dueNow = Math.floor((DISPATCH_WINDOW_MS - 60_000) / 100) + 1;

    // A sweep's work is bounded: two claims of 100.
    expect(await dispatchDueDrops(h.services, { batch: 100, maxBatches: 2 })).toEqual({ dispatched: 200 });
    expect(await jobsOf(id)).toHaveLength(200);

    expect(await dispatchDueDrops(h.services)).toEqual({ dispatched: dueNow - 200 });
    const jobs = await jobsOf(id);
    expect(jobs).toHaveLength(dueNow);
    // Ids only, each delayed until its own send time.
    for (const j of jobs) expect(Object.keys(j).sort()).toEqual(['delay', 'dropId', 'version']);
    expect(Math.min(...jobs.map((j) => j.delay))).toBe(60_000);
    expect(Math.max(...jobs.map((j) => j.delay))).toBe(DISPATCH_WINDOW_MS);
    const rows = await h.services.db.selectFrom('drops').select(['id', 'status', 'schedule_version', 'scheduled_for']).where('campaign_id', '=', id).execute();
    const queuedIds = new Set(jobs.map((j) => j.dropId));
    const left = new Set((await h.services.db.selectFrom('drop_schedule').select('drop_id').where('campaign_id', '=', id).execute()).map((r) => r.drop_id));
    expect(left.size).toBe(1000 - dueNow);
    for (const r of rows) {
      const queued = queuedIds.has(r.id);
      // A queued drop has its job (version 1, its time on the row) and no schedule row; the others wait pending in the schedule.
      expect(r.status).toBe(queued ? 'queued' : 'pending');
      expect(r.schedule_version).toBe(queued ? 1 : 0);
      expect(left.has(r.id)).toBe(!queued);
      if (queued) expect(r.scheduled_for!.getTime()).toBeLessThanOrEqual(NOW.getTime() + DISPATCH_WINDOW_MS);
    }
    expect(jobs.every((j) => j.version === 1)).toBe(true);

    // Again at the same time: nothing new. A paused campaign's due drops wait.
    expect(await dispatchDueDrops(h.services)).toEqual({ dispatched: 0 });
    expect(await jobsOf(paused)).toHaveLength(0);

    // Five minutes later (the moved clock) the rest are due.
    now = new Date(NOW.getTime() + 5 * 60_000);
    expect(await dispatchDueDrops(h.services)).toEqual({ dispatched: 1000 - dueNow });
    expect(await jobsOf(id)).toHaveLength(1000);

    // A drop planned again (resume replaces the plan: back to pending, a new version, a new row) is queued again, under its
    // new version's job id. One of the first window's drops: its job is still delayed (60 s of real time), so no worker has
    // sent it yet. One of the later ones was queued with no delay at the moved clock, and the worker may have finished it.
    const first = await h.services.db.selectFrom('drops').select(['id', 'scheduled_for']).where('campaign_id', '=', id).orderBy('scheduled_for').executeTakeFirstOrThrow();
    await h.services.db.updateTable('drops').set({ status: 'pending', schedule_version: 2, scheduled_for: null }).where('id', '=', first.id).execute();
    await h.services.db.insertInto('drop_schedule').values({ drop_id: first.id, campaign_id: id, practice_id: practice.id, at: now }).execute();
    // A row whose drop is no longer pending (skipped since it was planned) is thrown away, with no job.
    const skipped = await h.services.db.selectFrom('drops').select('id').where('campaign_id', '=', id).where('status', '=', 'queued').where('id', '<>', first.id).executeTakeFirstOrThrow();
    await h.services.db.insertInto('drop_schedule').values({ drop_id: skipped.id, campaign_id: id, practice_id: practice.id, at: now }).execute();
    expect(await dispatchDueDrops(h.services)).toEqual({ dispatched: 1 });
    expect((await jobsOf(id)).filter((j) => j.dropId === first.id).map((j) => j.version).sort()).toEqual([1, 3]);
    expect((await jobsOf(id)).filter((j) => j.dropId === skipped.id)).toHaveLength(1);
    expect(await h.services.db.selectFrom('drop_schedule').select('drop_id').where('campaign_id', '=', id).execute()).toEqual([]);
  }, 60_000);

  it('a queued drop whose job was lost (a stop between the commit and the queue) gets it again once overdue; one with its job gets no second', async () => {
    const { id, past } = await overdueQueued('lost', 2);
    // Only the first got its job.
    const [withJob, lost] = await h.services.db.selectFrom('drops').select(['id', 'schedule_version', 'scheduled_for']).where('campaign_id', '=', id).orderBy('id').execute();
    if (!withJob || !lost) throw new Error('no drops');
    await queueDropJobs(h.services, [{ id: withJob.id, schedule_version: 1, scheduled_for: past }], now);
    expect((await jobsOf(id)).map((j) => j.dropId)).toEqual([withJob.id]);

    expect(await dispatchDueDrops(h.services)).toEqual({ dispatched: 0 });
    const jobs = await jobsOf(id);
    expect(jobs.map((j) => `${j.dropId}:${j.version}`).sort()).toEqual([`${withJob.id}:1`, `${lost.id}:1`].sort());
  }, 60_000);

  it('an overdue queued drop whose job ended without settling it gets a new job (it never waits for ever)', async () => {
    const { id } = await overdueQueued('ended', 1);
    const drop = await h.services.db.selectFrom('drops').select('id').where('campaign_id', '=', id).executeTakeFirstOrThrow();
    // Its job ran and finished with the drop still queued (here: a job that named another version, so the worker found it stale).
    await h.services.queues.drops.add('drop', { dropId: drop.id, version: 99 }, { jobId: dropJobId(drop.id, 1) });
    await until('the first job finished', async () => ((await h.services.queues.drops.getJob(dropJobId(drop.id, 1)))?.finishedOn ? true : undefined), 30_000);

    await dispatchDueDrops(h.services);
    const job = await h.services.queues.drops.getJob(dropJobId(drop.id, 1));
    expect(job?.data).toEqual({ dropId: drop.id, version: 1 });
  }, 60_000);

  it('a drop another transaction holds keeps its schedule row for a later sweep (never waited on, so never a deadlock)', async () => {
    const id = await plannedCampaign('held', 'running', 3, now, 1000);
    const [held] = await h.services.db.selectFrom('drops').select('id').where('campaign_id', '=', id).orderBy('id').execute();
    if (!held) throw new Error('no drops');
    const other = createDb(h.config.database.url, h.schema, 1);
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked = (): void => undefined;
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve;
    });
    // Planning skipping it, say: the drop's row locked on another connection, uncommitted.
    const holding = other.transaction().execute(async (trx) => {
      await sql`SELECT id FROM drops WHERE id = ${held.id} FOR UPDATE`.execute(trx);
      locked();
      await released;
    });
    try {
      await isLocked;
      expect(await dispatchDueDrops(h.services, { campaignId: id })).toEqual({ dispatched: 2 });
      const after = await h.services.db.selectFrom('drops').select(['id', 'status']).where('id', '=', held.id).executeTakeFirstOrThrow();
      expect(after.status).toBe('pending');
      expect((await h.services.db.selectFrom('drop_schedule').select('drop_id').where('campaign_id', '=', id).execute()).map((r) => r.drop_id)).toEqual([held.id]);
    } finally {
      release();
      await holding;
      await other.destroy();
    }
    expect(await dispatchDueDrops(h.services, { campaignId: id })).toEqual({ dispatched: 1 });
  }, 60_000);

  it('pause leaves nothing planned: a sweep finding the campaign running again before resume has planned takes nothing', async () => {
    const id = await plannedCampaign('pausing', 'running', 4, now, 1000);
    // Two queued with their jobs (due now), two still in the schedule (due later).
    await h.services.db.updateTable('drop_schedule').set({ at: new Date(now.getTime() + 10 * 60_000) }).where('campaign_id', '=', id).where('drop_id', 'in', (await h.services.db.selectFrom('drops').select('id').where('campaign_id', '=', id).orderBy('id').limit(2).execute()).map((d) => d.id)).execute();
    expect(await dispatchDueDrops(h.services, { campaignId: id })).toEqual({ dispatched: 2 });
    const paused = await commandCampaign(h.services, tenantScope(h.services, practice.id), id, 'pause', 'test');
    expect(paused.ok).toBe(true);
    expect(await h.services.db.selectFrom('drop_schedule').select('drop_id').where('campaign_id', '=', id).execute()).toEqual([]);
    const rows = await h.services.db.selectFrom('drops').select(['status', 'schedule_version']).where('campaign_id', '=', id).execute();
    expect(rows.map((r) => r.status)).toEqual(['pending', 'pending', 'pending', 'pending']);
    // The queued ones took a new version: their jobs are stale.
    expect(rows.map((r) => r.schedule_version).sort()).toEqual([0, 0, 2, 2]);
    // Resume's transition has committed, its plan not yet run; the clock is past every old time.
    await h.services.db.updateTable('campaigns').set({ state: 'running' }).where('id', '=', id).execute();
    now = new Date(now.getTime() + 60 * 60_000);
    expect(await dispatchDueDrops(h.services)).toEqual({ dispatched: 0 });
    expect((await jobsOf(id)).filter((j) => j.version > 1)).toEqual([]);
  }, 60_000);

  it('a cancelled campaign\'s schedule rows (a plan that committed after the cancel) are thrown away by the sweep', async () => {
    const id = await plannedCampaign('late-plan', 'running', 3, new Date(now.getTime() + 60 * 60_000), 1000);
    await h.services.db.updateTable('campaigns').set({ state: 'cancelled' }).where('id', '=', id).execute();
    await dispatchDueDrops(h.services);
    expect(await h.services.db.selectFrom('drop_schedule').select('drop_id').where('campaign_id', '=', id).execute()).toEqual([]);
  }, 60_000);
});
