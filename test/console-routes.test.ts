import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './support/harness.js';

/**
 * How the service serves the console's bundle (src/http/console-routes.ts), on a bundle of its
 * own making (the real Vite build is the browser test's): caching, the deep-link fallback, the
 * CSP the bundle runs under, and `no-store` on the API's answers.
 */
describe('console bundle at /console/', () => {
  let h: Harness;
  let dir: string;
  const INDEX = '<!doctype html><html lang="en"><head><script type="module" src="/console/assets/index-AbC123.js"></script></head><body><div id="root"></div></body></html>';

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ahl-console-'));
    await mkdir(path.join(dir, 'assets'));
    await writeFile(path.join(dir, 'index.html'), INDEX);
    await writeFile(path.join(dir, 'assets', 'index-AbC123.js'), 'console.log("bundle");\n');
    await writeFile(path.join(dir, '.build-stamp'), 'abc\n');
    h = await startHarness('console_routes', { CONSOLE_DIR: dir });
  });
  afterAll(async () => {
    await h?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('hashed assets are cached for a year; a missing asset is a 404, not the page', async () => {
    const res = await fetch(`${h.baseUrl}/console/assets/index-AbC123.js`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('content-type')).toMatch(/javascript/);
    const missing = await fetch(`${h.baseUrl}/console/assets/index-Gone99.js`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('cache-control')).toBe('no-store');
    expect(await missing.json()).toEqual({ error: 'not_found' });
  });

  it('the page and every deep link answer index.html, never cached, under a CSP with no inline script or style', async () => {
    for (const p of ['/console/', '/console/calls', '/console/calls?outcome=message', '/console/sign-in', '/console/index.html']) {
      const res = await fetch(`${h.baseUrl}${p}`);
      expect(res.status, p).toBe(200);
      expect(res.headers.get('content-type'), p).toMatch(/^text\/html/);
      expect(res.headers.get('cache-control'), p).toBe('no-store');
      expect(await res.text(), p).toBe(INDEX);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, p).toContain("script-src 'self'");
      expect(csp, p).toContain("style-src 'self'");
      expect(csp, p).not.toContain('unsafe-inline');
      expect(csp, p).toContain("frame-ancestors 'none'");
    }
    const bare = await fetch(`${h.baseUrl}/console`, { redirect: 'manual' });
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe('/console/');
  });

  it('the build stamp and other dotfiles are not served', async () => {
    const res = await fetch(`${h.baseUrl}/console/.build-stamp`);
    expect(await res.text()).not.toContain('abc');
  });

  it('every /api answer says no-store: success, refusal and not found alike', async () => {
    for (const p of ['/api/openapi.json', '/api/session', '/api/calls', '/api/no-such-route']) {
      const res = await fetch(`${h.baseUrl}${p}`);
      expect(res.headers.get('cache-control'), `${p} (${res.status})`).toBe('no-store');
    }
  });
});

describe('console not built', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness('console_missing', { CONSOLE_DIR: path.join(os.tmpdir(), 'ahl-no-console-here') });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('says how to build it (503), and the rest of the service is unaffected', async () => {
    const res = await fetch(`${h.baseUrl}/console/calls`);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('npm run build:web');
    expect((await fetch(`${h.baseUrl}/healthz`)).status).toBe(200);
  });
});
