import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { sweepOverdueTasks } from '../src/tasks/overdue.js';
import { overdueUnalerted } from '../src/tasks/store.js';
import { asOwner, DEFAULT_TEST_NOW, startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, type Harness } from './support/harness.js';
import { openTaskWithNumber } from './support/callback-task.js';
import { startSmtpCapture, type SmtpCapture } from './support/smtp-capture.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';

/**
 * Overdue callback-task alerts across practices (issue 13, item 3): the sweep takes the most
 * overdue tasks of each practice, so a practice whose alerts cannot go out (no number to send
 * from, nobody to tell) never holds up another's. Real PostgreSQL and Redis; Twilio is the
 * loopback double, e-mail the real smtp-server on loopback.
 */

const PATIENT = '+12025550123';
const DEMO_ADMIN_PROVIDER = '+12025550113';
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
