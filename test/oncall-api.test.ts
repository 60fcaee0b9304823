import express from 'express';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { createPractice, type Practice } from '../src/practices/store.js';
import { pinHash } from '../src/patients/store.js';
import { getDefaultPolicy, getProvider, listPolicies, listPracticeAdmins, listProviders, loadSchedule, updateProvider } from '../src/oncall/store.js';
import { tenantScope } from '../src/tenancy/mint.js';
import type { PracticeScope } from '../src/tenancy/scope.js';
import { systemScope } from '../src/tenancy/system-scope.js';
import { FEED_PATH, oncallFeedRouter } from '../src/http/oncall-routes.js';
import { listen } from '../src/http/server.js';
import { heard } from '../devtools/simulator/simulator.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { asOwner, startHarness, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { simulatorFor } from './support/simulate.js';

let h: Harness;
let clinic: Practice;
let other: Practice;
let admin: string;
let staff: string;
let provider: string;
let otherAdmin: string;
// The harness reads this on every call, so a test moves time by assigning it.
let now = new Date('2026-10-28T11:00:00Z'); // Wednesday 07:00 in New York (EDT)

type Body = Record<string, unknown>;
let alice: string;
let bob: string;
let carol: string;
let dan: string;
let scheduleId: string;

beforeAll(async () => {
  // A practice of our own, not the demo seed, so nothing here depends on what the seed contains.
  h = await startHarness('oncall_api', { SEED_DEMO: 'false' }, { clock: () => now });
  clinic = await createPractice(h.services.db, { slug: 'lakeside', name: 'Lakeside Pediatrics', timeZone: 'America/New_York', numbers: ['+12025550180'] });
  other = await createPractice(h.services.db, { slug: 'other', name: 'Other Clinic', timeZone: 'America/Chicago', numbers: ['+13125550100'] });
  admin = (await createApiKey(h.services.db, { role: 'admin', practiceId: clinic.id })).key;
  staff = (await createApiKey(h.services.db, { role: 'staff', practiceId: clinic.id })).key;
  provider = (await createApiKey(h.services.db, { role: 'provider', practiceId: clinic.id })).key;
  otherAdmin = (await createApiKey(h.services.db, { role: 'admin', practiceId: other.id })).key;
});
afterAll(async () => {
  await h.close();
});

function send(method: string, path: string, key: string, body?: unknown): Promise<ApiAnswer> {
  return callApi(h, method, path, key, body);
}

async function auditFor(subjectId: string): Promise<Array<{ action: string; details: Body }>> {
  return h.services.db
    .selectFrom('audit_log')
    .select(['action', 'details'])
    .where('subject_id', '=', subjectId)
    .where('action', 'like', 'admin.%')
    .orderBy('seq')
    .execute();
}

async function createProvider(displayName: string, phone: string, extra: Body = {}): Promise<string> {
  const res = await send('POST', '/api/oncall/providers', admin, { displayName, phone, ...extra });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

function onlyOnCall(body: Body): Body {
  const list = body.onCall as Body[];
  expect(list).toHaveLength(1);
  return list[0] as Body;
}

describe('on-call schedules through the admin API', () => {
  it('creates providers and a daily New York schedule with an 08:00 hand-off, audited', async () => {
    alice = await createProvider('Dr. Alice', '+12025550161', { isPracticeAdmin: true });
    bob = await createProvider('Dr. Bob', '+12025550162', { smsPhone: '+12025550172' });
    carol = await createProvider('Dr. Carol', '+12025550163');
    dan = await createProvider('Dr. Dan', '+12025550164');

    const res = await send('POST', '/api/oncall/schedules', admin, {
      name: 'Nights',
      timeZone: 'America/New_York',
      rotation: { members: [alice, bob], length: 'daily', handoffTime: '08:00', startDate: '2026-10-26' },
    });
    expect(res.status).toBe(201);
    scheduleId = res.body.id as string;
    expect(res.body).toMatchObject({ name: 'Nights', timeZone: 'America/New_York', practiceId: clinic.id });

    const list = await send('GET', '/api/oncall/providers', staff);
    expect((list.body.providers as Body[]).map((p) => p.displayName)).toEqual(['Dr. Alice', 'Dr. Bob', 'Dr. Carol', 'Dr. Dan']);
    expect((await listPracticeAdmins(h.services.db, clinic.id)).map((p) => p.id)).toEqual([alice]);

    expect(await auditFor(bob)).toEqual([{ action: 'admin.provider_changed', details: { change: 'created', fields: ['displayName', 'phone', 'smsPhone'] } }]);
    expect(await auditFor(scheduleId)).toEqual([{ action: 'admin.schedule_changed', details: { change: 'created', fields: ['name', 'rotation', 'timeZone'] } }]);

    const patched = await send('PATCH', `/api/oncall/providers/${dan}`, admin, { active: false });
    expect(patched.body.active).toBe(false);
    expect((await auditFor(dan)).at(-1)).toEqual({ action: 'admin.provider_changed', details: { change: 'updated', fields: ['active'] } });
  });

  it('says who is on call now, and someone else after the hand-off', async () => {
    now = new Date('2026-10-28T11:00:00Z'); // 07:00 EDT: still the shift that began Tuesday 08:00
    const before = await send('GET', `/api/oncall/now?scheduleId=${scheduleId}`, provider);
    expect(before.status).toBe(200);
    expect(onlyOnCall(before.body)).toEqual({
      scheduleId,
      name: 'Nights',
      providerId: bob,
      providerName: 'Dr. Bob',
      layer: 'rotation',
      shiftStart: '2026-10-27T12:00:00.000Z',
      shiftEnd: '2026-10-28T12:00:00.000Z',
    });

    now = new Date('2026-10-28T12:30:00Z'); // 08:30 EDT
    const after = await send('GET', '/api/oncall/now', staff);
    expect(onlyOnCall(after.body)).toMatchObject({ providerId: alice, providerName: 'Dr. Alice', layer: 'rotation', shiftStart: '2026-10-28T12:00:00.000Z' });
  });

  it('an override puts someone else on call; an overlapping one wins as the latest created and says which it shadows', async () => {
    now = new Date('2026-10-28T15:00:00Z');
    const first = await send('POST', `/api/oncall/schedules/${scheduleId}/overrides`, admin, {
      providerId: carol,
      start: '2026-10-28T14:00:00Z',
      end: '2026-10-28T20:00:00Z',
    });
    expect(first.status).toBe(201);
    expect(first.body.resolution).toBeUndefined();
    const firstId = (first.body.override as Body).id as string;

    const during = await send('GET', '/api/oncall/now', admin);
    expect(onlyOnCall(during.body)).toEqual({
      scheduleId,
      name: 'Nights',
      providerId: carol,
      providerName: 'Dr. Carol',
      layer: 'override',
      overrideId: firstId,
      shiftStart: '2026-10-28T14:00:00.000Z',
      shiftEnd: '2026-10-28T20:00:00.000Z',
    });

    const second = await send('POST', `/api/oncall/schedules/${scheduleId}/overrides`, admin, {
      providerId: bob,
      start: '2026-10-28T18:00:00Z',
      end: '2026-10-28T22:00:00Z',
    });
    expect(second.status).toBe(201);
    const secondId = (second.body.override as Body).id as string;
    expect(second.body.resolution).toMatchObject({ rule: 'latest-created wins', shadows: [firstId] });

    now = new Date('2026-10-28T19:00:00Z');
    expect(onlyOnCall((await send('GET', '/api/oncall/now', admin)).body)).toMatchObject({ providerId: bob, layer: 'override', overrideId: secondId });

    expect(await auditFor(secondId)).toEqual([
      { action: 'admin.override_changed', details: { change: 'created', scheduleId, providerId: bob, shadows: [firstId] } },
    ]);

    // Deleting the later one hands the overlap back to the first.
    expect((await send('DELETE', `/api/oncall/schedules/${scheduleId}/overrides/${secondId}`, admin)).status).toBe(204);
    expect(onlyOnCall((await send('GET', '/api/oncall/now', admin)).body)).toMatchObject({ providerId: carol, overrideId: firstId });
    expect((await auditFor(secondId)).at(-1)).toEqual({ action: 'admin.override_changed', details: { change: 'deleted', scheduleId } });
    expect((await send('DELETE', `/api/oncall/schedules/${scheduleId}/overrides/${secondId}`, admin)).status).toBe(404);

    const schedule = await loadSchedule(tenantScope(h.services, clinic.id), scheduleId);
    expect(schedule?.overrides.map((o) => o.id)).toEqual([firstId]);
    expect(await loadSchedule(tenantScope(h.services, other.id), scheduleId)).toBeNull();
  });

  it('keeps the hand-off at 08:00 local across the end of DST (12:00Z, then 13:00Z)', async () => {
    const res = await send('GET', `/api/oncall/shifts?scheduleId=${scheduleId}&from=2026-10-31T00:00:00Z&to=2026-11-03T00:00:00Z`, provider);
    expect(res.status).toBe(200);
    const list = (res.body.shifts as Body[]).map((s) => [s.providerName, s.layer, s.start, s.end]);
    expect(list).toEqual([
      ['Dr. Alice', 'rotation', '2026-10-31T00:00:00.000Z', '2026-10-31T12:00:00.000Z'],
      ['Dr. Bob', 'rotation', '2026-10-31T12:00:00.000Z', '2026-11-01T13:00:00.000Z'], // 25 hours
      ['Dr. Alice', 'rotation', '2026-11-01T13:00:00.000Z', '2026-11-02T13:00:00.000Z'],
      ['Dr. Bob', 'rotation', '2026-11-02T13:00:00.000Z', '2026-11-03T00:00:00.000Z'],
    ]);
  });

  it('refuses a shifts window that is missing, reversed or longer than 62 days', async () => {
    const long = await send('GET', '/api/oncall/shifts?from=2026-11-01T00:00:00Z&to=2027-01-03T00:00:00Z', admin);
    expect(long.status).toBe(400);
    expect(long.body.message).toBe('to: at most 62 days after from');
    const reversed = await send('GET', '/api/oncall/shifts?from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z', admin);
    expect(reversed.body.message).toBe('to: must be after from');
    const missing = await send('GET', '/api/oncall/shifts?from=yesterday', admin);
    expect(missing.status).toBe(400);
    expect(missing.body.message).toMatch(/^from: expected an ISO 8601 date-time.*; to: required/);
    expect(missing.body.message).not.toContain('yesterday');
  });

  it('serves a provider ICS feed: text/calendar, one VEVENT per shift over the next 60 days, no phone numbers, audited', async () => {
    now = new Date('2026-10-28T19:00:00Z');
    const res = await fetch(`${h.baseUrl}/api/oncall/providers/${alice}/shifts.ics`, { headers: { authorization: `Bearer ${provider}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/calendar/);
    const ics = await res.text();
    expect(ics.startsWith('BEGIN:VCALENDAR\r\n')).toBe(true);

    const to = new Date(now.getTime() + 60 * 86_400_000).toISOString();
    const expected = await send('GET', `/api/oncall/shifts?scheduleId=${scheduleId}&from=${now.toISOString()}&to=${to}`, admin);
    const alices = (expected.body.shifts as Body[]).filter((s) => s.providerId === alice);
    expect(alices.length).toBeGreaterThan(25);
    expect(ics.match(/BEGIN:VEVENT/g)).toHaveLength(alices.length);
    // Today's shift before Carol's override (12:00Z–14:00Z) is over; the rest of it, after the override, is not.
    expect(ics).not.toContain('DTSTART:20261028T120000Z');
    expect(ics).toContain('DTSTART:20261028T200000Z\r\nDTEND:20261029T120000Z');
    expect(ics).toContain('DTSTART:20261101T130000Z\r\nDTEND:20261102T130000Z');
    expect(ics).toContain('SUMMARY:On call: Lakeside Pediatrics — Nights');
    expect(ics).not.toMatch(/\+1202555/);
    expect(ics).not.toContain('Alice');

    const feedRead = await h.services.db
      .selectFrom('audit_log')
      .select(['action', 'details'])
      .where('subject_id', '=', alice)
      .where('action', '=', 'oncall.feed_read')
      .execute();
    expect(feedRead).toEqual([{ action: 'oncall.feed_read', details: { events: alices.length, days: 60 } }]);
  });

  it('refuses bad input with the field named', async () => {
    const zone = await send('POST', '/api/oncall/schedules', admin, {
      name: 'Days',
      timeZone: 'Mars/Olympus',
      rotation: { members: [alice], length: 'daily', handoffTime: '08:00', startDate: '2026-10-26' },
    });
    expect(zone.status).toBe(400);
    expect(zone.body.message).toBe('timeZone: expected an IANA time zone such as America/New_York');

    const weekly = await send('POST', '/api/oncall/schedules', admin, {
      name: 'Weekly',
      timeZone: 'America/New_York',
      rotation: { members: [alice], length: 'weekly', handoffTime: '08:00', startDate: '2026-10-26' },
    });
    expect(weekly.status).toBe(400);
    expect(weekly.body.message).toBe('rotation.handoffWeekday: required when length is weekly');

    const otherProvider = (await send('POST', '/api/oncall/providers', otherAdmin, { displayName: 'Dr. Elsewhere', phone: '+13125550161' })).body.id as string;
    const foreignMember = await send('PATCH', `/api/oncall/schedules/${scheduleId}`, admin, {
      rotation: { members: [alice, otherProvider], length: 'daily', handoffTime: '08:00', startDate: '2026-10-26' },
    });
    expect(foreignMember.status).toBe(400);
    expect(foreignMember.body.message).toBe('rotation.members.1: no such provider in this practice');

    const emptyPatch = await send('PATCH', `/api/oncall/providers/${dan}`, admin, {});
    expect(emptyPatch.status).toBe(400);
    expect(emptyPatch.body.message).toBe('nothing to change');

    const ring = await send('POST', '/api/oncall/policies', admin, { name: 'Urgent', tiers: [{ target: { kind: 'schedule', scheduleId }, ringSeconds: 5 }] });
    expect(ring.status).toBe(400);
    expect(ring.body.message).toBe('tiers.0.ringSeconds: at least 10 seconds');

    const foreignTier = await send('POST', '/api/oncall/policies', admin, {
      name: 'Urgent',
      tiers: [
        { target: { kind: 'schedule', scheduleId }, ringSeconds: 20 },
        { target: { kind: 'provider', providerId: otherProvider }, ringSeconds: 20 },
      ],
    });
    expect(foreignTier.status).toBe(400);
    expect(foreignTier.body.message).toBe('tiers.1.target.providerId: no such provider in this practice');

    const foreignOverride = await send('POST', `/api/oncall/schedules/${scheduleId}/overrides`, admin, {
      providerId: otherProvider,
      start: '2026-11-05T00:00:00Z',
      end: '2026-11-06T00:00:00Z',
    });
    expect(foreignOverride.status).toBe(400);
    expect(foreignOverride.body.message).toBe('providerId: no such provider in this practice');

    const badPhone = await send('POST', '/api/oncall/providers', admin, { displayName: 'X', phone: '555-0100' });
    expect(badPhone.body.message).toBe('phone: expected an E.164 number such as +12025550100');
    expect(badPhone.body.message).not.toContain('555-0100');

    const interval = await send('POST', '/api/oncall/policies', admin, { name: 'P', tiers: [{ target: { kind: 'schedule', scheduleId }, ringSeconds: 20 }], pageIntervalMinutes: 0 });
    expect(interval.body.message).toBe('pageIntervalMinutes: expected a whole number of minutes, 1 to 120');
  });

  it('policies: minutes are stored as seconds, and making one the default clears the other', async () => {
    const first = await send('POST', '/api/oncall/policies', admin, {
      name: 'Primary',
      tiers: [
        { target: { kind: 'schedule', scheduleId }, ringSeconds: 25 },
        { target: { kind: 'provider', providerId: alice }, ringSeconds: 20 },
      ],
      repeat: 1,
      pageIntervalMinutes: 15,
      isDefault: true,
    });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ pageIntervalMinutes: 15, pageMaxRepeats: 3, repeat: 1, isDefault: true });
    const firstId = first.body.id as string;
    const stored = await h.services.db.selectFrom('escalation_policies').select('page_interval_seconds').where('id', '=', firstId).executeTakeFirstOrThrow();
    expect(stored.page_interval_seconds).toBe(900);

    const second = await send('POST', '/api/oncall/policies', admin, { name: 'Backup', tiers: [{ target: { kind: 'provider', providerId: bob }, ringSeconds: 30 }] });
    expect(second.body.isDefault).toBe(false);
    const secondId = second.body.id as string;
    expect((await getDefaultPolicy(tenantScope(h.services, clinic.id)))?.id).toBe(firstId);

    const promoted = await send('PATCH', `/api/oncall/policies/${secondId}`, admin, { isDefault: true });
    expect(promoted.status).toBe(200);
    expect((await getDefaultPolicy(tenantScope(h.services, clinic.id)))?.id).toBe(secondId);
    expect((await send('GET', `/api/oncall/policies/${firstId}`, staff)).body.isDefault).toBe(false);
    expect((await auditFor(secondId)).at(-1)).toEqual({
      action: 'admin.policy_changed',
      details: { change: 'updated', fields: ['isDefault'], isDefault: true, clearedDefaultIds: [firstId] },
    });
    // The other practice keeps its own default (made with its first provider): untouched by the clinic's.
    expect(await getDefaultPolicy(tenantScope(h.services, other.id))).toMatchObject({ practiceId: other.id, name: 'Default', isDefault: true });
  });

  it('staff cannot write; another practice can neither read nor touch these rows', async () => {
    expect((await send('POST', '/api/oncall/providers', staff, { displayName: 'X', phone: '+12025550169' })).status).toBe(403);
    expect((await send('PATCH', `/api/oncall/schedules/${scheduleId}`, provider, { name: 'X' })).status).toBe(403);
    expect((await send('POST', '/api/oncall/policies', staff, { name: 'X', tiers: [] })).status).toBe(403);

    expect((await send('GET', `/api/oncall/schedules?practiceId=${clinic.id}`, otherAdmin)).status).toBe(403);
    expect((await send('GET', `/api/oncall/schedules/${scheduleId}`, otherAdmin)).status).toBe(404);
    expect((await send('GET', `/api/oncall/now?scheduleId=${scheduleId}`, otherAdmin)).status).toBe(404);
    expect((await send('GET', `/api/oncall/providers/${alice}/shifts.ics`, otherAdmin)).status).toBe(404);
    expect((await send('PATCH', `/api/oncall/providers/${alice}`, otherAdmin, { displayName: 'Hijacked' })).status).toBe(404);
    expect((await send('GET', '/api/oncall/providers', otherAdmin)).body.providers).toEqual([expect.objectContaining({ displayName: 'Dr. Elsewhere' })]);
    expect((await send('GET', `/api/oncall/providers/${alice}`, admin)).body.displayName).toBe('Dr. Alice');
    const forbidden = await h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'api.forbidden').orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow();
    expect(forbidden.details).toMatchObject({ reason: 'practice', targetPracticeId: clinic.id });
  });
});

describe('provider PINs, calendar feed tokens and schedule time zones', () => {
  const rotationOf = (member: string): Body => ({ members: [member], length: 'daily', handoffTime: '08:00', startDate: '2026-10-26' });

  it("a schedule without a time zone takes its practice's; an explicit one is kept", async () => {
    const plain = await send('POST', '/api/oncall/schedules', admin, { name: 'Weekend', rotation: rotationOf(alice) });
    expect(plain.status).toBe(201);
    expect(plain.body.timeZone).toBe('America/New_York');
    expect(await auditFor(plain.body.id as string)).toEqual([{ action: 'admin.schedule_changed', details: { change: 'created', fields: ['name', 'rotation'] } }]);

    const elsewhere = ((await send('GET', '/api/oncall/providers', otherAdmin)).body.providers as Body[])[0]?.id as string;
    const chicago = await send('POST', '/api/oncall/schedules', otherAdmin, { name: 'Chicago nights', rotation: rotationOf(elsewhere) });
    expect(chicago.body.timeZone).toBe('America/Chicago');

    const explicit = await send('POST', '/api/oncall/schedules', admin, { name: 'Denver desk', timeZone: 'America/Denver', rotation: rotationOf(alice) });
    expect(explicit.body.timeZone).toBe('America/Denver');
  });

  it('a provider PIN (4–8 digits) is stored only as the keyed hash the access line checks, never returned', async () => {
    const created = await send('POST', '/api/oncall/providers', admin, { displayName: 'Dr. Erin', phone: '+12025550165', pin: '482916' });
    expect(created.status).toBe(201);
    const erin = created.body.id as string;
    expect(created.body.hasPin).toBe(true);
    expect(JSON.stringify(created.body)).not.toContain('482916');
    expect(Object.keys(created.body)).not.toEqual(expect.arrayContaining(['pin']));
    expect(Object.keys(created.body)).not.toEqual(expect.arrayContaining(['pinHash']));
    const row = await h.services.db.selectFrom('providers').select('pin_hash').where('id', '=', erin).executeTakeFirstOrThrow();
    expect(row.pin_hash).toBe(pinHash(h.services.keyring, erin, '482916'));
    expect(await auditFor(erin)).toEqual([{ action: 'admin.provider_changed', details: { change: 'created', fields: ['displayName', 'phone', 'pin'] } }]);

    // The access line accepts it (and only it).
    const sim = simulatorFor(h, () => now);
    const wrong = await sim.placeCall({ from: '+12025550165', to: '+12025550180', incomingPath: '/twilio/voice/access', digits: ['111111#', null, null] });
    expect(heard(wrong)).toContain('That PIN was not accepted.');
    const right = await sim.placeCall({ from: '+12025550165', to: '+12025550180', incomingPath: '/twilio/voice/access', digits: ['482916#'] });
    expect(heard(right)).toContain('You have no new urgent voicemails.');

    // Changed, then cleared, through a patch.
    const changed = await send('PATCH', `/api/oncall/providers/${erin}`, admin, { pin: '2468' });
    expect(changed.body.hasPin).toBe(true);
    expect((await h.services.db.selectFrom('providers').select('pin_hash').where('id', '=', erin).executeTakeFirstOrThrow()).pin_hash).toBe(pinHash(h.services.keyring, erin, '2468'));
    expect((await auditFor(erin)).at(-1)).toEqual({ action: 'admin.provider_changed', details: { change: 'updated', fields: ['pin'] } });
    const cleared = await send('PATCH', `/api/oncall/providers/${erin}`, admin, { pin: null });
    expect(cleared.body.hasPin).toBe(false);
    expect((await h.services.db.selectFrom('providers').select('pin_hash').where('id', '=', erin).executeTakeFirstOrThrow()).pin_hash).toBeNull();

    // Refused, without the input echoed.
    for (const pin of ['12a4', '123', '123456789', 1234]) {
      const bad = await send('POST', '/api/oncall/providers', admin, { displayName: 'Dr. Bad', phone: '+12025550166', pin });
      expect(bad.status).toBe(400);
      expect(bad.body.message).toBe('pin: expected a PIN of 4 to 8 digits, as a string');
    }
    expect((await send('PATCH', `/api/oncall/providers/${erin}`, staff, { pin: '9999' })).status).toBe(403);
  });

  it('a per-provider calendar token (random, stored hashed, rotatable) opens the feed without an API key', async () => {
    now = new Date('2026-10-28T19:00:00Z');
    // Production mounts the token feed outside /api; here it gets a server of its own.
    const feeds = await listen(express().use(oncallFeedRouter(h.services)), 0, '127.0.0.1');
    const feed = (token: string): Promise<Response> => fetch(`http://127.0.0.1:${feeds.port}${FEED_PATH}?token=${encodeURIComponent(token)}`);
    try {
      const issued = await send('POST', `/api/oncall/providers/${alice}/feed-token`, admin);
      expect(issued.status).toBe(201);
      const token = issued.body.token as string;
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(issued.body.url).toBe(`${TEST_PUBLIC_BASE_URL}${FEED_PATH}?token=${token}`);
      const stored = await h.services.db.selectFrom('providers').select(['feed_token_hash']).where('id', '=', alice).executeTakeFirstOrThrow();
      expect(stored.feed_token_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(stored.feed_token_hash).not.toContain(token);
      expect((await send('GET', `/api/oncall/providers/${alice}`, admin)).body).not.toHaveProperty('feedTokenHash');

      const ok = await feed(token);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toMatch(/^text\/calendar/);
      const ics = await ok.text();
      // The same calendar as the API-key route, which still works.
      const viaKey = await fetch(`${h.baseUrl}/api/oncall/providers/${alice}/shifts.ics`, { headers: { authorization: `Bearer ${provider}` } });
      expect(viaKey.status).toBe(200);
      expect(await viaKey.text()).toBe(ics);
      const read = await h.services.db.selectFrom('audit_log').select(['actor', 'details']).where('action', '=', 'oncall.feed_read').where('subject_id', '=', alice).orderBy('seq', 'desc').limit(2).execute();
      expect(read.map((r) => r.actor)).toEqual([expect.stringMatching(/^api_key:/), `feed_token:${alice}`]);

      // Rotating replaces the token: the old one stops working.
      const rotated = await send('POST', `/api/oncall/providers/${alice}/feed-token`, admin);
      const second = rotated.body.token as string;
      expect(second).not.toBe(token);
      expect((await feed(token)).status).toBe(404);
      expect((await feed(second)).status).toBe(200);
      // Revoked: nothing opens it.
      expect((await send('DELETE', `/api/oncall/providers/${alice}/feed-token`, admin)).status).toBe(204);
      expect((await feed(second)).status).toBe(404);
      expect((await feed('not-a-token')).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${feeds.port}${FEED_PATH}`)).status).toBe(404);
      const rejected = await h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'api.auth_rejected').orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow();
      expect(rejected.details).toMatchObject({ route: FEED_PATH, reason: 'missing_feed_token' });
      expect(JSON.stringify(rejected.details)).not.toContain(second);

      // Only admins of the provider's practice issue tokens.
      expect((await send('POST', `/api/oncall/providers/${alice}/feed-token`, staff)).status).toBe(403);
      expect((await send('POST', `/api/oncall/providers/${alice}/feed-token`, otherAdmin)).status).toBe(404);
    } finally {
      await feeds.drain(1_000);
    }
  });
});

describe('the on-call API runs as the practice, under row-level security', () => {
  /** The on-call tables, as the service's system role (`ahl_system`, services.db) would reach them. */
  const ONCALL_TABLES = ['providers', 'oncall_schedules', 'oncall_overrides', 'escalation_policies'];
  const grant = (verb: 'GRANT' | 'REVOKE') =>
    ONCALL_TABLES.map((t) => sql`${sql.raw(verb)} SELECT, INSERT, UPDATE, DELETE ON ${sql.id(t)} ${sql.raw(verb === 'GRANT' ? 'TO' : 'FROM')} ahl_system`);

  it('with the system role shut out of the on-call tables, every on-call route still answers: each runs on its tenant scope', async () => {
    await asOwner(h.services.db, ...grant('REVOKE'));
    try {
      // The shut-out is real: the system pool can no longer read them.
      await expect(h.services.db.selectFrom('providers').select('id').execute()).rejects.toThrow(/permission denied/);

      const providers = await send('GET', '/api/oncall/providers', staff);
      expect(providers.status).toBe(200);
      expect((providers.body.providers as Body[]).map((p) => p.id)).toContain(alice);
      const created = await send('POST', '/api/oncall/providers', admin, { displayName: 'Dr. Tenant', phone: '+12025550168' });
      expect(created.status).toBe(201);
      expect((await send('PATCH', `/api/oncall/providers/${created.body.id as string}`, admin, { active: false })).status).toBe(200);
      expect((await send('GET', `/api/oncall/providers/${alice}`, staff)).status).toBe(200);
      const ics = await fetch(`${h.baseUrl}/api/oncall/providers/${alice}/shifts.ics`, { headers: { authorization: `Bearer ${staff}` } });
      expect(ics.status).toBe(200);
      expect(await ics.text()).toContain('BEGIN:VEVENT');
      expect((await send('GET', '/api/oncall/schedules', staff)).status).toBe(200);
      expect((await send('GET', `/api/oncall/schedules/${scheduleId}`, staff)).status).toBe(200);
      expect((await send('PATCH', `/api/oncall/schedules/${scheduleId}`, admin, { name: 'Nights' })).status).toBe(200);
      const override = await send('POST', `/api/oncall/schedules/${scheduleId}/overrides`, admin, { providerId: bob, start: '2027-01-04T00:00:00Z', end: '2027-01-05T00:00:00Z' });
      expect(override.status).toBe(201);
      const overrideId = (override.body.override as Body).id as string;
      expect((await send('DELETE', `/api/oncall/schedules/${scheduleId}/overrides/${overrideId}`, admin)).status).toBe(204);
      expect((await send('GET', '/api/oncall/policies', staff)).status).toBe(200);
      expect((await send('GET', '/api/oncall/now', staff)).status).toBe(200);
      expect((await send('GET', `/api/oncall/shifts?from=2026-11-01T00:00:00Z&to=2026-11-03T00:00:00Z`, staff)).status).toBe(200);
      const policy = await send('POST', '/api/oncall/policies', admin, { name: 'Tenant tier', tiers: [{ target: { kind: 'schedule', scheduleId }, ringSeconds: 20 }] });
      expect(policy.status).toBe(201);
      expect((await send('PATCH', `/api/oncall/policies/${policy.body.id as string}`, admin, { name: 'Tenant tier 2' })).status).toBe(200);
    } finally {
      await asOwner(h.services.db, ...grant('GRANT'));
    }
  });

  it("a store call reaches its scope's practice only, even when its query names another", async () => {
    const [elsewhere] = await listProviders(systemScope(h.services, other.id));
    if (!elsewhere) throw new Error('the other practice has no provider');
    // The clinic's tenant connection, with the other practice's id in the queries: PostgreSQL shows nothing of it.
    const crossed = { ...tenantScope(h.services, clinic.id), practiceId: other.id } as PracticeScope;
    expect(await listProviders(crossed)).toEqual([]);
    expect(await getProvider(crossed, elsewhere.id)).toBeNull();
    expect(await updateProvider(crossed, elsewhere.id, { displayName: 'Hijacked' })).toBeNull();
    expect(await listPolicies(crossed)).toEqual([]);
    expect((await getProvider(systemScope(h.services, other.id), elsewhere.id))?.displayName).toBe(elsewhere.displayName);
    // And the scope's own practice only, through the explicit filter, with the practice the connection names.
    expect((await listProviders(tenantScope(h.services, other.id))).map((p) => p.id)).toEqual([elsewhere.id]);
  });
});
