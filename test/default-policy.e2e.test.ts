import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import type { CallResult } from '../devtools/simulator/simulator.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, type Harness } from './support/harness.js';
import { simulatorFor } from './support/simulate.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';

/**
 * A default escalation policy once a practice has providers (issue 12, item 1): a practice created
 * by the operator, its first provider added by its admin, no policy made by hand; an urgent call
 * then rings that provider, not the practice's fallback line. The policy is audited, made once,
 * and never made over a policy the admin already has.
 */

const MAIN = '+13125550270';
const FALLBACK = '+13125550279';
const SECOND_MAIN = '+13125550280';
const SECOND_FALLBACK = '+13125550289';
const CALLER = '+13125550240';
const DR_LEE = '+13125550271';
const DR_KIM = '+13125550272';
/** English, then the urgent option. */
const URGENT = ['1', '1'];

// Wednesday 2026-11-25, 23:30 in Chicago: the practice is closed.
const now = new Date('2026-11-26T05:30:00Z');
let h: Harness;
let double: TwilioDouble;
let operator: string;

type Body = Record<string, unknown>;

function api(method: string, path: string, key: string, body?: unknown): Promise<ApiAnswer> {
  return callApi(h, method, path, key, body);
}

/** A practice made by the operator, and its admin's key. */
async function newPractice(slug: string, number: string, fallbackNumber: string): Promise<{ id: string; admin: string }> {
  const created = await api('POST', '/api/practices', operator, { slug, name: `${slug} clinic`, timeZone: 'America/Chicago', number, fallbackNumber });
  expect(created.status).toBe(201);
  const id = String(created.body.id);
  return { id, admin: (await createApiKey(h.services.db, { role: 'admin', practiceId: id })).key };
}

function dialled(result: CallResult): string[] {
  return result.transcript.flatMap((e) => (e.kind === 'dial' ? e.numbers : []));
}

beforeAll(async () => {
  double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  h = await startHarness('default_policy', { SEED_DEMO: 'false', TWILIO_API_BASE_URL: double.baseUrl }, { clock: () => now });
  operator = (await createApiKey(h.services.db, { role: 'operator', practiceId: null })).key;
});
afterAll(async () => {
  await h?.close();
  await double?.close();
});

describe('a new practice with providers and no policy of its own', () => {
  let practice: { id: string; admin: string };
  let lee: string;

  it('the first provider comes with a default policy ringing them, audited; the second adds none', async () => {
    practice = await newPractice('lakeview', MAIN, FALLBACK);
    expect((await api('GET', '/api/oncall/policies', practice.admin)).body.policies).toEqual([]);

    const first = await api('POST', '/api/oncall/providers', practice.admin, { displayName: 'Dr. Lee', phone: DR_LEE });
    expect(first.status).toBe(201);
    lee = String(first.body.id);
    const policies = (await api('GET', '/api/oncall/policies', practice.admin)).body.policies as Body[];
    expect(policies).toEqual([
      expect.objectContaining({ name: 'Default', isDefault: true, repeat: 1, tiers: [{ target: { kind: 'provider', providerId: lee }, ringSeconds: 25 }] }),
    ]);
    const audited = await h.services.db.selectFrom('audit_log').select(['subject_id', 'details']).where('action', '=', 'admin.policy_changed').where('practice_id', '=', practice.id).execute();
    expect(audited).toEqual([{ subject_id: policies[0]?.id, details: { change: 'created_default', fields: [], isDefault: true, clearedDefaultIds: [], providerId: lee } }]);

    expect((await api('POST', '/api/oncall/providers', practice.admin, { displayName: 'Dr. Kim', phone: DR_KIM })).status).toBe(201);
    expect((await api('GET', '/api/oncall/policies', practice.admin)).body.policies).toHaveLength(1);
  });

  it('an urgent call reaches the provider, not the fallback line', async () => {
    const result = await simulatorFor(h, () => now).placeCall({ from: CALLER, to: MAIN, digits: URGENT, dialOutcomes: [{ status: 'completed', whisperDigits: '1' }] });
    expect(result.errors).toEqual([]);
    expect(dialled(result)[0]).toBe(DR_LEE);
    expect(dialled(result)).not.toContain(FALLBACK);
  });
});

describe("the admin's own policy", () => {
  it('replaces the default as any default is replaced; a later provider makes no other', async () => {
    const practice = await newPractice('hillside', SECOND_MAIN, SECOND_FALLBACK);
    const first = await api('POST', '/api/oncall/providers', practice.admin, { displayName: 'Dr. Kim', phone: DR_KIM });
    const mine = await api('POST', '/api/oncall/policies', practice.admin, { name: 'Nights', tiers: [{ target: { kind: 'provider', providerId: first.body.id }, ringSeconds: 30 }], isDefault: true });
    expect(mine.status).toBe(201);
    await api('POST', '/api/oncall/providers', practice.admin, { displayName: 'Dr. Lee', phone: DR_LEE });
    const policies = (await api('GET', '/api/oncall/policies', practice.admin)).body.policies as Body[];
    expect(policies.map((p) => [p.name, p.isDefault])).toEqual([
      ['Default', false],
      ['Nights', true],
    ]);
  });
});
