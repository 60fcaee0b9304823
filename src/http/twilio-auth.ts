import express, { type NextFunction, type Request, type Response } from 'express';
import twilio from 'twilio';
import { AuditAction } from '../audit/events.js';
import type { AppContext } from '../app-context.js';
import { logger } from '../log/logger.js';
import { routeLabel } from '../log/route-label.js';
import { consumeLimit, countRefusal, limitSpent, limitersFor, refuseRateLimited, requestSource } from './rate-limit.js';

/** Twilio's webhooks are a few kilobytes; anything near this is not from Twilio. */
const TWILIO_BODY_LIMIT = '64kb';

type SignatureRejection = 'missing' | 'invalid' | 'unreadable_body';

/**
 * What checking a webhook takes: the configuration (tokens, our account), and what the rate
 * limiters and the refusal audit take (their own parameter types: narrowing them narrows this).
 */
type SignatureDeps = Pick<AppContext, 'config'> & Parameters<typeof limitersFor>[0] & Parameters<typeof refuseRateLimited>[0] & Parameters<typeof countRefusal>[0];

/** Pure: does the signature match the URL and parameters under any accepted token? */
export function isValidTwilioSignature(
  tokens: readonly string[],
  signature: string | undefined,
  url: string,
  params: Record<string, unknown>,
): boolean {
  if (!signature) return false;
  return tokens.some((token) => twilio.validateRequest(token, signature, url, params));
}

/**
 * Pure: an application/x-www-form-urlencoded body (UTF-8, as Twilio sends it) as the
 * parameters Twilio signed: every name once, a repeated name as an array of its values.
 * No parameter-count limit here: the body is already bounded, and a limit would turn a
 * signed request into one whose signature cannot be checked.
 */
export function parseFormBody(text: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of new URLSearchParams(text)) {
    const prev = Object.prototype.hasOwnProperty.call(out, name) ? out[name] : undefined;
    // defineProperty: a parameter named __proto__ stays a plain data property.
    Object.defineProperty(out, name, {
      value: prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value],
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/**
 * Every /twilio route starts here, before anything else reads the request: the raw body is
 * read (bounded), parsed into the signed parameters, and X-Twilio-Signature is checked
 * against PUBLIC_BASE_URL + the original URL (never the Host header: the service runs behind
 * TLS-terminating proxies). Only a verified request gets `req.body` and reaches a route.
 * A body that cannot be read (too large, broken encoding, aborted) cannot have its signature
 * checked: 403, like a missing or wrong signature. Every refusal is counted in the source's refusal
 * summary (../audit/refusals.ts; a row each while the minute's budget lasts); nothing else is done.
 * Failed checks spend the source's budget (RATE_LIMIT_TWILIO_UNSIGNED_PER_SOURCE): beyond it, 429.
 * A signed request whose AccountSid is not ours: 403.
 */
export function verifyTwilioSignature(services: SignatureDeps) {
  const readRaw = express.raw({ type: () => true, limit: TWILIO_BODY_LIMIT });
  const limiters = limitersFor(services);
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    // An unsigned request from a source whose budget of failed checks is spent: refused before
    // its body is read. A request with a signature is always read and checked (it may be a live call).
    if (!req.get('x-twilio-signature')) {
      const spent = await limitSpent(limiters.twilioUnsigned, requestSource(req));
      if (!spent.ok) return refuseRateLimited(services, req, res, 'twilioUnsigned', spent, 'text');
    }
    readRaw(req, res, (err?: unknown) => {
      const signature = req.get('x-twilio-signature');
      if (err !== undefined && err !== null) {
        const type = (err as { type?: unknown }).type;
        void reject(services, req, res, 'unreadable_body', typeof type === 'string' ? type : 'unknown');
        return;
      }
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const form = typeof req.is('application/x-www-form-urlencoded') === 'string';
      const params = form ? parseFormBody(raw.toString('utf8')) : {};
      const url = services.config.publicBaseUrl + req.originalUrl;
      if (!isValidTwilioSignature(services.config.twilio.authTokens, signature, url, params)) {
        void reject(services, req, res, signature ? 'invalid' : 'missing');
        return;
      }
      // Signed with our token but for another account (a subaccount's number pointed here, a
      // replay from elsewhere): not ours to act on. A webhook without AccountSid goes on to its
      // route's own checks (voice routes refuse it as malformed, with safe TwiML).
      const accountSid = params.AccountSid;
      if (accountSid !== undefined && accountSid !== services.config.twilio.accountSid) {
        void refuseForeignAccount(services, req, res);
        return;
      }
      req.body = form ? params : undefined;
      next();
    });
  };
}

/**
 * A failed check: counted against the source's budget of failed checks (429 once it is spent),
 * and audited through the refusal summary (one row each only while the source's minute lasts).
 */
async function reject(services: SignatureDeps, req: Request, res: Response, reason: SignatureRejection, bodyError?: string): Promise<void> {
  const route = routeLabel(req, '/twilio');
  const source = requestSource(req);
  const verdict = await consumeLimit(limitersFor(services).twilioUnsigned, source);
  if (!verdict.ok) return refuseRateLimited(services, req, res, 'twilioUnsigned', verdict, 'text');
  // The error's type only (e.g. entity.too.large): a parser's message can quote the body.
  logger.warn('twilio signature rejected', { route, reason, ...(bodyError ? { errorType: bodyError } : {}) });
  await countRefusal(services, {
    source,
    kind: `${AuditAction.TwilioSignatureRejected}:${reason}`,
    event: { action: AuditAction.TwilioSignatureRejected, actor: 'unauthenticated', details: { route, reason } },
  });
  if (!res.headersSent) res.status(403).type('text/plain').send('Forbidden');
}

async function refuseForeignAccount(services: SignatureDeps, req: Request, res: Response): Promise<void> {
  const route = routeLabel(req, '/twilio');
  // Neither AccountSid is logged or audited: only that it was not ours.
  logger.warn('twilio webhook for another account refused', { route });
  await countRefusal(services, {
    source: requestSource(req),
    kind: `${AuditAction.TwilioAccountRefused}:foreign_account`,
    event: { action: AuditAction.TwilioAccountRefused, actor: 'twilio', details: { route, reason: 'foreign_account' } },
  });
  if (!res.headersSent) res.status(403).type('text/plain').send('Forbidden');
}
