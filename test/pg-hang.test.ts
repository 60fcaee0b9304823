import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createDb } from '../src/adapters/postgres.js';
import { createRedis } from '../src/adapters/redis.js';
import { preloadFallbackNumbers } from '../src/calls/fallback-numbers.js';
import { handleFlowWebhook } from '../src/calls/voice-service.js';
import type { VoiceWebhook } from '../src/calls/twilio-params.js';
import { EMERGENCY_DISCLAIMER } from '../src/calls/fail-safe.js';
import { parseTwiml } from '../devtools/simulator/twiml.js';
import { captureLogs } from '../src/log/logger.js';
import { startHarness, type Harness } from './support/harness.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { inboundParams, postTwilio } from './support/twilio-request.js';
import { tenantScope } from '../src/tenancy/mint.js';

/**
 * PostgreSQL that hangs instead of refusing connections: the service reaches it through a
 * loopback proxy that can be frozen (connections are accepted, no byte goes through). The
 * caller must still get the fail-safe answer; nothing here measures time.
 */

const REAL_URL = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
const REDIS_URL = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const PRACTICE = '+12025550100';
const PRACTICE_FALLBACK = '+12025550199';

let proxy: FaultProxy;
let logs: ReturnType<typeof captureLogs>;

function viaProxy(): string {
  const url = new URL(REAL_URL.href);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  return url.href;
}

beforeAll(async () => {
  logs = captureLogs();
  proxy = await startFaultProxy(Number(REAL_URL.port || 5432), REAL_URL.hostname);
});
afterAll(async () => {
  proxy.restore();
  await proxy.close();
  logs.restore();
});

describe('the database pool against a hung PostgreSQL', () => {
  it('a query on a connection that stopped answering fails, and that connection is not used again', async () => {
    const db = createDb(viaProxy(), 'public', 1, { queryMs: 300, connectMs: 2_000 });
    try {
      await sql`SELECT 1`.execute(db);
      // The one open connection goes silent; new connections still work.
      proxy.hangExisting();
      await expect(sql`SELECT 1`.execute(db)).rejects.toThrow('Query read timeout');
      // Reused, the silent connection would keep every later query waiting behind the lost one.
      const { rows } = await sql<{ ok: number }>`SELECT 1 AS ok`.execute(db);
      expect(rows).toEqual([{ ok: 1 }]);
    } finally {
      proxy.restore();
      await db.destroy();
    }
  });

  it('with the service defaults, a query to a server that stopped answering fails instead of hanging', { timeout: 30_000 }, async () => {
    const db = createDb(viaProxy(), 'public', 2);
    try {
      await sql`SELECT 1`.execute(db);
      proxy.hang();
      await expect(sql`SELECT 1`.execute(db)).rejects.toThrow();
    } finally {
      proxy.restore();
      await db.destroy();
    }
  });

  it('PostgreSQL itself cancels a statement that runs too long', async () => {
    const db = createDb(REAL_URL.href, 'public', 1, { statementMs: 200, queryMs: 0 });
    try {
      await expect(sql`SELECT pg_sleep(3)`.execute(db)).rejects.toThrow(/statement timeout/);
    } finally {
      await db.destroy();
    }
  });

  it('opening a connection to a server that never answers fails', async () => {
    proxy.hang();
    const db = createDb(viaProxy(), 'public', 1, { connectMs: 300 });
    try {
      await expect(sql`SELECT 1`.execute(db)).rejects.toThrow(/timeout/i);
    } finally {
      proxy.restore();
      await db.destroy();
    }
  });
});

describe('Redis that hangs', () => {
  it('a command gets an error instead of waiting for ever', { timeout: 30_000 }, async () => {
    const redisProxy = await startFaultProxy(Number(REDIS_URL.port || 6379), REDIS_URL.hostname);
    const redis = createRedis(`redis://127.0.0.1:${redisProxy.port}`, 'test-pg-hang:');
    try {
      await redis.connect();
      await redis.ping();
      redisProxy.hang();
      await expect(redis.get('anything')).rejects.toThrow(/timed out/i);
    } finally {
      redisProxy.restore();
      redis.disconnect();
      await redisProxy.close();
    }
  });
});

describe('an incoming call while PostgreSQL hangs', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness('pg_hang', { DATABASE_URL: viaProxy() });
    // As the service start does: where to forward callers is known before the first call.
    await preloadFallbackNumbers(h.services);
  });
  afterAll(async () => {
    proxy.restore();
    await h.close();
  });

  it('answers with the disclaimer and forwards to the practice fallback number', { timeout: 30_000 }, async () => {
    proxy.hang();
    try {
      const res = await postTwilio(h, '/twilio/voice/incoming', inboundParams({ To: PRACTICE }));
      expect(res.status).toBe(200);
      const verbs = parseTwiml(res.body);
      expect(verbs[0]).toMatchObject({ verb: 'Say', text: EMERGENCY_DISCLAIMER });
      expect(verbs).toContainEqual(expect.objectContaining({ verb: 'Dial' }));
      expect(res.body).toContain(PRACTICE_FALLBACK);
    } finally {
      proxy.restore();
    }
  });

  it('whatever else hangs (here the audit write), the flow webhook answers fail-safe by its deadline', async () => {
    const audit = h.services.audit;
    h.services.audit = () => new Promise<void>(() => undefined);
    try {
      const twiml = await handleFlowWebhook(h.services, (id) => tenantScope(h.services, id), { kind: 'incoming' }, inboundParams({ To: PRACTICE }) as unknown as VoiceWebhook, 300);
      expect(parseTwiml(twiml)[0]).toMatchObject({ verb: 'Say', text: EMERGENCY_DISCLAIMER });
      expect(twiml).toContain(PRACTICE_FALLBACK);
    } finally {
      h.services.audit = audit;
    }
  });
});
