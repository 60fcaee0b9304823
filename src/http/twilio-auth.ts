import express, { type NextFunction, type Request, type Response } from 'express';
import twilio from 'twilio';
import { AuditAction } from '../audit/events.js';
import type { Services } from '../services.js';
import { logger } from '../log/logger.js';
import { routeLabel } from '../log/route-label.js';

/** Twilio's webhooks are a few kilobytes; anything near this is not from Twilio. */
const TWILIO_BODY_LIMIT = '64kb';

type SignatureRejection = 'missing' | 'invalid' | 'unreadable_body';

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
 * checked: 403, like a missing or wrong signature. Every refusal is audited; nothing else is done.
 */
export function verifyTwilioSignature(services: Services) {
  const readRaw = express.raw({ type: () => true, limit: TWILIO_BODY_LIMIT });
  return (req: Request, res: Response, next: NextFunction): void => {
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
      req.body = form ? params : undefined;
      next();
    });
  };
}

async function reject(services: Services, req: Request, res: Response, reason: SignatureRejection, bodyError?: string): Promise<void> {
  const route = routeLabel(req, '/twilio');
  // The error's type only (e.g. entity.too.large): a parser's message can quote the body.
  logger.warn('twilio signature rejected', { route, reason, ...(bodyError ? { errorType: bodyError } : {}) });
  try {
    await services.audit({ action: AuditAction.TwilioSignatureRejected, actor: 'unauthenticated', details: { route, reason } });
  } catch (err) {
    logger.error('audit write failed', { err });
  }
  if (!res.headersSent) res.status(403).type('text/plain').send('Forbidden');
}
