import type { NextFunction, Request, Response } from 'express';
import twilio from 'twilio';
import { AuditAction } from '../audit/events.js';
import type { Services } from '../services.js';
import { logger } from '../log/logger.js';

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
 * Checks X-Twilio-Signature against PUBLIC_BASE_URL + the original URL (never the Host
 * header: the service runs behind TLS-terminating proxies). On failure: 403, an audit
 * event, nothing else.
 */
export function verifyTwilioSignature(services: Services) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const url = services.config.publicBaseUrl + req.originalUrl;
    const signature = req.get('x-twilio-signature');
    const params = (req.body ?? {}) as Record<string, unknown>;
    if (isValidTwilioSignature(services.config.twilio.authTokens, signature, url, params)) {
      next();
      return;
    }
    logger.warn('twilio signature rejected', { route: req.path.slice(0, 120), reason: signature ? 'invalid' : 'missing' });
    try {
      await services.audit({
        action: AuditAction.TwilioSignatureRejected,
        actor: 'unauthenticated',
        details: { route: req.path.slice(0, 120), reason: signature ? 'invalid' : 'missing' },
      });
    } catch (err) {
      logger.error('audit write failed', { err });
    }
    res.status(403).type('text/plain').send('Forbidden');
  };
}
