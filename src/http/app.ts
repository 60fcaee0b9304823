import { unsubscribeRouter } from './email-routes.js';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Services } from '../services.js';
import { logger } from '../log/logger.js';
import { failSafeTwiml } from '../calls/voice-service.js';
import { apiRouter } from './api-routes.js';
import { requestContext } from './request-context.js';
import { routeLabel } from '../log/route-label.js';
import { twilioRouter } from './twilio-routes.js';
import { playbackRouter } from './voicemail-routes.js';
import { rvmWebhookRouter } from './drops-routes.js';
import { oncallFeedRouter } from './oncall-routes.js';
import { queryLengthCap, securityHeaders } from './headers.js';
import { metricsRouter, requestMetrics } from './metrics-routes.js';
import { consoleRouter } from './console-routes.js';
import { OPENAPI_PATH, openApiDocument } from './openapi.js';

export function createApp(services: Services): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // The client's address comes from X-Forwarded-For only through the proxies named in TRUSTED_PROXIES.
  app.set('trust proxy', services.config.trustedProxies.length > 0 ? services.config.trustedProxies : false);
  app.use(requestContext);
  // First, so that every answer is timed and counted, the early refusals (414) included.
  app.use(requestMetrics(services.metrics));
  app.use(securityHeaders(services.config));
  app.use(queryLengthCap);
  // No answer is kept by a browser or a proxy: /api answers hold PHI (a shared computer's cache,
  // the back button after sign-out). Only the console's hashed assets say otherwise (console-routes.ts).
  app.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Prometheus: behind METRICS_TOKEN, and only here when METRICS_PORT does not serve it instead.
  app.use(metricsRouter(services));
  app.get('/readyz', async (_req, res) => {
    const { ready, checks } = await services.readiness();
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks });
  });

  // Pre-rendered prompts (no PHI) that <Play> fetches; Twilio requests them unsigned.
  app.use('/audio', express.static(services.config.audioDir, { index: false, dotfiles: 'ignore', fallthrough: true, maxAge: '1h' }));
  app.use('/twilio', twilioRouter(services));
  // The API's OpenAPI document, built once: it documents routes, not data, so no key is needed.
  const openApiJson = JSON.stringify(openApiDocument(services.config.publicBaseUrl));
  app.get(OPENAPI_PATH, (_req, res) => {
    res.type('application/json').send(openApiJson);
  });
  app.use('/api', apiRouter(services));
  // The staff console's bundle (web/): its own caching (hashed assets for a year, index.html never).
  app.use(consoleRouter(services.config));
  app.use(rvmWebhookRouter(services));
  // Providers' calendar feeds: the per-provider token in the URL is the credential (calendar apps send no headers).
  app.use(oncallFeedRouter(services));
  // Single-use voicemail links (<Play> on the access line): the token is the credential.
  app.use(playbackRouter(services));
  // Notice e-mails' unsubscribe links (page and one-click POST): the signed token is the credential.
  app.use(unsubscribeRouter(services));

  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found' });
  });
  // Last resort: never a stack trace; Twilio routes still get TwiML.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : 500;
    const route = routeLabel(req);
    if (status >= 400 && status < 500) {
      // A client error's message quotes the request (a body parser's snippet of the body, a path
      // parameter that would not decode): it can hold a patient's name, so only its kind is logged.
      const type = (err as { type?: unknown }).type;
      const name = err instanceof Error ? err.name : 'Error';
      logger.warn('request refused', { route, errorType: typeof type === 'string' ? type : name, statusCode: status });
    } else {
      logger.error('request failed', { err, route, statusCode: status });
    }
    if (res.headersSent) return;
    if (req.originalUrl.startsWith('/twilio/')) {
      // The practice's own fallback line when the body was read and names the number called.
      const to = (req.body as Record<string, unknown> | undefined)?.To;
      services.metrics.countFailSafe('last_resort');
      res.status(200).type('text/xml').send(failSafeTwiml(services, typeof to === 'string' ? to : undefined));
      return;
    }
    res.status(status >= 400 && status < 500 ? status : 500).json({
      error: status >= 400 && status < 500 ? 'bad_request' : 'internal_error',
      message: status >= 400 && status < 500 ? 'the request could not be read' : 'something went wrong; it has been logged',
    });
  });
  return app;
}
