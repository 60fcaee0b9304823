import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COULD_NOT_CONNECT, EMERGENCY_DISCLAIMER, FAIL_SAFE_DIAL_PATH } from '../src/calls/fail-safe.js';
import { heard, type CallResult, type DialStatus } from '../devtools/simulator/simulator.js';
import { parseTwiml } from '../devtools/simulator/twiml.js';
import { startHarness, type Harness, asOwner } from './support/harness.js';
import { simulatorFor } from './support/simulate.js';
import { inboundParams, postTwilio } from './support/twilio-request.js';

/**
 * The fail-safe forwards the caller to the practice's fallback line with a `<Dial action>`: the
 * apology ("we could not connect your call") is spoken only when that dial did not connect, never
 * to a caller who talked to the fallback line and heard it hang up. The action needs no database.
 */

const PRACTICE = '+12025550100';
const PRACTICE_FALLBACK = '+12025550199';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('fail_safe_dial');
});
afterAll(async () => {
  await h.close();
});

/** A call that lands on Twilio's fallback URL (the fail-safe), its <Dial> ending as `status`. */
function fallbackCall(status: DialStatus): Promise<CallResult> {
  return simulatorFor(h).placeCall({ from: '+12025550142', to: PRACTICE, incomingPath: '/twilio/voice/fallback', dialOutcomes: [{ status }] });
}

describe('fail-safe <Dial> action', () => {
  it.each(['completed', 'answered'] as const)('connected (%s): the call just ends, no apology', async (status) => {
    const result = await fallbackCall(status);
    expect(result.requests.every((r) => r.status === 200)).toBe(true);
    expect(result.transcript).toContainEqual(expect.objectContaining({ kind: 'dial', numbers: [PRACTICE_FALLBACK], bridged: true }));
    expect(heard(result)).toContain(EMERGENCY_DISCLAIMER);
    expect(heard(result)).not.toContain(COULD_NOT_CONNECT);
    expect(result.requests.some((r) => r.path === FAIL_SAFE_DIAL_PATH)).toBe(true);
  });

  it.each(['no-answer', 'busy', 'failed', 'canceled'] as const)('not connected (%s): the apology, after the dial', async (status) => {
    const result = await fallbackCall(status);
    expect(result.requests.every((r) => r.status === 200)).toBe(true);
    const text = heard(result);
    expect(text).toContain(COULD_NOT_CONNECT);
    const dialAt = result.transcript.findIndex((e) => e.kind === 'dial');
    const apologyAt = result.transcript.findIndex((e) => e.kind === 'say' && e.text === COULD_NOT_CONNECT);
    expect(dialAt).toBeGreaterThanOrEqual(0);
    expect(apologyAt).toBeGreaterThan(dialAt);
  });

  it('answers without PostgreSQL, and a request with no status gets the apology', async () => {
    await asOwner(h.services.db, sql`ALTER TABLE practice_numbers RENAME TO practice_numbers_gone`);
    try {
      const done = await postTwilio(h, FAIL_SAFE_DIAL_PATH, inboundParams({ CallStatus: 'in-progress', DialCallStatus: 'completed' }));
      expect(done.status).toBe(200);
      expect(parseTwiml(done.body)).toEqual([{ verb: 'Hangup' }]);
      const missing = await postTwilio(h, FAIL_SAFE_DIAL_PATH, inboundParams({ CallStatus: 'in-progress' }));
      expect(missing.status).toBe(200);
      expect(parseTwiml(missing.body)).toContainEqual(expect.objectContaining({ verb: 'Say', text: COULD_NOT_CONNECT }));
    } finally {
      await asOwner(h.services.db, sql`ALTER TABLE practice_numbers_gone RENAME TO practice_numbers`);
    }
  });

  it('is a Twilio route like the others: an unsigned request is refused', async () => {
    const res = await postTwilio(h, FAIL_SAFE_DIAL_PATH, inboundParams({ DialCallStatus: 'busy' }), 'none');
    expect(res.status).toBe(403);
  });
});
