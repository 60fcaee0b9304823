import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_ROLES, createApiKey, OPERATOR_ROLE } from '../src/auth/api-keys.js';
import { createApp } from '../src/http/app.js';
import { OPENAPI_PATH, openApiDocument, ROUTES, toOpenApiPath, type OpenApiDocument } from '../src/http/openapi.js';
import { startHarness, type Harness } from './support/harness.js';
import { routerRoutes } from './support/router-routes.js';

/**
 * The OpenAPI document against the routers themselves: every (method, path) an Express router
 * serves is documented, nothing documented is missing from the routers, path parameters are
 * declared, and every example request body passes the zod schema the route validates with.
 */

let h: Harness;
let served: OpenApiDocument;

type Param = { name: string; in: string; required?: boolean; schema?: unknown };
type Operation = { operationId?: string; parameters?: Param[]; responses: Record<string, unknown>; description?: string; 'x-roles'?: string[]; requestBody?: { content: Record<string, { example?: unknown; schema?: unknown }> } };

const operations = (): Array<{ path: string; method: string; op: Operation }> =>
  Object.entries(served.paths ?? {}).flatMap(([path, item]) => Object.entries(item as Record<string, Operation>).map(([method, op]) => ({ path, method, op })));

const documented = (): string[] => ROUTES.map((r) => `${r.method} ${r.path}`);

beforeAll(async () => {
  h = await startHarness('openapi', { METRICS_TOKEN: 'metrics-token-for-the-openapi-test' });
  const res = await fetch(`${h.baseUrl}${OPENAPI_PATH}`);
  expect(res.status).toBe(200);
  served = (await res.json()) as OpenApiDocument;
});
afterAll(async () => {
  await h.close();
});

describe('GET /api/openapi.json', () => {
  it('serves the document without an API key, as JSON', async () => {
    const res = await fetch(`${h.baseUrl}${OPENAPI_PATH}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(served).toEqual(JSON.parse(JSON.stringify(openApiDocument(h.config.publicBaseUrl))));
  });

  it('is OpenAPI 3.1 with info, a server and the security schemes it names', () => {
    expect(served.openapi).toMatch(/^3\.1\.\d+$/);
    expect(served.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(served.servers?.[0]?.url).toBe(h.config.publicBaseUrl);
    const schemes = Object.keys(served.components?.securitySchemes ?? {});
    for (const [path, item] of Object.entries(served.paths ?? {})) {
      for (const [method, op] of Object.entries(item as Record<string, { security?: Array<Record<string, unknown>> }>)) {
        for (const req of op.security ?? []) for (const name of Object.keys(req)) expect(schemes, `${method} ${path}: ${name}`).toContain(name);
      }
    }
  });
});

describe('references', () => {
  it('every $ref points to a component the document holds, and every operation has a success answer', () => {
    const refs = [...JSON.stringify(served).matchAll(/"\$ref":"#\/components\/([A-Za-z]+)\/([^"]+)"/g)];
    expect(refs.length).toBeGreaterThan(0);
    for (const [, kind, name] of refs) {
      expect((served.components as Record<string, Record<string, unknown> | undefined>)[kind ?? '']?.[name ?? ''], `${kind}/${name}`).toBeDefined();
    }
    for (const { path, method, op } of operations()) {
      // A browser's navigation (single sign-on) succeeds with a redirect: 303 is its success.
      expect(Object.keys(op.responses).some((c) => /^(2\d\d|303)$/.test(c)), `${method} ${path}`).toBe(true);
    }
  });
});

describe('the route list', () => {
  it('documents every route the routers serve, and only those', () => {
    const actual = routerRoutes(createApp(h.services));
    // The walk itself works: it sees routes of each mounted router.
    for (const known of ['get /healthz', 'post /twilio/voice/incoming', 'get /api/whoami', 'patch /api/practices/:practiceId', 'get /api/oncall/shifts', 'post /rvm/webhook', 'get /feeds/oncall.ics', 'get /playback/:token', `get ${OPENAPI_PATH}`]) {
      expect(actual).toContain(known);
    }
    const docs = documented();
    expect(actual.filter((r) => !docs.includes(r)), 'routes missing from ROUTES in src/http/openapi.ts').toEqual([]);
    expect(docs.filter((r) => !actual.includes(r)), 'documented routes no router serves').toEqual([]);
    expect(new Set(docs).size, 'a route documented twice').toBe(docs.length);
    const ids = operations().map((o) => o.op.operationId);
    expect(new Set(ids).size, 'operationIds are unique').toBe(ROUTES.length);
  });

  it('puts every documented route in the document, OpenAPI style', () => {
    for (const r of ROUTES) {
      const path = toOpenApiPath(r.path);
      expect(path).not.toContain(':');
      const op = (served.paths?.[path] as Record<string, unknown> | undefined)?.[r.method];
      expect(op, `${r.method} ${path}`).toMatchObject({ summary: r.summary, responses: expect.any(Object) });
    }
  });
});

describe('operations', () => {
  it('declare each path parameter, required, and no path parameter the path lacks', () => {
    for (const { path, method, op } of operations()) {
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      const declared = (op.parameters ?? []).filter((p) => p.in === 'path');
      expect(declared.map((p) => p.name).sort(), `${method} ${path}`).toEqual(inPath);
      for (const p of declared) expect(p.required, `${method} ${path} {${p.name}}`).toBe(true);
    }
  });

  it('let no query, path or form field be null (text carries none; the generator marks coerced fields nullable)', () => {
    let forms = 0;
    for (const { path, method, op } of operations()) {
      for (const p of op.parameters ?? []) expect(JSON.stringify(p.schema), `${method} ${path} ${p.name}`).not.toContain('"null"');
      const form = op.requestBody?.content['application/x-www-form-urlencoded']?.schema;
      if (form) forms++;
      if (form) expect(JSON.stringify(form), `${method} ${path}`).not.toContain('"null"');
    }
    expect(forms).toBeGreaterThan(5);
  });

  it('name the roles of every /api route (x-roles and the description) and document 401 and 403', () => {
    // Signing in comes before any role: those routes take no key (public, or the half-way session cookie).
    const signingIn = new Set(ROUTES.filter((r) => r.path.startsWith('/api/') && r.path !== OPENAPI_PATH && (r.access.kind === 'public' || r.access.kind === 'session')).map((r) => toOpenApiPath(r.path)));
    expect(signingIn.size).toBeLessThan(13);
    for (const { path, method, op } of operations().filter((o) => o.path.startsWith('/api/') && o.path !== OPENAPI_PATH && !signingIn.has(o.path))) {
      const roles = op['x-roles'] ?? [];
      expect(roles.length, `${method} ${path}`).toBeGreaterThan(0);
      for (const role of roles) expect([...API_ROLES, OPERATOR_ROLE]).toContain(role);
      expect(op.description).toContain(`Roles: ${roles.join(', ')}`);
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['401', '403']));
    }
  });

  it('document no success answer with the error shape, and give alternatives the success body', () => {
    for (const r of ROUTES) {
      const op = (served.paths?.[toOpenApiPath(r.path)] as Record<string, Operation>)[r.method];
      const responses = (op?.responses ?? {}) as Record<string, { content?: unknown }>;
      for (const [code, response] of Object.entries(responses).filter(([c]) => Number(c) < 400)) {
        expect(JSON.stringify(response.content ?? null), `${r.method} ${r.path} ${code}`).not.toContain('#/components/schemas/Error');
        expect(response.content, `${r.method} ${r.path} ${code}`).toEqual(responses[String(r.ok.status)]?.content);
      }
    }
  });

  it('give each route with parameters or a body a 400 with the error shape', () => {
    for (const r of ROUTES.filter((x) => x.params || x.query || x.body)) {
      const op = (served.paths?.[toOpenApiPath(r.path)] as Record<string, Operation>)[r.method];
      expect(op?.responses['400'], `${r.method} ${r.path}`).toMatchObject({ content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
    }
  });
});

describe('examples', () => {
  it('every route with a body documents an example that its zod schema accepts', () => {
    const withBody = ROUTES.filter((r) => r.body);
    expect(withBody.length).toBeGreaterThan(20);
    for (const r of withBody) {
      const body = r.body;
      if (!body) continue;
      const parsed = body.schema.safeParse(body.example);
      expect(parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`), `${r.method} ${r.path}`).toEqual([]);
      const op = (served.paths?.[toOpenApiPath(r.path)] as Record<string, Operation>)[r.method];
      const content = op?.requestBody?.content[body.contentType ?? 'application/json'];
      expect(content?.example, `${r.method} ${r.path}`).toEqual(JSON.parse(JSON.stringify(body.example)));
    }
  });

  it('a broken example is caught (the check above is not vacuous)', () => {
    const patch = ROUTES.find((r) => r.method === 'patch' && r.path === '/api/practices/:practiceId');
    expect(patch?.body?.schema.safeParse({ voicemailTranscription: true }).success).toBe(false);
  });
});

describe('answers', () => {
  it('of the read routes match their documented schemas', async () => {
    const practice = h.services.seeded;
    if (!practice) throw new Error('demo practice was not seeded');
    const { key } = await createApiKey(h.services.db, { role: 'admin', practiceId: practice.id });
    const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
      const res = await fetch(h.baseUrl + path, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      return { status: res.status, body: await res.json() };
    };
    const doc = (method: string, path: string): (typeof ROUTES)[number] => {
      const r = ROUTES.find((x) => x.method === method && x.path === path);
      if (!r) throw new Error(`${method} ${path} is not documented`);
      return r;
    };
    const provider = await call('POST', '/api/oncall/providers', doc('post', '/api/oncall/providers').body?.example);
    const providerId = (provider.body as { id: string }).id;
    const policyExample = { name: 'Nights', tiers: [{ target: { kind: 'provider', providerId }, ringSeconds: 25 }] };
    const checks: Array<[string, string, string, unknown?]> = [
      ['post', '/api/oncall/providers', '', provider],
      ['get', '/healthz', '/healthz'],
      ['get', '/api/whoami', '/api/whoami'],
      ['get', '/api/flows', '/api/flows'],
      ['get', '/api/practices/:practiceId', `/api/practices/${practice.id}`],
      ['get', '/api/oncall/providers', '/api/oncall/providers'],
      ['get', '/api/oncall/providers/:id', `/api/oncall/providers/${providerId}`],
      ['post', '/api/oncall/policies', '/api/oncall/policies', policyExample],
      ['get', '/api/oncall/policies', '/api/oncall/policies'],
      ['post', '/api/oncall/schedules', '/api/oncall/schedules', { name: 'Nights', rotation: { members: [providerId], length: 'daily', handoffTime: '19:00', startDate: '2026-11-01' } }],
      ['get', '/api/oncall/schedules', '/api/oncall/schedules'],
      ['get', '/api/oncall/now', '/api/oncall/now'],
      ['get', '/api/oncall/shifts', '/api/oncall/shifts?from=2026-11-25T00:00:00Z&to=2026-11-27T00:00:00Z'],
      ['get', '/api/voicemails', '/api/voicemails'],
      ['get', '/api/pages', '/api/pages'],
      ['post', '/api/opt-outs/check', '/api/opt-outs/check', doc('post', '/api/opt-outs/check').body?.example],
      ['get', '/api/opt-outs', '/api/opt-outs'],
      ['get', '/api/audit', '/api/audit?limit=50'],
      ['get', '/api/audit', '/api/audit?limit=50&order=newest&action=api.'],
      ['get', '/api/audit/verify', '/api/audit/verify'],
    ];
    for (const [method, path, url, body] of checks) {
      const r = doc(method, path);
      // The first entry reuses the answer already fetched.
      const res = url === '' ? (body as { status: number; body: unknown }) : await call(method.toUpperCase(), url, body);
      expect(res.status, `${method} ${url || path}`).toBe(r.ok.status);
      const parsed = r.ok.schema?.safeParse(res.body);
      expect(parsed?.success ? [] : parsed?.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`), `${method} ${path}`).toEqual([]);
    }
  });
});
