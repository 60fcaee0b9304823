import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Services } from '../services.js';
import type { Metrics } from '../adapters/metrics.js';
import { logger } from '../log/logger.js';
import { routeLabel } from '../log/route-label.js';

/** A request no route matched: one label for all of them, so a scanner cannot mint series. */
const UNMATCHED_ROUTE = 'unmatched';

/**
 * The label a request's metrics carry: the matched route pattern (src/log/route-label.ts, never
 * the raw path), or `unmatched`. Unmatched paths are not shaped as in the logs: their number of
 * segments is the sender's choice, and every distinct label is a series kept for good.
 */
export function metricsRoute(req: Request): string {
  const pattern = (req.route as { path?: unknown } | undefined)?.path;
  return typeof pattern === 'string' ? routeLabel(req) : UNMATCHED_ROUTE;
}

/** Times every request and counts its answer (mounted first in app.ts). */
export function requestMetrics(metrics: Metrics) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      metrics.observeRequest(req.method, metricsRoute(req), res.statusCode, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  };
}

/** Constant time whatever the lengths: both sides are hashed to 32 bytes first. */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** GET /metrics: Prometheus text; `Authorization: Bearer <METRICS_TOKEN>` when a token is configured. */
function scrapeHandler(services: Services, token: string | undefined) {
  return async (req: Request, res: Response): Promise<void> => {
    if (token !== undefined) {
      const match = /^Bearer ([^\s]{1,512})$/.exec(req.get('authorization') ?? '');
      if (!match?.[1] || !sameSecret(match[1], token)) {
        res.setHeader('WWW-Authenticate', 'Bearer realm="metrics"');
        res.status(401).json({ error: 'unauthorized' });
        return;
      }
    }
    try {
      const { contentType, body } = await services.metrics.scrape();
      res.status(200).type(contentType).send(body);
    } catch (err) {
      logger.error('metrics scrape failed', { err });
      res.status(500).json({ error: 'internal_error', message: 'something went wrong; it has been logged' });
    }
  };
}

/**
 * `/metrics` on the service's own port: only when METRICS_TOKEN is set and METRICS_PORT is not
 * (then it is served there instead). Otherwise nothing is mounted and the path answers 404.
 */
export function metricsRouter(services: Services): express.Router {
  const router = express.Router();
  const { token, port } = services.config.metrics;
  if (token !== undefined && port === undefined) router.get('/metrics', scrapeHandler(services, token));
  return router;
}

/**
 * The app served on METRICS_PORT (METRICS_HOST, loopback by default): `/metrics` only, behind
 * the token when one is set (otherwise the port itself must be private), 404 for anything else.
 */
export function createMetricsApp(services: Services): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    next();
  });
  app.get('/metrics', scrapeHandler(services, services.config.metrics.token));
  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found' });
  });
  return app;
}
