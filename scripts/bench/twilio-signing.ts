import { randomBytes } from 'node:crypto';
import twilio from 'twilio';
import type autocannon from 'autocannon';

export function randomCallSid(): string {
  return `CA${randomBytes(16).toString('hex')}`;
}

/** The parameters Twilio posts when a call arrives, with a fresh CallSid. */
export function inboundCallParams(accountSid: string, to: string, from: string): Record<string, string> {
  return {
    CallSid: randomCallSid(),
    AccountSid: accountSid,
    From: from,
    To: to,
    Caller: from,
    Called: to,
    CallStatus: 'ringing',
    Direction: 'inbound',
    ApiVersion: '2010-04-01',
  };
}

export function signedForm(authToken: string, publicUrl: string, params: Record<string, string>): { body: string; headers: Record<string, string> } {
  return {
    body: new URLSearchParams(params).toString(),
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-twilio-signature': twilio.getExpectedTwilioSignature(authToken, publicUrl, params),
    },
  };
}

/**
 * An autocannon request that posts a freshly built, signed Twilio form each time:
 * `makeParams` is called per request, and the signature covers `publicBaseUrl + path`
 * (what the service checks), not the loopback URL the request is sent to.
 */
export function signedTwilioRequest(opts: {
  path: string;
  publicBaseUrl: string;
  authToken: string;
  makeParams: () => Record<string, string>;
}): autocannon.Request {
  const publicUrl = opts.publicBaseUrl + opts.path;
  return {
    method: 'POST',
    path: opts.path,
    setupRequest: (req) => {
      const { body, headers } = signedForm(opts.authToken, publicUrl, opts.makeParams());
      return { ...req, method: 'POST', path: opts.path, body, headers: { ...req.headers, ...headers } };
    },
  };
}
