import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import type { Config } from '../config.js';

/** Longest query string served: ours are a few short ids; anything longer is refused (JSON 414). */
const MAX_QUERY_LENGTH = 2048;

/**
 * The service serves JSON, TwiML, audio (/audio, playback links) and the console at /console/
 * (a React build: scripts, styles, fonts and images from 'self', no inline scripts or styles).
 * Nothing may frame it, nothing leaks a URL in a Referer (playback and feed tokens live in
 * paths), and in production browsers are told to use HTTPS only.
 */
const CONTENT_SECURITY_POLICY: Record<string, string[]> = {
  'default-src': ["'self'"],
  'script-src': ["'self'"],
  'style-src': ["'self'"],
  'img-src': ["'self'", 'data:'],
  'font-src': ["'self'"],
  'media-src': ["'self'"],
  'connect-src': ["'self'"],
  'object-src': ["'none'"],
  'base-uri': ["'none'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
};

export function securityHeaders(config: Pick<Config, 'env'>): RequestHandler {
  const production = config.env === 'production';
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: production ? { ...CONTENT_SECURITY_POLICY, 'upgrade-insecure-requests': [] } : CONTENT_SECURITY_POLICY,
    },
    strictTransportSecurity: production ? { maxAge: 31_536_000, includeSubDomains: true } : false,
    referrerPolicy: { policy: 'no-referrer' },
    frameguard: { action: 'deny' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    crossOriginOpenerPolicy: { policy: 'same-origin' },
  });
}

/** A query string longer than MAX_QUERY_LENGTH: 414 in JSON, before anything parses it. */
export function queryLengthCap(req: Request, res: Response, next: NextFunction): void {
  const at = req.originalUrl.indexOf('?');
  if (at >= 0 && req.originalUrl.length - at - 1 > MAX_QUERY_LENGTH) {
    res.status(414).json({ error: 'uri_too_long', message: `the query string is longer than ${MAX_QUERY_LENGTH} characters` });
    return;
  }
  next();
}
