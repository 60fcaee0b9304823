import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { captureLogs } from '../src/log/logger.js';
import { CallSimulator, heard, type CallResult } from '../devtools/simulator/simulator.js';
import { verifyChain } from '../src/audit/store.js';
import { invalidatePracticeCache } from '../src/calls/voice-service.js';
import { callKey, loadCall } from '../src/calls/state-store.js';
import { callbackTaskJobId } from '../src/tasks/queue-task.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness, asOwner } from './support/harness.js';
import { simulatorFor, TEST_IDENTITIES } from './support/simulate.js';
import { inboundParams, postTwilio } from './support/twilio-request.js';
import { untilFinished } from './support/queue-time.js';

/**
 * Whole calls to the demo practice through the simulator, on the default after-hours flow.
 * The clock is moved, never waited for.
 */

const PATIENT = '+12025550123';
const STRANGER = '+12025550142';
const PRACTICE = '+12025550100';
/** Tier 1 of the demo escalation policy on 2026-11-25: Dr. Morgan Primary. */
const ON_CALL = '+12025550111';
const DOB = '04151980';
const PIN = '2468#';

// Wednesday 2026-11-25 22:00 in New York (EST, UTC-5): after hours.
const AFTER_HOURS = new Date('2026-11-26T03:00:00Z');
let now = AFTER_HOURS;
let h: Harness;
let sim: CallSimulator;
let logs: ReturnType<typeof captureLogs>;

beforeAll(async () => {
  logs = captureLogs();
  h = await startHarness('call_flow', {}, { clock: () => now });
  sim = simulatorFor(h, () => now);
});
afterAll(async () => {
  logs.restore();
  await h.close();
});
beforeEach(async () => {
  now = AFTER_HOURS;
  // Each test starts with no failed verifications on record.
  const prefix = h.config.redis.keyPrefix;
  // KEYS patterns are not prefixed by ioredis; the keys it returns carry the prefix.
  const keys = await h.services.redis.keys(`${prefix}verify-*`);
  if (keys.length) await h.services.redis.del(...keys.map((k) => k.slice(prefix.length)));
});

/** Every transition of a call, in order (consecutive transitions are one row listing its `steps`). */
function transitionsIn(events: Array<{ action: string; details: Record<string, unknown> }>): unknown[] {
  return events.filter((e) => e.action === 'call.transition').flatMap((e) => e.details['steps'] as unknown[]);
}

async function auditFor(callSid: string): Promise<Array<{ action: string; subject_id: string | null; details: Record<string, unknown> }>> {
  return h.services.db.selectFrom('audit_log').select(['action', 'subject_id', 'details']).where('call_sid', '=', callSid).orderBy('seq').execute();
}

const MENU_EN = 'For an urgent clinical question, press 1.';
const MENU_ES = 'Si tiene una pregunta clínica urgente, oprima 1.';

function call(digits: Array<string | null>, extra: Partial<Parameters<CallSimulator['placeCall']>[0]> = {}): Promise<CallResult> {
  return sim.placeCall({ from: PATIENT, to: PRACTICE, digits, ...extra });
}

/**
 * A simulator that runs `before` ahead of each flow webhook it sends (not the status
 * callbacks), with the webhook's path: to change the world in the middle of one call.
 */
function simulatorWith(before: (path: string) => Promise<void> | void): CallSimulator {
  return new CallSimulator({
    targetBaseUrl: h.baseUrl,
    publicBaseUrl: TEST_PUBLIC_BASE_URL,
    authToken: TEST_AUTH_TOKEN,
    accountSid: TEST_ACCOUNT_SID,
    now: () => now,
    fetchImpl: async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (url.pathname === '/twilio/voice/flow') await before(url.pathname + url.search);
      return fetch(input, init);
    },
  });
}

/** The action URL of a document's <Gather>, as Twilio would request it. */
function gatherAction(twiml: string): string {
  const m = /<Gather [^>]*action="([^"]+)"/.exec(twiml);
  if (!m?.[1]) throw new Error('no <Gather> action in the document');
  return m[1].replaceAll('&amp;', '&');
}

describe('hours', () => {
  it('after hours: practice name, the disclaimer in English and Spanish, then the language choice and the menu', async () => {
    const result = await call(['1', null, null, null], { hangupAfterSteps: 3 });
    expect(result.errors).toEqual([]);
    const text = heard(result);
    const order = [
      'Thank you for calling Demo Family Medicine.',
      'If this is a medical emergency, hang up and dial 911.',
      'Si tiene una emergencia médica, cuelgue y marque el 911.',
      'For English, press 1.',
      'Para español, oprima 2.',
      MENU_EN,
    ].map((t) => text.indexOf(t));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    // The disclaimer comes before anything but the practice's name.
    expect(result.transcript[1]).toMatchObject({ kind: 'say', text: 'If this is a medical emergency, hang up and dial 911.' });
  });

  it('open hours: the same number transfers to the front desk', async () => {
    now = new Date('2026-11-25T15:00:00Z'); // Wednesday 10:00 EST
    const result = await call([], { dialOutcomes: [{ status: 'completed' }] });
    expect(result.transcript).toContainEqual(expect.objectContaining({ kind: 'dial', numbers: ['+12025550101'] }));
    expect(heard(result)).not.toContain(MENU_EN);
    const events = await auditFor(result.callSid);
    expect(transitionsIn(events)).toContainEqual({ from: 'hours', to: 'front_desk', via: 'open' });
  });

  it('a holiday (Thanksgiving 10:00) runs the after-hours path', async () => {
    now = new Date('2026-11-26T15:00:00Z');
    const result = await call(['1', null], { hangupAfterSteps: 2 });
    expect(heard(result)).toContain(MENU_EN);
    const events = await auditFor(result.callSid);
    expect(transitionsIn(events)).toContainEqual({ from: 'hours', to: 'language', via: 'holiday' });
  });

  it('DST: 12:30 UTC is 08:30 (open) the Monday after spring-forward, 07:30 (closed) the Monday after fall-back', async () => {
    now = new Date('2026-03-09T12:30:00Z');
    const spring = await call([], { dialOutcomes: [{ status: 'completed' }] });
    expect(spring.transcript).toContainEqual(expect.objectContaining({ kind: 'dial', numbers: ['+12025550101'] }));
    now = new Date('2026-11-02T12:30:00Z');
    const autumn = await call(['1', null], { hangupAfterSteps: 2 });
    expect(heard(autumn)).toContain(MENU_EN);
    expect(autumn.transcript).not.toContainEqual(expect.objectContaining({ kind: 'dial' }));
  });
});

describe('menu branches', () => {
  it('1 urgent: dials the on-call provider; accepted, the call ends', async () => {
    const result = await call(['1', '1'], { dialOutcomes: [{ status: 'completed', whisperDigits: '1' }] });
    expect(result.transcript).toContainEqual(expect.objectContaining({ kind: 'dial', numbers: [ON_CALL] }));
    expect((await auditFor(result.callSid)).map((e) => e.action)).toContain('call.dial');
  });

  it('1 urgent, nobody answers: urgent voicemail', async () => {
    const result = await call(['1', '1'], { dialOutcomes: [{ status: 'no-answer' }], recordings: [{ durationSeconds: 30, digits: '#' }] });
    const events = await auditFor(result.callSid);
    expect(events.find((e) => e.action === 'voicemail.taken')?.details).toMatchObject({ urgency: 'urgent', recorded: true, verified: false });
    expect(events.map((e) => e.action)).toContain('voicemail.recording_status');
  });

  it.each([
    ['2', 'prescription refill'],
    ['4', 'billing or other'],
  ])('%s (%s): a routine message, then goodbye', async (key) => {
    const result = await call(['1', key], { recordings: [{ durationSeconds: 20, digits: '#' }] });
    expect(result.transcript).toContainEqual(expect.objectContaining({ kind: 'record' }));
    const events = await auditFor(result.callSid);
    expect(events.find((e) => e.action === 'voicemail.taken')?.details).toMatchObject({ urgency: 'routine' });
    expect(result.transcript.at(-1)).toMatchObject({ kind: 'hangup' });
  });

  it('5 hospital, pharmacy or provider: straight to the on-call provider', async () => {
    const result = await call(['1', '5'], { dialOutcomes: [{ status: 'completed', whisperDigits: '1' }] });
    expect(result.transcript).toContainEqual(expect.objectContaining({ kind: 'dial', numbers: [ON_CALL] }));
  });

  it('3 then 2: a message about appointments', async () => {
    const result = await call(['1', '3', '2'], { recordings: [{ durationSeconds: 20, digits: '#' }] });
    expect(result.transcript).toContainEqual(expect.objectContaining({ kind: 'record' }));
  });

  it('0 repeats the menu; silence and wrong keys retry, then take a message', async () => {
    const result = await call(['1', '0', '7', null, null], { recordings: [{ durationSeconds: 5, digits: '#' }] });
    const text = heard(result);
    expect(text.split(MENU_EN).length - 1).toBeGreaterThanOrEqual(4);
    expect(result.transcript).toContainEqual(expect.objectContaining({ kind: 'record' }));
  });

  it('Spanish: the menu and everything after it in Spanish, in a Spanish voice', async () => {
    const result = await call(['2', '2'], { recordings: [{ durationSeconds: 5, digits: '#' }] });
    expect(heard(result)).toContain(MENU_ES);
    const menu = result.transcript.find((e) => e.kind === 'say' && e.text.includes(MENU_ES));
    expect(menu).toMatchObject({ language: 'es-US' });
  });
});

describe('identity verification before disclosure', () => {
  function spokenBeforeVerification(result: CallResult): string {
    const i = result.transcript.findIndex((e) => e.kind === 'say' && /next appointment is|No tenemos|We do not have an upcoming/.test(e.text));
    return heard({ transcript: i === -1 ? result.transcript : result.transcript.slice(0, i) });
  }

  it('caller ID + date of birth: hears the date and time of the next appointment, nothing clinical', async () => {
    const result = await call(['1', '3', '1', `${DOB}#`, '9']);
    const text = heard(result);
    expect(text).toMatch(/Your next appointment is on (Saturday|Sunday|Monday|Tuesday|Wednesday|Thursday|Friday), [A-Z][a-z]+ \d{1,2} at \d{1,2}:\d{2}\s?[AP]M\./);
    const events = await auditFor(result.callSid);
    const verified = events.find((e) => e.action === 'verification.succeeded');
    const disclosed = events.find((e) => e.action === 'call.disclosure');
    expect(verified?.subject_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(disclosed).toMatchObject({ subject_id: verified?.subject_id, details: { what: 'next_appointment' } });
    for (const identity of TEST_IDENTITIES) expect(spokenBeforeVerification(result)).not.toContain(identity);
  });

  it('PIN works too', async () => {
    const result = await call(['1', '3', '1', PIN, '9']);
    expect(heard(result)).toContain('Your next appointment is on');
  });

  it('the right date of birth from a number that is not the patient’s does not verify', async () => {
    const result = await sim.placeCall({ from: STRANGER, to: PRACTICE, digits: ['1', '3', '1', `${DOB}#`, `${DOB}#`, `${DOB}#`, '1'], dialOutcomes: [{ status: 'completed' }] });
    expect(heard(result)).not.toContain('Your next appointment');
    expect((await auditFor(result.callSid)).filter((e) => e.action === 'verification.failed')).toHaveLength(3);
  });

  it('wrong date of birth three times: no disclosure, and the caller still reaches urgent help', async () => {
    const result = await call(['1', '3', '1', '01011990#', '01011991#', '12#', '1'], { dialOutcomes: [{ status: 'completed', whisperDigits: '1' }] });
    const text = heard(result);
    expect(text).not.toContain('Your next appointment');
    expect(text).toContain('We could not verify your identity');
    expect(result.transcript).toContainEqual(expect.objectContaining({ kind: 'dial', numbers: [ON_CALL] }));
    const events = await auditFor(result.callSid);
    expect(events.filter((e) => e.action === 'verification.failed').map((e) => e.details.try)).toEqual([1, 2, 3]);
    expect(events.map((e) => e.action)).not.toContain('call.disclosure');
  });

  it('at most three tries a call: back at verification after three wrong entries, the right one is not even asked for', async () => {
    // Three wrong dates of birth, then main menu 3 and appointments 1 again, then the right one.
    const result = await call(['1', '3', '1', '01011990#', '01011991#', '01011992#', '3', '1', `${DOB}#`, '2'], {
      recordings: [{ durationSeconds: 5, digits: '#' }],
    });
    const text = heard(result);
    expect(text).not.toContain('Your next appointment');
    expect(text).toContain('You have used all the tries to verify your identity on this call.');
    const events = await auditFor(result.callSid);
    expect(events.filter((e) => e.action === 'verification.failed').map((e) => e.details.try)).toEqual([1, 2, 3]);
    expect(events.find((e) => e.action === 'verification.refused')?.details).toMatchObject({ reason: 'tries_exhausted' });
    expect(events.map((e) => e.action)).not.toContain('verification.succeeded');
    expect(events.map((e) => e.action)).not.toContain('call.disclosure');
    // Only three prompts for an entry were ever played.
    const verifyGathers = result.requests.filter((r) => /<Gather [^>]*finishOnKey="#"[^>]*n=verify_caller/.test(r.body));
    expect(verifyGathers).toHaveLength(3);
  });

  it('a verify webhook of a call with no tries left is answered without looking at the entry', async () => {
    const reached = await call(['1', '3', '1'], { hangupAfterSteps: 4 });
    const prompt = reached.requests.find((r) => r.body.includes('n=verify_caller'));
    if (!prompt) throw new Error('the call did not reach verification');
    // As if this call had used its three tries on an earlier visit.
    const stored = await loadCall(h.services.redis, reached.callSid);
    if (!stored) throw new Error('no call state');
    await h.services.redis.set(callKey(reached.callSid), JSON.stringify({ ...stored, state: { ...stored.state, verifyTries: 3 } }));
    const res = await postTwilio(h, gatherAction(prompt.body), { ...prompt.params, Digits: '01011990', FinishedOnKey: '#', CallStatus: 'in-progress' });
    expect(res.status).toBe(200);
    expect(res.body).toContain('You have used all the tries to verify your identity on this call.');
    // Not checked, so not counted towards the number's lockout.
    expect(await h.services.redis.keys(`${h.config.redis.keyPrefix}verify-fail:*`)).toEqual([]);
    const events = await auditFor(reached.callSid);
    expect(events.map((e) => e.action)).not.toContain('verification.failed');
  });

  it('five failures across two calls lock the number out, even for the right date of birth', async () => {
    await call(['1', '3', '1', '01011990#', '01011991#', '01011992#', '9']);
    const second = await call(['1', '3', '1', '01011993#', '01011994#', '9']);
    expect(heard(second)).toContain('For your security, we cannot verify your identity by phone right now.');
    const events = await auditFor(second.callSid);
    expect(events.filter((e) => e.action === 'verification.failed').at(-1)?.details).toMatchObject({ lockedOut: true });

    const third = await call(['1', '3', '1', `${DOB}#`, '9']);
    expect(heard(third)).not.toContain('Your next appointment');
    expect((await auditFor(third.callSid)).find((e) => e.action === 'verification.refused')?.details).toMatchObject({ reason: 'locked' });
    // The lockout lives in Redis under the number's blind index, never the number.
    const keys = await h.services.redis.keys(`${h.config.redis.keyPrefix}*`);
    expect(keys.some((k) => k.includes('verify-lock:'))).toBe(true);
    expect(keys.join(' ')).not.toContain('2025550123');
  });
});

describe('failing safe', () => {
  it('Redis gone mid-call: the caller hears the disclaimer and is forwarded to the fallback number', async () => {
    // Redis goes away after the greeting and the language choice, as the caller picks from the menu.
    let lost = false;
    const midCall = simulatorWith((path) => {
      if (!lost && path.includes('n=main_menu')) {
        lost = true;
        h.services.redis.disconnect();
      }
    });
    try {
      const result = await midCall.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '3', '1'] });
      expect(lost).toBe(true);
      expect(result.requests.every((r) => r.status === 200)).toBe(true);
      const lostAt = result.requests.findIndex((r) => r.path.includes('n=main_menu'));
      expect(lostAt).toBeGreaterThan(1);
      // Up to then the call ran normally: the menu was heard.
      expect(heard({ transcript: result.transcript })).toContain(MENU_EN);
      // The answer to the menu key: the disclaimer, then the practice's fallback line.
      const answer = result.requests[lostAt]?.body ?? '';
      expect(answer).toContain('If this is a medical emergency, hang up and dial 911.');
      expect(answer).toMatch(/<Dial[^>]*><Number>\+12025550199<\/Number><\/Dial>/);
      expect(answer).not.toContain('To hear your next appointment');
      const menuAt = result.transcript.findIndex((e) => e.kind === 'say' && e.text.includes(MENU_EN));
      const after = result.transcript.slice(menuAt + 1);
      expect(after).toContainEqual(expect.objectContaining({ kind: 'say', text: 'If this is a medical emergency, hang up and dial 911.' }));
      expect(after).toContainEqual(expect.objectContaining({ kind: 'dial', numbers: ['+12025550199'] }));
    } finally {
      await h.services.redis.connect();
    }
  });

  it('PostgreSQL failing mid-call: still the disclaimer and the cached fallback number, never a 5xx', async () => {
    const simCall = call(['1', '1'], { dialOutcomes: [{ status: 'completed' }] });
    const result = await simCall;
    expect(result.errors).toEqual([]);
    // Tables vanish under the running call: the next query fails as it would with the server down.
    await asOwner(h.services.db, sql`ALTER TABLE practice_numbers RENAME TO practice_numbers_gone`);
    await asOwner(h.services.db, sql`ALTER TABLE calls RENAME TO calls_gone`);
    try {
      const broken = await call(['1', '1']);
      expect(broken.requests.every((r) => r.status === 200)).toBe(true);
      expect(heard(broken)).toContain('If this is a medical emergency, hang up and dial 911.');
      expect(broken.transcript).toContainEqual(expect.objectContaining({ kind: 'dial', numbers: ['+12025550199'] }));
    } finally {
      await asOwner(h.services.db, sql`ALTER TABLE practice_numbers_gone RENAME TO practice_numbers`);
      await asOwner(h.services.db, sql`ALTER TABLE calls_gone RENAME TO calls`);
    }
  });
});

describe('retries and privacy', () => {
  it('a retried webhook returns the same TwiML and causes no second side effect', async () => {
    // The caller hangs up right after the failed entry, so the retry is of the latest step.
    const result = await call(['1', '3', '1', '01011990#'], { hangupAfterSteps: 5 });
    const verifyRequest = result.requests.find((r) => r.params.Digits === '01011990');
    if (!verifyRequest) throw new Error('no verify request');
    // The hang-up's final status callback queued the abandoned call's task job (src/tasks/queue-task.ts),
    // which the maintenance worker runs in its own time. That task is one of the call's side effects:
    // made before `before` is read, so the replay is compared with everything the call did.
    const taskJob = callbackTaskJobId('abandoned_call', result.callSid);
    expect((await untilFinished(h.services.queues.maintenance, `the maintenance job ${taskJob}`, taskJob, 30_000)).state).toBe('completed');
    const before = await auditFor(result.callSid);
    expect(before.filter((e) => e.action === 'task.created')).toHaveLength(1);
    const failKeys = async (): Promise<string[]> => h.services.redis.keys(`${h.config.redis.keyPrefix}verify-fail:*`);
    const [failKey] = await failKeys();
    if (!failKey) throw new Error('no failure recorded');
    const unprefixed = failKey.slice(h.config.redis.keyPrefix.length);
    const failuresBefore = await h.services.redis.zcard(unprefixed);
    expect(failuresBefore).toBeGreaterThan(0);
    const replay = await postTwilio(h, verifyRequest.path, verifyRequest.params);
    expect(replay.status).toBe(200);
    expect(replay.body).toBe(verifyRequest.body);
    expect(await auditFor(result.callSid)).toEqual(before);
    expect(await h.services.redis.zcard(unprefixed)).toBe(failuresBefore);

    const incoming = result.requests[0];
    if (!incoming) throw new Error('no incoming request');
    const again = await postTwilio(h, incoming.path, incoming.params);
    expect(again.body).toBe(incoming.body);
    expect((await auditFor(result.callSid)).filter((e) => e.action === 'call.leg.started')).toHaveLength(1);
  });

  it('a first webhook retried after the practice has opened gets the after-hours answer it first got', async () => {
    now = new Date('2026-11-25T12:59:59Z'); // Wednesday 07:59:59 EST: closed
    const params = inboundParams({ From: PATIENT, To: PRACTICE });
    const first = await postTwilio(h, '/twilio/voice/incoming', params);
    expect(first.body).toContain('<Gather');
    now = new Date('2026-11-25T13:00:05Z'); // 08:00:05: open, the flow would transfer to the front desk now
    const retry = await postTwilio(h, '/twilio/voice/incoming', params);
    expect(retry.body).toBe(first.body);
    const fresh = await postTwilio(h, '/twilio/voice/incoming', inboundParams({ From: PATIENT, To: PRACTICE }));
    expect(fresh.body).toContain('<Dial');
  });

  it('two identical verify webhooks at once: one failure counted, both answered alike', async () => {
    // The caller reaches the date-of-birth prompt and keys a wrong date; Twilio delivers it twice at once.
    const reached = await call(['1', '3', '1'], { hangupAfterSteps: 4 });
    const prompt = reached.requests.find((r) => r.body.includes('n=verify_caller'));
    if (!prompt) throw new Error('the call did not reach verification');
    const action = gatherAction(prompt.body);
    const params = { ...prompt.params, Digits: '01011990', FinishedOnKey: '#', CallStatus: 'in-progress' };
    const [a, b] = await Promise.all([postTwilio(h, action, params), postTwilio(h, action, params)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.body).toBe(b.body);
    expect(a.body).toContain('Sorry, we could not verify that entry.');

    const [failKey, ...others] = await h.services.redis.keys(`${h.config.redis.keyPrefix}verify-fail:*`);
    expect(others).toEqual([]);
    if (!failKey) throw new Error('no failure recorded');
    expect(await h.services.redis.zcard(failKey.slice(h.config.redis.keyPrefix.length))).toBe(1);
    const events = await auditFor(reached.callSid);
    expect(events.filter((e) => e.action === 'verification.failed')).toHaveLength(1);
  });

  it('the first webhook of a call delivered three times at once: one call started, all answered alike', async () => {
    const params = inboundParams({ From: PATIENT, To: PRACTICE });
    const answers = await Promise.all([1, 2, 3].map(() => postTwilio(h, '/twilio/voice/incoming', params)));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers[0]?.body).toContain('<Gather');
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    const events = await auditFor(params.CallSid ?? '');
    expect(events.filter((e) => e.action === 'call.leg.started')).toHaveLength(1);
    expect(events.map((e) => e.action)).not.toContain('call.fail_safe');
    const legs = await h.services.db.selectFrom('call_legs').select(['kind', 'outcome']).where('call_sid', '=', params.CallSid ?? '').execute();
    expect(legs).toEqual([{ kind: 'parent', outcome: 'in-progress' }]);
    // The saved state is the one the answers lead to: the caller's next key is taken.
    expect((await loadCall(h.services.redis, params.CallSid ?? ''))?.state.step).toBe(1);
  });

  it('a call keeps the flow it started with when its number is given another flow mid-call', async () => {
    let switched = false;
    const midCall = simulatorWith(async () => {
      if (switched) return;
      switched = true;
      await h.services.db.updateTable('practice_numbers').set({ flow_id: 'drop-callback' }).where('e164', '=', PRACTICE).execute();
      invalidatePracticeCache(h.services);
    });
    try {
      const result = await midCall.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '2'], recordings: [{ durationSeconds: 5, digits: '#' }] });
      expect(switched).toBe(true);
      expect(result.errors).toEqual([]);
      // The after-hours flow went on: its menu, then a message.
      expect(heard(result)).toContain(MENU_EN);
      expect(result.transcript).toContainEqual(expect.objectContaining({ kind: 'record' }));
      const events = await auditFor(result.callSid);
      expect(events.map((e) => e.action)).not.toContain('call.fail_safe');
      expect(events.find((e) => e.action === 'voicemail.taken')?.details).toMatchObject({ urgency: 'routine' });
      // A call that starts now runs the number's new flow.
      const next = await call([null], { hangupAfterSteps: 1 });
      expect(heard(next)).toContain('To stop receiving automated voicemail messages from us, press 8.');
    } finally {
      await h.services.db.updateTable('practice_numbers').set({ flow_id: 'after-hours' }).where('e164', '=', PRACTICE).execute();
      invalidatePracticeCache(h.services);
    }
  });

  it('a call to a number no practice owns hears a polite generic message, audited', async () => {
    const result = await sim.placeCall({ from: PATIENT, to: '+12025550177' });
    expect(heard(result)).toContain('not in service');
    expect((await auditFor(result.callSid)).map((e) => e.action)).toContain('call.unknown_number');
  });

  it('no test identity in any log line, audit row, call record, call state or pre-verification TwiML', async () => {
    await call(['1', '3', '1', `${DOB}#`, '9']);
    const lines = logs.lines();
    expect(lines.length).toBeGreaterThan(10);
    const stored = JSON.stringify([
      await h.services.db.selectFrom('audit_log').selectAll().execute(),
      await h.services.db.selectFrom('calls').selectAll().execute(),
    ]);
    const prefix = h.config.redis.keyPrefix;
    const redisKeys = await h.services.redis.keys(`${prefix}*`);
    const states = await Promise.all(redisKeys.filter((k) => k.startsWith(`${prefix}call:`)).map((k) => h.services.redis.get(k.slice(prefix.length))));
    expect(states.length).toBeGreaterThan(0);
    for (const identity of TEST_IDENTITIES) {
      for (const line of lines) expect(line).not.toContain(identity);
      expect(stored).not.toContain(identity);
      expect(JSON.stringify(states)).not.toContain(identity);
      expect(redisKeys.join(' ')).not.toContain(identity);
    }
    expect(await verifyChain(h.services.db)).toMatchObject({ ok: true });
  });
});
