import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { boundTwilioRoutes } from '../../src/http/twilio-deadline.js';

/** Every Twilio route answers by its deadline, whatever its handler waits on. */

function app(ms: number): express.Express {
  const a = express();
  a.use(boundTwilioRoutes(ms, (req) => (req.path === '/recording' ? { status: 503, twiml: '<Response/>' } : { status: 200, twiml: '<Response><Say>safe</Say></Response>' })));
  // Handlers that never answer (a hung dependency), and one that answers late.
  a.post('/hangs', () => undefined);
  a.post('/recording', () => undefined);
  a.post('/late', (_req, res) => {
    setTimeout(() => {
      if (!res.headersSent) res.type('text/xml').send('<Response><Say>late</Say></Response>');
    }, 200);
  });
  a.post('/quick', (_req, res) => {
    res.type('text/xml').send('<Response><Say>quick</Say></Response>');
  });
  return a;
}

describe('boundTwilioRoutes', () => {
  it("a handler that never answers: the route's safe answer is sent", async () => {
    const res = await request(app(50)).post('/hangs');
    expect(res.status).toBe(200);
    expect(res.text).toBe('<Response><Say>safe</Say></Response>');
    expect(res.headers['content-type']).toContain('text/xml');
  });

  it('the recording callback out of time is not acknowledged (503: Twilio retries)', async () => {
    const res = await request(app(50)).post('/recording');
    expect(res.status).toBe(503);
  });

  it("a handler that answers in time keeps its answer; one that answers late is superseded", async () => {
    const a = app(50);
    expect((await request(a).post('/quick')).text).toContain('quick');
    expect((await request(a).post('/late')).text).toContain('safe');
  });
});
