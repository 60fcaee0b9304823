import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import twilio from 'twilio';
import { startHarness, type Harness } from './support/harness.js';
import { dropIsolation } from './support/harness.js';
import { inboundParams } from './support/twilio-request.js';
import { loadConfig, type Config } from '../src/config.js';
import { DEV_DEFAULTS } from '../src/dev-defaults.js';
import { startServices } from '../src/services.js';
import { createApp } from '../src/http/app.js';
import { listen } from '../src/http/server.js';
import { S3_DOUBLE_CREDENTIALS, startS3Double } from './support/s3-double.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('health');
});
afterAll(async () => {
  await h.close();
});

describe('health', () => {
  it('/healthz answers while the process is up', async () => {
    const res = await fetch(`${h.baseUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('/readyz is 200 when PostgreSQL, Redis and storage are reachable', async () => {
    const res = await fetch(`${h.baseUrl}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok', storage: 'ok' } });
  });

  it('/readyz is 503 with the reason when Redis is unreachable', async () => {
    h.services.redis.disconnect();
    try {
      const res = await fetch(`${h.baseUrl}/readyz`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { status: string; checks: Record<string, string> };
      expect(body.status).toBe('not_ready');
      expect(body.checks.postgres).toBe('ok');
      expect(body.checks.redis).toMatch(/^error: /);
    } finally {
      await h.services.redis.connect();
    }
    expect((await fetch(`${h.baseUrl}/readyz`)).status).toBe(200);
  });
});

/** A free loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A second instance of the service on the harness's schema (already migrated), with one
 * setting changed; no migrations, seed or workers, so it starts even with PostgreSQL down.
 */
async function startVariant(patch: Partial<Config>): Promise<{ readyz: () => Promise<{ status: number; body: { status: string; checks: Record<string, string> } }>; close: () => Promise<void> }> {
  const services = await startServices({ ...h.config, seedDemo: false, ...patch }, { migrate: false });
  const server = await listen(createApp(services), 0, '127.0.0.1');
  return {
    readyz: async () => {
      const res = await fetch(`http://127.0.0.1:${server.port}/readyz`);
      return { status: res.status, body: (await res.json()) as { status: string; checks: Record<string, string> } };
    },
    close: async () => {
      await server.drain(500);
      await services.close();
    },
  };
}

describe('readiness with a dependency down', () => {
  it('/readyz is 503 with the reason when PostgreSQL is unreachable', async () => {
    const port = await closedPort();
    const variant = await startVariant({ database: { ...h.config.database, url: `postgres://postgres@127.0.0.1:${port}/test` } });
    try {
      const res = await variant.readyz();
      expect(res.status).toBe(503);
      expect(res.body.status).toBe('not_ready');
      expect(res.body.checks.postgres).toMatch(/^error: /);
      expect(res.body.checks.redis).toBe('ok');
      expect(res.body.checks.storage).toBe('ok');
    } finally {
      await variant.close();
    }
  });

  it('/readyz is 503 with the reason when storage (S3) is unreachable, and 200 once it is back', async () => {
    const s3 = await startS3Double();
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = S3_DOUBLE_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = S3_DOUBLE_CREDENTIALS.secretAccessKey;
    const variant = await startVariant({ aws: { ...h.config.aws, s3Bucket: s3.bucket, s3Endpoint: s3.endpoint } });
    try {
      expect((await variant.readyz()).status).toBe(200);
      await s3.stop();
      const res = await variant.readyz();
      expect(res.status).toBe(503);
      expect(res.body.checks.storage).toMatch(/^error: /);
      expect(res.body.checks.postgres).toBe('ok');
      expect(res.body.checks.redis).toBe('ok');
      await s3.restart();
      expect((await variant.readyz()).status).toBe(200);
    } finally {
      await variant.close();
      await s3.dispose();
      if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
      else process.env.AWS_ACCESS_KEY_ID = saved.id;
      if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
      else process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
    }
  }, 30_000);
});

/** A TCP proxy to Redis that can start swallowing traffic both ways (Redis hangs, connections stay up). */
async function redisProxy(): Promise<{ url: string; hang: () => void; close: () => Promise<void> }> {
  let hanging = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(6379, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
    }
    client.on('data', (d: Buffer) => {
      if (!hanging) upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (!hanging) client.write(d);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hang: () => {
      hanging = true;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('start and SIGTERM', () => {
  it('fails at start naming the bad variable', async () => {
    const child = spawn('npx', ['tsx', 'src/main.ts'], { env: { ...process.env, PORT: 'abc', REDIS_URL: 'http://nope' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain('PORT: expected a TCP port number');
    expect(stderr).toContain('REDIS_URL: expected a redis:// or rediss:// URL');
  });

  it('drains an in-flight request, then closes the pools and exits 0', async () => {
    const schema = `t_sigterm_${Date.now().toString(36)}`;
    const prefix = `t-sigterm-${Date.now().toString(36)}:`;
    const env = {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_SCHEMA: schema,
      REDIS_KEY_PREFIX: prefix,
      DATA_DIR: await mkdtemp(path.join(os.tmpdir(), 'ahl-sigterm-')),
      SHUTDOWN_TIMEOUT_MS: '5000',
    };
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        child.on('exit', () => reject(new Error(`exited early: ${out}`)));
      });

      // Start a webhook and hold back the end of its body, so it is in flight at SIGTERM.
      const params = inboundParams({ AccountSid: DEV_DEFAULTS.twilioAccountSid });
      const body = new URLSearchParams(params).toString();
      // The child's PUBLIC_BASE_URL defaults to http://localhost:$PORT with PORT=0; sign what it expects.
      const expectedBase = loadConfig({ PORT: '0' }).publicBaseUrl;
      const sig = twilio.getExpectedTwilioSignature(DEV_DEFAULTS.twilioAuthToken, `${expectedBase}/twilio/voice/incoming`, params);
      const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port, path: '/twilio/voice/incoming', method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), 'x-twilio-signature': sig } },
          (res) => {
            let text = '';
            res.on('data', (d: Buffer) => (text += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          },
        );
        req.on('error', reject);
        req.write(body.slice(0, 20));
        setTimeout(() => {
          child.kill('SIGTERM');
          setTimeout(() => req.end(body.slice(20)), 500);
        }, 200);
      });
      const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
      const res = await response;
      expect(res.status).toBe(200);
      expect(res.text).toContain('hang up and dial 911');
      expect(await exit).toBe(0);
      // After shutdown no new connection is accepted.
      await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    } finally {
      child.kill('SIGKILL');
      await dropIsolation(loadConfig({}), schema, prefix);
      await rm(env.DATA_DIR, { recursive: true, force: true });
    }
  });

  it('stops within SHUTDOWN_TIMEOUT_MS even when closing hangs (Redis stops answering), then exits non-zero', async () => {
    const tag = Date.now().toString(36);
    const schema = `t_sigterm_hang_${tag}`;
    const prefix = `t-sigterm-hang-${tag}:`;
    const proxy = await redisProxy();
    const budget = 3_000;
    const env = {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_SCHEMA: schema,
      REDIS_URL: proxy.url,
      REDIS_KEY_PREFIX: prefix,
      DATA_DIR: await mkdtemp(path.join(os.tmpdir(), 'ahl-sigterm-')),
      SHUTDOWN_TIMEOUT_MS: String(budget),
    };
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (/listening on http:\/\/127\.0\.0\.1:\d+/.test(out)) resolve();
        });
        child.on('exit', () => reject(new Error(`exited early: ${out}`)));
      });
      const exit = new Promise<number | null>((resolve) => child.on('exit', resolve));
      proxy.hang();
      const started = Date.now();
      child.kill('SIGTERM');
      const code = await exit;
      const took = Date.now() - started;
      expect(code).toBe(1);
      // Measured inside the service, then from outside (with room for a loaded machine; the old
      // hard stop came 2 s after the budget).
      const stopped = out.split('\n').find((l) => l.includes('shutdown budget spent'));
      expect(stopped).toBeDefined();
      expect((JSON.parse(stopped ?? '{}') as { durationMs: number }).durationMs).toBeLessThanOrEqual(budget + 100);
      expect(took).toBeLessThan(budget + 1_200);
    } finally {
      child.kill('SIGKILL');
      await proxy.close();
      await dropIsolation(loadConfig({}), schema, prefix);
      await rm(env.DATA_DIR, { recursive: true, force: true });
    }
  }, 60_000);
});
