import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createApiKey } from '../src/auth/api-keys.js';
import { captureLogs } from '../src/log/logger.js';
import { createPractice, type Practice } from '../src/practices/store.js';
import { decideSwap, holdsWindow, mayRequestSwap } from '../src/oncall/swaps.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, type Harness } from './support/harness.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { consoleCall, insertAccount } from './support/staff-session.js';
import { startSessionForVerifiedIdentity } from '../src/auth/accounts.js';

/**
 * Swap requests (issue 14): asked, accepted (the override made, who is on call changes for the
 * window), a second accept refused, declined, cancelled, another practice's swap not found, bad
 * input named; a window the from-provider does not hold, an inactive provider and an ended window
 * refused. Against the real service, PostgreSQL and Redis, in schema t_oncall_swaps.
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

// Thursday 17:00 to Friday 08:00, New York: Alice's (the rotation's only member) until a swap is accepted.
const WINDOW = { start: '2026-10-29T17:00:00-04:00', end: '2026-10-30T08:00:00-04:00' };
/** The night from 17:00 on `day` (November 2026, New York, EST; 10 to 27) to 08:00 the next day: each test that asks for a swap takes its own. */
const night = (day: number): { start: string; end: string } => ({ start: `2026-11-${day}T17:00:00-05:00`, end: `2026-11-${day + 1}T08:00:00-05:00` });

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

async function request(key = admin, to = bob, window = WINDOW): Promise<Body> {
  const res = await send('POST', `/api/oncall/schedules/${scheduleId}/swaps`, key, { fromProviderId: alice, toProviderId: to, ...window });
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
    // The SMS is held in flight: the swap is answered and audited without waiting for it.
    const held = double.holdNextMessage(`schedule=${scheduleId}`);
    const swap = await request();
    expect(await auditOf(swap.id as string)).toHaveLength(1);
    held.release();
    expect(swap).toMatchObject({ scheduleId, fromProviderId: alice, toProviderId: bob, state: 'pending', decidedBy: null, overrideId: null, start: '2026-10-29T21:00:00.000Z', end: '2026-10-30T12:00:00.000Z' });
    const list = await send('GET', `/api/oncall/schedules/${scheduleId}/swaps?state=pending`, auditor);
    expect(list.status).toBe(200);
    expect((list.body.swaps as Body[]).map((s) => s.id)).toContain(swap.id);
    const rows = await auditOf(swap.id as string);
    expect(rows).toEqual([{ action: 'oncall.swap_requested', actor: expect.stringMatching(/^api_key:/), details: { scheduleId, fromProviderId: alice, toProviderId: bob } }]);
    // The SMS to Bob (sent after the answer) names the schedule by id: no provider's name, no window, no number but the link.
    const sms = await vi.waitFor(() => {
      const sent = smsSent().filter((m) => m.to === '+12025550262');
      expect(sent).toHaveLength(1);
      return sent;
    });
    expect(sms).toEqual([{ to: '+12025550262', body: `Swapside Family Medicine: a swap request waits for you. https://ahl.example.test:8443/console/on-call?schedule=${scheduleId}` }]);
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

  it("refuses a window the from-provider does not hold in full on that schedule, an admin's ask too (an override is the way)", async () => {
    const path = `/api/oncall/schedules/${scheduleId}/swaps`;
    const notOnCall = 'fromProviderId: that provider is not on call for the whole window on this schedule';
    // Carol is on no shift of this schedule.
    expect(await send('POST', path, admin, { fromProviderId: carol, toProviderId: bob, ...night(24) })).toEqual({ status: 400, body: { error: 'bad_request', message: notOnCall } });
    expect(await send('POST', path, staff, { fromProviderId: carol, toProviderId: alice, ...night(24) })).toEqual({ status: 400, body: { error: 'bad_request', message: notOnCall } });
    // Bob holds the night of the 29th by the accepted swap above: Alice holds only part of a window around it, and not that night.
    expect(await send('POST', path, admin, { fromProviderId: alice, toProviderId: carol, start: '2026-10-29T12:00:00-04:00', end: '2026-10-30T12:00:00-04:00' })).toEqual({ status: 400, body: { error: 'bad_request', message: notOnCall } });
    expect(await send('POST', path, admin, { fromProviderId: alice, toProviderId: carol, ...WINDOW })).toEqual({ status: 400, body: { error: 'bad_request', message: notOnCall } });
    // Time before the rotation's first hand-off belongs to nobody.
    expect(await send('POST', path, admin, { fromProviderId: alice, toProviderId: bob, start: '2026-09-30T17:00:00-04:00', end: '2026-10-01T12:00:00-04:00' })).toMatchObject({ status: 400 });
    // Bob may hand the night he now holds.
    const his = await send('POST', path, admin, { fromProviderId: bob, toProviderId: carol, ...WINDOW });
    expect(his.status, JSON.stringify(his.body)).toBe(201);
  });

  it('refuses an inactive provider on either side with a 400 naming the field', async () => {
    const made = await send('POST', '/api/oncall/providers', admin, { displayName: 'Dr. Dan Swapworth', phone: '+12025550264' });
    expect(made.status).toBe(201);
    const dan = made.body.id as string;
    expect((await send('PATCH', `/api/oncall/providers/${dan}`, admin, { active: false })).status).toBe(200);
    const path = `/api/oncall/schedules/${scheduleId}/swaps`;
    expect(await send('POST', path, admin, { fromProviderId: alice, toProviderId: dan, ...night(25) })).toEqual({ status: 400, body: { error: 'bad_request', message: 'toProviderId: that provider is inactive' } });
    expect(await send('POST', path, admin, { fromProviderId: dan, toProviderId: bob, ...night(25) })).toEqual({ status: 400, body: { error: 'bad_request', message: 'fromProviderId: that provider is inactive' } });
  });

  it('a window that has ended: refused when asked (400 on end), and an accept after it ended is 409 with no override', async () => {
    const path = `/api/oncall/schedules/${scheduleId}/swaps`;
    // The night of 26 October ended at 08:00 on the 27th; now is the 28th.
    expect(await send('POST', path, admin, { fromProviderId: alice, toProviderId: bob, start: '2026-10-26T17:00:00-04:00', end: '2026-10-27T08:00:00-04:00' })).toEqual({ status: 400, body: { error: 'bad_request', message: 'end: the window has passed' } });
    // The night of 27 October ends at 12:00Z on the 28th, an hour from now: asked, then accepted too late.
    const swap = await request(admin, carol, { start: '2026-10-27T17:00:00-04:00', end: '2026-10-28T08:00:00-04:00' });
    now = new Date('2026-10-28T12:00:00Z');
    try {
      const late = await send('POST', `/api/oncall/swaps/${swap.id as string}/accept`, admin);
      expect(late).toEqual({ status: 409, body: { error: 'conflict', message: 'the window has passed' } });
    } finally {
      now = new Date('2026-10-28T11:00:00Z');
    }
    const row = await h.services.db.selectFrom('oncall_swaps').select(['state', 'override_id']).where('id', '=', swap.id as string).executeTakeFirstOrThrow();
    expect(row).toEqual({ state: 'pending', override_id: null });
  });

  it('two accepts at once: one override, one 200 and one 409', async () => {
    const swap = await request(admin, carol, night(20));
    const both = await Promise.all([1, 2].map(() => send('POST', `/api/oncall/swaps/${swap.id as string}/accept`, admin)));
    expect(both.map((r) => r.status).sort()).toEqual([200, 409]);
    const made = await h.services.db.selectFrom('oncall_overrides').select('id').where('schedule_id', '=', scheduleId).where('provider_id', '=', carol).execute();
    expect(made).toHaveLength(1);
  });

  it("an accept after the window changed hands (an admin's override since the ask) is 409, and the newer override stands", async () => {
    const swap = await request(admin, bob, night(18));
    const theirs = await send('POST', `/api/oncall/schedules/${scheduleId}/overrides`, admin, { providerId: carol, ...night(18) });
    expect(theirs.status, JSON.stringify(theirs.body)).toBe(201);
    const late = await send('POST', `/api/oncall/swaps/${swap.id as string}/accept`, admin);
    expect(late.status).toBe(409);
    expect(late.body.message).toMatch(/no longer on call for the provider who asked/);
    const row = await h.services.db.selectFrom('oncall_swaps').select(['state', 'override_id']).where('id', '=', swap.id as string).executeTakeFirstOrThrow();
    expect(row).toEqual({ state: 'pending', override_id: null });
    expect(await onCallAt('2026-11-19T02:00:00Z')).toMatchObject({ providerId: carol, layer: 'override' });
  });

  it('declines: no override, then nothing more can be decided', async () => {
    const swap = await request(admin, bob, night(22));
    const declined = await send('POST', `/api/oncall/swaps/${swap.id as string}/decline`, admin);
    expect(declined.status).toBe(200);
    expect(declined.body.swap).toMatchObject({ state: 'declined', overrideId: null });
    expect(declined.body.override).toBeUndefined();
    expect((await send('POST', `/api/oncall/swaps/${swap.id as string}/accept`, admin)).status).toBe(409);
    expect((await send('POST', `/api/oncall/swaps/${swap.id as string}/cancel`, admin)).status).toBe(409);
    expect((await auditOf(swap.id as string)).map((r) => r.action)).toEqual(['oncall.swap_requested', 'oncall.swap_declined']);
  });

  it('cancels: the requester may, another non-admin may not; staff may not accept', async () => {
    const swap = await request(staff, bob, night(23));
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
    // Bob asks to hand a night of his own name that Alice holds: refused, naming the field.
    const notHis = await consoleCall(h, 'POST', path, { ...bobSession, body: { fromProviderId: bob, toProviderId: carol, ...night(21) } });
    expect(notHis).toMatchObject({ status: 400, body: { message: 'fromProviderId: that provider is not on call for the whole window on this schedule' } });
    const asked = await consoleCall(h, 'POST', path, { ...aliceSession, body: { fromProviderId: alice, toProviderId: bob, ...night(21) } });
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

describe('holdsWindow (pure)', () => {
  const at = (h: number): Date => new Date(Date.UTC(2026, 10, 10, h));
  it('is true only when the entries give the provider every part of the window, with no gap', () => {
    expect(holdsWindow([{ providerId: 'a', start: at(1), end: at(3) }, { providerId: 'a', start: at(3), end: at(5) }], 'a', at(1), at(5))).toBe(true);
    expect(holdsWindow([{ providerId: 'a', start: at(1), end: at(3) }, { providerId: 'b', start: at(3), end: at(5) }], 'a', at(1), at(5))).toBe(false);
    expect(holdsWindow([{ providerId: 'a', start: at(1), end: at(2) }, { providerId: 'a', start: at(3), end: at(5) }], 'a', at(1), at(5))).toBe(false);
    expect(holdsWindow([{ providerId: 'a', start: at(2), end: at(5) }], 'a', at(1), at(5))).toBe(false);
    expect(holdsWindow([{ providerId: 'a', start: at(1), end: at(4) }], 'a', at(1), at(5))).toBe(false);
    expect(holdsWindow([], 'a', at(1), at(5))).toBe(false);
  });
});
