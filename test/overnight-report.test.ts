import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { formatTranscript } from '../devtools/simulator/simulator.js';
import { DEFAULT_HOLIDAYS, DEFAULT_WEEKLY_HOURS } from '../src/practices/settings.js';
import { DEMO } from '../src/practices/seed.js';
import { closedPeriodFor, latestClosedPeriod } from '../src/reports/period.js';
import { sweepMorningReports } from '../src/reports/morning.js';
import type { OvernightReport } from '../src/reports/overnight.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { recordingSimulatorFor, TEST_IDENTITIES } from './support/simulate.js';
import { startSmtpCapture, type SmtpCapture } from './support/smtp-capture.js';
import { insertAccount } from './support/staff-session.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { postTwilio } from './support/twilio-request.js';
import { until } from './support/until.js';

/**
 * The morning report (issue 13, item 8), with the clock moved instead of waited for: a call that
 * leaves a message, patient texts and a lockout across a Monday night at the demo practice
 * (New York, Mon–Fri 08:00–17:00) appear in the report of Tuesday's opening; a text of the
 * afternoon before does not. At the opening the summary goes once to the admin account (e-mail,
 * smtp-server on loopback) and the admin provider (SMS, the Twilio double), with no PHI; the
 * sweep run again sends nothing. The night the clocks go back is as long as it really was.
 */

const PATIENT = DEMO.patient.phone;
const PRACTICE = DEMO.number;
const SECRET_TEXT = 'Avery has a fever of 103, please call me back';
const ADMIN_EMAIL = 'morning.admin@example.org';
/** Mon 2026-11-30 16:00 in New York: open. */
const AFTERNOON = new Date('2026-11-30T21:00:00Z');
/** Mon 22:00, Tue 02:00: closed. */
const NIGHT = new Date('2026-12-01T03:00:00Z');
const LATE_NIGHT = new Date('2026-12-01T07:00:00Z');
/** Tue 2026-12-01 08:00 in New York: opening. */
const OPENING = new Date('2026-12-01T13:00:00Z');

let now = AFTERNOON;
let h: Harness;
let double: TwilioDouble;
let smtp: SmtpCapture;
let practiceId: string;
let staffKey: string;
let adminId: string;

beforeAll(async () => {
  smtp = await startSmtpCapture();
  double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  h = await startHarness('overnight_report', { TWILIO_API_BASE_URL: double.baseUrl, ...smtp.env }, { clock: () => now });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practiceId = h.services.seeded.id;
  staffKey = (await createApiKey(h.services.db, { role: 'staff', practiceId })).key;
  // The practice's admin account (as an accepted invitation leaves it).
  adminId = await insertAccount(h, { email: ADMIN_EMAIL, displayName: 'Morgan Admin', memberships: [{ practiceId, role: 'admin' }] });
}, 60_000);
afterAll(async () => {
  await h?.close();
  await double?.close();
  await smtp?.close();
});

async function report(query = ''): Promise<OvernightReport> {
  const res = await fetch(`${h.baseUrl}/api/reports/overnight${query}`, { headers: { authorization: `Bearer ${staffKey}` } });
  const body = (await res.json()) as OvernightReport;
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body;
}

function text(body: string): Record<string, string> {
  return { MessageSid: `SM${randomBytes(16).toString('hex')}`, AccountSid: TEST_ACCOUNT_SID, From: PATIENT, To: PRACTICE, Body: body, NumMedia: '0' };
}

function smsBodies(): string[] {
  return double.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Messages.json')).map((r) => `${r.form.get('To') ?? ''} ${r.form.get('Body') ?? ''}`);
}

function reportMails(date: string): string[] {
  return smtp.mails.filter((m) => m.includes(`overnight report for ${date}`));
}

describe('the closed period', () => {
  it('runs from the previous open day\'s closing to the opening, on the practice\'s clock, across week-ends, holidays and DST', () => {
    const ny = (date: string) => closedPeriodFor(date, 'America/New_York', DEFAULT_WEEKLY_HOURS, DEFAULT_HOLIDAYS);
    expect(ny('2026-12-01')).toEqual({ date: '2026-12-01', start: new Date('2026-11-30T22:00:00Z'), end: new Date('2026-12-01T13:00:00Z') });
    // A Monday: from Friday's closing. The clocks went back on Sunday 2026-11-01: 17:00 EDT to 08:00 EST.
    expect(ny('2026-11-02')).toEqual({ date: '2026-11-02', start: new Date('2026-10-30T21:00:00Z'), end: new Date('2026-11-02T13:00:00Z') });
    // Forward on Sunday 2027-03-14: 17:00 EST to 08:00 EDT.
    expect(ny('2027-03-15')).toEqual({ date: '2027-03-15', start: new Date('2027-03-12T22:00:00Z'), end: new Date('2027-03-15T12:00:00Z') });
    // The Friday after Thanksgiving: from Wednesday's closing.
    expect(ny('2026-11-27')?.start).toEqual(new Date('2026-11-25T22:00:00Z'));
    // Closed days have no report of their own.
    expect(ny('2026-11-26')).toBeNull();
    expect(ny('2026-11-28')).toBeNull();
    // The latest period: at 07:30 EST on the Monday after the change, Friday's; at 08:00 EST, Monday's.
    expect(latestClosedPeriod(new Date('2026-11-02T12:30:00Z'), 'America/New_York', DEFAULT_WEEKLY_HOURS, DEFAULT_HOLIDAYS)?.date).toBe('2026-10-30');
    expect(latestClosedPeriod(new Date('2026-11-02T13:00:00Z'), 'America/New_York', DEFAULT_WEEKLY_HOURS, DEFAULT_HOLIDAYS)?.date).toBe('2026-11-02');
  });
});

describe('the morning report', () => {
  let messageTaskId = '';

  it('counts what the night brought: a message (its call and task), texts and a lockout; not the afternoon before', async () => {
    now = AFTERNOON;
    expect((await postTwilio(h, '/twilio/sms/incoming', text('running late for my appointment'))).status).toBe(200);

    now = NIGHT;
    const { sim } = recordingSimulatorFor(h, double);
    const call = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '2', '1'], recordings: [{ durationSeconds: 4, digits: '#' }] });
    expect(call.errors, formatTranscript(call)).toEqual([]);
    const task = await until('the message task', () => h.services.db.selectFrom('callback_tasks').select(['id']).where('call_sid', '=', call.callSid).executeTakeFirst());
    messageTaskId = task.id;

    now = LATE_NIGHT;
    expect((await postTwilio(h, '/twilio/sms/incoming', text(SECRET_TEXT))).status).toBe(200);
    await h.services.db
      .insertInto('verification_lockouts')
      .values({ practice_id: practiceId, scope: 'number', phone_index: 'a'.repeat(64), line: 'patient', started_at: LATE_NIGHT, locked_until: new Date(LATE_NIGHT.getTime() + 3_600_000) })
      .execute();

    now = OPENING;
    const r = await report();
    expect(r.date).toBe('2026-12-01');
    expect(r.period).toEqual({ start: '2026-11-30T22:00:00.000Z', end: '2026-12-01T13:00:00.000Z', timeZone: 'America/New_York' });
    expect(r.calls.total.count).toBe(1);
    expect(r.calls.byOutcome['message']).toEqual({ count: 1, list: `/api/calls?from=2026-11-30T22%3A00%3A00.000Z&to=2026-12-01T13%3A00%3A00.000Z&outcome=message` });
    expect(r.calls.byReason['refill']?.count).toBe(1);
    // The message's task and the night's text; the afternoon's text is the day's, not the night's.
    expect(r.tasks.created.count).toBe(2);
    expect(r.tasks.open).toEqual({ count: 3, list: '/api/tasks?status=open' });
    expect(r.voicemails.routine.count).toBe(1);
    expect(r.voicemails.unheard.count).toBe(1);
    expect(r.lockouts).toEqual({ count: 1, list: '/api/lockouts?from=2026-11-30T22%3A00%3A00.000Z&to=2026-12-01T13%3A00%3A00.000Z' });
    expect(r.failSafeAnswers.count).toBe(0);
    // Each list link answers.
    for (const list of [r.calls.total.list, r.calls.byOutcome['message']?.list, r.tasks.overdue.list, r.voicemails.urgent.list, r.lockouts.list]) {
      const res = await fetch(h.baseUrl + (list ?? ''), { headers: { authorization: `Bearer ${staffKey}` } });
      expect(res.status, list ?? '').toBe(200);
    }
    // The same period by its date; a closed day has none.
    expect((await report('?date=2026-12-01')).tasks.created.count).toBe(2);
    const closed = await fetch(`${h.baseUrl}/api/reports/overnight?date=2026-11-29`, { headers: { authorization: `Bearer ${staffKey}` } });
    expect(closed.status).toBe(404);
  });

  it('names who took an urgent callback and who acknowledged each page (staff, never a patient)', async () => {
    const provider = await h.services.db.selectFrom('providers').select(['id', 'display_name']).where('practice_id', '=', practiceId).orderBy('display_name').executeTakeFirstOrThrow();
    const claim = async (assignee: string) => {
      await h.services.db.updateTable('callback_tasks').set({ urgency: 'urgent', status: 'claimed', assignee, claimed_at: OPENING }).where('id', '=', messageTaskId).execute();
      return (await report()).tasks.urgentClaimed;
    };
    expect(await claim('api_key:someone')).toEqual([{ taskId: messageTaskId, assignee: 'api_key:someone', name: null, claimedAt: OPENING.toISOString() }]);
    expect(await claim(`provider:${provider.id}`)).toEqual([{ taskId: messageTaskId, assignee: `provider:${provider.id}`, name: provider.display_name, claimedAt: OPENING.toISOString() }]);
    expect(await claim(`user:${adminId}`)).toEqual([{ taskId: messageTaskId, assignee: `user:${adminId}`, name: 'Morgan Admin', claimedAt: OPENING.toISOString() }]);
    await h.services.db.updateTable('callback_tasks').set({ urgency: 'routine', status: 'open', assignee: null, claimed_at: null }).where('id', '=', messageTaskId).execute();

    // Two pages of the night: one the provider stopped on the access line, one still open; and one of the afternoon before.
    // Their calls are of the day before (the report's call counts stay as they were), one each.
    const page = async (code: string, createdAt: Date, ack: { at: Date; by: string } | null) => {
      const callSid = `CA${code}${'0'.repeat(26)}`;
      await h.services.db
        .insertInto('calls')
        .values({ call_sid: callSid, practice_id: practiceId, direction: 'inbound', from_index: null, to_number: PRACTICE, status: 'completed', status_history: JSON.stringify([]), patient_id: null, match: null, outcome: 'urgent_voicemail', created_at: new Date(AFTERNOON.getTime() - 86_400_000) })
        .execute();
      return h.services.db
        .insertInto('pages')
        .values({ practice_id: practiceId, call_sid: callSid, policy_id: null, reference_code: code, status: ack ? 'acknowledged' : 'open', acknowledged_at: ack?.at ?? null, acknowledged_by: ack?.by ?? null, created_at: createdAt })
        .returning('id')
        .executeTakeFirstOrThrow();
    };
    const stopped = await page('918273', NIGHT, { at: new Date(NIGHT.getTime() + 120_000), by: `provider:${provider.id}` });
    const open = await page('918274', LATE_NIGHT, null);
    await page('918275', AFTERNOON, { at: AFTERNOON, by: `user:${adminId}` });
    const r = await report();
    expect(r.pages).toEqual([
      { pageId: stopped.id, createdAt: NIGHT.toISOString(), status: 'acknowledged', acknowledgedAt: new Date(NIGHT.getTime() + 120_000).toISOString(), acknowledgedBy: `provider:${provider.id}`, name: provider.display_name },
      { pageId: open.id, createdAt: LATE_NIGHT.toISOString(), status: 'open', acknowledgedAt: null, acknowledgedBy: null, name: null },
    ]);
    // The reference code plays the voicemail: never in the report.
    expect(JSON.stringify(r)).not.toContain('918273');
    await h.services.db.deleteFrom('pages').where('reference_code', 'in', ['918273', '918274', '918275']).execute();
    await h.services.db.deleteFrom('calls').where('call_sid', 'like', 'CA91827%').execute();
  });

  it('at the opening, the summary goes once to the admins by e-mail and SMS, with counts, a link and no PHI', async () => {
    now = OPENING;
    const smsBefore = smsBodies().length;
    await sweepMorningReports(h.services);
    const row = await until('the report sent', () =>
      h.services.db.selectFrom('overnight_reports').selectAll().where('practice_id', '=', practiceId).where('period_date', '=', '2026-12-01').where('sent_at', 'is not', null).executeTakeFirst(),
    );
    expect(row.counts).toMatchObject({ calls: 1, messages: 1, tasksCreated: 2, lockouts: 1 });
    const sent = reportMails('2026-12-01');
    expect(sent).toHaveLength(1);
    const mail = sent[0] ?? '';
    expect(mail).toContain(ADMIN_EMAIL);
    expect(mail).toContain(`${TEST_PUBLIC_BASE_URL}/console/overnight?date=2026-12-01`);
    expect(mail).toContain('Calls 1');
    // The admin provider (Jordan Manager) by SMS from a practice number.
    const sms = smsBodies().slice(smsBefore).filter((b) => b.includes('overnight report for 2026-12-01'));
    expect(sms).toHaveLength(1);
    expect(sms[0]).toContain('+12025550113');

    const audit = await h.services.db.selectFrom('audit_log').select(['actor', 'details']).where('action', '=', 'report.overnight_sent').execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]?.actor).toBe('system:reports');
    for (const out of [mail.replace(ADMIN_EMAIL, ''), ...sms.map((s) => s.replace('+12025550113', '')), JSON.stringify(audit)]) {
      for (const phi of [...TEST_IDENTITIES, SECRET_TEXT, 'fever']) expect(out, phi).not.toContain(phi);
    }

    // Run again (a second sweep, an instance restarted): nothing more.
    expect(await sweepMorningReports(h.services)).toEqual({ sent: 0 });
    now = new Date(OPENING.getTime() + 3_600_000);
    expect(await sweepMorningReports(h.services)).toEqual({ sent: 0 });
    expect(reportMails('2026-12-01')).toHaveLength(1);
    expect(smsBodies().filter((b) => b.includes('overnight report for 2026-12-01'))).toHaveLength(1);
  });

  it('the night the clocks go back: before 08:00 EST nothing goes, at 08:00 EST the Monday report', async () => {
    now = new Date('2026-11-02T12:30:00Z'); // 07:30 EST (08:30 on the summer clock)
    await sweepMorningReports(h.services);
    expect(reportMails('2026-11-02')).toHaveLength(0);
    now = new Date('2026-11-02T13:00:00Z');
    await sweepMorningReports(h.services);
    await until('the DST report sent', () => reportMails('2026-11-02').length === 1);
    const row = await h.services.db.selectFrom('overnight_reports').select(['period_start', 'period_end']).where('practice_id', '=', practiceId).where('period_date', '=', '2026-11-02').executeTakeFirstOrThrow();
    expect(row).toEqual({ period_start: new Date('2026-10-30T21:00:00Z'), period_end: new Date('2026-11-02T13:00:00Z') });
  });
});
