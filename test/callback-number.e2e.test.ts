import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogs } from '../src/log/logger.js';
import { CallSimulator, heard, type CallResult } from '../devtools/simulator/simulator.js';
import { callbackNumberFor, openCallbackNumber } from '../src/calls/callback-number.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { simulatorFor } from './support/simulate.js';
import { postTwilio } from './support/twilio-request.js';

/**
 * The callback number confirmed on the call (the callback_number node), through whole calls to
 * the demo practice on the default after-hours flow: press 1 for the caller's own number, or 2
 * to key another, read back digit by digit and confirmed. The keyed number must be sealed
 * everywhere but in the read-back itself: not in the TwiML before it, the logs, the audit
 * trail, nor in clear in Redis.
 */

const PATIENT = '+12025550123';
const PRACTICE = '+12025550100';
/** A number the tests key; kept apart from every demo number. */
const KEYED = '3105550188';
const KEYED_WRONG = '3105550177';
/** The keyed number in every shape it might leak in. */
const KEYED_SHAPES = [KEYED, `+1${KEYED}`, '310-555-0188', '555-0188', '5550188', '3, 1, 0, 5, 5, 5, 0, 1, 8, 8'];

const AFTER_HOURS = new Date('2026-11-26T03:00:00Z');
const ASK = 'To be called back at the number you are calling from, press 1. To give another number, press 2.';
const KEY = 'Please enter the ten-digit phone number';
const READ_BACK = 'You entered 3, 1, 0, 5, 5, 5, 0, 1, 8, 8. Press 1 if that is correct, 2 to try again.';
const INVALID = 'Sorry, that is not a valid choice or phone number.';
const MESSAGE = 'Please leave a message for the office after the tone';

let h: Harness;
let sim: CallSimulator;
let logs: ReturnType<typeof captureLogs>;
let practiceId: string;

beforeAll(async () => {
  logs = captureLogs();
  h = await startHarness('callback_number', {}, { clock: () => AFTER_HOURS });
  sim = simulatorFor(h, () => AFTER_HOURS);
  practiceId = (await h.services.db.selectFrom('practice_numbers').select('practice_id').where('e164', '=', PRACTICE).executeTakeFirstOrThrow()).practice_id;
});
afterAll(async () => {
  logs.restore();
  await h.close();
});

/** English, "leave a message" (main menu 2), then `digits` at the callback node. */
function leaveMessage(digits: Array<string | null>, from = PATIENT, s: CallSimulator = sim): Promise<CallResult> {
  return s.placeCall({ from, to: PRACTICE, digits: ['1', '2', ...digits], recordings: [{ durationSeconds: 12, digits: '#' }] });
}

async function callRow(callSid: string) {
  return h.services.db.selectFrom('calls').select(['callback_number_enc', 'callback_number_index', 'callback_source', 'practice_id']).where('call_sid', '=', callSid).executeTakeFirstOrThrow();
}

/** The number stored on the call, opened as the callback tasks will open it. */
async function storedNumber(callSid: string): Promise<string | null> {
  const row = await callRow(callSid);
  return row.callback_number_enc ? openCallbackNumber(h.services.keyring, row.callback_number_enc, callSid, practiceId) : null;
}

/** Every string value under the test's Redis prefix (call state, replay lists, claims), in raw form. */
async function redisValues(): Promise<string[]> {
  const values: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await h.services.redis.scan(cursor, 'MATCH', `${h.keyPrefix}*`, 'COUNT', 500);
    cursor = next;
    for (const full of keys) {
      const key = full.slice(h.keyPrefix.length);
      const type = await h.services.redis.type(key);
      if (type === 'string') values.push(`${full}=${(await h.services.redis.get(key)) ?? ''}`);
      else if (type === 'hash') values.push(`${full}=${JSON.stringify(await h.services.redis.hgetall(key))}`);
      else if (type === 'list') values.push(`${full}=${JSON.stringify(await h.services.redis.lrange(key, '0', '-1'))}`);
      else if (type === 'zset') values.push(`${full}=${JSON.stringify(await h.services.redis.zrange(key, '0', '-1'))}`);
      else if (type === 'set') values.push(`${full}=${JSON.stringify(await h.services.redis.smembers(key))}`);
      else values.push(full);
    }
  } while (cursor !== '0');
  return values;
}

function leaks(texts: string[], shapes = KEYED_SHAPES): string[] {
  return texts.filter((t) => shapes.some((s) => t.includes(s)));
}

describe('callback_number on the after-hours flow', () => {
  it('press 1: the number the caller calls from is confirmed and stored, sealed for this call and practice', async () => {
    const result = await leaveMessage(['1']);
    expect(result.errors).toEqual([]);
    const text = heard(result);
    expect(text).toContain(ASK);
    expect(text.indexOf(ASK)).toBeLessThan(text.indexOf(MESSAGE));
    expect(text).not.toContain(KEY);
    const row = await callRow(result.callSid);
    expect(row.callback_source).toBe('caller');
    expect(await storedNumber(result.callSid)).toBe(PATIENT);
    // Sealed with the call in its context: it does not open as another call's.
    await expect(openCallbackNumber(h.services.keyring, row.callback_number_enc ?? Buffer.alloc(0), `CA${'0'.repeat(32)}`, practiceId)).rejects.toThrow();
    expect(await callbackNumberFor(tenantScope(h.services, practiceId), h.services.keyring, result.callSid)).toEqual({ number: PATIENT, confirmed: true });
  });

  it('press 2, ten digits, confirm with 1: the keyed number is stored (decrypted and compared), read back digit by digit', async () => {
    const before: string[][] = [];
    // Redis is scanned before every webhook of the call: the keyed number is in the state then, sealed.
    const watching = new CallSimulator({
      targetBaseUrl: h.baseUrl,
      publicBaseUrl: TEST_PUBLIC_BASE_URL,
      authToken: TEST_AUTH_TOKEN,
      accountSid: TEST_ACCOUNT_SID,
      now: () => AFTER_HOURS,
      fetchImpl: async (input, init) => {
        before.push(await redisValues());
        return fetch(input, init);
      },
    });
    const result = await leaveMessage(['2', KEYED, '1'], PATIENT, watching);
    expect(result.errors).toEqual([]);
    const text = heard(result);
    expect(text).toContain(KEY);
    expect(text).toContain(READ_BACK);
    expect(text.indexOf(READ_BACK)).toBeLessThan(text.indexOf(MESSAGE));
    expect(await storedNumber(result.callSid)).toBe(`+1${KEYED}`);
    expect((await callRow(result.callSid)).callback_source).toBe('keyed');
    expect(await callbackNumberFor(tenantScope(h.services, practiceId), h.services.keyring, result.callSid)).toEqual({ number: `+1${KEYED}`, confirmed: true });

    // Nothing of the keyed number in any TwiML before the read-back (nor after it).
    const documents = result.requests.filter((r) => r.kind === 'twiml').map((r) => r.body);
    const readBackAt = documents.findIndex((d) => d.includes('You entered'));
    expect(readBackAt).toBeGreaterThan(0);
    expect(leaks(documents.slice(0, readBackAt))).toEqual([]);
    expect(leaks(documents.slice(readBackAt + 1))).toEqual([]);
    // The key reached the service only as the Gather's Digits (the request itself, from Twilio).
    expect(result.requests.filter((r) => r.params['Digits'] === KEYED)).toHaveLength(1);
    // Never in clear in Redis: while the caller confirmed (the state held the sealed number) nor after.
    expect(before.length).toBeGreaterThan(3);
    expect(leaks([...before.flat(), ...(await redisValues())])).toEqual([]);
    expect((await redisValues()).some((v) => v.includes('"callback"'))).toBe(true);
    // Nor in the audit trail, nor in any log line.
    const audit = await h.services.db.selectFrom('audit_log').select(['action', 'details']).where('call_sid', '=', result.callSid).execute();
    expect(leaks(audit.map((a) => JSON.stringify(a)))).toEqual([]);
    expect(audit.map((a) => JSON.stringify(a)).some((a) => a.includes('"via":"keyed_number"'))).toBe(true);
    expect(leaks(logs.lines())).toEqual([]);
  });

  it('a leading 1 (eleven digits, as people key a long-distance number) is not cut off: the ten after it are stored', async () => {
    const result = await leaveMessage(['2', `1${KEYED}#`, '1'], PATIENT);
    expect(result.errors).toEqual([]);
    expect(heard(result)).toContain(READ_BACK);
    expect(await storedNumber(result.callSid)).toBe(`+1${KEYED}`);
  });

  it('a wrong number, then 2 to try again, then the right one: the right one is stored', async () => {
    const result = await leaveMessage(['2', KEYED_WRONG, '2', KEYED, '1']);
    expect(result.errors).toEqual([]);
    const text = heard(result);
    expect(text).toContain('You entered 3, 1, 0, 5, 5, 5, 0, 1, 7, 7.');
    expect(text).toContain(READ_BACK);
    expect(await storedNumber(result.callSid)).toBe(`+1${KEYED}`);
  });

  it('a number that is not a US number (an area code starting with 0, too short) is refused and asked again', async () => {
    const result = await leaveMessage(['2', '0105550188', '21255#', KEYED, '1']);
    expect(result.errors).toEqual([]);
    const text = heard(result);
    expect(text.split(INVALID)).toHaveLength(3);
    expect(text).not.toContain('You entered 0');
    expect(await storedNumber(result.callSid)).toBe(`+1${KEYED}`);
  });

  it('an anonymous caller goes straight to keying a number', async () => {
    const result = await leaveMessage([KEYED, '1'], 'anonymous');
    expect(result.errors).toEqual([]);
    const text = heard(result);
    expect(text).not.toContain(ASK);
    expect(text).toContain(KEY);
    expect(text).toContain(READ_BACK);
    expect(await storedNumber(result.callSid)).toBe(`+1${KEYED}`);
    expect(await callbackNumberFor(tenantScope(h.services, practiceId), h.services.keyring, result.callSid)).toEqual({ number: `+1${KEYED}`, confirmed: true });
  });

  it('a silent caller runs out the tries and still leaves the message; the number they call from stands, unconfirmed', async () => {
    const result = await leaveMessage([null, null, null]);
    expect(result.errors).toEqual([]);
    const text = heard(result);
    expect(text.split(ASK)).toHaveLength(4);
    expect(text).toContain(MESSAGE);
    expect(await storedNumber(result.callSid)).toBeNull();
    expect(await callbackNumberFor(tenantScope(h.services, practiceId), h.services.keyring, result.callSid)).toEqual({ number: PATIENT, confirmed: false });
  });

  it('an anonymous caller who keys nothing: no number at all, and still the message', async () => {
    const result = await leaveMessage([null, null, null], 'anonymous');
    expect(heard(result)).toContain(MESSAGE);
    expect(await callbackNumberFor(tenantScope(h.services, practiceId), h.services.keyring, result.callSid)).toBeNull();
  });

  it('the urgent voicemail, after nobody on call answered, asks for the number first', async () => {
    const result = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '1', '2', KEYED, '1'], recordings: [{ durationSeconds: 12, digits: '#' }] });
    expect(result.errors).toEqual([]);
    const text = heard(result);
    expect(text.indexOf(ASK)).toBeGreaterThan(text.indexOf('Please hold while we connect you to the on-call provider.'));
    expect(text.indexOf(READ_BACK)).toBeLessThan(text.indexOf('Please leave an urgent message after the tone'));
    expect(await storedNumber(result.callSid)).toBe(`+1${KEYED}`);
  });

  it('a retried webhook gets the same read-back (opened again from the sealed number) and keeps the number once', async () => {
    // Twilio delivers the keyed webhook again, then the confirmation, after the call has gone on.
    const result = await leaveMessage(['2', KEYED, '1']);
    const keyedRequest = result.requests.find((r) => r.params['Digits'] === KEYED);
    if (!keyedRequest) throw new Error('no keyed request');
    const replay = await postTwilio(h, keyedRequest.path, keyedRequest.params);
    expect(replay.status).toBe(200);
    expect(replay.body).toBe(keyedRequest.body);
    expect(replay.body).toContain('You entered 3, 1, 0, 5, 5, 5, 0, 1, 8, 8.');
    const first = await callRow(result.callSid);
    const confirm = result.requests[result.requests.indexOf(keyedRequest) + 1];
    if (!confirm) throw new Error('no confirming request');
    expect((await postTwilio(h, confirm.path, confirm.params)).body).toBe(confirm.body);
    // The confirmation was not written again (a second seal would differ byte for byte).
    expect((await callRow(result.callSid)).callback_number_enc).toEqual(first.callback_number_enc);
  });
});
