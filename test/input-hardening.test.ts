import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { apiRouter } from '../src/http/api-routes.js';
import { findNul } from '../src/http/input-guard.js';
import type { Practice } from '../src/practices/store.js';
import { RvmWebhookSchema } from '../src/drops/providers/http-provider.js';
import { startHarness, type Harness } from './support/harness.js';
import { until } from './support/until.js';

/**
 * Bad input is a 400 naming the field, never a 500: NUL bytes (which PostgreSQL refuses in text
 * and jsonb) anywhere in an /api request, and query dates that are not dates.
 */

let h: Harness;
let demo: Practice;
let admin: string;
const NUL = '\u0000';
const SOME_ID = '00000000-0000-4000-8000-000000000000';

beforeAll(async () => {
  h = await startHarness('input_hardening');
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  demo = h.services.seeded;
  admin = (await createApiKey(h.services.db, { role: 'admin', practiceId: demo.id })).key;
});
afterAll(async () => {
  await h.close();
});

async function send(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(h.baseUrl + path, {
    method,
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

interface RouteLayer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: RouteLayer[] };
}

/** Every `METHOD path` the /api router serves (nested routers are mounted without a path). */
function apiRoutes(router: express.Router): string[] {
  const out: string[] = [];
  const walk = (stack: readonly RouteLayer[]): void => {
    for (const layer of stack) {
      if (layer.route) for (const m of Object.keys(layer.route.methods)) out.push(`${m.toUpperCase()} ${layer.route.path}`);
      else if (layer.handle?.stack) walk(layer.handle.stack);
    }
  };
  walk((router as unknown as { stack: RouteLayer[] }).stack);
  return out;
}

/**
 * Each route that takes a body, with a body that is otherwise acceptable (where the route has one)
 * and a NUL in a text field: the field the 400 must name.
 */
const BODY_ROUTES: Record<string, { body: Record<string, unknown>; field: string }> = {
  'PATCH /practices/:practiceId': { body: { name: `Demo${NUL}Clinic` }, field: 'name' },
  'PUT /practices/:practiceId/numbers/:e164': { body: { flowId: `after${NUL}hours` }, field: 'flowId' },
  'PUT /practices/:practiceId/communication-matrix': { body: { recall: { sms: { allowed: true, detail: `none${NUL}` } } }, field: 'recall.sms.detail' },
  'POST /pages/:pageId/ack': { body: { note: NUL }, field: 'note' },
  'POST /oncall/providers': { body: { displayName: `Dr${NUL}`, phone: '+12025550161' }, field: 'displayName' },
  'PATCH /oncall/providers/:id': { body: { displayName: `Dr${NUL}` }, field: 'displayName' },
  'POST /oncall/providers/:id/feed-token': { body: { x: NUL }, field: 'x' },
  'POST /oncall/schedules': {
    body: { name: `Nights${NUL}`, rotation: { members: [SOME_ID], length: 'daily', handoffTime: '08:00', startDate: '2026-01-01' } },
    field: 'name',
  },
  'PATCH /oncall/schedules/:id': { body: { name: `Nights${NUL}` }, field: 'name' },
  'POST /oncall/schedules/:id/overrides': { body: { providerId: SOME_ID, start: '2026-01-01T00:00:00Z', end: `2026-01-02T00:00:00Z${NUL}` }, field: 'end' },
  'POST /oncall/schedules/:id/swaps': { body: { fromProviderId: SOME_ID, toProviderId: `x${NUL}`, start: '2026-01-01T00:00:00Z', end: '2026-01-02T00:00:00Z' }, field: 'toProviderId' },
  'POST /oncall/swaps/:id/accept': { body: { note: NUL }, field: 'note' },
  'POST /oncall/swaps/:id/decline': { body: { note: NUL }, field: 'note' },
  'POST /oncall/swaps/:id/cancel': { body: { note: NUL }, field: 'note' },
  'POST /oncall/policies': { body: { name: `Default${NUL}`, tiers: [] }, field: 'name' },
  'PATCH /oncall/policies/:id': { body: { name: `Default${NUL}` }, field: 'name' },
  'POST /voicemails/:id/ack': { body: { note: NUL }, field: 'note' },
  'POST /voicemails/:id/retry': { body: { note: NUL }, field: 'note' },
  'POST /voicemails/:id/playback-link': { body: { note: NUL }, field: 'note' },
  'POST /patients': { body: { phone: '+12025550177', firstName: `Ann${NUL}`, dateOfBirth: '1980-01-01' }, field: 'firstName' },
  'POST /patients/lookup': { body: { phone: `+1202555017${NUL}` }, field: 'phone' },
  'POST /patients/search': { body: { name: `Ann${NUL}` }, field: 'name' },
  'POST /patients/import': { body: { x: NUL }, field: 'x' },
  'PATCH /patients/:patientId': { body: { firstName: `Ann${NUL}` }, field: 'firstName' },
  'POST /patients/:patientId/deactivate': { body: { note: NUL }, field: 'note' },
  'POST /patients/:patientId/merge': { body: { duplicateId: `x${NUL}` }, field: 'duplicateId' },
  'POST /appointments': { body: { patientId: SOME_ID, startsAt: '2026-12-01T09:30:00Z', locationName: `Main${NUL}` }, field: 'locationName' },
  'POST /appointments/import': { body: { x: NUL }, field: 'x' },
  'PATCH /appointments/:id': { body: { locationName: `Main${NUL}` }, field: 'locationName' },
  'POST /consent-disclosures': { body: { version: 'v1', channel: 'rvm', text: `We may call you.${NUL}` }, field: 'text' },
  'POST /patients/:patientId/consents': { body: { channel: 'rvm', action: 'revoked', source: `api${NUL}` }, field: 'source' },
  'POST /opt-outs': { body: { phone: `+12025550177${NUL}` }, field: 'phone' },
  'POST /opt-outs/check': { body: { phone: `+12025550177${NUL}` }, field: 'phone' },
  'POST /vendor-baas': { body: { vendor: 'twilio', signedAt: '2026-01-01', documentRef: `doc-1${NUL}` }, field: 'documentRef' },
  'POST /drop-templates': { body: { name: `Recall${NUL}`, purpose: 'recall', text: 'Please call us back.' }, field: 'name' },
  'POST /drop-templates/check': { body: { purpose: 'recall', text: `Please call us back.${NUL}` }, field: 'text' },
  'POST /campaigns': { body: { name: `Recall${NUL}`, templateId: 'recall', provider: 'twilio' }, field: 'name' },
  'POST /campaigns/:campaignId/recipients': { body: { patientIds: [SOME_ID, `x${NUL}`] }, field: 'patientIds.1' },
  'POST /campaigns/:campaignId/dry-run': { body: { note: NUL }, field: 'note' },
  'POST /campaigns/:campaignId/:command': { body: { note: NUL }, field: 'note' },
  'POST /sequences': { body: { name: `Recall${NUL}`, messageType: 'recall', steps: [] }, field: 'name' },
  'POST /sequences/:sequenceId/audience': { body: { patientIds: [SOME_ID, `x${NUL}`] }, field: 'patientIds.1' },
  'POST /sequences/:sequenceId/:command': { body: { note: NUL }, field: 'note' },
  'POST /lockouts/:id/clear': { body: { note: NUL }, field: 'note' },
  'POST /practices/:practiceId/api-keys': { body: { role: 'staff', label: `EHR${NUL}` }, field: 'label' },
  'POST /practices/:practiceId/api-keys/:keyId/revoke': { body: { note: NUL }, field: 'note' },
  'POST /practices': { body: { slug: 'new-clinic', name: `New${NUL}Clinic`, timeZone: 'America/Chicago' }, field: 'name' },
  'POST /practices/:practiceId/suspend': { body: { note: NUL }, field: 'note' },
  'POST /practices/:practiceId/reactivate': { body: { note: NUL }, field: 'note' },
  'POST /practices/:practiceId/lines/:e164/connect': { body: { kind: `main${NUL}` }, field: 'kind' },
  'POST /practices/:practiceId/flows': { body: { format: 'yaml', source: `id: x${NUL}` }, field: 'source' },
  'PUT /practices/:practiceId/lines/:e164/flow': { body: { flowId: `after${NUL}hours` }, field: 'flowId' },
  'POST /practices/:practiceId/lines/:e164/flow/rollback': { body: { note: NUL }, field: 'note' },
  'PUT /practices/:practiceId/contacts/:key': { body: { label: `Nurse${NUL}line`, number: '+12025550177' }, field: 'label' },
  'POST /fhir/import': { body: { note: NUL }, field: 'note' },
  'PUT /fhir/source': { body: { clientId: `ahl${NUL}` }, field: 'clientId' },
  'POST /fhir/sync': { body: { note: NUL }, field: 'note' },
  'POST /tasks/:id/claim': { body: { note: NUL }, field: 'note' },
  'POST /tasks/:id/attempts': { body: { outcome: 'no_answer', note: `rang${NUL}` }, field: 'note' },
  'POST /tasks/:id/close': { body: { outcome: 'done', note: `done${NUL}` }, field: 'note' },
  'POST /tasks/:id/call': { body: { to: `me${NUL}` }, field: 'to' },
  'POST /tasks/:id/assign': { body: { assignee: `user:${NUL}` }, field: 'assignee' },
  'PUT /me/phone': { body: { phone: `+12025550142${NUL}` }, field: 'phone' },
  'POST /auth/login': { body: { email: 'a@example.org', password: `x${NUL}` }, field: 'password' },
  'POST /auth/totp/enrol': { body: { note: NUL }, field: 'note' },
  'POST /auth/totp/confirm': { body: { code: `1${NUL}` }, field: 'code' },
  'POST /auth/totp': { body: { code: `1${NUL}` }, field: 'code' },
  'POST /auth/logout': { body: { note: NUL }, field: 'note' },
  'POST /auth/invitations/inspect': { body: { token: `t${NUL}` }, field: 'token' },
  'POST /auth/invitations/accept': { body: { token: `t${NUL}`, password: 'x', displayName: 'D' }, field: 'token' },
  'POST /auth/password-reset': { body: { email: `a${NUL}@example.org` }, field: 'email' },
  'POST /auth/password-reset/complete': { body: { token: `t${NUL}`, password: 'x' }, field: 'token' },
  'POST /session/practice': { body: { practiceId: `x${NUL}` }, field: 'practiceId' },
  'POST /auth/logout-everywhere': { body: { note: NUL }, field: 'note' },
  'POST /users/invitations': { body: { email: `a${NUL}@example.org`, role: 'staff' }, field: 'email' },
  'PATCH /users/:id/membership': { body: { role: `staff${NUL}` }, field: 'role' },
  'POST /users/:id/disable': { body: { note: NUL }, field: 'note' },
  'POST /users/invitations/:id/revoke': { body: { note: NUL }, field: 'note' },
  'POST /users/:id/reset-link': { body: { note: NUL }, field: 'note' },
  'POST /patients/:patientId/email-notices': { body: { messageType: 'callback_request', templateId: `call_office${NUL}` }, field: 'templateId' },
  'POST /email-templates/check': { body: { body: `Please call {practice_name} at {callback_number}.${NUL}` }, field: 'body' },
  'POST /email-opt-outs': { body: { email: `a${NUL}@example.org` }, field: 'email' },
  'PUT /practices/:practiceId/sso': { body: { issuer: 'https://login.example.org', clientId: `ahl${NUL}`, clientSecret: 's', allowedDomains: ['example.org'] }, field: 'clientId' },
};

function concrete(route: string): [string, string] {
  const [method = '', pattern = ''] = route.split(' ');
  const path = pattern
    .replace(':practiceId', demo.id)
    .replace(':e164', encodeURIComponent('+12025550100'))
    .replace(':command', 'pause')
    .replace(':key', 'nurse_line')
    .replace(/:[A-Za-z]+/g, SOME_ID);
  return [method, `/api${path}`];
}

describe('NUL bytes: 400 naming the field, on every /api route', () => {
  it('the list below covers every route that takes a body', () => {
    const withBody = apiRoutes(apiRouter(h.services)).filter((r) => /^(POST|PUT|PATCH) /.test(r));
    expect(withBody.length).toBeGreaterThan(20);
    expect(withBody.filter((r) => !(r in BODY_ROUTES))).toEqual([]);
  });

  it.each(Object.keys(BODY_ROUTES))('%s', async (route) => {
    const spec = BODY_ROUTES[route];
    if (!spec) throw new Error('unreachable');
    const [method, path] = concrete(route);
    const res = await send(method, path, spec.body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'bad_request', message: `${spec.field}: must not contain a NUL character (U+0000)` });
  });

  it('in a field name, in a nested value, in the query string and in the path', async () => {
    const practice = `/api/practices/${demo.id}`;
    expect((await send('PATCH', practice, { [`na${NUL}me`]: 'x' })).body.message).toBe('body (a field name): must not contain a NUL character (U+0000)');
    const nested = await send('PATCH', practice, { weeklyHours: { mon: [{ open: `08:00${NUL}`, close: '17:00' }] } });
    expect(nested).toEqual({ status: 400, body: { error: 'bad_request', message: 'weeklyHours.mon.0.open: must not contain a NUL character (U+0000)' } });
    const query = await send('GET', '/api/voicemails?state=%00');
    expect(query).toEqual({ status: 400, body: { error: 'bad_request', message: 'query.state: must not contain a NUL character (U+0000)' } });
    const path = await send('GET', '/api/practices/%00');
    expect(path).toEqual({ status: 400, body: { error: 'bad_request', message: 'path: must not contain a NUL character (U+0000)' } });
    // Nothing was written.
    expect((await send('GET', practice)).body.name).toBe(demo.name);
  });

  it('the refusal is audited like any other 400 (route and status, no value)', async () => {
    const before = await h.services.db.selectFrom('audit_log').select((eb) => eb.fn.max('seq').as('seq')).executeTakeFirstOrThrow();
    await send('PATCH', `/api/practices/${demo.id}`, { name: `Secret${NUL}Name` });
    // Written when the response finishes, so it may land just after the answer.
    const row = await until('the audit row', () =>
      h.services.db.selectFrom('audit_log').select(['action', 'details']).where('seq', '>', before.seq ?? 0).orderBy('seq', 'desc').limit(1).executeTakeFirst(),
    );
    expect(row).toMatchObject({ action: 'api.request', details: { method: 'PATCH', status: 400 } });
    expect(JSON.stringify(row)).not.toContain('Secret');
  });

  it('findNul walks arrays and objects, and names the first NUL it finds', () => {
    expect(findNul({ a: ['ok', { b: `x${NUL}` }] })).toEqual({ where: 'a.1.b' });
    expect(findNul(`x${NUL}`)).toEqual({ where: 'body' });
    expect(findNul({ a: 1, b: null, c: true, d: ['x'] })).toBeNull();
  });
});

describe('GET /api/pages/:pageId: a bad id is a 400 naming the field, never 500', () => {
  it('not a UUID, a NUL, or SQL: 400; an unknown page: 404', async () => {
    expect(await send('GET', '/api/pages/not-a-uuid')).toEqual({ status: 400, body: { error: 'bad_request', message: 'pageId must be a UUID' } });
    expect(await send('GET', `/api/pages/${encodeURIComponent("1' OR '1'='1")}`)).toEqual({ status: 400, body: { error: 'bad_request', message: 'pageId must be a UUID' } });
    expect(await send('GET', '/api/pages/%00')).toEqual({ status: 400, body: { error: 'bad_request', message: 'path: must not contain a NUL character (U+0000)' } });
    expect((await send('GET', `/api/pages/${SOME_ID}`)).status).toBe(404);
  });
});

describe('CSV imports: the job routes refuse bad ids and pages, naming the field', () => {
  it('/api/imports and /api/imports/:id', async () => {
    expect(await send('GET', '/api/imports?limit=many')).toEqual({ status: 400, body: { error: 'bad_request', message: expect.stringMatching(/^limit: /) } });
    expect(await send('GET', '/api/imports?practiceId=x')).toEqual({ status: 400, body: { error: 'bad_request', message: expect.stringMatching(/practiceId/) } });
    expect(await send('GET', '/api/imports/not-a-uuid')).toEqual({ status: 400, body: { error: 'bad_request', message: 'id: expected a UUID' } });
    expect(await send('GET', `/api/imports/${SOME_ID}?offset=-1`)).toEqual({ status: 400, body: { error: 'bad_request', message: expect.stringMatching(/^offset: /) } });
    expect(await send('GET', '/api/imports?offset=%00')).toEqual({ status: 400, body: { error: 'bad_request', message: 'query.offset: must not contain a NUL character (U+0000)' } });
    expect((await send('GET', `/api/imports/${SOME_ID}`)).status).toBe(404);
  });
});

describe('outside /api', () => {
  it("the ringless-voicemail vendor's webhook refuses an id it could not store (a NUL), naming the field", () => {
    const body = { id: `vnd${NUL}1`, foreign_id: SOME_ID, status: 'delivered' };
    const parsed = RvmWebhookSchema.safeParse(body);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((i) => i.path.join('.'))).toEqual(['id']);
    expect(RvmWebhookSchema.safeParse({ ...body, id: 'vnd-1 A' }).success).toBe(true);
  });
});

describe('query dates: 400 naming the field, never 500', () => {
  it('no route parses a date with z.coerce.date() (it takes `1` and years PostgreSQL cannot store): QueryInstantSchema instead', async () => {
    const dir = path.join(import.meta.dirname, '../src/http');
    const offenders: string[] = [];
    for (const file of await readdir(dir)) {
      // Code only: the comments that explain the choice may name it.
      const code = (await readFile(path.join(dir, file), 'utf8')).replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      if (file.endsWith('.ts') && code.includes('z.coerce.date(')) offenders.push(file);
    }
    expect(offenders).toEqual([]);
  });

  it('/api/oncall/shifts with plain, invalid or missing dates', async () => {
    for (const [query, fields] of [
      ['from=2026-11-01&to=2026-11-08', ['from', 'to']],
      ['from=yesterday&to=2026-11-08T00:00:00Z', ['from']],
      ['from=2026-11-01T00:00:00Z&to=soon', ['to']],
      ['from=2026-11-01T00:00:00Z', ['to']],
      ['from=2026-11-01T00:00:00Z&to=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z', ['to']],
    ] as const) {
      const res = await send('GET', `/api/oncall/shifts?${query}`);
      expect(res.status, query).toBe(400);
      for (const f of fields) expect(String(res.body.message), query).toMatch(new RegExp(`(^|; )${f}: `));
    }
    expect((await send('GET', '/api/oncall/shifts?from=2026-11-01T00:00:00Z&to=2026-11-08T00:00:00Z')).status).toBe(200);
  });

  it('/api/patients/recall-due refuses what is not a day (YYYY-MM-DD), a NUL, a window backwards or a bad page, naming the field', async () => {
    for (const [query, field] of [
      ['to=2030-06-30', 'from'],
      ['from=2030-06-01', 'to'],
      ['from=2030-02-30&to=2030-06-30', 'from'],
      ['from=1&to=2030-06-30', 'from'],
      ['from=%2B200000-01-01&to=2030-06-30', 'from'],
      ['from=2030-06-01T00:00:00Z&to=2030-06-30', 'from'],
      ['from=2030-06-01&to=2030-06-30%00', 'query.to'],
      ['from=2030-06-30&to=2030-06-01', 'to'],
      ['from=2030-06-01&to=2030-06-30&limit=many', 'limit'],
      ['from=2030-06-01&to=2030-06-30&after=%27%20OR%201%3D1', 'after'],
    ] as const) {
      const res = await send('GET', `/api/patients/recall-due?${query}`);
      expect(res.status, query).toBe(400);
      expect(String(res.body.message), query).toMatch(new RegExp(`^${field.replace('.', '\\.')}: `));
    }
    expect((await send('GET', '/api/patients/recall-due?from=2030-06-01&to=2030-06-30')).status).toBe(200);
  });

  it('/api/audit, /api/voicemails and /api/lockouts refuse what is not an ISO date (years PostgreSQL cannot store included)', async () => {
    for (const route of ['/api/audit', '/api/voicemails', '/api/lockouts']) {
      for (const bad of ['1', 'yesterday', '-271821-04-20T00:00:00Z', '+200000-01-01T00:00:00Z', '2026-02-30']) {
        const res = await send('GET', `${route}?from=${encodeURIComponent(bad)}`);
        expect(res.status, `${route} ${bad}`).toBe(400);
        expect(String(res.body.message)).toMatch(/^from: /);
      }
      expect((await send('GET', `${route}?from=2026-11-01&to=2026-11-02T00:00:00Z`)).status).toBe(200);
    }
  });

  it('/api/audit refuses an action, actor or order that is not one (LIKE wildcards, spaces, NUL), naming the field; /api/audit/verify and /api/calls/:callSid/export theirs', async () => {
    const bad: Array<[string, string]> = [
      ['action', '%'],
      ['action', 'call dial'],
      ['action', `call.dial${NUL}`],
      ['actor', 'user'],
      ['actor', "user:1' OR 1=1"],
      ['actor', `user:${NUL}`],
      ['order', 'sideways'],
    ];
    for (const [field, value] of bad) {
      const res = await send('GET', `/api/audit?${field}=${encodeURIComponent(value)}`);
      expect(res.status, `${field}=${value}`).toBe(400);
      expect(String(res.body.message), `${field}=${value}`).toMatch(new RegExp(`${field}`));
    }
    expect((await send('GET', '/api/audit?action=user.&actor=system:reports&order=newest')).status).toBe(200);
    expect((await send('GET', `/api/audit/verify?x=${NUL}`)).status).toBe(400);
    expect((await send('GET', '/api/audit/verify?practiceId=x')).body.message).toMatch(/practiceId|query/);
    expect((await send('GET', `/api/calls/CA${NUL}/export`)).status).toBe(400);
    expect((await send('GET', '/api/calls/nope/export')).body.message).toMatch(/callSid/);
  });

  it('/api/reports/overnight refuses a date that is not a calendar date, naming the field; a NUL byte too', async () => {
    for (const bad of ['1', 'yesterday', '2026-02-30', '2026-11-26T08:00:00Z', `2026-11-27${NUL}`]) {
      const res = await send('GET', `/api/reports/overnight?date=${encodeURIComponent(bad)}`);
      expect(res.status, bad).toBe(400);
      expect(String(res.body.message)).toMatch(/date/);
    }
    expect((await send('GET', '/api/reports/overnight?date=2026-11-27')).status).toBe(200);
  });
});
