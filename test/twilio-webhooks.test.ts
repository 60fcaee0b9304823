import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { inboundParams, postTwilio } from './support/twilio-request.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('webhooks', { TWILIO_AUTH_TOKEN_SECONDARY: 'rotating-token-0123456789abcdef' });
});
afterAll(async () => {
  await h.close();
});

async function auditActions(): Promise<string[]> {
  const rows = await h.services.db.selectFrom('audit_log').select('action').orderBy('seq').execute();
  return rows.map((r) => r.action);
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
    const res = await fetch(`${h.baseUrl}/twilio/voice/incoming`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': (await import('twilio')).default.getExpectedTwilioSignature('test-auth-token-0123456789abcdef', `${TEST_PUBLIC_BASE_URL}/twilio/voice/incoming`, params),
      },
      body: new URLSearchParams({ ...params, To: '+12025550111' }).toString(),
    });
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
    const row = await h.services.db.selectFrom('audit_log').selectAll().orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow();
    expect(row.action).toBe('twilio.webhook_malformed');
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
