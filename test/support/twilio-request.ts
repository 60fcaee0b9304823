import twilio from 'twilio';
import { TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness } from './harness.js';

export function randomSid(prefix: 'CA' | 'RE'): string {
  return prefix + Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join('');
}

export function inboundParams(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    CallSid: randomSid('CA'),
    AccountSid: TEST_ACCOUNT_SID,
    From: '+12025550123',
    To: '+12025550100',
    Caller: '+12025550123',
    Called: '+12025550100',
    CallStatus: 'ringing',
    Direction: 'inbound',
    ApiVersion: '2010-04-01',
    ...overrides,
  };
}

/**
 * Posts a form to the harness as Twilio would, signed against the public URL (or not, or wrongly).
 * `signal` aborts the request and the reading of the answer (e.g. `AbortSignal.timeout(...)` for Twilio's limit).
 */
export async function postTwilio(
  h: Harness,
  pathAndQuery: string,
  params: Record<string, string>,
  sign: 'valid' | 'none' | 'wrong' | { token: string } | { url: string } = 'valid',
  opts: { signal?: AbortSignal } = {},
): Promise<{ status: number; body: string; contentType: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (sign !== 'none') {
    const token = typeof sign === 'object' && 'token' in sign ? sign.token : sign === 'wrong' ? 'not-the-token-0123456789' : TEST_AUTH_TOKEN;
    const url = typeof sign === 'object' && 'url' in sign ? sign.url : TEST_PUBLIC_BASE_URL + pathAndQuery;
    headers['x-twilio-signature'] = twilio.getExpectedTwilioSignature(token, url, params);
  }
  const res = await fetch(h.baseUrl + pathAndQuery, { method: 'POST', headers, body: new URLSearchParams(params).toString(), ...(opts.signal ? { signal: opts.signal } : {}) });
  return { status: res.status, body: await res.text(), contentType: res.headers.get('content-type') ?? '' };
}
