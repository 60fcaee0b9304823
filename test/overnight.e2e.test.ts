import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTranscript, heard } from '../devtools/simulator/simulator.js';
import { DEMO } from '../src/practices/seed.js';
import { sweepMorningReports } from '../src/reports/morning.js';
import type { OvernightReport } from '../src/reports/overnight.js';
import { TEST_ACCOUNT_SID, type Harness } from './support/harness.js';
import { startNoticeHarness, type NoticeHarness } from './support/notice-harness.js';
import { recordingSimulatorFor, TEST_IDENTITIES } from './support/simulate.js';
import type { SmtpCapture } from './support/smtp-capture.js';
import { consoleCall, insertAccount, walkStaffAccount, type ConsoleRequest, type StaffSession } from './support/staff-session.js';
import type { TwilioDouble } from './support/twilio-double.js';
import { postTwilio } from './support/twilio-request.js';
import { until } from './support/until.js';

/**
 * Issue 13's "Done means", end to end on the demo practice, with the clock moved rather than
 * waited for: after hours a patient calls, keys another number to be called back at (read back,
 * confirmed), leaves a routine message, and it becomes a task with the keyed number; a patient's
 * text gets the automatic reply and becomes a task. At the opening the morning report's summary
 * goes to the admins; a staff member signs in (invitation, password, TOTP), claims the message's
 * task and closes it; the report lists the night; the audit rows name the person.
 */

const PATIENT = DEMO.patient.phone;
const PRACTICE = DEMO.number;
const KEYED = '3105550188';
const STAFF_EMAIL = 'casey.frontdesk@example.org';
const ADMIN_EMAIL = 'jordan.admin@example.org';
const PASSWORD = 'a kettle of blue herons at dusk';
/** Mon 2026-11-30 22:00 and Tue 01:00 in New York (closed); Tue 08:00 (opening). */
const NIGHT = new Date('2026-12-01T03:00:00Z');
const LATER = new Date('2026-12-01T06:00:00Z');
const OPENING = new Date('2026-12-01T13:00:00Z');

let now = NIGHT;
let t: NoticeHarness | undefined;
let h: Harness;
let double: TwilioDouble;
let smtp: SmtpCapture;
let practiceId: string;
let adminKey: string;

beforeAll(async () => {
  t = await startNoticeHarness('overnight_e2e', () => now);
  ({ h, double, smtp, practiceId, adminKey } = t);
  // The practice's admin account, who gets the summary by e-mail.
  await insertAccount(h, { email: ADMIN_EMAIL, displayName: 'Jordan Admin', memberships: [{ practiceId, role: 'admin' }] });
}, 60_000);
afterAll(async () => {
  await t?.close();
});

/** A request as the console sends it: the session cookie, our Origin and the CSRF token; or an API key. */
const call = (method: string, path: string, opts: ConsoleRequest = {}) => consoleCall(h, method, path, opts);

describe('the night and the morning after', () => {
  let messageTaskId = '';
  let textTaskId = '';
  let staff: StaffSession;

  it('after hours: a call keys another callback number, leaves a routine message and becomes a task', async () => {
    now = NIGHT;
    const { sim } = recordingSimulatorFor(h, double);
    // English; "leave a message"; 2: another number, keyed, read back, 1 to confirm; the message.
    const result = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '2', '2', KEYED, '1'], recordings: [{ durationSeconds: 6, digits: '#' }] });
    expect(result.errors, formatTranscript(result)).toEqual([]);
    expect(heard(result)).toContain('You entered 3, 1, 0, 5, 5, 5, 0, 1, 8, 8.');
    const task = await until('the message task', () => h.services.db.selectFrom('callback_tasks').select(['id', 'urgency', 'source']).where('call_sid', '=', result.callSid).executeTakeFirst());
    expect(task).toMatchObject({ urgency: 'routine', source: 'message' });
    messageTaskId = task.id;
  });

  it("after hours: a patient's text gets the automatic reply and becomes a task", async () => {
    now = LATER;
    const messageSid = `SM${randomBytes(16).toString('hex')}`;
    const res = await postTwilio(h, '/twilio/sms/incoming', { MessageSid: messageSid, AccountSid: TEST_ACCOUNT_SID, From: PATIENT, To: PRACTICE, Body: 'Can someone call me about my son?', NumMedia: '0' });
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/<Message>[^<]+<\/Message>/);
    const row = await until('the text task', () => h.services.db.selectFrom('patient_texts').select(['task_id']).where('message_sid', '=', messageSid).where('task_id', 'is not', null).executeTakeFirst());
    textTaskId = row.task_id ?? '';
    expect(textTaskId).not.toBe('');
  });

  it('at the opening, the summary goes to the admins once', async () => {
    now = OPENING;
    await sweepMorningReports(h.services);
    // The maintenance schedule runs the same sweep: whichever ran, it is stamped sent.
    await until('the report sent', () => h.services.db.selectFrom('overnight_reports').select('sent_at').where('practice_id', '=', practiceId).where('sent_at', 'is not', null).executeTakeFirst());
    await sweepMorningReports(h.services);
    const sent = smtp.mails.filter((m) => m.includes('overnight report for 2026-12-01'));
    expect(sent).toHaveLength(1);
    expect(sent[0]).toContain(ADMIN_EMAIL);
    expect(sent[0]).toContain('Callbacks: 2 new, 2 open');
    for (const phi of [...TEST_IDENTITIES, KEYED, '310-555', 'my son']) expect((sent[0] ?? '').replace(ADMIN_EMAIL, ''), phi).not.toContain(phi);
  });

  it('a signed-in staff member reads the keyed number, claims the task, calls back from the practice number and closes it', async () => {
    now = new Date(OPENING.getTime() + 5 * 60_000);
    // Invited by the admin (the link mailed, not shown), accepted with a password, TOTP enrolled.
    staff = await walkStaffAccount(h, { adminKey, email: STAFF_EMAIL, role: 'staff', password: PASSWORD, displayName: 'Casey Frontdesk', mails: smtp.mails });
    const read = await call('GET', `/api/tasks/${messageTaskId}`, { cookie: staff.cookie });
    expect(read.status, JSON.stringify(read.body)).toBe(200);
    // The number keyed and confirmed on the call, not the one called from.
    expect(read.body.callbackNumber).toBe(`+1${KEYED}`);
    const claimed = await call('POST', `/api/tasks/${messageTaskId}/claim`, { cookie: staff.cookie, csrf: staff.csrf });
    expect(claimed.status, JSON.stringify(claimed.body)).toBe(200);
    expect(claimed.body.assignee).toBe(`user:${staff.userId}`);

    // The call back, from the practice's number: Twilio rings the staff member's own phone, then
    // (1 pressed) dials the keyed number with the practice's number as caller ID.
    const STAFF_PHONE = '+12025550177';
    expect((await call('PUT', '/api/me/phone', { cookie: staff.cookie, csrf: staff.csrf, body: { phone: STAFF_PHONE } })).status).toBe(200);
    const placed = await call('POST', `/api/tasks/${messageTaskId}/call`, { cookie: staff.cookie, csrf: staff.csrf, body: { to: 'me' } });
    expect(placed.status, JSON.stringify(placed.body)).toBe(201);
    const callId = placed.body.callId as string;
    const [placedReq] = double.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Calls.json'));
    expect(placedReq?.form.get('To')).toBe(STAFF_PHONE);
    expect(placedReq?.form.get('From')).toBe(PRACTICE);
    const staffLeg = (await h.services.db.selectFrom('task_calls').select('caller_leg_sid').where('id', '=', callId).executeTakeFirstOrThrow()).caller_leg_sid ?? '';
    const connect = await postTwilio(h, `/twilio/callback/connect?c=${callId}`, { CallSid: staffLeg, AccountSid: TEST_ACCOUNT_SID, From: PRACTICE, To: STAFF_PHONE, Digits: '1' });
    expect(connect.body).toMatch(new RegExp(`<Dial[^>]*callerId="\\${PRACTICE}"`));
    expect(/<Number[^>]*>([^<]*)<\/Number>/.exec(connect.body)?.[1]).toBe(`+1${KEYED}`);
    const patientLeg = `CA${randomBytes(16).toString('hex')}`;
    await postTwilio(h, `/twilio/callback/dialed?c=${callId}`, { CallSid: staffLeg, AccountSid: TEST_ACCOUNT_SID, From: PRACTICE, To: STAFF_PHONE, DialCallStatus: 'completed', DialCallSid: patientLeg, DialCallDuration: '30' });
    const afterCall = await call('GET', `/api/tasks/${messageTaskId}`, { cookie: staff.cookie });
    expect(afterCall.body.attemptList).toEqual([expect.objectContaining({ actor: `user:${staff.userId}`, outcome: 'reached' })]);

    const closed = await call('POST', `/api/tasks/${messageTaskId}/close`, { cookie: staff.cookie, csrf: staff.csrf, body: { outcome: 'done', note: 'called back' } });
    expect(closed.status, JSON.stringify(closed.body)).toBe(200);
    expect(closed.body.status).toBe('done');
  });

  it('the morning report lists all of it; the audit rows name the person', async () => {
    const res = await call('GET', '/api/reports/overnight?date=2026-12-01', { cookie: staff.cookie });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const r = res.body as unknown as OvernightReport;
    expect(r.calls.total.count).toBe(1);
    expect(r.calls.byOutcome['message']?.count).toBe(1);
    expect(r.voicemails.routine.count).toBe(1);
    expect(r.tasks.created.count).toBe(2);
    // The text's task is still open; the message's is done.
    expect(r.tasks.open.count).toBe(1);
    const open = await call('GET', r.tasks.open.list ?? '', { cookie: staff.cookie });
    expect((open.body.tasks as Array<{ id: string }>).map((t) => t.id)).toEqual([textTaskId]);

    const audit = await h.services.db.selectFrom('audit_log').select(['action', 'actor']).where('subject_id', '=', messageTaskId).where('action', 'in', ['task.claimed', 'task.closed']).orderBy('seq').execute();
    expect(audit).toEqual([
      { action: 'task.claimed', actor: `user:${staff.userId}` },
      { action: 'task.closed', actor: `user:${staff.userId}` },
    ]);
    const report = await h.services.db.selectFrom('audit_log').select(['actor']).where('action', '=', 'report.overnight_sent').execute();
    expect(report).toEqual([{ actor: 'system:reports' }]);
  });
});
