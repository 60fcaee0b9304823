import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/config.js';
import { startServices, type Services } from '../../src/services.js';
import { startWorkers, type RunningWorkers } from '../../src/workers.js';
import { createApp } from '../../src/http/app.js';
import { listen, type RunningServer } from '../../src/http/server.js';
import { type Db, createDb } from '../../src/adapters/postgres.js';
import { twilioRestMode } from '../../src/adapters/twilio-rest.js';
import { createLogTwilioRest } from '../../devtools/twilio-log-mode.js';

export const TEST_PUBLIC_BASE_URL = 'https://ahl.example.test:8443';
export const TEST_AUTH_TOKEN = 'test-auth-token-0123456789abcdef';
export const TEST_ACCOUNT_SID = `AC${'1'.repeat(32)}`;

/**
 * Tests run on a fixed clock unless they bring their own: Wednesday 2026-11-25 22:00 in New
 * York, when the demo practice is closed — so no test depends on the hour CI runs at.
 */
export const DEFAULT_TEST_NOW = new Date('2026-11-26T03:00:00Z');

export interface Harness {
  config: Config;
  services: Services;
  server: RunningServer;
  /** http://127.0.0.1:<port> — where requests are actually sent. */
  baseUrl: string;
  schema: string;
  keyPrefix: string;
  /** Stops the service and starts it again on the same schema, Redis prefix and data (a deploy or a crash-restart). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the whole service against the real PostgreSQL and Redis, isolated in a schema and
 * a Redis key prefix of its own, listening on a free loopback port.
 */
export async function startHarness(name: string, env: Record<string, string> = {}, opts: { clock?: () => Date } = {}): Promise<Harness> {
  const tag = `${name.toLowerCase().replace(/[^a-z0-9]+/g, '_').slice(0, 30)}_${randomBytes(4).toString('hex')}`;
  const schema = `t_${tag}`;
  const keyPrefix = `t-${tag}:`;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ahl-test-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    DATABASE_SCHEMA: schema,
    REDIS_KEY_PREFIX: keyPrefix,
    DATA_DIR: dataDir,
    PUBLIC_BASE_URL: TEST_PUBLIC_BASE_URL,
    TWILIO_ACCOUNT_SID: TEST_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: TEST_AUTH_TOKEN,
    // Nothing in a test reaches the real Twilio: with the test account, its API is a closed loopback
    // port unless the test points it at the loopback double (the development token keeps log mode).
    ...(env.TWILIO_AUTH_TOKEN === undefined ? { TWILIO_API_BASE_URL: 'http://127.0.0.1:9' } : {}),
    SHUTDOWN_TIMEOUT_MS: '2000',
    ...env,
  });
  // The workers as src/main.ts starts them (src/workers.ts), stopped before the adapters.
  let workers: RunningWorkers | null = null;
  const start = async (): Promise<{ services: Services; server: RunningServer }> => {
    // Log mode (the development token) runs on the stand-in from devtools/, as `npm start` does.
    const twilio = twilioRestMode(config) === 'log' ? { twilio: createLogTwilioRest(config) } : {};
    const services = await startServices(config, { clock: opts.clock ?? ((): Date => DEFAULT_TEST_NOW), ...twilio });
    try {
      workers = await startWorkers(services);
    } catch (err) {
      await services.close();
      throw err;
    }
    const server = await listen(createApp(services), 0, '127.0.0.1');
    return { services, server };
  };
  const stop = async (): Promise<void> => {
    await workers?.close();
    workers = null;
    await h.services.close();
  };
  const first = await start();
  const h: Harness = {
    config,
    services: first.services,
    server: first.server,
    baseUrl: `http://127.0.0.1:${first.server.port}`,
    schema,
    keyPrefix,
    restart: async () => {
      await h.server.drain(1_000);
      await stop();
      const next = await start();
      h.services = next.services;
      h.server = next.server;
      h.baseUrl = `http://127.0.0.1:${next.server.port}`;
    },
    close: async () => {
      await h.server.drain(1_000);
      await stop();
      await dropIsolation(config, schema, keyPrefix);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return h;
}

export async function dropIsolation(config: Config, schema: string, keyPrefix: string): Promise<void> {
  // Dropping some sixty tables on a machine busy with the rest of the suite can outlast the
  // product's five-second query limits; the tear-down waits as long as it takes.
  const db = createDb(config.database.url, 'public', 1, { statementMs: 0, queryMs: 0 });
  try {
    await sql`DROP SCHEMA IF EXISTS ${sql.id(schema)} CASCADE`.execute(db);
  } finally {
    await db.destroy();
  }
  const redis = new Redis(config.redis.url, { lazyConnect: true });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/**
 * Runs statements as the connecting user (the tables' owner, a superuser here) on one pinned
 * connection of `db`: what a test does behind the service's back (renaming a table, bypassing
 * the audit triggers). The service's own pools run as `ahl_system` / `ahl_tenant` (migration 0011).
 */
export async function asOwner(db: Db, ...statements: Array<{ execute(db: Db): Promise<unknown> }>): Promise<void> {
  await db.connection().execute(async (conn) => {
    await sql`SET ROLE NONE`.execute(conn);
    try {
      for (const statement of statements) await statement.execute(conn as unknown as Db);
    } finally {
      await sql`RESET ROLE`.execute(conn);
    }
  });
}
