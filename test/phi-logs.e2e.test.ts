import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { captureLogs } from '../src/log/logger.js';
import { createApiKey } from '../src/auth/api-keys.js';
import type { Services } from '../src/services.js';
import type { CallSimulator } from '../devtools/simulator/simulator.js';
import { startHarness, type Harness } from './support/harness.js';
import { simulatorFor } from './support/simulate.js';
import { inboundParams, postTwilio } from './support/twilio-request.js';

/**
 * The redaction guard, end to end: requests whose paths, headers and bodies carry the demo test
 * patient's identities in the places the service does log and audit (the request line of every
 * request, refused Twilio webhooks, refused and unknown /api calls, bodies that will not parse,
 * parameters that will not decode), then every captured log line and every audit row is scanned
 * for the identities in each of their spellings. With redaction made a pass-through, this fails.
 */

const PATIENT = '+12025550123';
const PRACTICE = '+12025550100';

/** The demo patient: Avery Example, born 1980-04-15, calling from +1 202 555 0123. */
const IDENTITIES = [
  'Avery',
  'Example',
  '1980-04-15',
  '04151980',
  '04/15/1980',
  '4/15/1980',
  '04%2F15%2F1980',
  '+12025550123',
  '12025550123',
  '2025550123',
  '202-555-0123',
  '555-0123',
];

let h: Harness;
let sim: CallSimulator;
let logs: ReturnType<typeof captureLogs>;
let adminKey: string;

beforeAll(async () => {
  logs = captureLogs();
  h = await startHarness('phi_logs');
  sim = simulatorFor(h);
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  adminKey = (await createApiKey(h.services.db, { role: 'admin', practiceId: h.services.seeded.id })).key;
});
afterAll(async () => {
  logs.restore();
  await h.close();
});

async function send(method: string, path: string, opts: { key?: string; json?: string; headers?: Record<string, string> } = {}): Promise<number> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  if (opts.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(h.baseUrl + path, { method, headers, ...(opts.json !== undefined ? { body: opts.json } : {}) });
  await res.arrayBuffer();
  return res.status;
}

describe('no test identity in any log line or audit row', () => {
  it('after calls and requests that carry them in logged places', async () => {
    const requestLines = (): number => logs.lines().filter((l) => l.includes('"message":"request"')).length;
    const linesBefore = requestLines();
    // Every audit write these requests start, the background ones (behind an answer) included: awaited below, not waited out.
    const services = h.services as { -readonly [K in keyof Services]: Services[K] };
    const realAudit = services.audit;
    const writes: Array<Promise<void>> = [];
    services.audit = (event) => {
      const write = realAudit(event);
      writes.push(write);
      return write;
    };
    let sent = 0;
    const count = async <T>(p: Promise<T>): Promise<T> => {
      sent += 1;
      return p;
    };

    // A whole call: the patient verifies with their date of birth and hears their appointment.
    const verified = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '3', '1', '04151980#', '9'] });
    expect(verified.errors).toEqual([]);
    sent += verified.requests.length;
    // A signed call whose webhook URL carries the number and the date of birth (an unknown Twilio path).
    const oddPath = await sim.placeCall({ from: PATIENT, to: PRACTICE, incomingPath: '/twilio/voice/%2B12025550123/04151980' });
    sent += oddPath.requests.length;

    // Unsigned Twilio requests with the number and the date of birth in the path.
    expect((await count(postTwilio(h, '/twilio/voice/%2B12025550123', inboundParams(), 'none'))).status).toBe(403);
    expect((await count(postTwilio(h, '/twilio/voice/04151980', inboundParams(), 'wrong'))).status).toBe(403);
    // 404s anywhere.
    expect(await count(send('GET', '/nope/+12025550123/1980-04-15'))).toBe(404);
    expect(await count(send('GET', '/nope/2025550123/04%2F15%2F1980/202-555-0123'))).toBe(404);
    // /api: refused without a key, an unknown path with one, bodies that are not JSON.
    expect(await count(send('GET', '/api/patients/2025550123'))).toBe(401);
    expect(await count(send('GET', '/api/patients/%2B12025550123/1980-04-15', { key: adminKey }))).toBe(404);
    const broken = '{"firstName": "Avery", "lastName": "Example", "dateOfBirth": "1980-04-15", "phone": "+12025550123",';
    expect(await count(send('POST', '/api/patients', { json: broken }))).toBe(401);
    expect(await count(send('POST', '/api/patients', { key: adminKey, json: broken }))).toBe(400);
    // A path parameter that will not decode: the error quotes it.
    expect(await count(send('GET', '/playback/Avery-Example-04151980%E0%A4%A'))).toBe(400);
    // A request id that is a phone number.
    expect(await count(send('GET', '/healthz', { headers: { 'x-request-id': '12025550123' } }))).toBe(200);

    // Every request's log line is written when its response finishes; background audit writes follow.
    await vi.waitFor(() => expect(requestLines() - linesBefore).toBeGreaterThanOrEqual(sent), { timeout: 5_000 });
    await Promise.allSettled(writes);
    services.audit = realAudit;
    expect(writes.length).toBeGreaterThan(0);

    const lines = logs.lines();
    const audit = await h.services.db.selectFrom('audit_log').selectAll().orderBy('seq').execute();
    const auditText = JSON.stringify(audit);
    for (const identity of IDENTITIES) {
      for (const line of lines) expect(line, `log line holds "${identity}"`).not.toContain(identity);
      expect(auditText, `audit log holds "${identity}"`).not.toContain(identity);
    }

    // And the scan looked where it matters: the identities reached logged and audited places, as placeholders.
    const logText = lines.join('\n');
    expect(logText).toContain('"route":"/:segment/:segment/:segment"');
    expect(logText).toContain('"route":"/twilio/voice/:segment/:segment"');
    expect(auditText).toContain('"route":"/patients/:segment"');
    expect(auditText).toContain('"route":"/voice/:segment"');
    expect(audit.some((r) => r.action === 'verification.succeeded')).toBe(true);
  }, 60_000);
});
