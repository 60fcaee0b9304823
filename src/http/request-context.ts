import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { isLogged, logger, withLogContext } from '../log/logger.js';
import { redactString } from '../log/redact.js';
import { routeLabel } from '../log/route-label.js';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;

/**
 * The proxy's X-Request-Id when it is well-formed and holds nothing the redaction would remove
 * (it is logged on every line as it is: a client could otherwise send a phone number or a date).
 */
function acceptRequestId(incoming: string | undefined): string | null {
  return incoming && SAFE_REQUEST_ID.test(incoming) && redactString(incoming) === incoming ? incoming : null;
}

/** Gives every request an id (the proxy's X-Request-Id when acceptable) and a log context. */
export function requestContext(req: Request, res: Response, next: NextFunction): void {
  const requestId = acceptRequestId(req.get('x-request-id')) ?? randomUUID();
  res.setHeader('X-Request-Id', requestId);
  const started = process.hrtime.bigint();
  withLogContext({ requestId }, () => {
    res.on('finish', () => {
      // Below the active level (LOG_LEVEL=warn or error): skip building a line that would be dropped.
      if (!isLogged('info')) return;
      // The matched route pattern, or the path's shape (our route words, other segments as
      // placeholders): never the raw path (it can carry a caller's number or a name), the
      // query string, the body or a playback token.
      logger.info('request', {
        method: req.method,
        route: routeLabel(req),
        statusCode: res.statusCode,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
      });
    });
    next();
  });
}
