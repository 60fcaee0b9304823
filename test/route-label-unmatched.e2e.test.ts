import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { captureLogs } from '../src/log/logger.js';
import { createApiKey } from '../src/auth/api-keys.js';
import { startHarness, type Harness } from './support/harness.js';
import { inboundParams, postTwilio } from './support/twilio-request.js';

/**
 * End to end through the whole service: a patient's name in a path no route matched (401s and
 * 404s on /api, refused and unknown Twilio paths, 404s anywhere, a refused playback link) reaches
 * neither a log line nor an audit row; the labels keep our route words and the segment count.
 */

const NAMES = ['Jane', 'Doe', 'Maria', 'Garcia', 'José', 'Jos%C3%A9', 'Josxe9', 'Núñez', 'N%C3%BA%C3%B1ez'];

let h: Harness;
let logs: ReturnType<typeof captureLogs>;
let key: string;

beforeAll(async () => {
  logs = captureLogs();
  h = await startHarness('route_label_unmatched');
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  key = (await createApiKey(h.services.db, { role: 'admin', practiceId: h.services.seeded.id })).key;
});
afterAll(async () => {
  logs.restore();
  await h.close();
});

async function send(method: string, path: string, opts: { key?: string; json?: string } = {}): Promise<number> {
  const headers: Record<string, string> = {};
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  if (opts.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(h.baseUrl + path, { method, headers, ...(opts.json !== undefined ? { body: opts.json } : {}) });
  await res.arrayBuffer();
  return res.status;
}

async function lastAudit(): Promise<{ action: string; details: unknown }> {
  return h.services.db
    .selectFrom('audit_log')
    .select(['action', 'details'])
    // Callback tasks are queued and their `task.created` rows land whenever the worker gets to them.
    .where('action', 'not like', 'task.%')
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirstOrThrow();
}

describe('a name in an unmatched path', () => {
  it('is in no log line and no audit row; the label is the path shape', async () => {
    const requestLines = (): number => logs.lines().filter((l) => l.includes('"message":"request"')).length;
    const before = requestLines();

    expect(await send('GET', '/api/patients/Jane%20Doe/notes')).toBe(401);
    expect(await lastAudit()).toMatchObject({ action: 'api.auth_rejected', details: { route: '/patients/:segment/:segment' } });
    expect(await send('GET', '/api/patients/Jane%20Doe/notes', { key })).toBe(404);
    expect(await lastAudit()).toMatchObject({ action: 'api.request', details: { route: '/patients/:segment/:segment', reason: 'not_found' } });
    expect(await send('POST', '/API/Patients/MARIA%20garcia', { key, json: '{"oops' })).toBe(400);
    expect(await lastAudit()).toMatchObject({ action: 'api.request', details: { route: '/patients/:segment', reason: 'unreadable_body' } });

    expect((await postTwilio(h, '/twilio/voice/Maria-Garcia', inboundParams(), 'none')).status).toBe(403);
    expect(await lastAudit()).toMatchObject({ action: 'twilio.signature_rejected', details: { route: '/voice/:segment' } });
    expect((await postTwilio(h, '/twilio/voice/Maria-Garcia', inboundParams())).status).toBe(200);

    expect(await send('GET', '/Jos%C3%A9%20N%C3%BA%C3%B1ez/notes')).toBe(404);
    expect(await send('GET', '/playback/Josxe9-Doe%E0%A4%A')).toBe(400);

    await vi.waitFor(() => expect(requestLines() - before).toBeGreaterThanOrEqual(7), { timeout: 5_000 });
    const logText = logs.lines().join('\n');
    const auditText = JSON.stringify(await h.services.db.selectFrom('audit_log').selectAll().execute());
    for (const name of NAMES) {
      expect(logText, `a log line holds "${name}"`).not.toContain(name);
      expect(auditText, `an audit row holds "${name}"`).not.toContain(name);
    }
    // The scan looked where it matters: those requests were logged, as their shapes.
    expect(logText).toContain('"route":"/api/patients/:segment/:segment"');
    expect(logText).toContain('"route":"/voice/:segment"');
    expect(logText).toContain('"route":"/:segment/:segment"');
    expect(logText).toContain('"route":"/playback/:token"');
  }, 60_000);
});
