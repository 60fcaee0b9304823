import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/http/app.js';
import { captureLogs } from '../src/log/logger.js';
import { handleFlowWebhook } from '../src/calls/voice-service.js';
import { parseVoiceWebhook } from '../src/calls/twilio-params.js';
import { createMetricsApp } from '../src/http/metrics-routes.js';
import { listen, type RunningServer } from '../src/http/server.js';
import type { Services } from '../src/services.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { createDb } from '../src/adapters/postgres.js';
import { simulatorFor, TEST_IDENTITIES } from './support/simulate.js';
import { inboundParams, postTwilio, randomSid } from './support/twilio-request.js';
import { until } from './support/until.js';
import twilio from 'twilio';
import { tenantScope } from '../src/tenancy/mint.js';

/**
 * /metrics against the real service: the token, the series that webhooks, fail-safe answers,
 * jobs, audit batches and lockouts leave, the gauges read on scrape, and no PHI anywhere in it.
 */

const TOKEN = 'metrics-token-0123456789abcdef-XYZ';
const PATIENT = '+12025550123';
const PRACTICE = '+12025550100';

let h: Harness;
const extra: RunningServer[] = [];

beforeAll(async () => {
  h = await startHarness('metrics', { METRICS_TOKEN: TOKEN });
});
afterAll(async () => {
  for (const s of extra) await s.drain(500);
  await h.close();
});

async function scrapeAt(baseUrl: string, token: string | null = TOKEN): Promise<{ status: number; body: string; contentType: string; auth: string | null }> {
  const res = await fetch(`${baseUrl}/metrics`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.text(), contentType: res.headers.get('content-type') ?? '', auth: res.headers.get('www-authenticate') };
}

async function scrape(): Promise<string> {
  const res = await scrapeAt(h.baseUrl);
  expect(res.status).toBe(200);
  return res.body;
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Pure: the samples of a Prometheus text exposition. */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m?.[1] || !m[3]) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] ?? ''] = l[2] ?? '';
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The value of the one sample with this name and (at least) these labels; undefined when none. */
function value(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = parse(text).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  expect(found.length).toBeLessThanOrEqual(1);
  return found[0]?.value;
}

function expectNoPhi(text: string): void {
  for (const identity of TEST_IDENTITIES) expect(text).not.toContain(identity);
  expect(text).not.toContain('2025550100');
}

/** A second listener for the same services with another metrics configuration (METRICS_PORT, no token). */
async function appWith(metrics: Services['config']['metrics'], make: (s: Services) => Parameters<typeof listen>[0] = createApp): Promise<string> {
  const services: Services = { ...h.services, config: { ...h.config, metrics } };
  const server = await listen(make(services), 0, '127.0.0.1');
  extra.push(server);
  return `http://127.0.0.1:${server.port}`;
}

describe('GET /metrics access', () => {
  it('needs the bearer token: 401 without it or with another, 200 with it', async () => {
    const none = await scrapeAt(h.baseUrl, null);
    expect(none.status).toBe(401);
    expect(none.auth).toMatch(/^Bearer/);
    expect(none.body).not.toContain('ahl_');
    const wrong = await scrapeAt(h.baseUrl, `${TOKEN}x`);
    expect(wrong.status).toBe(401);
    expect((await scrapeAt(h.baseUrl, 'short')).status).toBe(401);
    const ok = await scrapeAt(h.baseUrl);
    expect(ok.status).toBe(200);
    expect(ok.contentType).toMatch(/^text\/plain/);
    expect(ok.body).toContain('# TYPE ahl_http_request_duration_seconds histogram');
  });

  it('answers 404 when no METRICS_TOKEN is set', async () => {
    const base = await appWith({ host: '127.0.0.1' });
    expect((await scrapeAt(base)).status).toBe(404);
    expect((await scrapeAt(base, null)).status).toBe(404);
  });

  it('with METRICS_PORT: served on that port only (token still required), 404 on the service port', async () => {
    const metrics = { token: TOKEN, port: 0, host: '127.0.0.1' };
    const main = await appWith(metrics);
    expect((await scrapeAt(main)).status).toBe(404);
    const side = await appWith(metrics, createMetricsApp);
    expect((await scrapeAt(side, null)).status).toBe(401);
    const ok = await scrapeAt(side);
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('ahl_failsafe_answers_total');
    expect((await fetch(`${side}/healthz`)).status).toBe(404);
    // A private port with no token: open to whoever can reach it.
    const open = await appWith({ port: 0, host: '127.0.0.1' }, createMetricsApp);
    expect((await scrapeAt(open, null)).status).toBe(200);
  });
});

describe('series', () => {
  it('times each webhook and counts its answer by route pattern and status; audit batches are measured', async () => {
    const before = await scrape();
    const res = await postTwilio(h, '/twilio/voice/incoming', inboundParams());
    expect(res.status).toBe(200);
    const after = await scrape();
    const labels = { method: 'POST', route: '/twilio/voice/incoming' };
    expect(value(after, 'ahl_http_responses_total', { ...labels, status: '200' })).toBe((value(before, 'ahl_http_responses_total', { ...labels, status: '200' }) ?? 0) + 1);
    expect(value(after, 'ahl_http_request_duration_seconds_count', { ...labels, status_class: '2xx' })).toBe(
      (value(before, 'ahl_http_request_duration_seconds_count', { ...labels, status_class: '2xx' }) ?? 0) + 1,
    );
    expect(value(after, 'ahl_http_request_duration_seconds_bucket', { ...labels, status_class: '2xx', le: '+Inf' })).toBeGreaterThanOrEqual(1);
    // The webhook's audit rows were committed in at least one batch before it was answered.
    expect(value(after, 'ahl_audit_batch_rows_count')).toBeGreaterThan(value(before, 'ahl_audit_batch_rows_count') ?? 0);
    expect(value(after, 'ahl_audit_batch_rows_sum')).toBeGreaterThanOrEqual((value(before, 'ahl_audit_batch_rows_sum') ?? 0) + 2);
    expect(value(after, 'ahl_audit_batch_duration_seconds_count')).toBe(value(after, 'ahl_audit_batch_rows_count'));
  });

  it('a path no route matched is one `unmatched` label, never the path', async () => {
    const res = await fetch(`${h.baseUrl}/api/patients/Avery%20Example/${encodeURIComponent(PATIENT)}?dob=1980-04-15`);
    expect(res.status).toBe(401);
    const text = await scrape();
    expect(value(text, 'ahl_http_responses_total', { method: 'GET', route: 'unmatched', status: '401' })).toBeGreaterThanOrEqual(1);
    expect(text).not.toContain('/api/patients');
    expectNoPhi(text);
  });

  it('counts fail-safe answers by reason', async () => {
    const answers = [
      await postTwilio(h, '/twilio/voice/incoming', { From: PATIENT, To: PRACTICE }),
      await postTwilio(h, '/twilio/voice/flow?s=3&n=main_menu', inboundParams({ Digits: '1' })),
      await postTwilio(h, '/twilio/voice/flow', inboundParams()),
      await postTwilio(h, '/twilio/voice/fallback', inboundParams({ ErrorCode: '11200' })),
      await postTwilio(h, '/twilio/voice/no-such-route', inboundParams()),
    ];
    for (const res of answers) expect(res.body).toContain('911');
    // A provider's leg that fails is hung up: not a fail-safe answer.
    expect((await postTwilio(h, '/twilio/voice/whisper', { From: PATIENT, To: PRACTICE })).body).toContain('<Hangup/>');
    const text = await scrape();
    expect(value(text, 'ahl_failsafe_answers_total', { reason: 'malformed' })).toBe(1);
    expect(value(text, 'ahl_failsafe_answers_total', { reason: 'no_state' })).toBe(1);
    expect(value(text, 'ahl_failsafe_answers_total', { reason: 'unusable_request' })).toBe(1);
    expect(value(text, 'ahl_failsafe_answers_total', { reason: 'twilio_fallback' })).toBe(1);
    expect(value(text, 'ahl_failsafe_answers_total', { reason: 'unknown_route' })).toBe(1);
    expectNoPhi(text);
  });

  it("counts the last-resort handler's fail-safe answer", async () => {
    // An audit writer that throws at once: the fallback route fails before it answers.
    const broken: Services = { ...h.services, audit: () => { throw new Error('audit unavailable'); } };
    const server = await listen(createApp(broken), 0, '127.0.0.1');
    extra.push(server);
    const params = inboundParams({ ErrorCode: '11200' });
    const headers = { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(TEST_AUTH_TOKEN, `${TEST_PUBLIC_BASE_URL}/twilio/voice/fallback`, params) };
    const logs = captureLogs();
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/twilio/voice/fallback`, { method: 'POST', headers, body: new URLSearchParams(params).toString() });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('911');
    } finally {
      logs.restore();
    }
    expect(value(await scrape(), 'ahl_failsafe_answers_total', { reason: 'last_resort' })).toBe(1);
  });

  it('counts the fail-safe answer of a webhook whose handling failed', async () => {
    const failing: Services = { ...h.services, audit: () => Promise.reject(new Error('audit unavailable')) };
    const server = await listen(createApp(failing), 0, '127.0.0.1');
    extra.push(server);
    const params = inboundParams();
    const headers = { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(TEST_AUTH_TOKEN, `${TEST_PUBLIC_BASE_URL}/twilio/voice/incoming`, params) };
    const res = await fetch(`http://127.0.0.1:${server.port}/twilio/voice/incoming`, { method: 'POST', headers, body: new URLSearchParams(params).toString() });
    expect(await res.text()).toContain('911');
    expect(value(await scrape(), 'ahl_failsafe_answers_total', { reason: 'error' })).toBe(1);
  });

  it('counts a status callback or a text that could not be stored as unprocessed, never as a fail-safe answer', async () => {
    // PostgreSQL refusing every connection (a closed loopback port): nothing can be stored.
    const down = createDb('postgres://postgres@127.0.0.1:9/test', h.schema, 1, { connectMs: 200 });
    const failing: Services = { ...h.services, db: down, audit: () => Promise.reject(new Error('audit unavailable')) };
    const server = await listen(createApp(failing), 0, '127.0.0.1');
    extra.push(server);
    const post = async (path: string, params: Record<string, string>): Promise<Response> => {
      const headers = { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(TEST_AUTH_TOKEN, `${TEST_PUBLIC_BASE_URL}${path}`, params) };
      return fetch(`http://127.0.0.1:${server.port}${path}`, { method: 'POST', headers, body: new URLSearchParams(params).toString() });
    };
    const before = value(await scrape(), 'ahl_failsafe_answers_total', { reason: 'error' }) ?? 0;
    const logs = captureLogs();
    try {
      const status = await post('/twilio/voice/status', inboundParams({ CallStatus: 'completed', CallDuration: '42' }));
      expect(status.status).toBe(200);
      expect(await status.text()).not.toContain('<Dial');
      // A text not stored is never answered 2xx: Twilio does not resend it, it requests the SMS fallback URL.
      const sms = await post('/twilio/sms/incoming', { MessageSid: `SM${'0'.repeat(32)}`, AccountSid: TEST_ACCOUNT_SID, From: PATIENT, To: PRACTICE, Body: 'STOP', NumMedia: '0' });
      expect(sms.status).toBe(503);
    } finally {
      logs.restore();
      await down.destroy();
    }
    const text = await scrape();
    expect(value(text, 'ahl_twilio_unprocessed_total', { route: 'call_status' })).toBe(1);
    expect(value(text, 'ahl_twilio_unprocessed_total', { route: 'sms_incoming' })).toBe(1);
    expect(value(text, 'ahl_failsafe_answers_total', { reason: 'error' }) ?? 0).toBe(before);
    expectNoPhi(text);
  });

  it('counts the fail-safe answer of a flow webhook out of time', async () => {
    // An audit write that never answers (a hung PostgreSQL): the webhook cannot finish.
    const hung: Services = { ...h.services, audit: () => new Promise<void>(() => undefined) };
    const parsed = parseVoiceWebhook(inboundParams());
    if (!parsed.ok) throw new Error('test parameters do not parse');
    expect(await handleFlowWebhook(hung, (id) => tenantScope(hung, id), { kind: 'incoming' }, parsed.value, 50)).toContain('911');
    expect(value(await scrape(), 'ahl_failsafe_answers_total', { reason: 'deadline' })).toBe(1);
  });

  it('counts job outcomes per queue: completed, retried, failed', async () => {
    // A page that does not exist: the round finds nothing to do. A page id that is not a uuid: PostgreSQL refuses it.
    await h.services.queues.pages.add('round', { pageId: randomUUID(), round: 0 }, { jobId: `metrics-ok-${randomUUID()}` });
    await h.services.queues.pages.add('round', { pageId: 'not-a-page', round: 0 }, { jobId: `metrics-bad-${randomUUID()}`, attempts: 2, backoff: { type: 'fixed', delay: 10 } });
    const text = await until('job outcomes', async () => {
      const t = await scrape();
      // The gauge is read on scrape: it can lag the worker's event by a scrape.
      return (value(t, 'ahl_queue_job_outcomes_total', { queue: 'pages', outcome: 'failed' }) ?? 0) >= 1 &&
        (value(t, 'ahl_queue_job_outcomes_total', { queue: 'pages', outcome: 'completed' }) ?? 0) >= 1 &&
        (value(t, 'ahl_queue_jobs', { queue: 'pages', state: 'failed' }) ?? 0) >= 1
        ? t
        : null;
    });
    expect(value(text, 'ahl_queue_job_outcomes_total', { queue: 'pages', outcome: 'completed' })).toBe(1);
    expect(value(text, 'ahl_queue_job_outcomes_total', { queue: 'pages', outcome: 'retried' })).toBe(1);
    expect(value(text, 'ahl_queue_job_outcomes_total', { queue: 'pages', outcome: 'failed' })).toBe(1);
    // The failed job stays in the queue's failed set (removeOnFail: false).
    expect(value(text, 'ahl_queue_jobs', { queue: 'pages', state: 'failed' })).toBe(1);
  });

  it('reads queue depth, voicemails by state and drops by status on scrape', async () => {
    await h.services.queues.drops.add('drop', { dropId: randomUUID(), version: 1 }, { jobId: `metrics-later-${randomUUID()}`, delay: 3_600_000 });
    const practiceId = h.services.seeded?.id;
    expect(practiceId).toBeDefined();
    await h.services.db
      .insertInto('voicemails')
      .values({ practice_id: practiceId ?? '', call_sid: randomSid('CA'), recording_sid: randomSid('RE'), reference_code: '424242', urgency: 'routine', state: 'expired' })
      .execute();
    const text = await scrape();
    expect(value(text, 'ahl_queue_jobs', { queue: 'drops', state: 'delayed' })).toBe(1);
    expect(value(text, 'ahl_queue_jobs', { queue: 'voicemail', state: 'waiting' })).toBe(0);
    expect(value(text, 'ahl_voicemails', { state: 'expired' })).toBe(1);
    expect(value(text, 'ahl_voicemails', { state: 'received' })).toBe(0);
    for (const status of ['pending', 'queued', 'sent', 'delivered', 'failed', 'skipped', 'cancelled']) expect(value(text, 'ahl_rvm_drops', { status })).toBe(0);
    for (const source of ['queues', 'voicemails', 'drops']) expect(value(text, 'ahl_metrics_source_up', { source })).toBe(1);
  });

  it('counts a verification lockout once, when it starts; the scrape holds no PHI', async () => {
    const sim = simulatorFor(h);
    await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '3', '1', '01011990#', '01011991#', '01011992#', '9'] });
    expect(value(await scrape(), 'ahl_verification_lockouts_total', { line: 'caller' }) ?? 0).toBe(0);
    await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '3', '1', '01011993#', '01011994#', '9'] });
    expect(value(await scrape(), 'ahl_verification_lockouts_total', { line: 'caller' })).toBe(1);
    // The provider access line: a number that is no provider's, five wrong PINs over two calls.
    const stranger = '+12025550177';
    await sim.placeCall({ from: stranger, to: PRACTICE, incomingPath: '/twilio/voice/access', digits: ['0000#', '1111#', '2222#'] });
    await sim.placeCall({ from: stranger, to: PRACTICE, incomingPath: '/twilio/voice/access', digits: ['3333#', '4444#'] });
    const text = await scrape();
    expect(value(text, 'ahl_verification_lockouts_total', { line: 'caller' })).toBe(1);
    expect(value(text, 'ahl_verification_lockouts_total', { line: 'access_line' })).toBe(1);
    expectNoPhi(text);
    expect(text).not.toContain('2025550177');
    // Only closed label sets: no label value looks like an id, a number or a raw path.
    for (const s of parse(text)) {
      for (const v of Object.values(s.labels)) expect(v).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}|CA[0-9a-f]{32}|\d{7,}/);
    }
  });
});
