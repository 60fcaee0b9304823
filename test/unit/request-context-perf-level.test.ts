import { describe, it, expect } from 'vitest';
import express, { type Request } from 'express';
import request from 'supertest';
import { captureLogs, isLogged, logger } from '../../src/log/logger.js';
import { requestContext } from '../../src/http/request-context.js';

/**
 * The per-request 'request' line is built only when it would be written: at the default test level
 * (warn) the finish handler does no work, and under captureLogs (debug) the line is as before.
 */

interface Probe {
  app: express.Express;
  /** How often the matched route was read after the response finished (routeLabel reads it to label the line). */
  routeReadsAfterFinish: () => number;
  finished: () => Promise<void>;
}

function probeApp(): Probe {
  let reads = 0;
  let done = false;
  let resolveFinished: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    resolveFinished = resolve;
  });
  const app = express();
  app.use(requestContext);
  app.get('/calls/:callSid', (req: Request, res) => {
    const route: unknown = req.route;
    Object.defineProperty(req, 'route', {
      get: () => {
        if (done) reads += 1;
        return route;
      },
      configurable: true,
    });
    // Around requestContext's own 'finish' listener: one before it (count from here), one after it (done).
    res.prependOnceListener('finish', () => {
      done = true;
    });
    res.once('finish', resolveFinished);
    res.type('text/plain').send('ok');
  });
  return { app, routeReadsAfterFinish: () => reads, finished: () => finished };
}

describe('requestContext log line', () => {
  // Under LOG_LEVEL=info or more verbose there is nothing to check here.
  it.skipIf(logger.isLevelEnabled('info'))('is not built when info is below the active level', async () => {
    expect(isLogged('info')).toBe(false);
    const probe = probeApp();
    const res = await request(probe.app).get('/calls/CA0123456789abcdef0123456789abcdef');
    await probe.finished();
    expect(res.status).toBe(200);
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(probe.routeReadsAfterFinish()).toBe(0);
  });

  it('is written, labelled with the route pattern, when info is enabled', async () => {
    const capture = captureLogs();
    try {
      const probe = probeApp();
      const res = await request(probe.app).get('/calls/CA0123456789abcdef0123456789abcdef?From=%2B12025550123');
      await probe.finished();
      expect(probe.routeReadsAfterFinish()).toBeGreaterThan(0);
      const lines = capture.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
      const line = lines.find((l) => l['message'] === 'request');
      expect(line).toMatchObject({
        level: 'info',
        method: 'GET',
        route: '/calls/:callSid',
        statusCode: 200,
        requestId: res.headers['x-request-id'],
      });
      expect(typeof line?.['durationMs']).toBe('number');
      expect(capture.lines().join('\n')).not.toContain('2025550123');
    } finally {
      capture.restore();
    }
  });
});
