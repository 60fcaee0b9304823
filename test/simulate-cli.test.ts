import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { DEV_DEFAULTS } from '../src/dev-defaults.js';

/**
 * `npm run simulate` against a service started with PORT set: the CLI must send to that port and
 * sign the URL the service checks (src/config.ts: PUBLIC_BASE_URL, else http://localhost:$PORT).
 * A small stand-in for the service checks each signature the way the real one does.
 */

let server: http.Server;
let port: number;
const verdicts: Array<{ url: string; valid: boolean }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const params = Object.fromEntries(new URLSearchParams(body));
      // What the service would expect, from its own configuration for this PORT.
      const base = loadConfig({ PORT: String(port) }).publicBaseUrl;
      const valid = twilio.validateRequest(DEV_DEFAULTS.twilioAuthToken, req.headers['x-twilio-signature'] as string, base + (req.url ?? ''), params);
      verdicts.push({ url: req.url ?? '', valid });
      if (!valid) {
        res.writeHead(403).end('Forbidden');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/xml' }).end('<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hello.</Say><Hangup/></Response>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('npm run simulate', () => {
  it('with PORT set (and no PUBLIC_BASE_URL), signs http://localhost:$PORT as the service expects', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port) };
    delete env.PUBLIC_BASE_URL;
    delete env.TWILIO_AUTH_TOKEN;
    delete env.TWILIO_ACCOUNT_SID;
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/simulate.ts', '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(stderr).toBe('');
    expect(verdicts.length).toBeGreaterThanOrEqual(2); // the call, then its final status callback
    expect(verdicts.every((v) => v.valid)).toBe(true);
    const result = JSON.parse(stdout) as { errors: string[]; transcript: Array<{ kind: string; text?: string }> };
    expect(result.errors).toEqual([]);
    expect(result.transcript).toContainEqual(expect.objectContaining({ kind: 'say', text: 'Hello.' }));
    expect(code).toBe(0);
  }, 30_000);
});
