import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { logger, withLogContext } from '../log/logger.js';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;

/** Gives every request an id (the proxy's X-Request-Id when it is well-formed) and a log context. */
export function requestContext(req: Request, res: Response, next: NextFunction): void {
  const incoming = req.get('x-request-id');
  const requestId = incoming && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
  res.setHeader('X-Request-Id', requestId);
  const started = process.hrtime.bigint();
  withLogContext({ requestId }, () => {
    res.on('finish', () => {
      // Path only: never the query string or the body.
      logger.info('request', {
        method: req.method,
        // Path only, and never a playback link's token (it is a credential).
        route: (req.originalUrl.split('?')[0] ?? '').replace(/^\/playback\/[^/]+/, '/playback/:token').slice(0, 120),
        statusCode: res.statusCode,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
      });
    });
    next();
  });
}
