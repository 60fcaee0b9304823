import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { QueryClient } from '@tanstack/react-query';
import { api, pollingQueryFn, setActivityHandler, setCsrfToken, setUnauthorizedHandler, withQuery } from './client';
import { ApiError, parseFieldProblems, toApiError } from './errors';

describe('error mapping', () => {
  it("names the fields of a 400 as the API words it ('field: problem; …')", () => {
    const err = toApiError(400, { error: 'bad_request', message: 'from: expected an ISO 8601 date-time with offset (2026-11-01T12:00:00Z) or a date (2026-11-01); outcome: Invalid option' });
    expect(err).toBeInstanceOf(ApiError);
    expect(err.kind).toBe('bad_request');
    expect(err.fields.map((f) => f.field)).toEqual(['from', 'outcome']);
    expect(err.fieldProblem('outcome')).toBe('Invalid option');
    expect(err.fieldProblem('from')).toMatch(/^expected an ISO 8601/);
  });

  it('finds a nested field by its last name, and keeps a sentence without a field as the request’s', () => {
    expect(toApiError(400, { error: 'bad_request', message: 'body.email: Invalid email' }).fieldProblem('email')).toBe('Invalid email');
    expect(parseFieldProblems('the request could not be read')).toEqual([{ field: 'request', problem: 'the request could not be read' }]);
    expect(parseFieldProblems('a sentence, with words: and a colon')).toEqual([{ field: 'request', problem: 'a sentence, with words: and a colon' }]);
  });

  it('maps statuses to kinds, and never shows a server error’s own message', () => {
    expect(toApiError(401, { error: 'unauthorized' }).kind).toBe('unauthorized');
    expect(toApiError(403, {}).kind).toBe('forbidden');
    expect(toApiError(404, { error: 'not_found' }).kind).toBe('not_found');
    expect(toApiError(409, { message: 'already claimed' }).message).toBe('already claimed');
    expect(toApiError(429, {}).kind).toBe('rate_limited');
    const server = toApiError(500, { error: 'internal_error', message: 'relation "calls" does not exist' });
    expect(server.kind).toBe('server');
    expect(server.message).not.toContain('relation');
    expect(toApiError(502, 'not json').kind).toBe('server');
  });

  it('builds a query string from the set values only', () => {
    expect(withQuery('/api/calls', { from: '2026-11-01', outcome: undefined, cursor: null, urgency: '', limit: 50 })).toBe('/api/calls?from=2026-11-01&limit=50');
    expect(withQuery('/api/calls', {})).toBe('/api/calls');
  });
});

/**
 * A loopback HTTP server (no service of ours: what the client sends and how it reads answers),
 * with the page's own URL moved onto it so that requests are same-origin, as the console's are.
 */
describe('api() against a loopback server', () => {
  let server: Server;
  let base: string;
  const seen: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }> = [];
  let answer: { status: number; body: unknown } = { status: 200, body: {} };

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    (window as unknown as { happyDOM: { setURL(url: string): void } }).happyDOM.setURL(`${base}/console/calls`);
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  beforeEach(() => {
    seen.length = 0;
    setCsrfToken(null);
    setUnauthorizedHandler(null);
    setActivityHandler(null);
  });

  it('sends the CSRF token on a state-changing request only, and JSON', async () => {
    setCsrfToken('csrf-123');
    answer = { status: 200, body: { next: 'totp' } };
    await expect(api(`/api/auth/login`, { method: 'POST', body: { email: 'a@example.test', password: 'x' } })).resolves.toEqual({ next: 'totp' });
    await api(`/api/calls`);
    expect(seen[0]?.headers['x-csrf-token']).toBe('csrf-123');
    expect(seen[0]?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ email: 'a@example.test', password: 'x' });
    expect(seen[1]?.headers['x-csrf-token']).toBeUndefined();
  });

  it('a 401 sends the person to sign-in (except from the session probe); an answer counts as activity', async () => {
    let signedOut = 0;
    let activity = 0;
    setUnauthorizedHandler(() => signedOut++);
    setActivityHandler(() => activity++);
    answer = { status: 401, body: { error: 'unauthorized', message: 'sign in' } };
    await expect(api(`/api/calls`)).rejects.toMatchObject({ kind: 'unauthorized' });
    expect(signedOut).toBe(1);
    await expect(api(`/api/session`, { quietUnauthorized: true })).rejects.toMatchObject({ kind: 'unauthorized' });
    expect(signedOut).toBe(1);
    expect(activity).toBe(0);
    answer = { status: 200, body: { calls: [] } };
    await api(`/api/calls`);
    expect(activity).toBe(1);
  });

  it("a polled query's refetches are background: X-Background sent, no activity; its first load is the person's", async () => {
    let activity = 0;
    setActivityHandler(() => activity++);
    answer = { status: 200, body: { onCall: [] } };
    const client = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: 0 } } });
    const options = { queryKey: ['oncall', 'now'], queryFn: pollingQueryFn((signal) => api<{ onCall: unknown[] }>('/api/oncall/now', { signal })) };
    await client.fetchQuery(options);
    await client.fetchQuery(options);
    await client.refetchQueries({ queryKey: ['oncall', 'now'] });
    expect(seen.map((r) => r.headers['x-background'])).toEqual([undefined, '1', '1']);
    expect(activity).toBe(1);
    // Another key is a first load again; a plain call is the person's; `background` asks for it directly.
    await client.fetchQuery({ ...options, queryKey: ['oncall', 'other'] });
    await api('/api/calls');
    await api('/api/calls', { background: true });
    expect(seen.slice(3).map((r) => r.headers['x-background'])).toEqual([undefined, undefined, '1']);
    expect(activity).toBe(3);
    client.clear();
  });

  it('a 400 rejects with the fields named', async () => {
    answer = { status: 400, body: { error: 'bad_request', message: 'urgency: Invalid option' } };
    const err = await api(`/api/calls`, { query: { urgency: 'soon' } }).catch((e: unknown) => e);
    expect(seen[0]?.url).toBe('/api/calls?urgency=soon');
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).fieldProblem('urgency')).toBe('Invalid option');
  });

  it('an unreachable service is a network error, not a crash', async () => {
    (window as unknown as { happyDOM: { setURL(url: string): void } }).happyDOM.setURL('http://127.0.0.1:9/console/');
    const err = await api('/api/calls').catch((e: unknown) => e);
    (window as unknown as { happyDOM: { setURL(url: string): void } }).happyDOM.setURL(`${base}/console/calls`);
    expect(err).toMatchObject({ kind: 'network' });
  });
});
