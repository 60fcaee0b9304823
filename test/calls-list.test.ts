import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { captureLogs } from '../src/log/logger.js';
import { callKey } from '../src/calls/state-store.js';
import { createPractice } from '../src/practices/store.js';
import { CallSimulator, type CallResult } from '../devtools/simulator/simulator.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { randomWav } from './support/wav.js';
import { callApi } from './support/api-request.js';
import { inboundParams, postTwilio } from './support/twilio-request.js';

/**
 * Every call on record (issue 12, item 8): simulated calls to the demo practice, then
 * `GET /api/calls` — the number to call back (in full for staff, masked for an auditor), the
 * patient matched, the menu path by option name, the outcome, the duration, the voicemails.
 */

const PATIENT = '+12025550123';
const STRANGER = '+12025550142';
const PRACTICE = '+12025550100';
const DOB = '04151980';

// Wednesday 2026-11-25 22:00 in New York: after hours. Each call starts a minute after the last.
const FIRST_CALL = new Date('2026-11-26T03:00:00Z');
let now = FIRST_CALL;
let h: Harness;
let double: TwilioDouble;
let sim: CallSimulator;
let logs: ReturnType<typeof captureLogs>;
let keys: Record<'admin' | 'staff' | 'provider' | 'auditor' | 'otherAdmin', string>;
let patientId: string;

interface Listed {
  callSid: string;
  startedAt: string;
  endedAt: string | null;
  durationSeconds: number | null;
  status: string;
  callerNumber: string | null;
  patient: { match: string; patientId: string | null };
  path: string[];
  outcome: string | null;
  urgency: string | null;
  voicemailIds: string[];
}

const calls: Record<'handed' | 'urgentVoicemail' | 'message' | 'abandoned' | 'failSafe', CallResult> = {} as never;

/** Options of a simulator at the harness's clock whose recordings the Twilio double serves (so they become voicemails). */
function simulatorOptions(): ConstructorParameters<typeof CallSimulator>[0] {
  return {
    targetBaseUrl: h.baseUrl,
    publicBaseUrl: TEST_PUBLIC_BASE_URL,
    authToken: TEST_AUTH_TOKEN,
    accountSid: TEST_ACCOUNT_SID,
    now: () => now,
    twilioApiBaseUrl: double.baseUrl,
    onRecording: ({ recordingSid, callSid }) => {
      double.addRecording({ sid: recordingSid, callSid, bytes: randomWav(16_000), ready: true });
    },
  };
}

/** A simulator that forgets the call's state in Redis before the main menu's answer: that webhook answers fail-safe. */
function forgetfulSimulator(): CallSimulator {
  return new CallSimulator({
    ...simulatorOptions(),
    fetchImpl: async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (url.pathname === '/twilio/voice/flow' && url.searchParams.get('n') === 'main_menu') {
        const sid = new URLSearchParams(String(init?.body ?? '')).get('CallSid');
        if (sid) await h.services.redis.del(callKey(sid));
      }
      return fetch(input, init);
    },
  });
}

async function place(at: number, run: () => Promise<CallResult>): Promise<CallResult> {
  now = new Date(FIRST_CALL.getTime() + at * 60_000);
  const result = await run();
  expect(result.errors).toEqual([]);
  return result;
}

async function list(key: string, query = ''): Promise<{ status: number; calls: Listed[]; nextCursor: string | null; body: Record<string, unknown> }> {
  const res = await callApi(h, 'GET', `/api/calls${query}`, key);
  return { status: res.status, calls: (res.body.calls ?? []) as Listed[], nextCursor: (res.body.nextCursor ?? null) as string | null, body: res.body };
}

const byCall = (rows: Listed[], call: CallResult): Listed | undefined => rows.find((r) => r.callSid === call.callSid);

beforeAll(async () => {
  logs = captureLogs();
  double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  h = await startHarness('calls_list', { TWILIO_API_BASE_URL: double.baseUrl }, { clock: () => now });
  if (!h.services.seeded) throw new Error('no demo practice');
  const demo = h.services.seeded;
  const other = await createPractice(h.services.db, { slug: 'other-calls', name: 'Other Clinic', timeZone: 'America/Chicago', numbers: ['+13125550160'] });
  keys = {
    admin: (await createApiKey(h.services.db, { role: 'admin', practiceId: demo.id })).key,
    staff: (await createApiKey(h.services.db, { role: 'staff', practiceId: demo.id })).key,
    provider: (await createApiKey(h.services.db, { role: 'provider', practiceId: demo.id })).key,
    auditor: (await createApiKey(h.services.db, { role: 'auditor', practiceId: demo.id })).key,
    otherAdmin: (await createApiKey(h.services.db, { role: 'admin', practiceId: other.id })).key,
  };
  const patient = await h.services.db.selectFrom('patients').select('id').where('practice_id', '=', demo.id).executeTakeFirstOrThrow();
  patientId = patient.id;
  sim = new CallSimulator(simulatorOptions());
  // The demo patient verifies (appointments, date of birth), goes back to the main menu, presses 1: the on-call provider accepts.
  calls.handed = await place(0, () =>
    sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '3', '1', `${DOB}#`, '1', '1'], dialOutcomes: [{ status: 'completed', whisperDigits: '1' }] }),
  );
  // A stranger, urgent: nobody answers, an urgent voicemail.
  calls.urgentVoicemail = await place(1, () =>
    sim.placeCall({ from: STRANGER, to: PRACTICE, digits: ['1', '1'], dialOutcomes: [{ status: 'no-answer' }], recordings: [{ durationSeconds: 30, digits: '#' }] }),
  );
  // The patient's number, not verified: a prescription-refill message.
  calls.message = await place(2, () => sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '2'], recordings: [{ durationSeconds: 20, digits: '#' }] }));
  // A stranger hangs up at the main menu.
  calls.abandoned = await place(3, () => sim.placeCall({ from: STRANGER, to: PRACTICE, digits: ['1'], hangupAfterSteps: 2 }));
  // The call's state is lost as the patient answers the menu: the fail-safe.
  calls.failSafe = await place(4, () => forgetfulSimulator().placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '3'] }));
});

afterAll(async () => {
  logs.restore();
  await h.close();
  await double.close();
});

describe('GET /api/calls', () => {
  it('lists every call, newest first, with the decrypted number, the patient, the menu path by name, the outcome and the duration', async () => {
    const res = await list(keys.staff);
    expect(res.status).toBe(200);
    expect(res.calls.map((c) => c.callSid)).toEqual([calls.failSafe, calls.abandoned, calls.message, calls.urgentVoicemail, calls.handed].map((c) => c.callSid));

    expect(byCall(res.calls, calls.handed)).toMatchObject({
      callerNumber: PATIENT,
      patient: { match: 'verified', patientId },
      path: ['appointments_menu', 'verify_caller', 'main_menu', 'urgent'],
      outcome: 'handed_to_provider',
      urgency: 'urgent',
      status: 'completed',
      durationSeconds: calls.handed.durationSeconds,
      voicemailIds: [],
    });
    expect(byCall(res.calls, calls.urgentVoicemail)).toMatchObject({
      callerNumber: STRANGER,
      patient: { match: 'unknown', patientId: null },
      path: ['urgent'],
      outcome: 'urgent_voicemail',
      urgency: 'urgent',
      durationSeconds: calls.urgentVoicemail.durationSeconds,
    });
    expect(byCall(res.calls, calls.message)).toMatchObject({
      callerNumber: PATIENT,
      patient: { match: 'number', patientId },
      path: ['message_callback'],
      outcome: 'message',
      urgency: 'routine',
    });
    expect(byCall(res.calls, calls.abandoned)).toMatchObject({
      callerNumber: STRANGER,
      patient: { match: 'unknown', patientId: null },
      path: [],
      outcome: 'abandoned_at_menu',
      urgency: null,
      status: 'completed',
      durationSeconds: calls.abandoned.durationSeconds,
      voicemailIds: [],
    });
    expect(byCall(res.calls, calls.failSafe)).toMatchObject({ callerNumber: PATIENT, outcome: 'fail_safe', patient: { match: 'number', patientId } });
    for (const c of res.calls) {
      expect(c.endedAt).not.toBeNull();
      expect(c.durationSeconds).toBeGreaterThan(0);
    }
  });

  it("links each voicemail to its call: the call's voicemail ids are the voicemails recorded in it", async () => {
    const res = await list(keys.staff);
    for (const call of [calls.urgentVoicemail, calls.message]) {
      const rows = await h.services.db.selectFrom('voicemails').select('id').where('call_sid', '=', call.callSid).execute();
      expect(rows).toHaveLength(1);
      expect(byCall(res.calls, call)?.voicemailIds).toEqual(rows.map((r) => r.id));
    }
  });

  it('admin and provider see the number in full; an auditor sees it masked, never in full', async () => {
    for (const key of [keys.admin, keys.provider]) expect(byCall((await list(key)).calls, calls.message)?.callerNumber).toBe(PATIENT);
    const audited = await list(keys.auditor);
    expect(audited.status).toBe(200);
    expect(byCall(audited.calls, calls.message)?.callerNumber).toBe('masked');
    expect(byCall(audited.calls, calls.urgentVoicemail)?.callerNumber).toBe('masked');
    expect(JSON.stringify(audited.body)).not.toContain(PATIENT);
    expect(JSON.stringify(audited.body)).not.toContain(STRANGER);
    expect(JSON.stringify(audited.body)).not.toContain(PATIENT.slice(-4));
  });

  it("an auditor's list decrypts no number: a sealed number nobody can open still lists as masked", async () => {
    const [row] = await h.services.db.selectFrom('calls').select(['call_sid', 'from_enc']).where('call_sid', '=', calls.message.callSid).execute();
    if (!row?.from_enc) throw new Error('no sealed number on the message call');
    // A message no keyring opens: listing it in clear fails, listing it masked must not try.
    await h.services.db.updateTable('calls').set({ from_enc: Buffer.from('not an Encryption SDK message') }).where('call_sid', '=', row.call_sid).execute();
    try {
      const audited = await list(keys.auditor);
      expect(audited.status).toBe(200);
      expect(byCall(audited.calls, calls.message)?.callerNumber).toBe('masked');
    } finally {
      await h.services.db.updateTable('calls').set({ from_enc: row.from_enc }).where('call_sid', '=', row.call_sid).execute();
    }
  });

  it('every read in clear is audited (counts only), even a page with no number; a masked read decrypts nothing and adds no such row', async () => {
    const reads = async (): Promise<Array<{ details: unknown }>> => h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'call.list_read').orderBy('seq').execute();
    const before = (await reads()).length;
    const future = encodeURIComponent(new Date(FIRST_CALL.getTime() + 10 * 60_000).toISOString());
    expect((await list(keys.staff, `?from=${future}`)).calls).toEqual([]);
    const afterEmpty = await reads();
    expect(afterEmpty.length).toBe(before + 1);
    expect(afterEmpty.at(-1)?.details).toEqual({ calls: 0, numbersOpened: 0, view: 'full' });
    expect((await list(keys.auditor)).calls.length).toBeGreaterThan(0);
    expect((await reads()).length).toBe(before + 1);
  });

  it('filters by outcome, urgency, patient and time', async () => {
    const sids = async (query: string): Promise<string[]> => (await list(keys.staff, query)).calls.map((c) => c.callSid);
    expect(await sids('?outcome=message')).toEqual([calls.message.callSid]);
    expect(await sids('?outcome=abandoned_at_menu')).toEqual([calls.abandoned.callSid]);
    expect(await sids('?urgency=urgent')).toEqual([calls.urgentVoicemail.callSid, calls.handed.callSid]);
    expect(await sids(`?patientId=${patientId}`)).toEqual([calls.failSafe.callSid, calls.message.callSid, calls.handed.callSid]);
    const at = (m: number): string => encodeURIComponent(new Date(FIRST_CALL.getTime() + m * 60_000).toISOString());
    expect(await sids(`?from=${at(1)}&to=${at(3)}`)).toEqual([calls.message.callSid, calls.urgentVoicemail.callSid]);
    expect(await sids(`?from=${at(10)}`)).toEqual([]);
  });

  it('pages with a cursor: every call once, in order', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 5; page += 1) {
      const res = await list(keys.staff, `?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.calls.length).toBeLessThanOrEqual(2);
      seen.push(...res.calls.map((c) => c.callSid));
      cursor = res.nextCursor;
      if (!cursor) break;
    }
    expect(seen).toEqual((await list(keys.staff)).calls.map((c) => c.callSid));
    expect(cursor).toBeNull();
  });

  it('refuses bad input with 400 naming the field', async () => {
    for (const [query, field] of [
      ['?outcome=hung_up', 'outcome'],
      ['?urgency=soon', 'urgency'],
      ['?patientId=someone', 'patientId'],
      ['?from=yesterday', 'from'],
      ['?limit=0', 'limit'],
      ['?cursor=bm90LWEtY3Vyc29y', 'cursor'],
      ['?practiceId=x', 'query'],
    ] as const) {
      const res = await list(keys.staff, query);
      expect(res.status, query).toBe(400);
      expect(String(res.body.message), query).toContain(field);
    }
  });

  it("another practice's key sees none of these calls", async () => {
    const res = await list(keys.otherAdmin);
    expect(res.status).toBe(200);
    expect(res.calls).toEqual([]);
    expect((await list(keys.otherAdmin, `?patientId=${patientId}`)).calls).toEqual([]);
  });

  it('records opening the numbers (a PHI read) with counts only; the number is stored sealed and never logged', async () => {
    await list(keys.staff, '?outcome=message');
    const read = await h.services.db.selectFrom('audit_log').select(['actor', 'details']).where('action', '=', 'call.list_read').orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow();
    expect(read.details).toEqual({ calls: 1, numbersOpened: 1, view: 'full' });
    const rows = await h.services.db.selectFrom('calls').select(['call_sid', 'from_enc']).where('direction', '=', 'inbound').execute();
    expect(rows.length).toBeGreaterThanOrEqual(5);
    for (const row of rows) {
      expect(row.from_enc).not.toBeNull();
      for (const n of [PATIENT, STRANGER, PATIENT.slice(2)]) expect(row.from_enc?.includes(Buffer.from(n))).toBe(false);
    }
    const everything = logs.lines().join('\n');
    for (const n of [PATIENT, STRANGER, PATIENT.slice(2), STRANGER.slice(2)]) expect(everything).not.toContain(n);
    const audit = await h.services.db.selectFrom('audit_log').select('details').execute();
    for (const n of [PATIENT, STRANGER]) expect(JSON.stringify(audit)).not.toContain(n);
  });
});

describe('the access line', () => {
  it("a provider's session on the access line is not a caller's call: not listed", async () => {
    const session = inboundParams({ From: '+12025550111', To: '+12025550103' });
    expect((await postTwilio(h, '/twilio/voice/access', session)).status).toBe(200);
    expect(await h.services.db.selectFrom('calls').select('call_sid').where('call_sid', '=', session.CallSid ?? '').execute()).toHaveLength(1);
    expect((await list(keys.staff)).calls.map((c) => c.callSid)).not.toContain(session.CallSid);
  });
});

describe('a merged duplicate', () => {
  it("hands its calls to the survivor: they are listed under the survivor's id", async () => {
    const duplicatePhone = '+12025550187';
    const created = await callApi(h, 'POST', '/api/patients', keys.admin, { phone: duplicatePhone, dateOfBirth: '1980-04-15' });
    expect(created.status).toBe(201);
    const duplicateId = String(created.body.id);
    const call = await place(20, () => sim.placeCall({ from: duplicatePhone, to: PRACTICE, digits: ['1'], hangupAfterSteps: 2 }));
    expect((await list(keys.staff, `?patientId=${duplicateId}`)).calls.map((c) => c.callSid)).toEqual([call.callSid]);
    expect((await callApi(h, 'POST', `/api/patients/${patientId}/merge`, keys.admin, { duplicateId })).status).toBe(200);
    expect((await list(keys.staff, `?patientId=${duplicateId}`)).calls).toEqual([]);
    expect((await list(keys.staff, `?patientId=${patientId}`)).calls.map((c) => c.callSid)[0]).toBe(call.callSid);
  });
});
