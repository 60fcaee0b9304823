import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { captureLogs } from '../src/log/logger.js';
import { setUserPhone } from '../src/auth/user-phone.js';
import { sweepOverdueTasks } from '../src/tasks/overdue.js';
import { overdueUnalerted } from '../src/tasks/store.js';
import { asOwner, DEFAULT_TEST_NOW, startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, type Harness } from './support/harness.js';
import { openTaskWithNumber } from './support/callback-task.js';
import { startSmtpCapture, type SmtpCapture } from './support/smtp-capture.js';
import { insertAccount } from './support/staff-session.js';
import { TEST_IDENTITIES } from './support/simulate.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { holdQueue } from './support/queue-time.js';

/**
 * Overdue callback-task alerts across practices (issue 13, item 3): the sweep takes the most
 * overdue tasks of each practice, so a practice whose alerts cannot go out (no number to send
 * from, nobody to tell) never holds up another's. Real PostgreSQL and Redis; Twilio is the
 * loopback double, e-mail the real smtp-server on loopback.
 */

const PATIENT = '+12025550123';
const DEMO_ADMIN_PROVIDER = '+12025550113';
const ADMIN_PHONE = '+12025550177';
const now = DEFAULT_TEST_NOW;

let h: Harness;
let double: TwilioDouble;
let smtp: SmtpCapture;
let demoId: string;

beforeAll(async () => {
  smtp = await startSmtpCapture();
  double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  h = await startHarness('overdue_alerts', { TWILIO_API_BASE_URL: double.baseUrl, ...smtp.env }, { clock: () => now });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  demoId = h.services.seeded.id;
  // The scheduled overdue sweep would race the test's own calls (it could alert a task first): this file runs the sweep itself.
  await holdQueue(h.services.queues.maintenance);
}, 60_000);
afterAll(async () => {
  await h?.close();
  await double?.close();
  await smtp?.close();
});

const smsSent = (): Array<{ to: string | null; body: string | null }> =>
  double.requests.filter((q) => q.method === 'POST' && q.path.endsWith('/Messages.json') && q.status < 300).map((q) => ({ to: q.form.get('To'), body: q.form.get('Body') }));

/** A practice with no number to send from and no admin: its alerts can never go out. */
async function quietPractice(): Promise<string> {
  let id = '';
  await asOwner(h.services.db, {
    async execute(db) {
      const row = await db
        .insertInto('practices')
        .values({ slug: `quiet-${randomUUID().slice(0, 8)}`, name: 'Quiet Clinic', time_zone: 'America/New_York', fallback_number: '+12025550999', greeting_name: null, front_desk_number: null, access_number: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      id = row.id;
    },
  });
  return id;
}

/** Every task alerted already: the test's own are the only ones the sweep sees. */
async function markAllAlerted(): Promise<void> {
  await asOwner(h.services.db, h.services.db.updateTable('callback_tasks').set({ alerted_at: new Date(0) }).where('alerted_at', 'is', null));
}

describe('overdue alerts across practices', () => {
  it("a practice with more overdue tasks than a sweep takes, and nobody to tell, does not hold up another practice's alert", async () => {
    await markAllAlerted();
    const quiet = await quietPractice();
    // The quiet practice's tasks are the most overdue of all.
    for (let i = 0; i < 5; i++) await openTaskWithNumber(h, quiet, { callback: PATIENT, reason: 'refill', urgency: 'routine', dueAt: new Date(now.getTime() - (5 - i) * 3_600_000 - 3_600_000) });
    const demoTask = await openTaskWithNumber(h, demoId, { callback: PATIENT, reason: 'refill', urgency: 'routine', dueAt: new Date(now.getTime() - 60_000) });

    // Three of each practice (and urgency), not three of all of them.
    const due = await overdueUnalerted(h.services.db, now, 3);
    expect(due.filter((t) => t.practice_id === quiet)).toHaveLength(3);
    expect(due.map((t) => t.id)).toContain(demoTask);

    const before = smsSent().length;
    const result = await sweepOverdueTasks(h.services, { perPractice: 3 });
    expect(result).toEqual({ alerted: 1, practices: 1 });
    expect(smsSent().slice(before)).toEqual([{ to: DEMO_ADMIN_PROVIDER, body: expect.stringContaining('1 routine callback is overdue') }]);
    const rows = await asRows([demoTask]);
    expect(rows[0]?.alerted_at?.toISOString()).toBe(now.toISOString());
    // The quiet practice's stay unalerted for the next sweep.
    const quietRows = await h.services.db.selectFrom('callback_tasks').select('alerted_at').where('practice_id', '=', quiet).execute();
    expect(quietRows.map((r) => r.alerted_at)).toEqual([null, null, null, null, null]);
  });
});

async function asRows(ids: string[]) {
  return h.services.db.selectFrom('callback_tasks').select(['id', 'alerted_at']).where('id', 'in', ids).execute();
}

describe("overdue alerts reach the practice's admin accounts", () => {
  it('an admin account with a phone by SMS, one without by e-mail, besides the provider admins; staff and disabled admins not; no PHI anywhere', async () => {
    await markAllAlerted();
    const withPhone = await insertAccount(h, { email: 'ada.admin@example.org', displayName: 'Ada Admin', memberships: [{ practiceId: demoId, role: 'admin' }] });
    await setUserPhone(h.services.db, h.services.keyring, withPhone, ADMIN_PHONE, now);
    const byMail = await insertAccount(h, { email: 'bo.admin@example.org', displayName: 'Bo Admin', memberships: [{ practiceId: demoId, role: 'admin' }] });
    const staff = await insertAccount(h, { email: 'cy.staff@example.org', displayName: 'Cy Staff', memberships: [{ practiceId: demoId, role: 'staff' }] });
    const gone = await insertAccount(h, { email: 'di.gone@example.org', displayName: 'Di Gone', memberships: [{ practiceId: demoId, role: 'admin' }] });
    await h.services.db.updateTable('memberships').set({ disabled_at: now }).where('user_id', '=', gone).execute();
    const task = await openTaskWithNumber(h, demoId, { callback: PATIENT, reason: 'clinical', urgency: 'routine', dueAt: new Date(now.getTime() - 120_000) });

    const smsBefore = smsSent().length;
    const mailBefore = smtp.mails.length;
    const logs = captureLogs();
    try {
      expect(await sweepOverdueTasks(h.services)).toEqual({ alerted: 1, practices: 1 });
    } finally {
      logs.restore();
    }
    const sms = smsSent().slice(smsBefore);
    expect(sms.map((m) => m.to).sort()).toEqual([DEMO_ADMIN_PROVIDER, ADMIN_PHONE].sort());
    for (const m of sms) expect(m.body).toContain(`/console/tasks/${task}`);
    const mails = smtp.mails.slice(mailBefore);
    expect(mails).toHaveLength(1);
    expect(mails[0]).toContain('bo.admin@example.org');
    expect(mails[0]).toContain('1 routine callback is overdue');
    expect(mails[0]).toContain(`/console/tasks/${task}`);
    for (const other of ['ada.admin@example.org', 'cy.staff@example.org', 'di.gone@example.org']) expect(mails[0]).not.toContain(other);

    const audited = await h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'task.overdue_alerted').where('subject_id', '=', task).executeTakeFirstOrThrow();
    const details = audited.details as { recipients: string[]; channels: string[] };
    expect(details.recipients).toEqual(expect.arrayContaining([`user:${withPhone}`, `user:${byMail}`]));
    expect(details.recipients).not.toContain(`user:${staff}`);
    expect(details.recipients).not.toContain(`user:${gone}`);
    expect(details.channels).toEqual(['email', 'sms']);
    const out = [...logs.lines(), JSON.stringify(audited), ...sms.map((m) => m.body ?? ''), ...mails].join('\n');
    for (const phi of TEST_IDENTITIES) expect(out, phi).not.toContain(phi);
    for (const phone of [ADMIN_PHONE, ADMIN_PHONE.slice(2)]) expect([...logs.lines(), JSON.stringify(audited)].join('\n')).not.toContain(phone);
  });

  it('a practice with no number to send from still alerts its admin accounts by e-mail', async () => {
    await markAllAlerted();
    const quiet = await quietPractice();
    await insertAccount(h, { email: 'quiet.admin@example.org', displayName: 'Quiet Admin', memberships: [{ practiceId: quiet, role: 'admin' }] });
    const task = await openTaskWithNumber(h, quiet, { callback: PATIENT, reason: 'billing', urgency: 'urgent', dueAt: new Date(now.getTime() - 60_000) });
    const smsBefore = smsSent().length;
    const mailBefore = smtp.mails.length;
    expect(await sweepOverdueTasks(h.services)).toEqual({ alerted: 1, practices: 1 });
    expect(smsSent().length).toBe(smsBefore);
    const mails = smtp.mails.slice(mailBefore);
    expect(mails).toHaveLength(1);
    expect(mails[0]).toContain('quiet.admin@example.org');
    expect(mails[0]).toContain('1 urgent callback is overdue');
    expect(mails[0]).toContain(`/console/tasks/${task}`);
  });
});
