import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { createPatient, phoneIndex } from '../src/patients/store.js';
import { heard, type CallSimulator } from '../devtools/simulator/simulator.js';
import { guardedTry } from '../src/verification/attempts.js';
import { LOCK_POLICIES, MAX_FAILURES, scopeKeys } from '../src/verification/lockout.js';
import { listLockouts } from '../src/verification/lockout-store.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { providerPinHash } from '../src/voicemail/access-line.js';
import { accessLockoutNoticeText } from '../src/verification/lockout-notice.js';
import { TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, startHarness, type Harness } from './support/harness.js';
import { simulatorFor } from './support/simulate.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { inboundParams, postTwilio } from './support/twilio-request.js';
import { until } from './support/until.js';

/**
 * The verification lockout under concurrent calls, on both lines, and the staff action that
 * clears one: through signed webhooks and the API, against the real PostgreSQL and Redis.
 */

const PATIENT = '+12025550123'; // the demo patient
const DOB = '04151980';
const PRACTICE = '+12025550100';
const PROVIDER_PHONE = '+12025550111'; // Dr. Morgan Primary in the demo seed
const PROVIDER_PIN = '7391';
const ADMIN_PHONE = '+12025550113'; // Jordan Manager, the demo practice's admin
const CALLS = 30;

const T0 = new Date('2026-11-26T03:00:00Z'); // after hours in New York
let now = T0;
let h: Harness;
let double: TwilioDouble;
let sim: CallSimulator;
let practiceId: string;
let providerId: string;
const keys: Record<string, string> = {};

beforeAll(async () => {
  double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  h = await startHarness('verification_lockout', { TWILIO_API_BASE_URL: double.baseUrl }, { clock: () => now });
  sim = simulatorFor(h, () => now);
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practiceId = h.services.seeded.id;
  const provider = await h.services.db.selectFrom('providers').select('id').where('practice_id', '=', practiceId).where('phone', '=', PROVIDER_PHONE).executeTakeFirstOrThrow();
  providerId = provider.id;
  await h.services.db.updateTable('providers').set({ pin_hash: providerPinHash(h.services.keyring, providerId, PROVIDER_PIN) }).where('id', '=', providerId).execute();
  for (const role of ['admin', 'staff', 'auditor', 'provider'] as const) keys[role] = (await createApiKey(h.services.db, { role, practiceId })).key;
});
afterAll(async () => {
  await h?.close();
  await double?.close();
});

function smsTo(number: string): string[] {
  return double.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Messages.json') && r.form.get('To') === number).map((r) => r.form.get('Body') ?? '');
}

type AuditRow = { action: string; call_sid: string | null; subject_id: string | null; actor: string; details: Record<string, unknown> };
async function audits(action: string, callSids?: string[]): Promise<AuditRow[]> {
  let q = h.services.db.selectFrom('audit_log').select(['action', 'call_sid', 'subject_id', 'actor', 'details']).where('action', '=', action);
  if (callSids) q = q.where('call_sid', 'in', callSids);
  return q.orderBy('seq').execute();
}

function gatherAction(twiml: string): string {
  const m = /<Gather [^>]*action="([^"]+)"/.exec(twiml);
  if (!m?.[1]) throw new Error('no <Gather> action in the document');
  return m[1].replaceAll('&amp;', '&');
}

/** A call from the patient's number waiting at the date-of-birth prompt: where to post the entry, and with what. */
async function atVerifyPrompt(): Promise<{ action: string; params: Record<string, string> }> {
  const reached = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '3', '1'], hangupAfterSteps: 4 });
  const prompt = reached.requests.find((r) => r.body.includes('n=verify_caller'));
  if (!prompt) throw new Error('the call did not reach verification');
  return { action: gatherAction(prompt.body), params: { ...prompt.params, CallStatus: 'in-progress' } };
}

async function api(method: 'GET' | 'POST', path: string, key: string | undefined): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  const res = await fetch(`${h.baseUrl}/api${path}`, { method, headers: key ? { authorization: `Bearer ${key}` } : {} });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Record<string, unknown>, text };
}

describe('the patient line', () => {
  let lockoutId = '';

  it(`${CALLS} concurrent wrong dates of birth from one number: at most ${MAX_FAILURES} compared, then a right one is refused while locked`, async () => {
    const prompts = await Promise.all(Array.from({ length: CALLS }, () => atVerifyPrompt()));
    // Thirty different wrong dates of birth, all at once.
    const answers = await Promise.all(prompts.map((p, i) => postTwilio(h, p.action, { ...p.params, Digits: `0101${1950 + i}`, FinishedOnKey: '#' })));
    expect(answers.every((a) => a.status === 200 && a.body.startsWith('<?xml'))).toBe(true);
    const sids = prompts.map((p) => p.params.CallSid ?? '');
    const compared = (await audits('verification.failed', sids)).filter((e) => e.details.reason === 'no_match');
    expect(compared.length).toBeLessThanOrEqual(MAX_FAILURES);
    expect(compared.length).toBeGreaterThan(0);
    const refused = (await audits('verification.refused', sids)).filter((e) => e.details.reason === 'locked');
    expect(compared.length + refused.length).toBe(CALLS);

    // One lockout started, recorded for the practice and audited, by ids only.
    const started = await audits('verification.locked_out', sids);
    expect(started).toHaveLength(1);
    expect(started[0]?.details).toMatchObject({ scope: 'number', line: 'patient', earlier: 0 });
    const rows = await h.services.db.selectFrom('verification_lockouts').selectAll().where('practice_id', '=', practiceId).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: started[0]?.subject_id, scope: 'number', phone_index: phoneIndex(h.services.keyring, PATIENT), patient_id: null, cleared_at: null });
    lockoutId = rows[0]?.id ?? '';

    // The right date of birth, on a fresh call, while locked: refused, not compared.
    const late = await atVerifyPrompt();
    const answer = await postTwilio(h, late.action, { ...late.params, Digits: DOB, FinishedOnKey: '#' });
    expect(answer.body).not.toContain('Your next appointment');
    expect(await audits('verification.succeeded', [late.params.CallSid ?? ''])).toEqual([]);
    expect((await audits('verification.refused', [late.params.CallSid ?? ''])).map((e) => e.details.reason)).toEqual(['locked']);
  });

  it('the practice sees the lockout (ids only) and staff clear it; the patient then verifies', async () => {
    const list = await api('GET', '/lockouts', keys.staff);
    expect(list.status).toBe(200);
    expect(list.body.lockouts).toMatchObject([{ id: lockoutId, scope: 'number', line: 'patient', patientId: null, providerId: null, clearedAt: null }]);
    expect(list.text).not.toContain(phoneIndex(h.services.keyring, PATIENT));
    expect(list.text).not.toContain('2025550123');

    expect((await api('POST', `/lockouts/${lockoutId}/clear`, keys.auditor)).status).toBe(403);
    expect((await api('POST', `/lockouts/${lockoutId}/clear`, keys.provider)).status).toBe(403);
    const cleared = await api('POST', `/lockouts/${lockoutId}/clear`, keys.staff);
    expect(cleared.status).toBe(200);
    expect(cleared.body.lockout).toMatchObject({ id: lockoutId, clearedBy: expect.stringMatching(/^api_key:/) });
    const audit = await audits('verification.lockout_cleared');
    expect(audit).toMatchObject([{ subject_id: lockoutId, actor: expect.stringMatching(/^api_key:/), details: { scope: 'number', wasLocked: true } }]);
    expect((await api('POST', `/lockouts/${lockoutId}/clear`, keys.staff)).status).toBe(409);
    expect((await api('GET', '/lockouts', keys.admin)).body.lockouts).toEqual([]);

    const result = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '3', '1', `${DOB}#`, '9'] });
    expect(heard(result)).toContain('Your next appointment is on');

    // The morning report's query still lists it, cleared.
    const day = await listLockouts(tenantScope(h.services, practiceId), new Date(T0.getTime() - 3_600_000), new Date(T0.getTime() + 3_600_000));
    expect(day).toMatchObject([{ id: lockoutId, clearedAt: now.toISOString() }]);
  });

  it('bad input is a 400 naming the field', async () => {
    const badId = await api('POST', '/lockouts/not-a-uuid/clear', keys.staff);
    expect(badId.status).toBe(400);
    expect(badId.body.message).toMatch(/^id: /);
    const half = await api('GET', `/lockouts?from=${T0.toISOString()}`, keys.staff);
    expect(half.status).toBe(400);
    expect(half.body.message).toMatch(/^to: /);
    expect((await api('GET', '/lockouts?foo=1', keys.staff)).status).toBe(400);
    expect((await api('POST', '/lockouts/00000000-0000-4000-8000-000000000000/clear', keys.staff)).status).toBe(404);
  });
});

describe('the provider access line', () => {
  it(`${CALLS} concurrent wrong PINs from the provider's number: at most ${MAX_FAILURES} compared, then the right PIN is refused`, async () => {
    const calls = Array.from({ length: CALLS }, () => inboundParams({ From: PROVIDER_PHONE, Caller: PROVIDER_PHONE, To: PRACTICE }));
    for (const c of calls) expect((await postTwilio(h, '/twilio/voice/access', c)).status).toBe(200);
    const answers = await Promise.all(calls.map((c, i) => postTwilio(h, '/twilio/voice/access-action?s=1', { ...c, CallStatus: 'in-progress', Digits: `${1000 + i}#` })));
    expect(answers.every((a) => a.status === 200 && a.body.startsWith('<?xml'))).toBe(true);
    const sids = calls.map((c) => c.CallSid ?? '');
    const reasons = (await audits('access.refused', sids)).map((e) => e.details.reason);
    expect(reasons.filter((r) => r === 'wrong_pin').length).toBeLessThanOrEqual(MAX_FAILURES);
    expect(reasons.filter((r) => r === 'wrong_pin').length + reasons.filter((r) => r === 'locked').length).toBe(CALLS);
    // The access line locks the number for 15 minutes (never past an hour), not the patient line's 4 hours.
    expect((await audits('verification.locked_out', sids)).map((e) => e.details)).toMatchObject([
      { scope: 'number', line: 'access', earlier: 0, lockedUntil: new Date(now.getTime() + 15 * 60_000).toISOString() },
    ]);
    // The practice's admin is told at once, with no provider, number or PHI in the text.
    const notices = await until('the admin notice', () => (smsTo(ADMIN_PHONE).length > 0 ? smsTo(ADMIN_PHONE) : null));
    expect(notices).toEqual([accessLockoutNoticeText(h.services.seeded?.greetingName ?? '')]);
    expect(notices[0]).toMatch(/locked out of the access line.*Clear it/);
    expect(notices[0]).not.toContain('2025550111');
    expect(smsTo(PROVIDER_PHONE)).toEqual([]);

    const late = inboundParams({ From: PROVIDER_PHONE, Caller: PROVIDER_PHONE, To: PRACTICE });
    await postTwilio(h, '/twilio/voice/access', late);
    const answer = await postTwilio(h, '/twilio/voice/access-action?s=1', { ...late, CallStatus: 'in-progress', Digits: `${PROVIDER_PIN}#` });
    expect(answer.body).toContain('Too many attempts');
    expect(await audits('access.verified', [late.CallSid ?? ''])).toEqual([]);
  });

  it('staff clear the access-line lockout; a lockout of the same number on the patient line (a spoof) does not keep the provider out', async () => {
    const current = (await api('GET', '/lockouts', keys.staff)).body.lockouts as Array<{ id: string; line: string }>;
    const access = current.find((l) => l.line === 'access');
    expect((await api('POST', `/lockouts/${access?.id ?? ''}/clear`, keys.staff)).status).toBe(200);

    // Someone spoofing the provider's number keys wrong dates of birth on the patient line until it locks.
    const spoofed: string[] = [];
    for (const entries of [['01011990', '01011991', '01011992'], ['01011993', '01011994']]) {
      spoofed.push((await sim.placeCall({ from: PROVIDER_PHONE, to: PRACTICE, digits: ['1', '3', '1', ...entries.map((e) => `${e}#`), '9'] })).callSid);
    }
    expect((await audits('verification.locked_out', spoofed)).map((e) => e.details)).toMatchObject([{ scope: 'number', line: 'patient' }]);

    const call = inboundParams({ From: PROVIDER_PHONE, Caller: PROVIDER_PHONE, To: PRACTICE });
    await postTwilio(h, '/twilio/voice/access', call);
    const answer = await postTwilio(h, '/twilio/voice/access-action?s=1', { ...call, CallStatus: 'in-progress', Digits: `${PROVIDER_PIN}#` });
    expect(answer.body).not.toContain('Too many attempts');
    expect((await audits('access.verified', [call.CallSid ?? ''])).map((e) => e.actor)).toEqual([`provider:${providerId}`]);
  });

  it('a number that is no provider’s locks on the access line without a notice (strangers cannot flood the admins)', async () => {
    const stranger = '+12025550177';
    const sids: string[] = [];
    for (const digits of [['0000#', '1111#', '2222#'], ['3333#', '4444#']]) {
      sids.push((await sim.placeCall({ from: stranger, to: PRACTICE, incomingPath: '/twilio/voice/access', digits })).callSid);
    }
    expect((await audits('verification.locked_out', sids)).map((e) => e.details)).toMatchObject([{ scope: 'number', line: 'access' }]);
    // The provider's number locks again after it: that notice arrives, the stranger's never came.
    for (const digits of [['0000#', '1111#', '2222#'], ['3333#', '4444#']]) {
      await sim.placeCall({ from: PROVIDER_PHONE, to: PRACTICE, incomingPath: '/twilio/voice/access', digits });
    }
    await until('the second notice', () => smsTo(ADMIN_PHONE).length >= 2);
    expect(smsTo(ADMIN_PHONE)).toHaveLength(2);
  });
});

describe('repeated lockouts', () => {
  it('a number’s second lockout lasts twice as long; ten failures in a day lock the patient, whom staff can clear', async () => {
    const phone = '+12025550178';
    const dob = '1971-02-03';
    const patientId = await createPatient(h.services.db, h.services.keyring, { practiceId, phone, dateOfBirth: dob });
    const placed = async (entries: string[]): Promise<string> =>
      (await sim.placeCall({ from: phone, to: PRACTICE, digits: ['1', '3', '1', ...entries.map((e) => `${e}#`), '9'] })).callSid;
    const sids: string[] = [];
    const start = new Date(T0.getTime() + 86_400_000);
    now = start;
    sids.push(await placed(['01011990', '01011991', '01011992']), await placed(['01011993', '01011994']));
    const second = new Date(start.getTime() + 16 * 60_000); // the first lockout is over
    now = second;
    sids.push(await placed(['01011995', '01011996', '01011997']), await placed(['01011998', '01011999']));
    const started = (await audits('verification.locked_out', sids)).map((e) => e.details);
    expect(started).toEqual([
      { scope: 'number', line: 'patient', earlier: 0, lockedUntil: new Date(start.getTime() + 15 * 60_000).toISOString() },
      { scope: 'number', line: 'patient', earlier: 1, lockedUntil: new Date(second.getTime() + 30 * 60_000).toISOString() },
      { scope: 'patient', line: 'patient', earlier: 0, patientId, lockedUntil: new Date(second.getTime() + 60 * 60_000).toISOString() },
    ]);

    // The number's lockout is over, the patient's is not: the right date of birth is refused.
    now = new Date(second.getTime() + 31 * 60_000);
    const refused = await sim.placeCall({ from: phone, to: PRACTICE, digits: ['1', '3', '1', '02031971#', '9'] });
    expect(heard(refused)).not.toContain('Your next appointment');
    expect((await audits('verification.refused', [refused.callSid])).map((e) => e.details.reason)).toEqual(['locked']);

    const current = (await api('GET', '/lockouts', keys.staff)).body.lockouts as Array<{ id: string; scope: string; patientId: string | null }>;
    const patientLock = current.find((l) => l.scope === 'patient');
    expect(patientLock?.patientId).toBe(patientId);
    expect((await api('POST', `/lockouts/${patientLock?.id ?? ''}/clear`, keys.admin)).status).toBe(200);
    const verified = await sim.placeCall({ from: phone, to: PRACTICE, digits: ['1', '3', '1', '02031971#', '9'] });
    expect((await audits('verification.succeeded', [verified.callSid])).map((e) => e.subject_id)).toEqual([patientId]);
  });
});

describe('a comparison that throws (KMS, keyring or database failure)', () => {
  it(`leaves no reservation: after ${LOCK_POLICIES.patient.limit} throwing tries the right entry still matches, with no lockout`, async () => {
    const ctx = { practiceId, phoneIndex: randomBytes(32).toString('hex'), line: 'patient' as const, callSid: `CA${randomBytes(16).toString('hex')}`, now };
    const patient = { kind: 'patient', id: randomUUID() } as const;
    const failingDecrypt = async (): Promise<string | null> => {
      throw new Error('KMS unavailable');
    };
    for (let i = 0; i < LOCK_POLICIES.patient.limit; i += 1) {
      await expect(guardedTry(h.services, ctx, [patient], failingDecrypt)).rejects.toThrow('KMS unavailable');
    }
    expect(await h.services.redis.zcard(scopeKeys(patient).pending)).toBe(0);
    expect(await h.services.redis.zcard(scopeKeys({ kind: 'number', practiceId, phoneIndex: ctx.phoneIndex }).pending)).toBe(0);
    const right = await guardedTry(h.services, ctx, [patient], async (open) => (open.some((o) => o.id === patient.id) ? patient.id : null));
    expect(right).toEqual({ kind: 'match', value: patient.id });
    expect(await audits('verification.locked_out', [ctx.callSid])).toEqual([]);
  });
});
