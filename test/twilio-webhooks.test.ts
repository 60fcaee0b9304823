import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sql } from 'kysely';
import type { Services } from '../src/services.js';
import { startHarness, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { inboundParams, postTwilio } from './support/twilio-request.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';

const PG_URL = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');

let h: Harness;
/** PostgreSQL through a loopback fault proxy: `pg.hang()` stalls every query (lookups, audit writes) as a hung database does. */
let pg: FaultProxy;
beforeAll(async () => {
  pg = await startFaultProxy(Number(PG_URL.port || 5432), PG_URL.hostname);
  const viaProxy = new URL(PG_URL.href);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(pg.port);
  h = await startHarness('webhooks', { TWILIO_AUTH_TOKEN_SECONDARY: 'rotating-token-0123456789abcdef', DATABASE_URL: viaProxy.href });
});
afterAll(async () => {
  pg.restore();
  await h.close();
  await pg.close();
});

async function auditActions(): Promise<string[]> {
  const rows = await h.services.db.selectFrom('audit_log').select('action').orderBy('seq').execute();
  return rows.map((r) => r.action);
}

async function lastAuditRow(): Promise<{ action: string; details: unknown }> {
  return h.services.db
    .selectFrom('audit_log')
    .select(['action', 'details'])
    // Callback tasks are queued and their `task.created` rows land whenever the worker gets to them.
    .where('action', 'not like', 'task.%')
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirstOrThrow();
}

/** Posts a raw body (signed over `signedParams` when given) with its own content type. */
async function postRaw(
  path: string,
  body: string,
  contentType: string,
  signedParams?: Record<string, string>,
): Promise<{ status: number; body: string }> {
  const headers: Record<string, string> = { 'content-type': contentType };
  if (signedParams) headers['x-twilio-signature'] = twilio.getExpectedTwilioSignature(TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL + path, signedParams);
  const res = await fetch(h.baseUrl + path, { method: 'POST', headers, body });
  return { status: res.status, body: await res.text() };
}

async function callCount(): Promise<number> {
  const rows = await h.services.db.selectFrom('calls').select('call_sid').execute();
  return rows.length;
}

describe('Twilio signature check', () => {
  it('accepts a request signed against PUBLIC_BASE_URL (with its port) and answers TwiML', async () => {
    const res = await postTwilio(h, '/twilio/voice/incoming', inboundParams());
    expect(res.status).toBe(200);
    expect(res.contentType).toMatch(/xml/);
    expect(res.body).toContain('<Response>');
    expect(res.body).toContain('hang up and dial 911');
  });

  it('accepts a signature over a URL with a query string', async () => {
    const start = inboundParams();
    const first = await postTwilio(h, '/twilio/voice/incoming', start);
    const action = /action="([^"]+)"/.exec(first.body)?.[1]?.replaceAll('&amp;', '&');
    expect(action).toMatch(/^\/twilio\/voice\/flow\?s=1&n=[a-z_]+$/);
    const res = await postTwilio(h, action ?? '', { ...start, Digits: '1', CallStatus: 'in-progress' });
    expect(res.status).toBe(200);
    expect(res.body).toContain('For an urgent clinical question, press 1.');
  });

  it('refuses a signature that omits the query string it was sent with', async () => {
    const res = await postTwilio(h, '/twilio/voice/flow?s=1&n=language', inboundParams({ Digits: '2' }), { url: `${TEST_PUBLIC_BASE_URL}/twilio/voice/flow` });
    expect(res.status).toBe(403);
  });

  it('accepts the secondary token during rotation', async () => {
    const res = await postTwilio(h, '/twilio/voice/incoming', inboundParams(), { token: 'rotating-token-0123456789abcdef' });
    expect(res.status).toBe(200);
  });

  it('refuses a signature made for the internal host instead of the public URL', async () => {
    const res = await postTwilio(h, '/twilio/voice/incoming', inboundParams(), { url: `${h.baseUrl}/twilio/voice/incoming` });
    expect(res.status).toBe(403);
  });

  it.each(['none', 'wrong'] as const)('signature %s: 403, an audit event, and nothing else done', async (sign) => {
    const callsBefore = await callCount();
    const actionsBefore = await auditActions();
    const res = await postTwilio(h, '/twilio/voice/incoming', inboundParams(), sign);
    expect(res.status).toBe(403);
    expect(res.body).not.toContain('<Response');
    expect(await callCount()).toBe(callsBefore);
    const after = await auditActions();
    expect(after.slice(actionsBefore.length)).toEqual(['twilio.signature_rejected']);
    const row = await h.services.db.selectFrom('audit_log').selectAll().orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow();
    expect(row.details).toEqual({ route: '/voice/incoming', reason: sign === 'none' ? 'missing' : 'invalid' });
  });

  it('refuses a tampered parameter', async () => {
    const params = inboundParams();
    // Signed over the original parameters; the body carries a changed To.
    const res = await postRaw('/twilio/voice/incoming', new URLSearchParams({ ...params, To: '+12025550111' }).toString(), 'application/x-www-form-urlencoded', params);
    expect(res.status).toBe(403);
  });
});

describe('malformed but signed webhooks', () => {
  it('get valid TwiML that keeps the caller safe, and an audit event naming the fields', async () => {
    const res = await postTwilio(h, '/twilio/voice/incoming', inboundParams({ CallSid: 'not-a-sid', Digits: 'abc' }));
    expect(res.status).toBe(200);
    expect(res.contentType).toMatch(/xml/);
    expect(res.body).toMatch(/^<\?xml[^>]*\?><Response>/);
    expect(res.body).toContain('hang up and dial 911');
    // The answer does not wait for the audit write; the row follows.
    const row = await vi.waitFor(async () => {
      const last = await h.services.db.selectFrom('audit_log').selectAll().orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow();
      expect(last.action).toBe('twilio.webhook_malformed');
      return last;
    });
    expect(row.details).toMatchObject({ fields: expect.arrayContaining(['CallSid', 'Digits']) });
    expect(JSON.stringify(row.details)).not.toContain('abc');
  });

  it('an empty body still gets TwiML, never a stack trace', async () => {
    const res = await postTwilio(h, '/twilio/voice/flow?s=1&n=main_menu', {});
    expect(res.status).toBe(200);
    expect(res.body).toContain('<Response>');
    expect(res.body).not.toMatch(/Error|at .*\.ts/);
  });

  it('the fallback URL plays the disclaimer and forwards to the practice fallback number', async () => {
    const res = await postTwilio(h, '/twilio/voice/fallback', inboundParams({ ErrorCode: '11200', ErrorUrl: 'https://ahl.example.test/twilio/voice/incoming' }));
    expect(res.status).toBe(200);
    expect(res.body).toContain('hang up and dial 911');
    expect(res.body).toContain('<Number>+12025550199</Number>');
  });

  it('a call to a number no practice owns hears a generic message and is audited', async () => {
    const res = await postTwilio(h, '/twilio/voice/incoming', inboundParams({ To: '+12025550177' }));
    expect(res.status).toBe(200);
    expect(res.body).toContain('not in service');
    expect(res.body).not.toContain('Demo Family Medicine');
    expect((await auditActions()).at(-1)).toBe('call.unknown_number');
  });
});

describe('the provider leg', () => {
  it('a malformed whisper request hangs up the provider leg instead of forwarding it anywhere', async () => {
    const res = await postTwilio(h, `/twilio/voice/whisper?parent=CA${'b'.repeat(32)}&a=0`, { CallSid: 'nope' });
    expect(res.status).toBe(200);
    expect(res.body).toContain('<Hangup/>');
    expect(res.body).not.toContain('<Dial');
  });

  it('a whisper for a call with no state hangs up (nothing to bridge to)', async () => {
    const res = await postTwilio(h, `/twilio/voice/whisper?parent=CA${'b'.repeat(32)}&a=0`, inboundParams({ ParentCallSid: `CA${'b'.repeat(32)}`, Direction: 'outbound-dial' }));
    expect(res.body).toContain('<Hangup/>');
    expect(res.body).not.toContain('Press 1');
  });
});

describe('bodies the parser would refuse', () => {
  const many = (): Record<string, string> => {
    const params = inboundParams();
    for (let i = 0; i < 240; i += 1) params[`X${String(i).padStart(3, '0')}`] = 'x';
    return params;
  };

  it.each([
    ['250 parameters', (): { body: string; type: string } => ({ body: new URLSearchParams(many()).toString(), type: 'application/x-www-form-urlencoded' }), 'missing'],
    ['a 70 KB body', (): { body: string; type: string } => ({ body: `Pad=${'x'.repeat(70 * 1024)}`, type: 'application/x-www-form-urlencoded' }), 'unreadable_body'],
    ['charset=koi8-r', (): { body: string; type: string } => ({ body: new URLSearchParams(inboundParams()).toString(), type: 'application/x-www-form-urlencoded; charset=koi8-r' }), 'missing'],
  ])('unsigned, %s: 403 and a signature_rejected audit event, never TwiML', async (_label, make, reason) => {
    const { body, type } = make();
    const callsBefore = await callCount();
    const res = await postRaw('/twilio/voice/incoming', body, type);
    expect(res.status).toBe(403);
    expect(res.body).not.toContain('<Response');
    expect(await callCount()).toBe(callsBefore);
    expect(await lastAuditRow()).toEqual({ action: 'twilio.signature_rejected', details: { route: '/voice/incoming', reason } });
  });

  it('signed, with 250 parameters: checked, then answered with TwiML that keeps the caller safe', async () => {
    const params = many();
    const res = await postRaw('/twilio/voice/incoming', new URLSearchParams(params).toString(), 'application/x-www-form-urlencoded', params);
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/^<\?xml[^>]*\?><Response>/);
    expect(res.body).toContain('hang up and dial 911');
  });

  it('signed, declaring charset=koi8-r: checked, then answered with TwiML', async () => {
    const params = inboundParams();
    const res = await postRaw('/twilio/voice/incoming', new URLSearchParams(params).toString(), 'application/x-www-form-urlencoded; charset=koi8-r', params);
    expect(res.status).toBe(200);
    expect(res.body).toContain('hang up and dial 911');
  });

  it('signed and malformed (a broken CallSid among 250 parameters): the fail-safe TwiML', async () => {
    const params = { ...many(), CallSid: 'not-a-sid' };
    const res = await postRaw('/twilio/voice/incoming', new URLSearchParams(params).toString(), 'application/x-www-form-urlencoded', params);
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/^<\?xml[^>]*\?><Response>/);
    expect(res.body).toContain('hang up and dial 911');
  });
});

describe('what a refused request leaves in the audit log', () => {
  it('the path is redacted: no digits of a number or a date from an unsigned request', async () => {
    const res = await postTwilio(h, '/twilio/voice/04151980', inboundParams(), 'none');
    expect(res.status).toBe(403);
    const row = await lastAuditRow();
    expect(row).toEqual({ action: 'twilio.signature_rejected', details: { route: '/voice/:segment', reason: 'missing' } });
    const phone = await postTwilio(h, '/twilio/voice/%2B12025550123', inboundParams(), 'none');
    expect(phone.status).toBe(403);
    expect(JSON.stringify(await lastAuditRow())).not.toMatch(/2025550123|0415/);
  });
});

describe("Twilio's fallback URL and the fail-safe answers", () => {
  it('on a fresh instance (nothing cached), forwards to the practice fallback number looked up in PostgreSQL', async () => {
    await h.restart();
    const res = await postTwilio(h, '/twilio/voice/fallback', inboundParams({ ErrorCode: '11200' }));
    expect(res.status).toBe(200);
    expect(res.body).toContain('hang up and dial 911');
    expect(res.body).toContain('<Number>+12025550199</Number>');
    await vi.waitFor(async () => expect((await lastAuditRow()).action).toBe('twilio.fallback'));
  });

  it('forwards to the fallback of a practice this instance has never seen (added by another instance)', async () => {
    // Written straight to the database, as another instance's admin change would be: nothing here knows it.
    const practice = await h.services.db
      .insertInto('practices')
      .values({ slug: 'elsewhere', name: 'Elsewhere Clinic', time_zone: 'America/Chicago', fallback_number: '+13125550199' })
      .returning('id')
      .executeTakeFirstOrThrow();
    await h.services.db.insertInto('practice_numbers').values({ e164: '+13125550100', practice_id: practice.id }).execute();
    const res = await postTwilio(h, '/twilio/voice/fallback', inboundParams({ To: '+13125550100', Called: '+13125550100', ErrorCode: '11200' }));
    expect(res.status).toBe(200);
    expect(res.body).toContain('hang up and dial 911');
    expect(res.body).toContain('<Number>+13125550199</Number>');
    // The lookup also taught this instance the number's fallback: a later failure on it forwards there too.
    const bad = await postTwilio(h, '/twilio/voice/incoming', inboundParams({ To: '+13125550100', Called: '+13125550100', CallSid: 'nope' }));
    expect(bad.body).toContain('<Number>+13125550199</Number>');
  });

  it('the last-resort error handler answers a /twilio request with the practice fallback number', async () => {
    const services = h.services as { -readonly [K in keyof Services]: Services[K] };
    const { audit } = services;
    // An audit write that throws at once (rather than rejecting) escapes the fallback route to the app's error handler.
    services.audit = (event) => {
      if (!Array.isArray(event) && event.action === 'twilio.fallback') throw new Error('audit unavailable');
      return audit(event);
    };
    try {
      const res = await postTwilio(h, '/twilio/voice/fallback', inboundParams({ ErrorCode: '11200' }));
      expect(res.status).toBe(200);
      expect(res.contentType).toMatch(/xml/);
      expect(res.body).toContain('hang up and dial 911');
      expect(res.body).toContain('<Number>+12025550199</Number>');
    } finally {
      services.audit = audit;
    }
  });

  it('answers within its time budget when PostgreSQL hangs (lookup and audit write)', async () => {
    // A fresh instance (its fallback numbers preloaded, no practice cached), so the lookup runs and the budget shows.
    await h.restart();
    // Every pool connection open and idle, so the lookup is sent on one (not stuck connecting, which the pool's own connect timeout ends).
    await Promise.all(Array.from({ length: 10 }, () => sql`SELECT pg_sleep(0.05)`.execute(h.services.db)));
    // PostgreSQL hangs: the practice lookup and the audit writes get no answer until the pool's query timeout.
    const sentBefore = pg.heldBytes();
    pg.hang();
    try {
      const started = Date.now();
      const res = await postTwilio(h, '/twilio/voice/fallback', inboundParams());
      const took = Date.now() - started;
      expect(res.status).toBe(200);
      expect(res.body).toContain('hang up and dial 911');
      // The number's last known fallback, from memory.
      expect(res.body).toContain('<Number>+12025550199</Number>');
      expect(took).toBeLessThan(4_000);
      // The service did ask PostgreSQL (held back by the hang): the answer came despite it.
      expect(pg.heldBytes()).toBeGreaterThan(sentBefore);

      // A malformed webhook is answered at once too: the audit write happens behind the answer.
      const t0 = Date.now();
      const bad = await postTwilio(h, '/twilio/voice/incoming', inboundParams({ CallSid: 'nope' }));
      expect(bad.status).toBe(200);
      expect(bad.body).toContain('hang up and dial 911');
      expect(Date.now() - t0).toBeLessThan(1_000);
    } finally {
      pg.restore();
    }
  }, 15_000);
});
