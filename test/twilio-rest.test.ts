import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config.js';
import {
  createTwilioRest,
  twilioRestMode,
  LogModeUnavailable,
  TwilioRestError,
  type TwilioRest,
} from '../src/adapters/twilio-rest.js';
import { createLogTwilioRest, type LogTwilioRest } from '../devtools/twilio-log-mode.js';
import { captureLogs } from '../src/log/logger.js';
import { randomTwilioSid, startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';

const ACCOUNT_SID = randomTwilioSid('AC');
const AUTH_TOKEN = `rest-test-token-${randomBytes(8).toString('hex')}`;
const TO = '+12025550187';
const FROM = '+12025550100';
const SECRET_BODY = 'Your lab results are ready';

let double: TwilioDouble;
let config: Config;
let rest: TwilioRest;

function configFor(env: Record<string, string>): Config {
  return loadConfig({ NODE_ENV: 'test', ...env });
}

async function caught(p: Promise<unknown>): Promise<TwilioRestError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TwilioRestError);
  return err as TwilioRestError;
}

function expectNoSecrets(err: Error): void {
  const text = `${err.message}\n${err.stack ?? ''}\n${JSON.stringify(err)}`;
  for (const secret of [TO, FROM, TO.slice(1), FROM.slice(1), AUTH_TOKEN, SECRET_BODY, Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64')]) {
    expect(text).not.toContain(secret);
  }
}

beforeAll(async () => {
  double = await startTwilioDouble({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN });
  config = configFor({ TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: AUTH_TOKEN, TWILIO_API_BASE_URL: double.baseUrl });
  rest = createTwilioRest(config);
});
afterAll(async () => {
  await double.close();
});
beforeEach(() => {
  double.requests.length = 0;
  double.recordings.clear();
  double.failNext(0, 500);
});

describe('twilio REST adapter (real mode, against the loopback double)', () => {
  it('is in real mode when the API base URL is not the default', () => {
    expect(rest.kind).toBe('twilio');
  });

  it('sends an SMS to Messages.json with basic auth and form parameters', async () => {
    const { sid } = await rest.sendSms({ to: TO, from: FROM, body: SECRET_BODY, statusCallback: 'https://ahl.example.test/twilio/sms-status' });
    expect(sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(double.requests).toHaveLength(1);
    const req = double.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe(`/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`);
    expect(req.authorized).toBe(true);
    expect(req.contentType).toMatch(/^application\/x-www-form-urlencoded/);
    expect(Object.fromEntries(req.form)).toEqual({
      To: TO,
      From: FROM,
      Body: SECRET_BODY,
      StatusCallback: 'https://ahl.example.test/twilio/sms-status',
    });
  });

  it('sends a patient SMS through a Messaging Service: MessagingServiceSid instead of From; exactly one of them', async () => {
    const service = `MG${'0123456789abcdef'.repeat(2)}`;
    await rest.sendSms({ to: TO, messagingServiceSid: service, body: SECRET_BODY });
    expect(Object.fromEntries(double.requests[0]!.form)).toEqual({ To: TO, MessagingServiceSid: service, Body: SECRET_BODY });
    expect(await caught(rest.sendSms({ to: TO, from: FROM, messagingServiceSid: service, body: 'x' }))).toMatchObject({ reason: 'invalid_input' });
    expect(await caught(rest.sendSms({ to: TO, body: 'x' }))).toMatchObject({ reason: 'invalid_input' });
    expect(await caught(rest.sendSms({ to: TO, messagingServiceSid: 'MG123', body: 'x' }))).toMatchObject({ reason: 'invalid_input' });
  });

  it('a Messaging Service send in log mode is logged without its text (a message to a patient)', async () => {
    const logRest = createLogTwilioRest(configFor({}));
    const logs = captureLogs();
    try {
      await logRest.sendSms({ to: TO, messagingServiceSid: `MG${'0123456789abcdef'.repeat(2)}`, body: SECRET_BODY });
    } finally {
      logs.restore();
    }
    const [line] = logs.lines();
    expect(JSON.parse(line ?? '{}')).toMatchObject({ message: 'twilio log mode: patient sms not sent' });
    expect(line).not.toContain(SECRET_BODY);
    expect(line).not.toContain(TO);
  });

  it('creates a call with repeated StatusCallbackEvent, MachineDetection, AsyncAmd and Timeout', async () => {
    const { sid } = await rest.createCall({
      to: TO,
      from: FROM,
      url: 'https://ahl.example.test/twilio/outbound?leg=abc',
      statusCallback: 'https://ahl.example.test/twilio/call-status',
      statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
      machineDetection: 'DetectMessageEnd',
      asyncAmd: true,
      asyncAmdStatusCallback: 'https://ahl.example.test/twilio/amd',
      timeout: 25,
    });
    expect(sid).toMatch(/^CA[0-9a-f]{32}$/);
    const req = double.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe(`/2010-04-01/Accounts/${ACCOUNT_SID}/Calls.json`);
    expect(req.authorized).toBe(true);
    expect(req.form.get('To')).toBe(TO);
    expect(req.form.get('From')).toBe(FROM);
    expect(req.form.get('Url')).toBe('https://ahl.example.test/twilio/outbound?leg=abc');
    expect(req.form.get('StatusCallback')).toBe('https://ahl.example.test/twilio/call-status');
    expect(req.form.getAll('StatusCallbackEvent')).toEqual(['initiated', 'ringing', 'answered', 'completed']);
    expect(req.form.get('MachineDetection')).toBe('DetectMessageEnd');
    expect(req.form.get('AsyncAmd')).toBe('true');
    expect(req.form.get('AsyncAmdStatusCallback')).toBe('https://ahl.example.test/twilio/amd');
    expect(req.form.get('Timeout')).toBe('25');
  });

  it('streams a 5 MB recording: returns before the double has sent it all, and the bytes arrive intact', async () => {
    const bytes = randomBytes(5 * 1024 * 1024);
    const sid = double.addRecording({ bytes });
    // The double stops after 1 MB until released: an adapter that buffered the body would not return.
    const held = double.holdNextMedia(1024 * 1024);
    const media = await Promise.race([
      rest.fetchRecordingMedia(sid, 'wav'),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('fetchRecordingMedia buffered the body')), 3000)),
    ]);
    const req = double.requests[0]!;
    expect(req.path).toBe(`/2010-04-01/Accounts/${ACCOUNT_SID}/Recordings/${sid}.wav`);
    expect(req.authorized).toBe(true);
    expect(req.finished).toBe(false);
    expect(req.bytesSent).toBeLessThan(bytes.length);
    expect(media.contentType).toBe('audio/x-wav');
    expect(media.contentLength).toBe(bytes.length);

    held.release();
    const hash = createHash('sha256');
    let received = 0;
    let chunks = 0;
    for await (const chunk of media.stream) {
      const buf = chunk as Buffer;
      hash.update(buf);
      received += buf.length;
      chunks += 1;
    }
    expect(received).toBe(bytes.length);
    expect(chunks).toBeGreaterThan(1);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(req.finished).toBe(true);
  });

  it('404 while the recording is processing is a retryable "not ready" error; the media comes once ready', async () => {
    const bytes = randomBytes(100_000);
    const sid = double.addRecording({ bytes, ready: false });
    const err = await caught(rest.fetchRecordingMedia(sid, 'mp3'));
    expect(err.status).toBe(404);
    expect(err.reason).toBe('not_ready');
    expect(err.retryable).toBe(true);
    expect(err.operation).toBe('fetchRecordingMedia');

    double.recordings.get(sid)!.ready = true;
    const media = await rest.fetchRecordingMedia(sid, 'mp3');
    expect(media.contentType).toBe('audio/mpeg');
    const parts: Buffer[] = [];
    for await (const chunk of media.stream) parts.push(chunk as Buffer);
    expect(Buffer.concat(parts).equals(bytes)).toBe(true);
  });

  it('500 and 429 are retryable; 401 is not', async () => {
    double.failNext(1, 500);
    const e500 = await caught(rest.sendSms({ to: TO, from: FROM, body: SECRET_BODY }));
    expect(e500).toMatchObject({ status: 500, retryable: true, reason: 'http', operation: 'sendSms' });
    expect(e500.message).toContain('500');

    double.failNext(1, 429);
    const e429 = await caught(rest.createCall({ to: TO, from: FROM, url: 'https://ahl.example.test/x' }));
    expect(e429).toMatchObject({ status: 429, retryable: true, operation: 'createCall' });

    const wrong = createTwilioRest(configFor({ TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: 'not-the-right-token-0000', TWILIO_API_BASE_URL: double.baseUrl }));
    const e401 = await caught(wrong.sendSms({ to: TO, from: FROM, body: SECRET_BODY }));
    expect(e401).toMatchObject({ status: 401, retryable: false, twilioCode: 20003 });
    expect(double.requests.at(-1)!.authorized).toBe(false);

    double.failNext(1, 503);
    const media = await caught(rest.fetchRecordingMedia(double.addRecording(), 'wav'));
    expect(media).toMatchObject({ status: 503, retryable: true, reason: 'http' });
  });

  it('network errors and timeouts are retryable', async () => {
    const closed = await startTwilioDouble({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN });
    await closed.close();
    const offline = createTwilioRest(configFor({ TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: AUTH_TOKEN, TWILIO_API_BASE_URL: closed.baseUrl }));
    const net = await caught(offline.sendSms({ to: TO, from: FROM, body: SECRET_BODY }));
    expect(net).toMatchObject({ reason: 'network', status: null, retryable: true });
    expectNoSecrets(net);

    const hanging: typeof fetch = (_input, init) =>
      new Promise((_, reject) => {
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
      });
    const slow = createTwilioRest(config, { fetchImpl: hanging, timeoutMs: 50 });
    const timeout = await caught(slow.deleteRecording(randomTwilioSid('RE')));
    expect(timeout).toMatchObject({ reason: 'timeout', retryable: true, operation: 'deleteRecording' });
  });

  it('a 4xx is not retryable and the error names the operation and status but never the numbers, body or token', async () => {
    double.failNext(1, 400);
    const err = await caught(rest.sendSms({ to: TO, from: FROM, body: SECRET_BODY }));
    expect(err).toMatchObject({ status: 400, retryable: false });
    expect(err.message).toMatch(/sendSms/);
    expect(err.message).toMatch(/400/);
    expectNoSecrets(err);

    double.failNext(1, 400);
    const call = await caught(rest.createCall({ to: TO, from: FROM, url: 'https://ahl.example.test/x' }));
    expectNoSecrets(call);

    const bad = await caught(rest.sendSms({ to: '2025550187', from: FROM, body: SECRET_BODY }));
    expect(bad).toMatchObject({ reason: 'invalid_input', retryable: false });
    expect(bad.message).not.toContain('2025550187');
    expect(double.requests).toHaveLength(2);
  });

  it('deletes a recording (204), then reports not_found (404)', async () => {
    const sid = double.addRecording();
    expect(await rest.deleteRecording(sid)).toBe('deleted');
    expect(double.recordings.get(sid)!.deleted).toBe(true);
    expect(await rest.deleteRecording(sid)).toBe('not_found');
    expect(double.requests.map((r) => [r.method, r.path, r.status])).toEqual([
      ['DELETE', `/2010-04-01/Accounts/${ACCOUNT_SID}/Recordings/${sid}.json`, 204],
      ['DELETE', `/2010-04-01/Accounts/${ACCOUNT_SID}/Recordings/${sid}.json`, 404],
    ]);
    const media = await caught(rest.fetchRecordingMedia(sid, 'wav'));
    expect(media.status).toBe(404);
  });

  it('lists recordings through three pages, following next_page_uri', async () => {
    const base = Date.parse('2026-11-25T12:00:00Z');
    const sids: string[] = [];
    for (let i = 0; i < 7; i += 1) {
      sids.push(double.addRecording({ dateCreated: new Date(base + i * 60_000), duration: 10 + i }));
    }
    double.addRecording({ dateCreated: new Date(base - 86_400_000) }); // before the cut-off
    const listed = [];
    for await (const r of rest.listRecordings({ pageSize: 3, dateCreatedAfter: new Date(base) })) listed.push(r);

    expect(listed.map((r) => r.sid)).toEqual([...sids].reverse());
    expect(listed[0]).toEqual({
      sid: sids[6],
      callSid: double.recordings.get(sids[6]!)!.callSid,
      dateCreated: new Date(base + 6 * 60_000),
      status: 'completed',
      duration: 16,
    });
    expect(double.requests).toHaveLength(3);
    expect(double.requests.every((r) => r.method === 'GET' && r.path === `/2010-04-01/Accounts/${ACCOUNT_SID}/Recordings.json` && r.authorized)).toBe(true);
    expect(double.requests[0]!.query.get('PageSize')).toBe('3');
    expect(double.requests[0]!.query.get('DateCreated>')).toBe('2026-11-25T12:00:00Z');
    expect(double.requests.map((r) => r.query.get('Page'))).toEqual([null, '1', '2']);
  });

  it('follows next_page_uri only within this account\'s list on the configured host', async () => {
    const urls: string[] = [];
    for (const next of ['https://elsewhere.example/2010-04-01/Accounts/x/Recordings.json?Page=1', `/2010-04-01/Accounts/${randomTwilioSid('AC')}/Recordings.json?Page=1`]) {
      const fake: typeof fetch = async (input) => {
        urls.push(String(input));
        return new Response(JSON.stringify({ recordings: [], next_page_uri: next }), { status: 200, headers: { 'content-type': 'application/json' } });
      };
      const pages = createTwilioRest(config, { fetchImpl: fake }).listRecordings({});
      const err = await caught((async () => {
        for await (const _r of pages) void _r;
      })());
      expect(err).toMatchObject({ reason: 'bad_response', retryable: false });
    }
    expect(urls).toEqual([`${double.baseUrl}/2010-04-01/Accounts/${ACCOUNT_SID}/Recordings.json`, `${double.baseUrl}/2010-04-01/Accounts/${ACCOUNT_SID}/Recordings.json`]);
  });

  it('refuses an invalid RecordingSid or number before any request', async () => {
    for (const sid of ['RE123', `re${'a'.repeat(32)}`, `RE${'A'.repeat(32)}`, `CA${'a'.repeat(32)}`, `RE${'a'.repeat(32)}/../x`]) {
      expect(await caught(rest.fetchRecordingMedia(sid, 'wav'))).toMatchObject({ reason: 'invalid_input', retryable: false });
      expect(await caught(rest.deleteRecording(sid))).toMatchObject({ reason: 'invalid_input', retryable: false });
    }
    expect(await caught(rest.createCall({ to: TO, from: 'anonymous', url: 'https://ahl.example.test/x' }))).toMatchObject({ reason: 'invalid_input' });
    expect(await caught(rest.createCall({ to: TO, from: FROM, url: 'javascript:alert(1)' }))).toMatchObject({ reason: 'invalid_input' });
    expect(() => rest.listRecordings({ pageSize: 0 })).toThrow(TwilioRestError);
    expect(double.requests).toHaveLength(0);
  });
});

describe('twilio REST adapter (log mode)', () => {
  it('is chosen only outside production, with the development token and the default API URL', () => {
    expect(twilioRestMode(configFor({}))).toBe('log');
    expect(twilioRestMode(configFor({ TWILIO_API_BASE_URL: double.baseUrl }))).toBe('twilio');
    expect(twilioRestMode(configFor({ TWILIO_AUTH_TOKEN: AUTH_TOKEN }))).toBe('twilio');
    expect(twilioRestMode({ ...configFor({}), env: 'production' })).toBe('twilio');
  });

  it('is never made by the product itself: log mode without the stand-in from devtools/ is an explicit error', () => {
    expect(() => createTwilioRest(configFor({}))).toThrow(LogModeUnavailable);
  });

  it('returns fake sids, keeps an outbox, logs redacted lines and sends nothing', async () => {
    const logRest = createLogTwilioRest(configFor({}));
    expect(logRest.kind).toBe('log');
    const logs = captureLogs();
    let sms: { sid: string };
    let call: { sid: string };
    try {
      sms = await logRest.sendSms({ to: TO, from: FROM, body: SECRET_BODY });
      call = await logRest.createCall({ to: TO, from: FROM, url: 'https://ahl.example.test/x', machineDetection: 'Enable', statusCallbackEvent: ['completed'] });
    } finally {
      logs.restore();
    }
    expect(sms.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(call.sid).toMatch(/^CA[0-9a-f]{32}$/);

    const outbox = logRest.outbox;
    expect(outbox).toHaveLength(2);
    expect(outbox[0]).toMatchObject({ type: 'sms', sid: sms.sid, to: TO, from: FROM, body: SECRET_BODY });
    expect(outbox[1]).toMatchObject({ type: 'call', sid: call.sid, to: TO, url: 'https://ahl.example.test/x', machineDetection: 'Enable' });

    const lines = logs.lines();
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain(sms.sid);
    expect(lines[1]).toContain(call.sid);
    for (const line of lines) {
      for (const secret of [TO, FROM, TO.slice(2)]) expect(line).not.toContain(secret);
    }
  });

  it('logs the text of an SMS it does not send (pages and notices carry no PHI), through the same redaction', async () => {
    const logRest = createLogTwilioRest(configFor({}));
    const logs = captureLogs();
    try {
      await logRest.sendSms({ to: TO, from: FROM, body: 'Demo Family Medicine: urgent message waiting. Call +12025550102 and press 1.' });
    } finally {
      logs.restore();
    }
    const [line, ...rest] = logs.lines();
    expect(rest).toEqual([]);
    const entry = JSON.parse(line ?? '{}') as Record<string, unknown>;
    expect(entry.message).toBe('twilio log mode: sms not sent');
    expect(entry.content).toContain('Demo Family Medicine: urgent message waiting. Call ');
    expect(entry.content).toContain(' and press 1.');
    for (const secret of [TO, FROM, '+12025550102', '2025550102']) expect(line).not.toContain(secret);
  });

  it('validates input and serves placeholder media: silence as long as the recording, marked as such', async () => {
    const logRest: LogTwilioRest = createLogTwilioRest(configFor({}));
    expect(await caught(logRest.sendSms({ to: 'nope', from: FROM, body: 'x' }))).toMatchObject({ reason: 'invalid_input' });
    expect(await caught(logRest.fetchRecordingMedia('RE-not-a-sid', 'wav'))).toMatchObject({ reason: 'invalid_input' });
    const media = await logRest.fetchRecordingMedia(randomTwilioSid('RE'), 'wav', { durationSeconds: 2 });
    const bytes: Buffer[] = [];
    for await (const chunk of media.stream) bytes.push(chunk as Buffer);
    expect(media).toMatchObject({ placeholder: true, contentType: 'audio/wav', contentLength: 44 + 2 * 16_000 });
    expect(Buffer.concat(bytes).length).toBe(44 + 2 * 16_000);
    expect(await logRest.deleteRecording(randomTwilioSid('RE'))).toBe('not_found');
    const listed = [];
    for await (const r of logRest.listRecordings({})) listed.push(r);
    expect(listed).toEqual([]);
    expect(logRest.outbox).toHaveLength(0);
  });
});
