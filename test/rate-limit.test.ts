import net from 'node:net';
import express from 'express';
import request from 'supertest';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { processMaintenanceJob } from '../src/maintenance.js';
import { requestSource } from '../src/http/rate-limit.js';
import { DEFAULT_TEST_NOW, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, startHarness, type Harness } from './support/harness.js';
import { inboundParams } from './support/twilio-request.js';

let h: Harness;
let now = DEFAULT_TEST_NOW;
const keys: string[] = [];

beforeAll(async () => {
  h = await startHarness(
    'rate_limit',
    {
      // Every request comes from loopback; the tests name their sources through the (trusted) proxy header.
      TRUSTED_PROXIES: 'loopback',
      RATE_LIMIT_API_PER_SOURCE: '6',
      RATE_LIMIT_API_PER_KEY: '4',
      RATE_LIMIT_AUTH_FAILURES_PER_SOURCE: '3',
      RATE_LIMIT_TWILIO_UNSIGNED_PER_SOURCE: '3',
      AUDIT_REFUSALS_IN_FULL_PER_MINUTE: '2',
    },
    { clock: () => now },
  );
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  for (let i = 0; i < 4; i += 1) keys.push((await createApiKey(h.services.db, { role: 'admin', practiceId: h.services.seeded.id })).key);
});
afterAll(async () => {
  await h.close();
});

async function api(source: string, key?: string): Promise<{ status: number; retryAfter: string | null; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'x-forwarded-for': source };
  if (key !== undefined) headers.authorization = `Bearer ${key}`;
  const res = await fetch(`${h.baseUrl}/api/whoami`, { headers });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Record<string, unknown> };
}

async function twilioPost(source: string, params: Record<string, string>, signed: boolean): Promise<{ status: number; body: string; retryAfter: string | null }> {
  const path = '/twilio/voice/incoming';
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': source };
  if (signed) headers['x-twilio-signature'] = twilio.getExpectedTwilioSignature(TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL + path, params);
  const res = await fetch(h.baseUrl + path, { method: 'POST', headers, body: new URLSearchParams(params).toString() });
  return { status: res.status, body: await res.text(), retryAfter: res.headers.get('retry-after') };
}

async function actionCount(action: string): Promise<number> {
  const row = await h.services.db.selectFrom('audit_log').select((eb) => eb.fn.countAll<string>().as('n')).where('action', '=', action).executeTakeFirstOrThrow();
  return Number(row.n);
}

async function summaries(): Promise<Array<Record<string, unknown>>> {
  const rows = await h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'http.refusals_summary').orderBy('seq').execute();
  return rows.map((r) => r.details as Record<string, unknown>);
}

describe('/api limits', () => {
  it('per source: the budget spent, 429 with Retry-After; another source is still served', async () => {
    for (let i = 0; i < 6; i += 1) expect((await api('198.51.100.1', keys[i % 3])).status).toBe(200);
    const refused = await api('198.51.100.1', keys[3]);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ error: 'rate_limited' });
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(refused.retryAfter)).toBeLessThanOrEqual(60);
    expect((await api('198.51.100.2', keys[3])).status).toBe(200);
  });

  it('per key: one key over its budget is refused from any source', async () => {
    const key = (await createApiKey(h.services.db, { role: 'admin', practiceId: h.services.seeded?.id ?? '' })).key;
    for (let i = 0; i < 4; i += 1) expect((await api(`198.51.100.${10 + i}`, key)).status).toBe(200);
    const refused = await api('198.51.100.20', key);
    expect(refused.status).toBe(429);
    expect(refused.retryAfter).not.toBeNull();
    // The source itself is not spent: another key is served from it.
    expect((await api('198.51.100.20', keys[0])).status).toBe(200);
  });

  it('failed keys: once a source spent its budget even a valid key is refused before any lookup', async () => {
    for (let i = 0; i < 3; i += 1) expect((await api('198.51.100.30', 'nonsense')).status).toBe(401);
    const refused = await api('198.51.100.30', keys[0]);
    expect(refused.status).toBe(429);
    expect((await api('198.51.100.31', keys[0])).status).toBe(200);
  });
});

describe('calendar feed tokens', () => {
  it('bad feed tokens spend the same budget of failed credentials: 404s, then 429', async () => {
    const feed = async (): Promise<number> =>
      (await fetch(`${h.baseUrl}/feeds/oncall.ics?token=${'x'.repeat(43)}`, { headers: { 'x-forwarded-for': '198.51.100.40' } })).status;
    for (let i = 0; i < 3; i += 1) expect(await feed()).toBe(404);
    expect(await feed()).toBe(429);
  });
});

describe('/twilio limits', () => {
  it('unsigned requests: 403 until the budget is spent, then 429; a signed webhook from the same source is still answered', async () => {
    const params = inboundParams();
    for (let i = 0; i < 3; i += 1) expect((await twilioPost('203.0.113.5', params, false)).status).toBe(403);
    const refused = await twilioPost('203.0.113.5', params, false);
    expect(refused.status).toBe(429);
    expect(refused.retryAfter).not.toBeNull();
    const live = await twilioPost('203.0.113.5', params, true);
    expect(live.status).toBe(200);
    expect(live.body).toContain('<Response>');
  });

  it('an unsigned request from a spent source is refused before its body is read', async () => {
    for (let i = 0; i < 4; i += 1) await twilioPost('203.0.113.7', inboundParams(), false);
    // Headers only: the promised body never comes. The answer must not wait for it.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(h.server.port, '127.0.0.1', () => {
        socket.write(
          'POST /twilio/voice/incoming HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.7\r\n' +
            'Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000\r\n\r\nCallSid=',
        );
      });
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('\r\n\r\n')) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 429/);
    expect(answer.toLowerCase()).toContain('retry-after:');
  });

  it('a validly signed webhook for another account: 403, audited, and no call is started', async () => {
    const before = await actionCount('twilio.account_refused');
    const params = inboundParams({ AccountSid: `AC${'2'.repeat(32)}` });
    const res = await twilioPost('203.0.113.6', params, true);
    expect(res.status).toBe(403);
    expect(res.body).not.toContain('<Response>');
    expect(await actionCount('twilio.account_refused')).toBe(before + 1);
    const call = await h.services.db.selectFrom('calls').select('call_sid').where('call_sid', '=', params.CallSid ?? '').executeTakeFirst();
    expect(call).toBeUndefined();
    const row = await h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'twilio.account_refused').orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow();
    expect(JSON.stringify(row.details)).not.toContain('AC2222');
  });
});

describe('refused requests in the audit log', () => {
  it('a flood writes a few rows in full and one summary row per source per minute', async () => {
    const source = '192.0.2.77';
    const rejectedBefore = await actionCount('api.auth_rejected');
    const rows = async (): Promise<number> => Number((await h.services.db.selectFrom('audit_log').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n);
    const totalBefore = await rows();
    // One after another, so that exactly the budget (3) of failed keys is looked up.
    const statuses: number[] = [];
    for (let i = 0; i < 100; i += 1) statuses.push((await api(source)).status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(97);
    // 100 refusals: the in-full budget (2) of rows, nothing else yet.
    expect(await actionCount('api.auth_rejected')).toBe(rejectedBefore + 2);
    expect(await rows()).toBe(totalBefore + 2);
    expect((await summaries()).some((s) => s.source === source)).toBe(false);

    // The minute closes; the next refusal (any source) writes the summary.
    now = new Date(now.getTime() + 60_000);
    await api('192.0.2.78');
    const summary = (await summaries()).find((s) => s.source === source);
    expect(summary).toMatchObject({
      source,
      refused: 100,
      auditedInFull: 2,
      // Past the source's budget (6) the failed-key budget is not even looked at.
      counts: { 'api.auth_rejected:missing_key': 3, 'rate_limited:auth_failures': 3, 'rate_limited:api_source': 94 },
    });
    // Exactly one summary for that source's minute, however often the sweep runs.
    await processMaintenanceJob(h.services, { task: 'refusal-summaries' });
    expect((await summaries()).filter((s) => s.source === source)).toHaveLength(1);
  });

  it('a minute with no refusal beyond the in-full budget gets no summary; the sweep closes minutes without a new refusal', async () => {
    await api('192.0.2.90', 'nonsense');
    await api('192.0.2.91', 'nonsense');
    await api('192.0.2.91', 'nonsense');
    await api('192.0.2.91', 'nonsense');
    now = new Date(now.getTime() + 60_000);
    await processMaintenanceJob(h.services, { task: 'refusal-summaries' });
    const all = await summaries();
    expect(all.some((s) => s.source === '192.0.2.90')).toBe(false);
    expect(all.find((s) => s.source === '192.0.2.91')).toMatchObject({ refused: 3, auditedInFull: 2 });
  });
});

describe('the source of a request', () => {
  const appWith = (trust: string[] | false): express.Express => {
    const app = express();
    app.set('trust proxy', trust);
    app.get('/', (req, res) => void res.json({ source: requestSource(req) }));
    return app;
  };

  it('X-Forwarded-For is ignored unless the proxy is trusted', async () => {
    const plain = await request(appWith(false)).get('/').set('x-forwarded-for', '198.51.100.99');
    expect(plain.body.source).toMatch(/^(127\.0\.0\.1|::1)$/);
    const trusted = await request(appWith(['loopback'])).get('/').set('x-forwarded-for', '198.51.100.99');
    expect(trusted.body.source).toBe('198.51.100.99');
  });
});
