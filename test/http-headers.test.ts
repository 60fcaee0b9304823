import http from 'node:http';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from './support/harness.js';
import { securityHeaders } from '../src/http/headers.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('http_headers');
});
afterAll(async () => {
  await h.close();
});

/** A raw GET through node:http (fetch refuses some of what this sends). */
function rawGet(path: string, headers: Record<string, string> = {}): Promise<{ status: number; contentType: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${h.baseUrl}${path}`, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body }));
    });
    req.on('error', reject);
  });
}

describe('security headers', () => {
  it('every answer carries a CSP for a same-origin console, no framing and no referrer', async () => {
    const res = await fetch(`${h.baseUrl}/healthz`);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("object-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    // Not production: no HSTS (the test runs over plain HTTP on loopback).
    expect(res.headers.get('strict-transport-security')).toBeNull();
  });

  it('404s carry them too', async () => {
    const res = await fetch(`${h.baseUrl}/nothing-here`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  });

  it('HSTS (and upgrade-insecure-requests) in production only', async () => {
    const app = express();
    app.use(securityHeaders({ env: 'production' }));
    app.get('/', (_req, res) => void res.json({ ok: true }));
    const res = await request(app).get('/');
    expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(res.headers['content-security-policy']).toContain('upgrade-insecure-requests');
  });
});

describe('oversized requests answer JSON', () => {
  it('a query string over 2048 characters: 414 JSON, not served', async () => {
    const res = await rawGet(`/healthz?x=${'a'.repeat(2100)}`);
    expect(res.status).toBe(414);
    expect(res.contentType).toContain('application/json');
    expect(JSON.parse(res.body)).toMatchObject({ error: 'uri_too_long' });
  });

  it('a query string within the cap is served', async () => {
    const res = await rawGet(`/healthz?x=${'a'.repeat(2000)}`);
    expect(res.status).toBe(200);
  });

  it("headers over Node's limit: 431 JSON instead of Node's plain text", async () => {
    const res = await rawGet('/healthz', { 'x-filler': 'a'.repeat(20_000) });
    expect(res.status).toBe(431);
    expect(res.contentType).toContain('application/json');
    expect(JSON.parse(res.body)).toMatchObject({ error: 'headers_too_large' });
  });

  it('a URL over the limit (a huge query string) is refused in JSON too, and not echoed', async () => {
    const res = await rawGet(`/api/whoami?name=${'b'.repeat(20_000)}`);
    expect(res.status).toBe(431);
    expect(res.contentType).toContain('application/json');
    expect(res.body).not.toContain('bbbb');
  });
});
