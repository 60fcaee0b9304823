import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import twilio from 'twilio';
import { startHarness, type Harness } from './support/harness.js';
import { dropIsolation } from './support/harness.js';
import { inboundParams } from './support/twilio-request.js';
import { loadConfig } from '../src/config.js';
import { DEV_DEFAULTS } from '../src/simulator/defaults.js';

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
});
