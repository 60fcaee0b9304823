import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTranscript, heard, type CallResult, type CallSimulator } from '../devtools/simulator/simulator.js';
import { createApiKey } from '../src/auth/api-keys.js';
import { captureLogs } from '../src/log/logger.js';
import { ACCESS, PATIENT, PRACTICE, PROVIDER_PHONE, PROVIDER_PIN, startAccessLineRig, urgentUnansweredCall, type AccessLineRig } from './support/access-line.js';
import type { Harness } from './support/harness.js';
import { TEST_IDENTITIES } from './support/simulate.js';
import type { TwilioDouble } from './support/twilio-double.js';
import { postTwilio } from './support/twilio-request.js';
import { until } from './support/until.js';

/**
 * The access line's key 4 end to end (issue 13, item 5): a patient's urgent call nobody answers
 * leaves a voicemail, which becomes a task; the provider dials the access line from their own
 * phone, keys the PIN, hears the message and presses 4. The provider is on the line already, so
 * no second call is placed through the REST API: the access line's own TwiML dials the patient
 * with the practice's number as caller ID (the provider's number is never shown), the patient's
 * leg reports through /twilio/callback/status, the <Dial>'s action (/twilio/callback/dialed)
 * records the outcome as an attempt on the task and brings the provider back to the menu. Both
 * legs are in the call record and the access call's timeline; nothing of the patient reaches the
 * logs. Every webhook is signed and sent by the call simulator, media served by the Twilio double.
 */

const CALL_BACK = '4';

let rig: AccessLineRig;
let h: Harness;
let double: TwilioDouble;
let sim: CallSimulator;
let practiceId: string;
let providerId: string;
let logs: ReturnType<typeof captureLogs>;

beforeAll(async () => {
  logs = captureLogs();
  rig = await startAccessLineRig('access_callback');
  ({ h, double, sim, practiceId, providerId } = rig);
});
afterAll(async () => {
  logs?.restore();
  await rig?.close();
});

/** An urgent call nobody answers: an urgent voicemail stored, and its task. */
async function urgentVoicemailWithTask(): Promise<{ voicemailId: string; taskId: string }> {
  const { voicemail } = await urgentUnansweredCall(rig);
  const task = await until('the voicemail task', () =>
    h.services.db.selectFrom('callback_tasks').select(['id', 'status']).where('source', '=', 'voicemail').where('source_id', '=', voicemail.id).executeTakeFirst(),
  );
  expect(task.status).toBe('open');
  return { voicemailId: voicemail.id, taskId: task.id };
}

/** Every `callerId` a TwiML answer of the call gave Twilio. */
function callerIds(result: CallResult): string[] {
  return result.requests.flatMap((r) => [...r.body.matchAll(/callerId="([^"]*)"/g)].map((m) => m[1] ?? ''));
}

describe("the access line's key 4: call the patient back from the practice's number", () => {
  let access: CallResult;
  let taskId = '';
  let patientLeg = '';

  it('after the message, 4 dials the patient with the practice number as caller ID, and the provider is back at the menu', async () => {
    ({ taskId } = await urgentVoicemailWithTask());
    const placedBefore = double.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Calls.json')).length;

    access = await sim.placeCall({
      from: PROVIDER_PHONE,
      to: PRACTICE,
      incomingPath: ACCESS,
      digits: [`${PROVIDER_PIN}#`, CALL_BACK, '9'],
      dialOutcomes: [{ status: 'completed', duration: 42 }],
    });
    expect(access.errors, formatTranscript(access)).toEqual([]);
    const text = heard(access);
    expect(text).toContain('Message 1, reference');
    expect(text).toContain(`To call the patient back from the practice's number, press ${CALL_BACK}.`);
    // Back on the line once the patient hung up: the menu of the message in hand.
    expect(text).toContain('The call with the patient has ended.');

    // One <Dial>, to the patient, bridged.
    const dials = access.transcript.filter((e) => e.kind === 'dial');
    expect(dials).toEqual([{ kind: 'dial', numbers: [PATIENT], outcome: 'completed', bridged: true }]);
    // The caller ID of the dial is the practice's number, never the provider's own.
    expect(callerIds(access)).toEqual([PRACTICE]);
    // The provider is on the phone already: nothing is placed through the REST API.
    expect(double.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Calls.json'))).toHaveLength(placedBefore);

    // The patient's leg reported through the call back's status route, from the practice's number.
    const legCallbacks = access.requests.filter((r) => r.kind === 'callback' && r.path.startsWith('/twilio/callback/status'));
    expect(legCallbacks.map((r) => r.params.CallStatus)).toEqual(['initiated', 'ringing', 'in-progress', 'completed']);
    expect(legCallbacks.every((r) => r.status === 200 && r.params.From === PRACTICE && r.params.ParentCallSid === access.callSid)).toBe(true);
    patientLeg = legCallbacks[0]?.params.CallSid ?? '';
    expect(patientLeg).toMatch(/^CA/);
    const dialed = access.requests.find((r) => r.path.startsWith('/twilio/callback/dialed'));
    expect(dialed?.params.DialCallStatus).toBe('completed');
    expect(dialed?.status).toBe(200);

    // No URL of the call carries the patient's number.
    for (const r of access.requests) expect(r.path).not.toContain(PATIENT.slice(2));
  });

  it('the outcome is an attempt on the task by the provider, settled once, and audited', async () => {
    const attempts = await h.services.db.selectFrom('callback_task_attempts').select(['actor', 'outcome']).where('task_id', '=', taskId).execute();
    expect(attempts).toEqual([{ actor: `provider:${providerId}`, outcome: 'reached' }]);
    const call = await h.services.db.selectFrom('task_calls').selectAll().where('task_id', '=', taskId).executeTakeFirstOrThrow();
    expect(call).toMatchObject({ origin: 'access_line', caller_leg_sid: access.callSid, caller_id: PRACTICE, state: 'finished', outcome: 'reached', patient_leg_sid: patientLeg });
    const task = await h.services.db.selectFrom('callback_tasks').select(['attempts']).where('id', '=', taskId).executeTakeFirstOrThrow();
    expect(task.attempts).toBe(1);
    const audited = await h.services.db.selectFrom('audit_log').select(['action', 'actor']).where('subject_id', '=', taskId).where('action', 'like', 'task.%').execute();
    expect(audited.map((r) => r.action)).toEqual(expect.arrayContaining(['task.call_placed', 'task.call_dialled', 'task.call_ended', 'task.attempt']));
    expect(audited.filter((r) => r.action.startsWith('task.call_')).every((r) => r.actor === `provider:${providerId}`)).toBe(true);
  });

  it("both legs are in the call record and the access call's timeline, with neither phone number", async () => {
    const records = await h.services.db.selectFrom('calls').select(['call_sid', 'practice_id', 'direction', 'status']).where('call_sid', 'in', [access.callSid, patientLeg]).orderBy('direction').execute();
    expect(records).toEqual([
      { call_sid: access.callSid, practice_id: practiceId, direction: 'inbound', status: 'completed' },
      { call_sid: patientLeg, practice_id: practiceId, direction: 'outbound-dial', status: 'completed' },
    ]);
    const patientRecord = await h.services.db.selectFrom('calls').select(['to_number', 'from_enc']).where('call_sid', '=', patientLeg).executeTakeFirstOrThrow();
    expect(patientRecord).toEqual({ to_number: null, from_enc: null });

    const key = (await createApiKey(h.services.db, { role: 'admin', practiceId })).key;
    const res = await fetch(`${h.baseUrl}/api/calls/${access.callSid}`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { timeline?: Array<Record<string, unknown>> };
    const entries = body.timeline ?? [];
    const actions = entries.filter((e) => e.kind === 'event').map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['task.call_placed', 'task.call_dialled', 'task.call_ended', 'call.leg.status']));
    expect(entries.find((e) => e.kind === 'dial_leg')).toMatchObject({ legSid: patientLeg, outcome: 'reached', durationSeconds: 42, numberTried: null });
    const serialised = JSON.stringify(body);
    expect(serialised).not.toContain(PATIENT.slice(2));
  });

  it("the provider's own number is never a caller ID, and nothing of the patient reaches the logs or the audit details", async () => {
    // Every TwiML answer of every call in this file, and every call placed at the double.
    expect(callerIds(access)).not.toContain(PROVIDER_PHONE);
    for (const r of double.requests.filter((q) => q.method === 'POST' && q.path.endsWith('/Calls.json'))) {
      expect(r.form.get('From')).not.toBe(PROVIDER_PHONE);
      expect(r.form.get('CallerId')).not.toBe(PROVIDER_PHONE);
    }
    const logged = logs.lines().join('\n');
    expect(logged.length).toBeGreaterThan(0);
    const audit = JSON.stringify(await h.services.db.selectFrom('audit_log').select(['details']).execute());
    for (const identity of [...TEST_IDENTITIES, PATIENT.slice(2)]) {
      expect(logged, identity).not.toContain(identity);
      expect(audit, identity).not.toContain(identity);
    }
  });

  it('a replay of the step that keyed 4 dials nobody again and records no second attempt', async () => {
    const keyed = access.requests.find((r) => r.kind === 'twiml' && r.params.Digits === CALL_BACK && r.path.startsWith('/twilio/voice/access'));
    if (!keyed) throw new Error('the step that keyed 4 was not found');
    const replay = await postTwilio(h, keyed.path, keyed.params);
    expect(replay.status).toBe(200);
    expect(replay.body).not.toContain(PATIENT);
    expect(replay.body).not.toContain('<Dial');
    const attempts = await h.services.db.selectFrom('callback_task_attempts').select('id').where('task_id', '=', taskId).execute();
    expect(attempts).toHaveLength(1);
  });
});
