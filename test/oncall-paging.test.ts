import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { TwilioRestError, type SendSmsInput, type TwilioRest } from '../src/adapters/twilio-rest.js';
import { updatePractice } from '../src/practices/store.js';
import { tenantScope } from '../src/tenancy/mint.js';
import {
  acknowledgePage,
  acknowledgePageByKeypad,
  MAX_PAGE_ROUNDS,
  openPage,
  pageJobId,
  pageSendJobId,
  processPageJob,
  sweepPages,
} from '../src/oncall/paging.js';
import { createPolicy, getDefaultPolicy } from '../src/oncall/store.js';
import { systemScope } from '../src/tenancy/system-scope.js';
import { asOwner, startHarness, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { holdQueue, pageSends, pendingJobs } from './support/queue-time.js';
import { until } from './support/until.js';

/**
 * Paging against the real PostgreSQL and Redis (BullMQ workers running), with Twilio's SMS
 * replaced by a recorder that can fail chosen numbers: one failing number must never stop the
 * others, the repeats or the admin page; a page whose first job was lost is reconciled; the
 * page's own policy decides; a page that nobody acknowledges gives up, audited.
 */

const PRIMARY = '+12025550111'; // on call (the doctors' rotation) on 2026-11-25
const BACKUP = '+12025550112';
const MANAGER = '+12025550113'; // the practice admin

let now = new Date('2026-11-26T03:00:00Z');
let h: Harness;
let practiceId: string;
let defaultPolicyId: string;
const ids: Record<string, string> = {};

type Failure = 'transient' | 'permanent';
/** Per number: failures to apply to its next sends, in order ('always' fails every send). */
const failures = new Map<string, Failure[] | 'always'>();
const sent: SendSmsInput[] = [];

function failure(kind: Failure): TwilioRestError {
  return kind === 'permanent'
    ? new TwilioRestError({ operation: 'sendSms', reason: 'http', status: 400, retryable: false, twilioCode: 21211, detail: 'HTTP 400' })
    : new TwilioRestError({ operation: 'sendSms', reason: 'http', status: 503, retryable: true, detail: 'HTTP 503' });
}

beforeAll(async () => {
  h = await startHarness('oncall_paging', {}, { clock: () => now });
  if (!h.services.seeded) throw new Error('no demo practice');
  practiceId = h.services.seeded.id;
  const real: TwilioRest = h.services.twilio;
  h.services.twilio = {
    ...real,
    sendSms: async (input: SendSmsInput) => {
      const plan = failures.get(input.to);
      const next = plan === 'always' ? 'permanent' : plan?.shift();
      if (next) throw failure(next);
      sent.push(input);
      return { sid: `SM${randomBytes(16).toString('hex')}` };
    },
  };
  for (const p of await h.services.db.selectFrom('providers').select(['id', 'phone']).where('practice_id', '=', practiceId).execute()) ids[p.phone] = p.id;
  const policy = await getDefaultPolicy(tenantScope(h.services, practiceId));
  if (!policy) throw new Error('no default policy');
  defaultPolicyId = policy.id;
});
afterAll(async () => {
  await h.close();
});
beforeEach(async () => {
  now = new Date('2026-11-26T03:00:00Z');
  failures.clear();
  await h.services.db.updateTable('escalation_policies').set({ page_interval_seconds: 600, page_max_repeats: 3 }).where('id', '=', defaultPolicyId).execute();
});

function newCallSid(): string {
  return `CA${randomBytes(16).toString('hex')}`;
}

function smsTo(number: string, after = 0): SendSmsInput[] {
  return sent.slice(after).filter((s) => s.to === number);
}

async function deliveries(pageId: string, round: number): Promise<Array<{ provider_id: string; status: string; attempts: number; error_code: string | null }>> {
  return h.services.db
    .selectFrom('page_deliveries')
    .select(['provider_id', 'status', 'attempts', 'error_code'])
    .where('page_id', '=', pageId)
    .where('round', '=', round)
    .orderBy('provider_id')
    .execute();
}

async function auditOf(pageId: string, action: string): Promise<Array<Record<string, unknown>>> {
  const rows = await h.services.db.selectFrom('audit_log').select('details').where('subject_id', '=', pageId).where('action', '=', action).orderBy('seq').execute();
  return rows.map((r) => r.details);
}

async function stop(pageId: string): Promise<void> {
  await acknowledgePage(h.services, tenantScope(h.services, practiceId), { pageId, by: 'test', via: 'api' });
}

describe('one failing number never stops the paging', () => {
  it('a transient failure is retried for that recipient only; a permanent one is recorded and audited without PHI', async () => {
    failures.set(PRIMARY, ['permanent']);
    failures.set(BACKUP, ['transient']);
    const before = sent.length;
    const pageId = await openPage(h.services, { practiceId, callSid: newCallSid(), policyId: defaultPolicyId });

    const settled = (rows: Awaited<ReturnType<typeof deliveries>>): boolean => rows.length === 2 && rows.every((d) => d.status === 'sent' || d.status === 'failed');
    // A send job settles its delivery row and its call leg together, then audits a failure: round 0
    // is done once both rows are settled and neither recipient's send job is still to run or running.
    const round0 = await until(
      "round 0's deliveries settled and its send jobs finished",
      async () => {
        const rows = await deliveries(pageId, 0);
        return settled(rows) && (await pendingJobs(h.services.queues.pages, pageSends(pageId, 0))).length === 0 ? rows : undefined;
      },
      30_000,
    );
    expect(round0).toEqual(
      expect.arrayContaining([
        { provider_id: ids[PRIMARY], status: 'failed', attempts: 1, error_code: 'twilio_21211' },
        { provider_id: ids[BACKUP], status: 'sent', attempts: 2, error_code: null },
      ]),
    );
    // The backup got round 0 exactly once (the retry texted nobody twice); the primary nothing.
    expect(smsTo(BACKUP, before)).toHaveLength(1);
    expect(smsTo(PRIMARY, before)).toHaveLength(0);
    // Both failures audited: ids and codes only.
    const failed = await auditOf(pageId, 'page.send_failed');
    expect(failed).toEqual(
      expect.arrayContaining([
        { round: 0, providerId: ids[PRIMARY], attempt: 1, reason: 'twilio_21211', final: true },
        { round: 0, providerId: ids[BACKUP], attempt: 1, reason: 'http_503', final: false },
      ]),
    );
    expect(JSON.stringify(failed)).not.toMatch(/\+1202|202555/);
    // The failed SMS is a leg of the call too.
    const pageLegs = await h.services.db.selectFrom('call_legs').select(['provider_id', 'outcome', 'round']).where('kind', '=', 'page').where('call_sid', '=', (await h.services.db.selectFrom('pages').select('call_sid').where('id', '=', pageId).executeTakeFirstOrThrow()).call_sid).execute();
    expect(pageLegs).toEqual(expect.arrayContaining([{ provider_id: ids[PRIMARY], outcome: 'failed', round: 0 }, { provider_id: ids[BACKUP], outcome: 'sent', round: 0 }]));
    // The next round was scheduled regardless.
    const next = await h.services.queues.pages.getJob(pageJobId(pageId, 1));
    expect(await next?.isDelayed()).toBe(true);
    await stop(pageId);
  });

  it('a number that always fails: the others are still paged every round, and the admin after the repeats', async () => {
    failures.set(PRIMARY, 'always');
    await h.services.db.updateTable('escalation_policies').set({ page_interval_seconds: 1, page_max_repeats: 1 }).where('id', '=', defaultPolicyId).execute();
    const before = sent.length;
    const pageId = await openPage(h.services, { practiceId, callSid: newCallSid(), policyId: defaultPolicyId });
    // Rounds 0, 1 and 2 (the admin's) each reach the backup, and each fails for the primary alone.
    await until('the manager texted and the backup retried', async () => smsTo(MANAGER, before).length >= 1 && smsTo(BACKUP, before).length >= 3 && (await auditOf(pageId, 'page.send_failed')).length >= 3, 15_000);
    await stop(pageId);
    expect(smsTo(PRIMARY, before)).toHaveLength(0);
    const failed = await auditOf(pageId, 'page.send_failed');
    expect(failed.every((d) => d.providerId === ids[PRIMARY] && d.final === true)).toBe(true);
    expect(await auditOf(pageId, 'page.admin_escalated')).toEqual([{ round: 2 }]);
  });
});

describe("a page follows its own policy", () => {
  it("the policy stored on the page decides who is paged and how often, not the practice's current default", async () => {
    const written = await createPolicy(tenantScope(h.services, practiceId), {
      name: 'Backup only',
      tiers: [{ target: { kind: 'provider', providerId: ids[BACKUP] ?? '' }, ringSeconds: 20 }],
      repeat: 0,
      pageIntervalMinutes: 7,
      pageMaxRepeats: 2,
      isDefault: false,
    });
    if (!written.ok) throw new Error('policy not created');
    const pageId = await openPage(h.services, { practiceId, callSid: newCallSid(), policyId: written.value.policy.id });
    await until('round 0 deliveries', async () => (await deliveries(pageId, 0)).length > 0 || undefined);
    expect((await deliveries(pageId, 0)).map((d) => d.provider_id)).toEqual([ids[BACKUP]]);
    expect((await h.services.queues.pages.getJob(pageJobId(pageId, 1)))?.opts.delay).toBe(7 * 60_000);
    await stop(pageId);

    // No policy of its own (or it was deleted): the default's tiers.
    const fallback = await openPage(h.services, { practiceId, callSid: newCallSid(), policyId: null });
    await until('the fallback page deliveries', async () => (await deliveries(fallback, 0)).length > 0 || undefined);
    expect((await deliveries(fallback, 0)).map((d) => d.provider_id).sort()).toEqual([ids[PRIMARY], ids[BACKUP]].sort());
    await stop(fallback);
  });
});

describe('a sent page is always on the call timeline', () => {
  it('when its leg cannot be written, the delivery is not marked sent either; the retry records both', { timeout: 60_000 }, async () => {
    // PostgreSQL itself refuses page legs (a trigger in this test's schema) until the test lifts it.
    await asOwner(
      h.services.db,
      sql`CREATE FUNCTION refuse_page_legs() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'page leg refused (test)'; END $$`,
      sql`CREATE TRIGGER refuse_page_legs BEFORE INSERT ON call_legs FOR EACH ROW WHEN (NEW.kind = 'page') EXECUTE FUNCTION refuse_page_legs()`,
    );
    let lifted = false;
    const lift = async (): Promise<void> => {
      if (lifted) return;
      lifted = true;
      await asOwner(h.services.db, sql`DROP TRIGGER refuse_page_legs ON call_legs`, sql`DROP FUNCTION refuse_page_legs()`);
    };
    try {
      const before = sent.length;
      const callSid = newCallSid();
      const pageId = await openPage(h.services, { practiceId, callSid, policyId: defaultPolicyId });
      const backupId = ids[BACKUP];
      if (!backupId) throw new Error('no backup provider');
      // The SMS went out and the job's first run ended (its brief retries spent), the leg refused…
      await until('the backup texted and its first send attempt over', async () => {
        const d = (await deliveries(pageId, 0)).find((r) => r.provider_id === backupId);
        return smsTo(BACKUP, before).length >= 1 && d && d.attempts >= 1 && (await h.services.queues.pages.getJob(pageSendJobId(pageId, 0, backupId)))?.attemptsMade ? d : undefined;
      }, 30_000);
      // …so the delivery is not recorded sent without its leg.
      expect((await deliveries(pageId, 0)).find((r) => r.provider_id === backupId)?.status).not.toBe('sent');
      await lift();
      await until('the backup\'s delivery sent', async () => (await deliveries(pageId, 0)).find((r) => r.provider_id === backupId && r.status === 'sent'), 30_000);
      const legs = await h.services.db.selectFrom('call_legs').select(['provider_id', 'outcome']).where('kind', '=', 'page').where('call_sid', '=', callSid).where('provider_id', '=', backupId).execute();
      expect(legs).toContainEqual({ provider_id: backupId, outcome: 'sent' });
      await stop(pageId);
    } finally {
      await lift();
    }
  });
});

describe('a page is never silently lost', () => {
  it('when its first job cannot be queued, openPage still answers and the sweep (or the next openPage) queues it', async () => {
    // The maintenance page sweep shares this queue object: held off (and none running) while
    // the test's planned failures are in place, so only the test's own adds meet them.
    const maintenance = h.services.queues.maintenance;
    await holdQueue(maintenance);
    const queue = h.services.queues.pages;
    const add = queue.add.bind(queue);
    let failAdds = 2;
    queue.add = (async (...args: Parameters<typeof add>) => {
      if (failAdds > 0) {
        failAdds -= 1;
        throw new Error('redis unavailable');
      }
      return add(...args);
    }) as typeof queue.add;
    try {
      const callSid = newCallSid();
      const before = sent.length;
      const pageId = await openPage(h.services, { practiceId, callSid, policyId: defaultPolicyId });
      expect(await queue.getJob(pageJobId(pageId, 0))).toBeUndefined();
      // A second call for the same call re-queues (this one fails too)…
      expect(await openPage(h.services, { practiceId, callSid, policyId: defaultPolicyId })).toBe(pageId);
      expect(await queue.getJob(pageJobId(pageId, 0))).toBeUndefined();
      // …and the sweep finds the open page with no round sent and no job.
      const swept = await sweepPages(h.services);
      expect(swept.rounds).toBeGreaterThanOrEqual(1);
      await until('the backup SMS', () => smsTo(BACKUP, before).length >= 1);
      await until('one round sent', async () => (await h.services.db.selectFrom('pages').select('rounds_sent').where('id', '=', pageId).executeTakeFirstOrThrow()).rounds_sent === 1 || undefined);
      // Swept again: nothing to do for it.
      await sweepPages(h.services);
      expect(smsTo(BACKUP, before)).toHaveLength(1);
      await stop(pageId);
    } finally {
      queue.add = add;
      await maintenance.resume();
    }
  });

  it('openPage again for an open page with no round sent queues its first round', async () => {
    const callSid = newCallSid();
    const pageId = await openPage(h.services, { practiceId, callSid, policyId: defaultPolicyId });
    await until('one round sent', async () => (await h.services.db.selectFrom('pages').select('rounds_sent').where('id', '=', pageId).executeTakeFirstOrThrow()).rounds_sent === 1 || undefined);
    // Simulate the lost job: roll the page back to "nothing sent" and drop its round-0 job.
    await stop(pageId);
    await h.services.db.updateTable('pages').set({ status: 'open', rounds_sent: 0, acknowledged_at: null, acknowledged_by: null }).where('id', '=', pageId).execute();
    await (await h.services.queues.pages.getJob(pageJobId(pageId, 0)))?.remove();
    await openPage(h.services, { practiceId, callSid, policyId: defaultPolicyId });
    expect(await h.services.queues.pages.getJob(pageJobId(pageId, 0))).toBeDefined();
    await until('one round sent', async () => (await h.services.db.selectFrom('pages').select('rounds_sent').where('id', '=', pageId).executeTakeFirstOrThrow()).rounds_sent === 1 || undefined);
    await stop(pageId);
  });
});

describe('giving up', () => {
  it(`after round ${MAX_PAGE_ROUNDS} nobody acknowledged: the page gives up once, audited`, async () => {
    const pageId = await openPage(h.services, { practiceId, callSid: newCallSid(), policyId: defaultPolicyId });
    await until('one round sent', async () => (await h.services.db.selectFrom('pages').select('rounds_sent').where('id', '=', pageId).executeTakeFirstOrThrow()).rounds_sent === 1 || undefined);
    await (await h.services.queues.pages.getJob(pageJobId(pageId, 1)))?.remove();
    await h.services.db.updateTable('pages').set({ rounds_sent: MAX_PAGE_ROUNDS - 1 }).where('id', '=', pageId).execute();

    // The last round schedules the give-up one interval later.
    expect(await processPageJob(h.services, { pageId, round: MAX_PAGE_ROUNDS - 1 })).toBe('sent');
    const last = await h.services.queues.pages.getJob(pageJobId(pageId, MAX_PAGE_ROUNDS));
    expect(last?.opts.delay).toBe(600_000);
    await last?.remove();

    expect(await processPageJob(h.services, { pageId, round: MAX_PAGE_ROUNDS })).toBe('gave_up');
    expect(await processPageJob(h.services, { pageId, round: MAX_PAGE_ROUNDS })).toBe('gave_up');
    expect(await auditOf(pageId, 'page.gave_up')).toEqual([{ roundsSent: MAX_PAGE_ROUNDS, maxRounds: MAX_PAGE_ROUNDS, adminPaged: true }]);
    // Nothing after it.
    expect(await h.services.queues.pages.getJob(pageJobId(pageId, MAX_PAGE_ROUNDS + 1))).toBeUndefined();
    await stop(pageId);
  });

  it('an acknowledged page does not give up', async () => {
    const pageId = await openPage(h.services, { practiceId, callSid: newCallSid(), policyId: defaultPolicyId });
    await stop(pageId);
    expect(await processPageJob(h.services, { pageId, round: MAX_PAGE_ROUNDS })).toBe('acknowledged');
    expect(await auditOf(pageId, 'page.gave_up')).toEqual([]);
  });
});

describe('the access number and the keypad', () => {
  it("the page names the practice's provider access line when it has one, and is sent from it", async () => {
    await updatePractice(tenantScope(h.services, practiceId), { accessNumber: '+12025550102' });
    try {
      const before = sent.length;
      const pageId = await openPage(h.services, { practiceId, callSid: newCallSid(), policyId: defaultPolicyId });
      const [sms] = await until('the backup SMS', () => (smsTo(BACKUP, before).length > 0 ? smsTo(BACKUP, before) : undefined));
      const ref = (await h.services.db.selectFrom('pages').select('reference_code').where('id', '=', pageId).executeTakeFirstOrThrow()).reference_code;
      const link = `${TEST_PUBLIC_BASE_URL}/console/pages/${pageId}`;
      expect(sms).toMatchObject({ from: '+12025550102', body: `Demo Family Medicine: urgent voicemail waiting. Ref ${ref}. Call 202-555-0102 or reply ACK ${ref} to acknowledge. ${link}` });
      // The page's console link by id; besides it, no digits but the reference and the access number.
      expect(sms?.body.replace(link, '').replaceAll(ref, '').replace('202-555-0102', '')).not.toMatch(/\d/);
      await stop(pageId);
    } finally {
      await updatePractice(tenantScope(h.services, practiceId), { accessNumber: null });
    }
  });

  it('a provider identified on the access line acknowledges a page by keying its reference', async () => {
    const pageId = await openPage(h.services, { practiceId, callSid: newCallSid(), policyId: defaultPolicyId });
    const ref = (await h.services.db.selectFrom('pages').select('reference_code').where('id', '=', pageId).executeTakeFirstOrThrow()).reference_code;
    const backup = ids[BACKUP] ?? '';
    expect(await acknowledgePageByKeypad(h.services, systemScope(h.services, practiceId), { providerId: backup, digits: '' })).toBe('timeout');
    expect(await acknowledgePageByKeypad(h.services, systemScope(h.services, practiceId), { providerId: backup, digits: '12#' })).toBe('not_found');
    expect(await acknowledgePageByKeypad(h.services, systemScope(h.services, practiceId), { providerId: backup, digits: `${ref}#` })).toBe('acknowledged');
    expect(await acknowledgePageByKeypad(h.services, systemScope(h.services, practiceId), { providerId: backup, digits: `${ref}#` })).toBe('already');
    const page = await h.services.db.selectFrom('pages').select(['status', 'acknowledged_by']).where('id', '=', pageId).executeTakeFirstOrThrow();
    expect(page).toEqual({ status: 'acknowledged', acknowledged_by: `provider:${backup}` });
    expect(await auditOf(pageId, 'page.acknowledged')).toEqual([expect.objectContaining({ via: 'keypad' })]);
  });
});
