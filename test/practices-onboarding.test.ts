import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { EMERGENCY_DISCLAIMER } from '../src/calls/fail-safe.js';
import type { Practice } from '../src/practices/store.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { startHarness, type Harness } from './support/harness.js';
import { inboundParams, postTwilio } from './support/twilio-request.js';

let h: Harness;
let demo: Practice;
let operator: string;
let operatorId: string;
let demoAdmin: string;

beforeAll(async () => {
  h = await startHarness('practices_onboarding');
  if (!h.services.seeded) throw new Error('no demo practice');
  demo = h.services.seeded;
  const op = await createApiKey(h.services.db, { role: 'operator', practiceId: null });
  operator = op.key;
  operatorId = op.id;
  demoAdmin = (await createApiKey(h.services.db, { role: 'admin', practiceId: demo.id })).key;
});
afterAll(async () => {
  await h.close();
});

function send(method: string, path: string, key: string, body?: unknown): Promise<ApiAnswer> {
  return callApi(h, method, path, key, body);
}

async function auditRows(action: string): Promise<Array<{ actor: string; practice_id: string | null; subject_id: string | null; details: Record<string, unknown> }>> {
  return h.services.db.selectFrom('audit_log').select(['actor', 'practice_id', 'subject_id', 'details']).where('action', '=', action).orderBy('seq').execute();
}

const riverside = { slug: 'riverside-peds', name: 'Riverside Pediatrics', timeZone: 'America/Chicago', number: '+13125550170', fallbackNumber: '+13125550179' };

describe('the operator creates and lists practices', () => {
  it('creates a practice with default hours, languages and retention; its first number a main line; audited', async () => {
    const res = await send('POST', '/api/practices', operator, riverside);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      slug: 'riverside-peds',
      name: 'Riverside Pediatrics',
      timeZone: 'America/Chicago',
      fallbackNumber: '+13125550179',
      languages: ['en', 'es'],
      weeklyHours: { mon: [{ open: '08:00', close: '17:00' }], fri: [{ open: '08:00', close: '17:00' }], sat: [], sun: [] },
      holidays: { named: expect.arrayContaining(['thanksgiving', 'christmas_day']) as unknown },
      voicemailRetentionDays: 90,
      voicemailTranscription: false,
      accessNumber: null,
      suspended: false,
    });
    const id = String(res.body.id);
    const numbers = await h.services.db.selectFrom('practice_numbers').select(['e164', 'flow_id']).where('practice_id', '=', id).execute();
    expect(numbers).toEqual([{ e164: '+13125550170', flow_id: 'after-hours' }]);
    expect(await auditRows('admin.practice_created')).toEqual([
      { actor: `api_key:${operatorId}`, practice_id: id, subject_id: id, details: { slug: 'riverside-peds', numbers: 1, via: 'api' } },
    ]);

    const list = await send('GET', '/api/practices', operator);
    expect(list.status).toBe(200);
    const practices = list.body.practices as Array<Record<string, unknown>>;
    expect(practices.map((p) => p.slug)).toEqual(['demo', 'riverside-peds']);
    expect(practices[1]).toMatchObject({ id, status: 'active', suspendedAt: null, numbers: 1 });
  });

  it('refuses bad input naming the field, and a slug or number another practice has (409), writing nothing', async () => {
    const bad = await send('POST', '/api/practices', operator, { ...riverside, slug: 'Bad Slug', timeZone: 'Mars/Olympus' });
    expect(bad.status).toBe(400);
    expect(String(bad.body.message)).toMatch(/^slug: .*; timeZone: /);
    const unknownField = await send('POST', '/api/practices', operator, { ...riverside, slug: 'x-clinic', colour: 'blue' });
    expect(unknownField.status).toBe(400);

    const slugTaken = await send('POST', '/api/practices', operator, { ...riverside, number: '+13125550171' });
    expect(slugTaken).toEqual({ status: 409, body: { error: 'conflict', message: 'slug: another practice has that slug' } });
    const numberTaken = await send('POST', '/api/practices', operator, { ...riverside, slug: 'lakeside', number: '+12025550100' });
    expect(numberTaken).toEqual({ status: 409, body: { error: 'conflict', message: 'number: that number belongs to another practice' } });
    const slugs = await h.services.db.selectFrom('practices').select('slug').orderBy('slug').execute();
    expect(slugs.map((s) => s.slug)).toEqual(['demo', 'riverside-peds']);
  });

  it("a practice's key may not use the platform routes, and an operator key reads no practice's data (403, audited)", async () => {
    expect((await send('GET', '/api/practices', demoAdmin)).status).toBe(403);
    expect((await send('POST', '/api/practices', demoAdmin, { ...riverside, slug: 'sneaky', number: undefined })).status).toBe(403);
    expect((await send('POST', `/api/practices/${demo.id}/suspend`, demoAdmin)).status).toBe(403);

    for (const path of [`/api/practices/${demo.id}`, `/api/practices/${demo.id}/api-keys`, '/api/oncall/providers', '/api/pages', '/api/voicemails', '/api/audit', '/api/flows', '/api/nowhere']) {
      const res = await send('GET', path, operator);
      expect(res, path).toEqual({ status: 403, body: { error: 'forbidden', message: 'your role may not do this' } });
    }
    const patch = await send('PATCH', `/api/practices/${demo.id}`, operator, { name: 'Hijacked' });
    expect(patch.status).toBe(403);
    const refusals = await auditRows('api.forbidden');
    expect(refusals.filter((r) => r.actor === `api_key:${operatorId}`).length).toBeGreaterThanOrEqual(9);
    expect(refusals.find((r) => r.actor === `api_key:${operatorId}`)).toMatchObject({ practice_id: null, details: { role: 'operator', reason: 'role' } });

    const whoami = await send('GET', '/api/whoami', operator);
    expect(whoami).toEqual({ status: 200, body: { keyId: operatorId, role: 'operator', practiceId: null } });
  });

  it('the table holds no operator key with a practice, and no practice key without one', async () => {
    await expect(createApiKey(h.services.db, { role: 'operator', practiceId: demo.id } as never)).rejects.toMatchObject({ code: '23514' });
    await expect(createApiKey(h.services.db, { role: 'admin', practiceId: null } as never)).rejects.toMatchObject({ code: '23514' });
  });
});

describe('suspending a practice', () => {
  it("answers its calls with the fail-safe (disclaimer, fallback line), refuses its keys 403, and reactivation undoes both; audited", async () => {
    const suspended = await send('POST', `/api/practices/${demo.id}/suspend`, operator);
    expect(suspended).toEqual({ status: 200, body: { id: demo.id, status: 'suspended', change: 'changed' } });
    expect((await send('POST', `/api/practices/${demo.id}/suspend`, operator)).body.change).toBe('unchanged');
    expect(await auditRows('admin.practice_suspended')).toEqual([{ actor: `api_key:${operatorId}`, practice_id: demo.id, subject_id: demo.id, details: { via: 'api' } }]);

    expect(await send('GET', '/api/whoami', demoAdmin)).toEqual({ status: 403, body: { error: 'forbidden', message: 'practice suspended' } });
    expect((await auditRows('api.forbidden')).at(-1)).toMatchObject({ practice_id: demo.id, details: { reason: 'practice_suspended' } });

    // The route invalidated this instance's practice cache: the call sees the suspension now.
    const call = await postTwilio(h, '/twilio/voice/incoming', inboundParams());
    expect(call.status).toBe(200);
    expect(call.body).toContain(EMERGENCY_DISCLAIMER);
    expect(call.body).toContain(`<Number>${String(demo.fallbackNumber)}</Number>`);
    expect(call.body).not.toContain('<Gather');
    const access = await postTwilio(h, '/twilio/voice/access', inboundParams({ To: String(demo.accessNumber) }));
    expect(access.body).toContain(EMERGENCY_DISCLAIMER);
    expect(access.body).not.toContain('<Gather');
    // One fail-safe for every line (src/calls/fail-safe-answer.ts): the same answer, the same row.
    expect(access.body).toBe(call.body);
    const failSafes = await h.services.db.selectFrom('audit_log').select(['actor', 'practice_id', 'leg', 'details']).where('action', '=', 'call.fail_safe').execute();
    const suspendedRows = failSafes.filter((r) => r.details['reason'] === 'practice_suspended');
    expect(suspendedRows).toHaveLength(2);
    expect(suspendedRows[0]).toEqual(suspendedRows[1]);

    const listed = await send('GET', '/api/practices', operator);
    expect((listed.body.practices as Array<Record<string, unknown>>).find((p) => p.id === demo.id)).toMatchObject({ status: 'suspended', suspendedAt: expect.any(String) as unknown });

    const reactivated = await send('POST', `/api/practices/${demo.id}/reactivate`, operator);
    expect(reactivated).toEqual({ status: 200, body: { id: demo.id, status: 'active', change: 'changed' } });
    expect(await auditRows('admin.practice_reactivated')).toHaveLength(1);
    expect((await send('GET', '/api/whoami', demoAdmin)).status).toBe(200);
    const after = await postTwilio(h, '/twilio/voice/incoming', inboundParams());
    expect(after.body).toContain('<Gather');

    expect((await send('POST', `/api/practices/00000000-0000-4000-8000-000000000000/suspend`, operator)).status).toBe(404);
    expect((await send('POST', '/api/practices/not-a-uuid/suspend', operator)).status).toBe(400);
  });
});
