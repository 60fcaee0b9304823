import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { createPractice } from '../src/practices/store.js';
import type { CallResult } from '../devtools/simulator/simulator.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { simulatorFor } from './support/simulate.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { until } from './support/until.js';

/**
 * Done means: a practice configures providers, a schedule (with an override) and a policy
 * through the API alone, and an urgent simulated call walks the chain exactly as configured —
 * who is rung, in which order, for how long, how many rounds, who is paged, who takes it.
 */

const PRACTICE = '+13125550170';
const CALLER = '+13125550140';
const ANA = '+13125550171';
const BEN = '+13125550172';
const CAL = '+13125550173';
const CAL_SMS = '+13125550183';
const DEE = '+13125550174';
/** English, then the urgent option. */
const URGENT = ['1', '1'];

// Wednesday 2026-11-25, 23:30 in Chicago: the practice is closed.
let now = new Date('2026-11-26T05:30:00Z');
let h: Harness;
let double: TwilioDouble;
let admin: string;
const ids: Record<string, string> = {};

type Body = Record<string, unknown>;

function api(method: string, path: string, body?: unknown): Promise<ApiAnswer> {
  return callApi(h, method, path, admin, body);
}

beforeAll(async () => {
  double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  h = await startHarness('oncall_config', { SEED_DEMO: 'false', TWILIO_API_BASE_URL: double.baseUrl }, { clock: () => now });
  const practice = await createPractice(h.services.db, { slug: 'riverside', name: 'Riverside Clinic', timeZone: 'America/Chicago', numbers: [PRACTICE], fallbackNumber: '+13125550199' });
  admin = (await createApiKey(h.services.db, { role: 'admin', practiceId: practice.id })).key;
});
afterAll(async () => {
  await h.close();
  await double.close();
});

function dialled(result: CallResult): string[] {
  return result.transcript.flatMap((e) => (e.kind === 'dial' ? e.numbers : []));
}

/** The ring timeout of every <Dial> the caller's leg was given, in order. */
function ringTimeouts(result: CallResult): number[] {
  return result.requests.filter((r) => r.kind === 'twiml' && r.party === 'caller').flatMap((r) => [...r.body.matchAll(/<Dial [^>]*timeout="(\d+)"/g)].map((m) => Number(m[1])));
}

function smsTo(number: string): string[] {
  return double.requests.filter((r) => r.path.endsWith('/Messages.json') && r.form.get('To') === number).map((r) => r.form.get('Body') ?? '');
}

describe('configured through the API, walked by a call', () => {
  it('providers, a schedule with an override and a default policy, all through the API', async () => {
    for (const [name, phone, extra] of [
      ['Dr. Ana', ANA, {}],
      ['Dr. Ben', BEN, {}],
      ['Dr. Cal', CAL, { smsPhone: CAL_SMS }],
      ['Dee Admin', DEE, { isPracticeAdmin: true }],
    ] as const) {
      const res = await api('POST', '/api/oncall/providers', { displayName: name, phone, ...extra });
      expect(res.status).toBe(201);
      ids[phone] = res.body.id as string;
    }
    // A daily rotation of Ana and Ben, hand-off 08:00 in the practice's zone (none given).
    const schedule = await api('POST', '/api/oncall/schedules', {
      name: 'Nights',
      rotation: { members: [ids[ANA], ids[BEN]], length: 'daily', handoffTime: '08:00', startDate: '2026-11-01' },
    });
    expect(schedule.status).toBe(201);
    expect(schedule.body.timeZone).toBe('America/Chicago');
    ids.schedule = schedule.body.id as string;
    const rotation = await api('GET', '/api/oncall/now');
    expect((rotation.body.onCall as Body[])[0]).toMatchObject({ providerId: ids[ANA], layer: 'rotation' });

    // Cal covers tonight, 22:00 to 02:00 Chicago.
    const override = await api('POST', `/api/oncall/schedules/${ids.schedule}/overrides`, { providerId: ids[CAL], start: '2026-11-26T04:00:00Z', end: '2026-11-26T08:00:00Z' });
    expect(override.status).toBe(201);
    const onCall = await api('GET', '/api/oncall/now');
    expect((onCall.body.onCall as Body[])[0]).toMatchObject({ providerId: ids[CAL], layer: 'override' });

    // Tier 1 the schedule (15 s), tier 2 Ben by name (25 s), the chain twice, pages every minute, the admin after one repeat.
    const policy = await api('POST', '/api/oncall/policies', {
      name: 'Nights chain',
      tiers: [
        { target: { kind: 'schedule', scheduleId: ids.schedule }, ringSeconds: 15 },
        { target: { kind: 'provider', providerId: ids[BEN] }, ringSeconds: 25 },
      ],
      repeat: 1,
      pageIntervalMinutes: 1,
      pageMaxRepeats: 1,
      isDefault: true,
    });
    expect(policy.status).toBe(201);
    ids.policy = policy.body.id as string;
  });

  it('nobody answers: the override, then tier 2, twice, each for its own ring time; then voicemail and pages to exactly those two', async () => {
    const sim = simulatorFor(h, () => now);
    const result = await sim.placeCall({
      from: CALLER,
      to: PRACTICE,
      digits: URGENT,
      dialOutcomes: [{ status: 'no-answer' }, { status: 'busy' }, { status: 'no-answer' }, { status: 'no-answer' }],
      recordings: [{ durationSeconds: 20, digits: '#' }],
    });
    expect(result.errors).toEqual([]);
    expect(dialled(result)).toEqual([CAL, BEN, CAL, BEN]);
    expect(ringTimeouts(result)).toEqual([15, 25, 15, 25]);
    expect(result.transcript).toContainEqual(expect.objectContaining({ kind: 'record' }));

    const call = await api('GET', `/api/calls/${result.callSid}`);
    const legs = (call.body.legs as Body[]).filter((l) => l.kind === 'dial');
    expect(legs.map((l) => [l.tier, l.round, l.providerId, l.numberTried, l.outcome])).toEqual([
      [1, 0, ids[CAL], CAL, 'no-answer'],
      [2, 0, ids[BEN], BEN, 'busy'],
      [1, 1, ids[CAL], CAL, 'no-answer'],
      [2, 1, ids[BEN], BEN, 'no-answer'],
    ]);
    const exhausted = (call.body.audit as Array<{ action: string; details: Body }>).find((e) => e.action === 'oncall.exhausted');
    expect(exhausted?.details).toMatchObject({ attempts: 4, policyId: ids.policy });

    // The page goes to the chain as configured: Cal (on his SMS number) and Ben; not Ana, not yet the admin.
    const page = await until('the page in the API', async () => ((await api('GET', '/api/pages')).body.pages as Body[]).find((p) => p.callSid === result.callSid));
    await until('the Cal and Ben SMS', () => smsTo(CAL_SMS).length >= 1 && smsTo(BEN).length >= 1);
    expect(smsTo(ANA)).toEqual([]);
    expect(smsTo(CAL)).toEqual([]);
    expect(smsTo(DEE)).toEqual([]);
    expect(smsTo(CAL_SMS)[0]).toBe(`Riverside Clinic: urgent voicemail waiting. Ref ${String(page.referenceCode)}. Call 312-555-0170 or reply ACK ${String(page.referenceCode)} to acknowledge. ${TEST_PUBLIC_BASE_URL}/console/pages/${String(page.id)}`);
    const ack = await api('POST', `/api/pages/${String(page.id)}/ack`);
    expect(ack.body).toMatchObject({ result: 'acknowledged' });
  });

  it('the override declines and Ben accepts: bridged to Ben', async () => {
    const sim = simulatorFor(h, () => now);
    const result = await sim.placeCall({ from: CALLER, to: PRACTICE, digits: URGENT, dialOutcomes: [{ status: 'completed', whisperDigits: '2' }, { status: 'completed', whisperDigits: '1' }] });
    expect(result.errors).toEqual([]);
    expect(dialled(result)).toEqual([CAL, BEN]);
    const call = await api('GET', `/api/calls/${result.callSid}`);
    const audit = call.body.audit as Array<{ action: string; subjectId: string | null; details: Body }>;
    expect(audit.find((e) => e.action === 'oncall.attempt_failed')).toMatchObject({ subjectId: ids[CAL], details: { tier: 1, round: 0, outcome: 'declined' } });
    expect(audit.find((e) => e.action === 'oncall.connected')).toMatchObject({ subjectId: ids[BEN], details: { tier: 2, round: 0, outcome: 'accepted' } });
  });

  it('after the override ends, the rotation is back: Ana is rung first', async () => {
    now = new Date('2026-11-26T09:00:00Z'); // 03:00 Chicago, Thanksgiving: still closed
    const sim = simulatorFor(h, () => now);
    const result = await sim.placeCall({ from: CALLER, to: PRACTICE, digits: URGENT, dialOutcomes: [{ status: 'completed', whisperDigits: '1' }] });
    expect(dialled(result)).toEqual([ANA]);
  });
});
