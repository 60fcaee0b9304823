import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createApiKey } from '../src/auth/api-keys.js';
import { captureLogs } from '../src/log/logger.js';
import { settleStaleCallBacks } from '../src/tasks/background.js';
import { openTaskWithNumber } from './support/callback-task.js';
import { asOwner, DEFAULT_TEST_NOW, startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { consoleCall, staffSessionFor } from './support/staff-session.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { postTwilio, randomSid } from './support/twilio-request.js';

/**
 * Calling a patient back from the practice's number (issue 13, item 5), through the service as
 * it runs and the loopback Twilio double: a signed-in staff member sets their own phone and asks
 * for a call back; Twilio is asked to ring that phone from the practice's number; the answer says
 * the practice and asks for 1; 1 dials the patient with the practice's number as caller ID (the
 * patient's number only inside the <Number>, never in a URL, the staff phone never as caller ID);
 * both legs land in the call record and timeline; the outcome is an attempt on the task, audited;
 * nothing of the patient reaches the logs or the audit details.
 */

const PATIENT = '+12025550123';
const PRACTICE = '+12025550100';
const STAFF_PHONE = '+12025550177';
const now = DEFAULT_TEST_NOW;

let h: Harness;
let double: TwilioDouble;
let practiceId: string;
let userId: string;
let session: { cookie: string; csrf: string };
let staffKey: string;
let logs: ReturnType<typeof captureLogs>;

/** As the staff member's console (session cookie, Origin, CSRF token), or with the staff API key. */
async function api(method: string, path: string, body?: unknown, auth: 'session' | 'key' = 'session'): Promise<{ status: number; body: Record<string, unknown> }> {
  const answer = await consoleCall(h, method, path, auth === 'session' ? { body, ...session } : { body, key: staffKey, origin: null });
  return { status: answer.status, body: answer.body };
}

/** An open, urgent task with the patient's number sealed, as the task intake leaves one. */
function openTask(): Promise<string> {
  return openTaskWithNumber(h, practiceId, { callback: PATIENT, reason: 'clinical', urgency: 'urgent', dueAt: now });
}

function callsPlaced() {
  return double.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Calls.json'));
}

async function taskCall(id: string) {
  return h.services.db.selectFrom('task_calls').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

async function attempts(taskId: string) {
  return h.services.db.selectFrom('callback_task_attempts').select(['actor', 'outcome']).where('task_id', '=', taskId).orderBy('at').execute();
}

beforeAll(async () => {
  logs = captureLogs();
  double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  h = await startHarness('task_call_back', { TWILIO_API_BASE_URL: double.baseUrl }, { clock: () => now });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practiceId = h.services.seeded.id;
  const staff = await staffSessionFor(h, practiceId, { email: 'casey@demo.example', displayName: 'Casey Staff' });
  userId = staff.userId;
  session = { cookie: staff.cookie, csrf: staff.csrf };
  staffKey = (await createApiKey(h.services.db, { role: 'staff', practiceId })).key;
});
afterAll(async () => {
  logs?.restore();
  await h?.close();
  await double?.close();
});

describe('calling a patient back from the practice number', () => {
  let taskId = '';
  let callId = '';
  let callerLeg = '';
  const patientLeg = randomSid('CA');

  it('refuses a number from the body, a person with no phone, and an API key (no phone of its own)', async () => {
    taskId = await openTask();
    expect((await api('POST', `/api/tasks/${taskId}/call`, { to: '+12025550999' })).status).toBe(400);
    const noPhone = await api('POST', `/api/tasks/${taskId}/call`, {});
    expect(noPhone).toMatchObject({ status: 409, body: { error: 'no_phone' } });
    expect((await api('POST', `/api/tasks/${taskId}/call`, {}, 'key')).body.error).toBe('no_phone');
    expect(callsPlaced()).toHaveLength(0);
  });

  it('PUT /api/me/phone seals the phone on the account and never shows it back', async () => {
    expect((await api('PUT', '/api/me/phone', { phone: '555' })).status).toBe(400);
    const set = await api('PUT', '/api/me/phone', { phone: STAFF_PHONE });
    expect(set).toEqual({ status: 200, body: { hasPhone: true } });
    const row = await h.services.db.selectFrom('users').select('phone_enc').where('id', '=', userId).executeTakeFirstOrThrow();
    expect(row.phone_enc).not.toBeNull();
    expect(row.phone_enc?.toString('latin1')).not.toContain(STAFF_PHONE);
  });

  it("Twilio is asked to ring the staff member's own phone from the practice's number; the URLs carry an opaque id", async () => {
    const placed = await api('POST', `/api/tasks/${taskId}/call`, { to: 'me' });
    expect(placed.status).toBe(201);
    expect(placed.body.state).toBe('placed');
    callId = placed.body.callId as string;
    const [req] = callsPlaced();
    expect(req?.form.get('To')).toBe(STAFF_PHONE);
    expect(req?.form.get('From')).toBe(PRACTICE);
    expect(req?.form.get('Url')).toBe(`${TEST_PUBLIC_BASE_URL}/twilio/callback/answer?c=${callId}`);
    expect(req?.form.get('StatusCallback')).toBe(`${TEST_PUBLIC_BASE_URL}/twilio/callback/status?c=${callId}`);
    expect(JSON.stringify([...(req?.form.entries() ?? [])])).not.toContain(PATIENT.slice(2));
    const row = await taskCall(callId);
    expect(row).toMatchObject({ task_id: taskId, actor: `user:${userId}`, origin: 'api', state: 'placed', caller_id: PRACTICE, outcome: null });
    expect(row.caller_leg_sid).toMatch(/^CA[0-9a-f]{32}$/);
    callerLeg = row.caller_leg_sid ?? '';
  });

  it('the answer names the practice and asks for 1, with nothing of the patient', async () => {
    const params = { CallSid: callerLeg, AccountSid: TEST_ACCOUNT_SID, From: PRACTICE, To: STAFF_PHONE, CallStatus: 'in-progress', Direction: 'outbound-api' };
    await postTwilio(h, `/twilio/callback/status?c=${callId}`, { ...params, CallStatus: 'ringing', SequenceNumber: '0' });
    const answer = await postTwilio(h, `/twilio/callback/answer?c=${callId}`, params);
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('Demo Family Medicine');
    expect(answer.body).toContain('Press 1 to connect.');
    expect(answer.body).toContain(`action="/twilio/callback/connect?c=${callId}"`);
    expect(answer.body).not.toContain('<Dial');
    expect(answer.body).not.toContain(PATIENT.slice(2));
  });

  it("pressing 1 dials the patient with the practice's number as caller ID; the number is in the <Number> only", async () => {
    const connect = await postTwilio(h, `/twilio/callback/connect?c=${callId}`, { CallSid: callerLeg, AccountSid: TEST_ACCOUNT_SID, From: PRACTICE, To: STAFF_PHONE, Digits: '1' });
    expect(connect.status).toBe(200);
    expect(connect.body).toMatch(new RegExp(`<Dial[^>]*callerId="\\${PRACTICE}"`));
    expect(connect.body).not.toContain(`callerId="${STAFF_PHONE}"`);
    expect(connect.body).not.toContain(STAFF_PHONE);
    const number = /<Number([^>]*)>([^<]*)<\/Number>/.exec(connect.body);
    expect(number?.[2]).toBe(PATIENT);
    // Every URL of the document (the <Dial> action, the leg's status callback) carries the id only.
    const urls = [...connect.body.matchAll(/(?:action|statusCallback)="([^"]*)"/g)].map((m) => m[1] ?? '');
    expect(urls).toEqual([`/twilio/callback/dialed?c=${callId}`, `/twilio/callback/status?c=${callId}`]);
    expect((await taskCall(callId)).state).toBe('dialling');
  });

  it("both legs land in the call record and the caller's timeline; the outcome is an attempt on the task", async () => {
    const child = { CallSid: patientLeg, ParentCallSid: callerLeg, AccountSid: TEST_ACCOUNT_SID, From: PRACTICE, To: PATIENT, Direction: 'outbound-dial' };
    await postTwilio(h, `/twilio/callback/status?c=${callId}`, { ...child, CallStatus: 'ringing', SequenceNumber: '0' });
    await postTwilio(h, `/twilio/callback/status?c=${callId}`, { ...child, CallStatus: 'in-progress', SequenceNumber: '1' });
    await postTwilio(h, `/twilio/callback/status?c=${callId}`, { ...child, CallStatus: 'completed', CallDuration: '42', SequenceNumber: '2' });
    const dialed = await postTwilio(h, `/twilio/callback/dialed?c=${callId}`, { CallSid: callerLeg, AccountSid: TEST_ACCOUNT_SID, From: PRACTICE, To: STAFF_PHONE, DialCallStatus: 'completed', DialCallSid: patientLeg, DialCallDuration: '42' });
    expect(dialed.body).toContain('The call with the patient has ended.');
    await postTwilio(h, `/twilio/callback/status?c=${callId}`, { CallSid: callerLeg, AccountSid: TEST_ACCOUNT_SID, From: PRACTICE, To: STAFF_PHONE, CallStatus: 'completed', CallDuration: '60', SequenceNumber: '3' });

    expect(await attempts(taskId)).toEqual([{ actor: `user:${userId}`, outcome: 'reached' }]);
    const task = await h.services.db.selectFrom('callback_tasks').select(['status', 'assignee', 'attempts']).where('id', '=', taskId).executeTakeFirstOrThrow();
    expect(task).toEqual({ status: 'claimed', assignee: `user:${userId}`, attempts: 1 });
    expect(await taskCall(callId)).toMatchObject({ state: 'finished', outcome: 'reached', patient_leg_sid: patientLeg });

    const records = await h.services.db.selectFrom('calls').select(['call_sid', 'practice_id', 'direction', 'status', 'to_number', 'from_enc']).where('call_sid', 'in', [callerLeg, patientLeg]).orderBy('direction').execute();
    expect(records).toEqual([
      { call_sid: callerLeg, practice_id: practiceId, direction: 'outbound-api', status: 'completed', to_number: null, from_enc: null },
      { call_sid: patientLeg, practice_id: practiceId, direction: 'outbound-dial', status: 'completed', to_number: null, from_enc: null },
    ]);
    const timeline = await api('GET', `/api/calls/${callerLeg}`, undefined, 'key');
    expect(timeline.status).toBe(200);
    const entries = (timeline.body.timeline ?? []) as Array<Record<string, unknown>>;
    const actions = entries.filter((e) => e.kind === 'event').map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['task.call_placed', 'task.call_dialled', 'task.call_ended', 'call.leg.status']));
    expect(entries.find((e) => e.kind === 'dial_leg')).toMatchObject({ legSid: patientLeg, outcome: 'reached', durationSeconds: 42, numberTried: null });
    expect(entries.some((e) => e.kind === 'parent_leg')).toBe(true);
    expect(JSON.stringify(timeline.body)).not.toContain(PATIENT.slice(2));
  });

  it('a repeated <Dial> action records nothing twice', async () => {
    await postTwilio(h, `/twilio/callback/dialed?c=${callId}`, { CallSid: callerLeg, AccountSid: TEST_ACCOUNT_SID, DialCallStatus: 'completed', DialCallSid: patientLeg, DialCallDuration: '42' });
    expect(await attempts(taskId)).toHaveLength(1);
    expect(await h.services.db.selectFrom('call_legs').select('leg_sid').where('leg_sid', '=', patientLeg).execute()).toHaveLength(1);
  });

  it('busy, no answer and failed become the attempt outcome; no key pressed is not connected', async () => {
    const cases: Array<{ dial: string | null; outcome: string }> = [
      { dial: 'busy', outcome: 'busy' },
      { dial: 'no-answer', outcome: 'no_answer' },
      { dial: 'failed', outcome: 'failed' },
      { dial: null, outcome: 'not_connected' },
    ];
    for (const c of cases) {
      const id = await openTask();
      const placed = await api('POST', `/api/tasks/${id}/call`, {});
      expect(placed.status).toBe(201);
      const cid = placed.body.callId as string;
      const leg = (await taskCall(cid)).caller_leg_sid ?? '';
      const base = { CallSid: leg, AccountSid: TEST_ACCOUNT_SID, From: PRACTICE, To: STAFF_PHONE };
      if (c.dial === null) {
        const none = await postTwilio(h, `/twilio/callback/connect?c=${cid}`, { ...base, Digits: '' });
        expect(none.body).not.toContain('<Dial');
      } else {
        expect((await postTwilio(h, `/twilio/callback/connect?c=${cid}`, { ...base, Digits: '1' })).body).toContain('<Dial');
        await postTwilio(h, `/twilio/callback/dialed?c=${cid}`, { ...base, DialCallStatus: c.dial, DialCallSid: randomSid('CA') });
      }
      expect(await attempts(id), c.outcome).toEqual([{ actor: `user:${userId}`, outcome: c.outcome }]);
    }
  });

  it("the staff member's phone not answering settles the call back as not connected, once", async () => {
    const id = await openTask();
    const cid = (await api('POST', `/api/tasks/${id}/call`, {})).body.callId as string;
    const leg = (await taskCall(cid)).caller_leg_sid ?? '';
    const status = { CallSid: leg, AccountSid: TEST_ACCOUNT_SID, From: PRACTICE, To: STAFF_PHONE, CallStatus: 'no-answer', SequenceNumber: '1' };
    await postTwilio(h, `/twilio/callback/status?c=${cid}`, status);
    await postTwilio(h, `/twilio/callback/status?c=${cid}`, status);
    expect(await attempts(id)).toEqual([{ actor: `user:${userId}`, outcome: 'not_connected' }]);
  });

  it("another call's SID or an unknown id runs nothing of a call back", async () => {
    const id = await openTask();
    const cid = (await api('POST', `/api/tasks/${id}/call`, {})).body.callId as string;
    const stranger = { CallSid: randomSid('CA'), AccountSid: TEST_ACCOUNT_SID, From: PRACTICE, To: STAFF_PHONE, Digits: '1' };
    const forged = await postTwilio(h, `/twilio/callback/connect?c=${cid}`, stranger);
    expect(forged.body).not.toContain('<Dial');
    expect(forged.body).not.toContain(PATIENT.slice(2));
    const unknown = await postTwilio(h, `/twilio/callback/connect?c=${randomUUID()}`, stranger);
    expect(unknown.body).not.toContain('<Dial');
    expect((await postTwilio(h, '/twilio/callback/connect?c=not-an-id', stranger)).body).toContain('<Hangup');
  });

  it('every step is audited with ids only, and nothing of the patient or the staff phone reaches the logs or the audit details', async () => {
    const rows = await h.services.db.selectFrom('audit_log').select(['action', 'actor', 'details']).where('action', 'like', 'task.call_%').execute();
    expect(rows.filter((r) => r.action === 'task.call_placed').length).toBeGreaterThanOrEqual(1);
    expect(rows.every((r) => r.actor === `user:${userId}`)).toBe(true);
    const phoneSet = await h.services.db.selectFrom('audit_log').select(['actor', 'details']).where('action', '=', 'user.phone_set').execute();
    expect(phoneSet[0]).toMatchObject({ actor: `user:${userId}`, details: { set: true } });
    const all = JSON.stringify(await h.services.db.selectFrom('audit_log').select(['details']).execute());
    const logged = logs.lines().join('\n');
    for (const number of [PATIENT, STAFF_PHONE]) {
      expect(all).not.toContain(number.slice(2));
      expect(logged).not.toContain(number.slice(2));
    }
  });
});

describe('one call back at a time per task (a second request while one is open)', () => {
  it('two requests at once: one places the call, the other answers 409 call_in_progress; Twilio is asked once', async () => {
    const id = await openTask();
    const before = callsPlaced().length;
    const [a, b] = await Promise.all([api('POST', `/api/tasks/${id}/call`, {}), api('POST', `/api/tasks/${id}/call`, {})]);
    expect([a.status, b.status].sort()).toEqual([201, 409]);
    expect([a.body.error, b.body.error]).toContain('call_in_progress');
    expect(callsPlaced().length - before).toBe(1);
    expect(await h.services.db.selectFrom('task_calls').select('id').where('task_id', '=', id).execute()).toHaveLength(1);
  });

  it('a call back left with no outcome for over half an hour is settled failed by the task sweep; a new one can then be placed', async () => {
    const id = await openTask();
    const placed = await api('POST', `/api/tasks/${id}/call`, {});
    expect(placed.status).toBe(201);
    expect((await api('POST', `/api/tasks/${id}/call`, {})).body.error).toBe('call_in_progress');
    const later = new Date(now.getTime() + 31 * 60_000);
    // Within half an hour it stands (earlier tests' open calls began at the same instant).
    expect(await settleStaleCallBacks({ ...h.services, clock: () => new Date(now.getTime() + 5 * 60_000) })).toEqual({ staleCalls: 0 });
    expect(await taskCall(placed.body.callId as string)).toMatchObject({ state: 'placed', outcome: null });
    expect((await settleStaleCallBacks({ ...h.services, clock: () => later })).staleCalls).toBeGreaterThanOrEqual(1);
    expect(await taskCall(placed.body.callId as string)).toMatchObject({ state: 'finished', outcome: 'failed' });
    expect(await attempts(id)).toEqual([{ actor: `user:${userId}`, outcome: 'failed' }]);
    expect((await api('POST', `/api/tasks/${id}/call`, {})).status).toBe(201);
  });
});

describe('the <Dial> action failing', () => {
  it("the caller's leg ending settles a call back left dialling (the patient leg's last status); the failure is not audited as a caller's fail-safe", async () => {
    const id = await openTask();
    const cid = (await api('POST', `/api/tasks/${id}/call`, {})).body.callId as string;
    const leg = (await taskCall(cid)).caller_leg_sid ?? '';
    const child = randomSid('CA');
    const base = { CallSid: leg, AccountSid: TEST_ACCOUNT_SID, From: PRACTICE, To: STAFF_PHONE };
    expect((await postTwilio(h, `/twilio/callback/connect?c=${cid}`, { ...base, Digits: '1' })).body).toContain('<Dial');
    const childBase = { CallSid: child, ParentCallSid: leg, AccountSid: TEST_ACCOUNT_SID, From: PRACTICE, To: PATIENT, Direction: 'outbound-dial' };
    await postTwilio(h, `/twilio/callback/status?c=${cid}`, { ...childBase, CallStatus: 'in-progress', SequenceNumber: '0' });
    await postTwilio(h, `/twilio/callback/status?c=${cid}`, { ...childBase, CallStatus: 'completed', CallDuration: '30', SequenceNumber: '1' });
    // The database refuses the <Dial> action's settling write (a fault for this one request).
    await asOwner(
      h.services.db,
      sql`CREATE FUNCTION refuse_task_call_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused for the test'; END $$`,
      sql`CREATE TRIGGER refuse_task_call_update BEFORE UPDATE ON task_calls FOR EACH ROW EXECUTE FUNCTION refuse_task_call_update()`,
    );
    try {
      const dialed = await postTwilio(h, `/twilio/callback/dialed?c=${cid}`, { ...base, DialCallStatus: 'completed', DialCallSid: child, DialCallDuration: '30' });
      expect(dialed.status).toBe(200);
      expect(dialed.body).toContain('<Hangup');
    } finally {
      await asOwner(h.services.db, sql`DROP TRIGGER refuse_task_call_update ON task_calls`, sql`DROP FUNCTION refuse_task_call_update()`);
    }
    expect(await attempts(id)).toEqual([]);
    expect((await taskCall(cid)).state).toBe('dialling');
    await postTwilio(h, `/twilio/callback/status?c=${cid}`, { ...base, CallStatus: 'completed', CallDuration: '45', SequenceNumber: '3' });
    expect(await attempts(id)).toEqual([{ actor: `user:${userId}`, outcome: 'reached' }]);
    expect(await taskCall(cid)).toMatchObject({ state: 'finished', outcome: 'reached', patient_leg_sid: child });
    const failSafe = await h.services.db.selectFrom('audit_log').select('action').where('call_sid', '=', leg).where('action', '=', 'call.fail_safe').execute();
    expect(failSafe).toEqual([]);
  });
});
