import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createApiKey } from '../src/auth/api-keys.js';
import { captureLogs } from '../src/log/logger.js';
import { createPractice, type Practice } from '../src/practices/store.js';
import { decideSwap, mayRequestSwap } from '../src/oncall/swaps.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, type Harness } from './support/harness.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { consoleCall, insertAccount } from './support/staff-session.js';
import { startSessionForVerifiedIdentity } from '../src/auth/accounts.js';

/**
 * Swap requests (issue 14): asked, accepted (the override made, who is on call changes for the
 * window), a second accept refused, declined, cancelled, another practice's swap not found, bad
 * input named. Against the real service, PostgreSQL and Redis, in schema t_oncall_swaps.
 */

let h: Harness;
let double: TwilioDouble;
let clinic: Practice;
let other: Practice;
let admin: string;
let staff: string;
let providerKey: string;
let auditor: string;
let otherAdmin: string;
let alice: string;
let bob: string;
let carol: string;
let scheduleId: string;
let otherScheduleId: string;
let otherSwapId: string;
// Wednesday 2026-10-28 07:00 in New York; the harness reads this on every call.
let now = new Date('2026-10-28T11:00:00Z');
const logs = captureLogs();

type Body = Record<string, unknown>;
const smsSent = (): Array<{ to: string | null; body: string | null }> =>
  double.requests.filter((q) => q.method === 'POST' && q.path.endsWith('/Messages.json') && q.status < 300).map((q) => ({ to: q.form.get('To'), body: q.form.get('Body') }));
const send = (method: string, path: string, key: string, body?: unknown): Promise<ApiAnswer> => callApi(h, method, path, key, body);

// Thursday 17:00 to Friday 08:00, New York.
const WINDOW = { start: '2026-10-29T17:00:00-04:00', end: '2026-10-30T08:00:00-04:00' };

beforeAll(async () => {
  double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  h = await startHarness('oncall_swaps', { SEED_DEMO: 'false', TWILIO_API_BASE_URL: double.baseUrl }, { clock: () => now });
  clinic = await createPractice(h.services.db, { slug: 'swapside', name: 'Swapside Family Medicine', timeZone: 'America/New_York', numbers: ['+12025550280'] });
  other = await createPractice(h.services.db, { slug: 'elsewhere', name: 'Elsewhere Clinic', timeZone: 'America/Chicago', numbers: ['+13125550280'] });
  admin = (await createApiKey(h.services.db, { role: 'admin', practiceId: clinic.id })).key;
  staff = (await createApiKey(h.services.db, { role: 'staff', practiceId: clinic.id })).key;
  providerKey = (await createApiKey(h.services.db, { role: 'provider', practiceId: clinic.id })).key;
  auditor = (await createApiKey(h.services.db, { role: 'auditor', practiceId: clinic.id })).key;
  otherAdmin = (await createApiKey(h.services.db, { role: 'admin', practiceId: other.id })).key;
  const provider = async (key: string, displayName: string, phone: string): Promise<string> => {
    const res = await send('POST', '/api/oncall/providers', key, { displayName, phone });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };
  alice = await provider(admin, 'Dr. Alice Swapworth', '+12025550261');
  bob = await provider(admin, 'Dr. Bob Swapworth', '+12025550262');
  carol = await provider(admin, 'Dr. Carol Swapworth', '+12025550263');
  const schedule = await send('POST', '/api/oncall/schedules', admin, { name: 'Nights', rotation: { members: [alice], length: 'daily', handoffTime: '08:00', startDate: '2026-10-01' } });
  expect(schedule.status).toBe(201);
  scheduleId = schedule.body.id as string;
  const otherBob = await provider(otherAdmin, 'Dr. Other One', '+13125550261');
  const otherCarol = await provider(otherAdmin, 'Dr. Other Two', '+13125550262');
  const otherSchedule = await send('POST', '/api/oncall/schedules', otherAdmin, { name: 'Theirs', rotation: { members: [otherBob], length: 'daily', handoffTime: '08:00', startDate: '2026-10-01' } });
  otherScheduleId = otherSchedule.body.id as string;
  const otherSwap = await send('POST', `/api/oncall/schedules/${otherScheduleId}/swaps`, otherAdmin, { fromProviderId: otherBob, toProviderId: otherCarol, ...WINDOW });
  expect(otherSwap.status).toBe(201);
  otherSwapId = otherSwap.body.id as string;
});
afterAll(async () => {
  logs.restore();
  await h?.close();
  await double?.close();
});

async function request(key = admin, to = bob): Promise<Body> {
  const res = await send('POST', `/api/oncall/schedules/${scheduleId}/swaps`, key, { fromProviderId: alice, toProviderId: to, ...WINDOW });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function auditOf(subjectId: string): Promise<Array<{ action: string; actor: string; details: Body }>> {
  return h.services.db.selectFrom('audit_log').select(['action', 'actor', 'details']).where('subject_id', '=', subjectId).where('action', 'not like', 'api.%').orderBy('seq').execute();
}

async function onCallAt(at: string): Promise<Body> {
  now = new Date(at);
  const res = await send('GET', `/api/oncall/now?scheduleId=${scheduleId}`, admin);
  now = new Date('2026-10-28T11:00:00Z');
  expect(res.status).toBe(200);
  return (res.body.onCall as Body[])[0] as Body;
}

describe('swap requests', () => {
  it('asks: a pending swap, listed on its schedule, audited, and the provider asked is told by SMS with ids only', async () => {
    const swap = await request();
    expect(swap).toMatchObject({ scheduleId, fromProviderId: alice, toProviderId: bob, state: 'pending', decidedBy: null, overrideId: null, start: '2026-10-29T21:00:00.000Z', end: '2026-10-30T12:00:00.000Z' });
    const list = await send('GET', `/api/oncall/schedules/${scheduleId}/swaps?state=pending`, auditor);
    expect(list.status).toBe(200);
    expect((list.body.swaps as Body[]).map((s) => s.id)).toContain(swap.id);
    const rows = await auditOf(swap.id as string);
    expect(rows).toEqual([{ action: 'oncall.swap_requested', actor: expect.stringMatching(/^api_key:/), details: { scheduleId, fromProviderId: alice, toProviderId: bob, notified: [`provider:${bob}`] } }]);
    // The SMS to Bob names the swap by id: no provider's name, no window, no number but the link.
    const sms = smsSent().filter((m) => m.body?.includes(swap.id as string));
    expect(sms).toEqual([{ to: '+12025550262', body: `Swapside Family Medicine: a swap request waits for you. https://ahl.example.test:8443/console/on-call?schedule=${scheduleId}&swap=${swap.id as string}` }]);
    // Logs name no provider and no number.
    const text = logs.lines().join('\n');
    for (const phi of ['Swapworth', '+12025550262', '2025550262', '+12025550261']) expect(text).not.toContain(phi);
  });

  it('accepts: the override is made through the override code, who is on call changes for that window only, and a second accept is 409', async () => {
    expect(await onCallAt('2026-10-30T02:00:00Z')).toMatchObject({ providerId: alice, layer: 'rotation' });
    const swap = await request();
    const accepted = await send('POST', `/api/oncall/swaps/${swap.id as string}/accept`, admin);
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
    const override = accepted.body.override as Body;
    expect(accepted.body.swap).toMatchObject({ id: swap.id, state: 'accepted', overrideId: override.id, decidedBy: expect.stringMatching(/^api_key:/) });
    expect(override).toMatchObject({ scheduleId, providerId: bob, start: swap.start, end: swap.end });
    expect(await onCallAt('2026-10-30T02:00:00Z')).toMatchObject({ providerId: bob, layer: 'override', overrideId: override.id });
    expect(await onCallAt('2026-10-30T13:00:00Z')).toMatchObject({ providerId: alice, layer: 'rotation' });
    expect(await auditOf(override.id as string)).toEqual([{ action: 'admin.override_changed', actor: expect.any(String), details: { change: 'created', scheduleId, providerId: bob, shadows: [], swapId: swap.id } }]);
    expect((await auditOf(swap.id as string)).map((r) => [r.action, r.details])).toEqual([
      ['oncall.swap_requested', expect.any(Object)],
      ['oncall.swap_accepted', { scheduleId, overrideId: override.id }],
    ]);

    const again = await send('POST', `/api/oncall/swaps/${swap.id as string}/accept`, admin);
    expect(again.status).toBe(409);
    const overrides = await h.services.db.selectFrom('oncall_overrides').select('id').where('schedule_id', '=', scheduleId).execute();
    expect(overrides.map((o) => o.id)).toEqual([override.id]);
  });

  it('two accepts at once: one override, one 200 and one 409', async () => {
    const swap = await request(admin, carol);
    const both = await Promise.all([1, 2].map(() => send('POST', `/api/oncall/swaps/${swap.id as string}/accept`, admin)));
    expect(both.map((r) => r.status).sort()).toEqual([200, 409]);
    const made = await h.services.db.selectFrom('oncall_overrides').select('id').where('schedule_id', '=', scheduleId).where('provider_id', '=', carol).execute();
    expect(made).toHaveLength(1);
  });

  it('declines: no override, then nothing more can be decided', async () => {
    const swap = await request();
    const declined = await send('POST', `/api/oncall/swaps/${swap.id as string}/decline`, admin);
    expect(declined.status).toBe(200);
    expect(declined.body.swap).toMatchObject({ state: 'declined', overrideId: null });
    expect(declined.body.override).toBeUndefined();
    expect((await send('POST', `/api/oncall/swaps/${swap.id as string}/accept`, admin)).status).toBe(409);
    expect((await send('POST', `/api/oncall/swaps/${swap.id as string}/cancel`, admin)).status).toBe(409);
    expect((await auditOf(swap.id as string)).map((r) => r.action)).toEqual(['oncall.swap_requested', 'oncall.swap_declined']);
  });

  it('cancels: the requester may, another non-admin may not; staff may not accept', async () => {
    const swap = await request(staff);
    expect((await send('POST', `/api/oncall/swaps/${swap.id as string}/accept`, staff)).status).toBe(403);
    // A provider key is no person: it is not the provider asked, and did not ask.
    expect((await send('POST', `/api/oncall/swaps/${swap.id as string}/accept`, providerKey)).status).toBe(403);
    expect((await send('POST', `/api/oncall/swaps/${swap.id as string}/cancel`, providerKey)).status).toBe(403);
    const cancelled = await send('POST', `/api/oncall/swaps/${swap.id as string}/cancel`, staff);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.swap).toMatchObject({ state: 'cancelled', overrideId: null });
    expect((await auditOf(swap.id as string)).map((r) => r.action)).toEqual(['oncall.swap_requested', 'oncall.swap_cancelled']);
  });

  it("a provider key may not ask for anyone's shift (a provider asks signed in, for their own)", async () => {
    const res = await send('POST', `/api/oncall/schedules/${scheduleId}/swaps`, providerKey, { fromProviderId: alice, toProviderId: bob, ...WINDOW });
    expect(res.status).toBe(403);
  });

  it("another practice's swap and schedule are not found, and its providers are no providers here", async () => {
    for (const action of ['accept', 'decline', 'cancel']) {
      expect((await send('POST', `/api/oncall/swaps/${otherSwapId}/${action}`, admin)).status).toBe(404);
    }
    expect((await send('GET', `/api/oncall/schedules/${otherScheduleId}/swaps`, admin)).status).toBe(404);
    expect((await send('POST', `/api/oncall/schedules/${otherScheduleId}/swaps`, admin, { fromProviderId: alice, toProviderId: bob, ...WINDOW })).status).toBe(404);
    expect((await send('POST', `/api/oncall/swaps/${randomUUID()}/accept`, admin)).status).toBe(404);
    const theirs = await h.services.db.selectFrom('oncall_swaps').select('state').where('id', '=', otherSwapId).executeTakeFirstOrThrow();
    expect(theirs.state).toBe('pending');
    const foreign = await send('POST', `/api/oncall/schedules/${scheduleId}/swaps`, admin, { fromProviderId: alice, toProviderId: randomUUID(), ...WINDOW });
    expect(foreign).toEqual({ status: 400, body: { error: 'bad_request', message: 'toProviderId: no such provider in this practice' } });
  });

  it('refuses bad input with a 400 naming the field', async () => {
    const path = `/api/oncall/schedules/${scheduleId}/swaps`;
    const cases: Array<[unknown, string]> = [
      [{ fromProviderId: alice, toProviderId: bob, start: WINDOW.start }, 'end'],
      [{ fromProviderId: 'nope', toProviderId: bob, ...WINDOW }, 'fromProviderId'],
      [{ fromProviderId: alice, toProviderId: alice, ...WINDOW }, 'toProviderId'],
      [{ fromProviderId: alice, toProviderId: bob, start: WINDOW.end, end: WINDOW.start }, 'end'],
      [{ fromProviderId: alice, toProviderId: bob, start: '2026-10-29', end: WINDOW.end }, 'start'],
    ];
    for (const [body, field] of cases) {
      const res = await send('POST', path, admin, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.message as string).toMatch(new RegExp(`^${field}: `));
    }
    expect((await send('POST', '/api/oncall/swaps/not-a-uuid/accept', admin)).body).toEqual({ error: 'bad_request', message: 'id must be a UUID' });
    expect((await send('GET', `${path}?state=maybe`, admin)).body.message).toMatch(/^state: /);
  });
});

describe('a provider signed in as themselves', () => {
  /** A person whose account is `providerId`, signed in to the clinic with the provider role. */
  async function signedInAs(providerId: string, email: string): Promise<{ cookie: string; csrf: string }> {
    const userId = await insertAccount(h, { email, displayName: 'A provider person', memberships: [{ practiceId: clinic.id, role: 'provider' }] });
    await h.services.db.updateTable('providers').set({ user_id: userId }).where('id', '=', providerId).execute();
    const started = await startSessionForVerifiedIdentity(h.services, { userId, practiceId: clinic.id, method: 'test' });
    if (!started) throw new Error('no session');
    return { cookie: started.id, csrf: started.record.csrf };
  }

  it('asks to hand only their own shift; the provider asked accepts, another provider may not', async () => {
    const aliceSession = await signedInAs(alice, 'alice.swap@example.org');
    const bobSession = await signedInAs(bob, 'bob.swap@example.org');
    const path = `/api/oncall/schedules/${scheduleId}/swaps`;
    const notHers = await consoleCall(h, 'POST', path, { ...bobSession, body: { fromProviderId: alice, toProviderId: carol, ...WINDOW } });
    expect(notHers.status).toBe(403);
    const asked = await consoleCall(h, 'POST', path, { ...aliceSession, body: { fromProviderId: alice, toProviderId: bob, ...WINDOW } });
    expect(asked.status).toBe(201);
    const id = asked.body.id as string;
    // Alice asked; she is not the provider asked, so she may cancel but not accept.
    expect((await consoleCall(h, 'POST', `/api/oncall/swaps/${id}/accept`, aliceSession)).status).toBe(403);
    const accepted = await consoleCall(h, 'POST', `/api/oncall/swaps/${id}/accept`, bobSession);
    expect(accepted.status).toBe(200);
    expect(accepted.body.swap).toMatchObject({ state: 'accepted', requestedBy: asked.body.requestedBy, decidedBy: expect.stringMatching(/^user:/) });
  });
});

describe('decideSwap (pure)', () => {
  const pending = { state: 'pending' as const, toProviderId: 'p-to', requestedBy: 'user:asker' };
  it('lets the provider asked or an admin decide, the asker or an admin cancel; state after permission', () => {
    expect(decideSwap(pending, 'accept', { actor: 'user:to', role: 'provider', providerId: 'p-to' })).toEqual({ ok: true, state: 'accepted' });
    expect(decideSwap(pending, 'accept', { actor: 'user:x', role: 'provider', providerId: 'p-other' })).toEqual({ ok: false, reason: 'forbidden' });
    expect(decideSwap(pending, 'decline', { actor: 'api_key:a', role: 'admin', providerId: null })).toEqual({ ok: true, state: 'declined' });
    expect(decideSwap(pending, 'cancel', { actor: 'user:asker', role: 'provider', providerId: 'p-from' })).toEqual({ ok: true, state: 'cancelled' });
    expect(decideSwap(pending, 'cancel', { actor: 'user:asker', role: 'auditor', providerId: null })).toEqual({ ok: false, reason: 'forbidden' });
    expect(decideSwap({ ...pending, state: 'accepted' }, 'accept', { actor: 'user:to', role: 'provider', providerId: 'p-to' })).toEqual({ ok: false, reason: 'conflict' });
    expect(decideSwap({ ...pending, state: 'accepted' }, 'accept', { actor: 'user:x', role: 'staff', providerId: null })).toEqual({ ok: false, reason: 'forbidden' });
    expect(mayRequestSwap({ fromProviderId: 'p-from' }, { actor: 'user:me', role: 'provider', providerId: 'p-from' })).toBe(true);
    expect(mayRequestSwap({ fromProviderId: 'p-from' }, { actor: 'user:me', role: 'provider', providerId: 'p-else' })).toBe(false);
  });
});
