import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { createPractice, type Practice } from '../src/practices/store.js';
import { heard } from '../devtools/simulator/simulator.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { startHarness, type Harness } from './support/harness.js';
import { simulatorFor } from './support/simulate.js';

let h: Harness;
let demo: Practice;
let other: Practice;
let admin: string;
let staff: string;
let otherAdmin: string;
// Wednesday 2026-11-25 22:00 in New York: closed on the default hours.
const now = new Date('2026-11-26T03:00:00Z');

beforeAll(async () => {
  h = await startHarness('practice_api', {}, { clock: () => now });
  if (!h.services.seeded) throw new Error('no demo practice');
  demo = h.services.seeded;
  other = await createPractice(h.services.db, { slug: 'other', name: 'Other Clinic', timeZone: 'America/Chicago', numbers: ['+13125550100'] });
  admin = (await createApiKey(h.services.db, { role: 'admin', practiceId: demo.id })).key;
  staff = (await createApiKey(h.services.db, { role: 'staff', practiceId: demo.id })).key;
  otherAdmin = (await createApiKey(h.services.db, { role: 'admin', practiceId: other.id })).key;
});
afterAll(async () => {
  await h.close();
});

function send(method: string, path: string, key: string, body?: unknown): Promise<ApiAnswer> {
  return callApi(h, method, path, key, body);
}

// The admin's own last change: the calls placed around it queue callback tasks whose
// `task.created` rows land whenever the maintenance worker gets to them.
async function lastAudit(): Promise<{ action: string; details: Record<string, unknown> }> {
  return h.services.db
    .selectFrom('audit_log')
    .select(['action', 'details'])
    .where('action', 'like', 'admin.%')
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirstOrThrow();
}

describe('practice settings through the admin API', () => {
  it('an admin changes the hours; the next call follows them, and the change is audited', async () => {
    const sim = simulatorFor(h, () => now);
    const before = await sim.placeCall({ from: '+12025550142', to: '+12025550100', digits: ['1'], hangupAfterSteps: 2 });
    expect(heard(before)).toContain('For an urgent clinical question');

    const res = await send('PATCH', `/api/practices/${demo.id}`, admin, {
      weeklyHours: { wed: [{ open: '08:00', close: '23:00' }] },
      greetingName: 'Demo Family Med',
    });
    expect(res.status).toBe(200);
    // Only Wednesday changed: the other days keep their hours.
    expect(res.body).toMatchObject({ greetingName: 'Demo Family Med', weeklyHours: { wed: [{ open: '08:00', close: '23:00' }], mon: [{ open: '08:00', close: '17:00' }], sun: [] } });
    expect(await lastAudit()).toEqual({ action: 'admin.practice_updated', details: { fields: ['greetingName', 'weeklyHours'] } });

    const after = await sim.placeCall({ from: '+12025550142', to: '+12025550100', dialOutcomes: [{ status: 'completed' }] });
    expect(heard(after)).toContain('Thank you for calling Demo Family Med.');
    expect(after.transcript).toContainEqual(expect.objectContaining({ kind: 'dial', numbers: ['+12025550101'] }));
  });

  it('weeklyHours is merged per day: a day given replaces that day only, null or [] closes it', async () => {
    const path = `/api/practices/${demo.id}`;
    const start = (await send('GET', path, admin)).body.weeklyHours as Record<string, unknown>;
    const thu = await send('PATCH', path, admin, { weeklyHours: { thu: [{ open: '09:00', close: '13:00' }] } });
    expect(thu.status).toBe(200);
    expect(thu.body.weeklyHours).toEqual({ ...start, thu: [{ open: '09:00', close: '13:00' }] });

    const closed = await send('PATCH', path, admin, { weeklyHours: { fri: null, sat: [] } });
    expect(closed.body.weeklyHours).toEqual({ ...start, thu: [{ open: '09:00', close: '13:00' }], fri: [], sat: [] });

    // Two admins changing different days at once: both changes stay.
    const [a, b] = await Promise.all([
      send('PATCH', path, admin, { weeklyHours: { mon: [{ open: '07:00', close: '12:00' }] } }),
      send('PATCH', path, admin, { weeklyHours: { tue: [{ open: '10:00', close: '18:00' }] } }),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    const after = (await send('GET', path, admin)).body.weeklyHours as Record<string, unknown>;
    expect(after).toMatchObject({ mon: [{ open: '07:00', close: '12:00' }], tue: [{ open: '10:00', close: '18:00' }], thu: [{ open: '09:00', close: '13:00' }] });

    const empty = await send('PATCH', path, admin, { weeklyHours: {} });
    expect(empty.status).toBe(400);
    expect(empty.body.message).toMatch(/^weeklyHours: name at least one day/);
    const unknownDay = await send('PATCH', path, admin, { weeklyHours: { thursday: [] } });
    expect(unknownDay.status).toBe(400);
    expect(unknownDay.body.message).toMatch(/^weeklyHours/);
    // Put the demo's hours back for the tests after this one.
    await send('PATCH', path, admin, { weeklyHours: start });
  });

  it('refuses bad settings with the field named, and changes nothing', async () => {
    const bad = await send('PATCH', `/api/practices/${demo.id}`, admin, { timeZone: 'Mars/Olympus', languages: ['fr'] });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/timeZone: expected an IANA time zone/);
    expect(bad.body.message).toMatch(/languages\.0/);
    const unknown = await send('PATCH', `/api/practices/${demo.id}`, admin, { colour: 'blue' });
    expect(unknown.status).toBe(400);
    const overlap = await send('PATCH', `/api/practices/${demo.id}`, admin, { weeklyHours: { mon: [{ open: '08:00', close: '12:00' }, { open: '11:00', close: '17:00' }] } });
    expect(overlap.status).toBe(400);
    expect(overlap.body.message).toContain('mon');
    const practice = await send('GET', `/api/practices/${demo.id}`, admin);
    expect(practice.body.timeZone).toBe('America/New_York');
  });

  it('staff may read but not change; another practice may do neither', async () => {
    expect((await send('GET', `/api/practices/${demo.id}`, staff)).status).toBe(200);
    expect((await send('PATCH', `/api/practices/${demo.id}`, staff, { name: 'X' })).status).toBe(403);
    expect((await send('PATCH', `/api/practices/${demo.id}`, otherAdmin, { name: 'X' })).status).toBe(403);
    expect((await send('PUT', `/api/practices/${demo.id}/numbers/%2B12025550188`, otherAdmin, { flowId: 'after-hours' })).status).toBe(403);
  });

  it('numbers: add one with a flow, refuse an unknown flow and a number another practice owns, remove it', async () => {
    const added = await send('PUT', `/api/practices/${demo.id}/numbers/%2B12025550188`, admin, { flowId: 'after-hours' });
    expect(added).toEqual({ status: 201, body: { e164: '+12025550188', flowId: 'after-hours' } });
    const sim = simulatorFor(h, () => now);
    const call = await sim.placeCall({ from: '+12025550142', to: '+12025550188', dialOutcomes: [{ status: 'completed' }] });
    expect(heard(call)).toContain('Thank you for calling');

    const unknownFlow = await send('PUT', `/api/practices/${demo.id}/numbers/%2B12025550188`, admin, { flowId: 'nope' });
    expect(unknownFlow.status).toBe(400);
    expect(unknownFlow.body.message).toContain('no flow "nope"');
    expect((await send('PUT', `/api/practices/${demo.id}/numbers/%2B13125550100`, admin, { flowId: 'after-hours' })).status).toBe(409);

    expect((await send('DELETE', `/api/practices/${demo.id}/numbers/%2B12025550188`, admin)).status).toBe(204);
    expect(await lastAudit()).toEqual({ action: 'admin.number_updated', details: { number: '+12025550188', change: 'removed' } });
    const gone = await sim.placeCall({ from: '+12025550142', to: '+12025550188' });
    expect(heard(gone)).toContain('not in service');
  });

  it('voicemail retention is validated and stored; transcription cannot be turned on and never reaches the <Record>', async () => {
    expect((await send('PATCH', `/api/practices/${demo.id}`, admin, { voicemailRetentionDays: 0 })).status).toBe(400);
    const refused = await send('PATCH', `/api/practices/${demo.id}`, admin, { voicemailTranscription: true });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toContain('voicemailTranscription');
    const res = await send('PATCH', `/api/practices/${demo.id}`, admin, { voicemailRetentionDays: 30 });
    expect(res.body).toMatchObject({ voicemailRetentionDays: 30, voicemailTranscription: false });
    const sim = simulatorFor(h, () => now);
    const call = await sim.placeCall({ from: '+12025550142', to: '+12025550100', digits: ['1', '2'], recordings: [{ durationSeconds: 3, digits: '#' }] });
    expect(call.requests.some((r) => r.body.includes('<Record'))).toBe(true);
    expect(call.requests.some((r) => r.body.includes('transcribe'))).toBe(false);
  });

  it("the automatic reply to a patient's text: validated with the field named, stored, and null restores the built-in one", async () => {
    const noEmergency = await send('PATCH', `/api/practices/${demo.id}`, admin, { smsAutoReply: 'We will call you back tomorrow.' });
    expect(noEmergency.status).toBe(400);
    expect(JSON.stringify(noEmergency.body)).toContain('smsAutoReply');
    expect(JSON.stringify(noEmergency.body)).not.toContain('call you back tomorrow');
    expect((await send('PATCH', `/api/practices/${demo.id}`, admin, { smsAutoReply: `${'a'.repeat(330)} 911` })).status).toBe(400);
    expect((await send('PATCH', `/api/practices/${demo.id}`, admin, { smsAutoReply: 'Hi {first_name}: in an emergency call 911.' })).status).toBe(400);
    const template = '{practice_name}: got it, we call back by 10 am. Emergency? Call 911.';
    const ok = await send('PATCH', `/api/practices/${demo.id}`, admin, { smsAutoReply: template });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ smsAutoReply: template });
    expect((await send('PATCH', `/api/practices/${demo.id}`, admin, { smsAutoReply: null })).body).toMatchObject({ smsAutoReply: null });
  });

  it('lists the loaded flows', async () => {
    const res = await send('GET', '/api/flows', staff);
    expect(res.body.flows).toContainEqual(expect.objectContaining({ id: 'after-hours' }));
  });
});
