import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createTwilioRest, isTwilioMediaUrl, MEDIA_MAX_REDIRECTS, TwilioRestError, type TwilioRest } from '../src/adapters/twilio-rest.js';
import { randomTwilioSid } from './support/twilio-double.js';

const ACCOUNT_SID = randomTwilioSid('AC');
const AUTH_TOKEN = `redirect-test-token-${randomBytes(8).toString('hex')}`;
const MEDIA = randomBytes(3000);

interface Seen {
  url: string;
  authorization: string | undefined;
}

/** A loopback "API" whose media answers a redirect chosen per test, and a second origin that is not Twilio. */
let api: http.Server;
let elsewhere: http.Server;
let apiBase: string;
let elsewhereBase: string;
let nextLocation = '';
const seen: Seen[] = [];
const elsewhereSeen: Seen[] = [];

async function serve(handler: http.RequestListener): Promise<{ server: http.Server; base: string }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** fetch, except that Twilio's real media hosts answer from here (no network in tests). */
const twilioHostsSeen: Seen[] = [];
const fetchImpl: typeof fetch = async (input, init) => {
  const url = String(input);
  if (url.startsWith('https://')) {
    const headers = new Headers(init?.headers);
    twilioHostsSeen.push({ url, authorization: headers.get('authorization') ?? undefined });
    return new Response(MEDIA, { status: 200, headers: { 'content-type': 'audio/x-wav', 'content-length': String(MEDIA.length) } });
  }
  return fetch(input, init);
};

let rest: TwilioRest;

beforeAll(async () => {
  const a = await serve((req, res) => {
    seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
    if (req.url?.startsWith('/final/')) {
      res.writeHead(200, { 'content-type': 'audio/x-wav', 'content-length': String(MEDIA.length) }).end(MEDIA);
      return;
    }
    res.writeHead(302, { location: nextLocation }).end();
  });
  api = a.server;
  apiBase = a.base;
  const b = await serve((req, res) => {
    elsewhereSeen.push({ url: req.url ?? '', authorization: req.headers.authorization });
    res.writeHead(200, { 'content-type': 'audio/x-wav' }).end(MEDIA);
  });
  elsewhere = b.server;
  elsewhereBase = b.base;
  const config = loadConfig({ NODE_ENV: 'test', TWILIO_API_BASE_URL: apiBase, TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: AUTH_TOKEN });
  rest = createTwilioRest(config, { fetchImpl });
});
afterAll(async () => {
  await new Promise((r) => api.close(r));
  await new Promise((r) => elsewhere.close(r));
});

async function read(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

async function caught(p: Promise<unknown>): Promise<TwilioRestError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(TwilioRestError);
  return err as TwilioRestError;
}

describe('recording media redirects', () => {
  it('a redirect on the API origin is followed, with the credentials', async () => {
    nextLocation = '/final/a.wav';
    seen.length = 0;
    const media = await rest.fetchRecordingMedia(randomTwilioSid('RE'), 'wav');
    expect(await read(media.stream)).toEqual(MEDIA);
    expect(seen.map((s) => s.url)).toEqual([expect.stringMatching(/\/Recordings\/RE[0-9a-f]{32}\.wav$/), '/final/a.wav']);
    expect(seen.every((s) => s.authorization?.startsWith('Basic '))).toBe(true);
  });

  it("a redirect to Twilio's media store is followed without our credentials", async () => {
    nextLocation = 'https://com-twilio-recordings-us1.s3.amazonaws.com/AC/RE.wav?X-Amz-Signature=abc';
    twilioHostsSeen.length = 0;
    const media = await rest.fetchRecordingMedia(randomTwilioSid('RE'), 'wav');
    expect(await read(media.stream)).toEqual(MEDIA);
    expect(media.contentLength).toBe(MEDIA.length);
    expect(twilioHostsSeen).toEqual([{ url: nextLocation, authorization: undefined }]);
  });

  it('a redirect to any other host is refused and that host is never asked', async () => {
    nextLocation = `${elsewhereBase}/steal.wav`;
    elsewhereSeen.length = 0;
    const err = await caught(rest.fetchRecordingMedia(randomTwilioSid('RE'), 'wav'));
    expect(err.reason).toBe('bad_response');
    expect(err.retryable).toBe(false);
    expect(err.message).not.toContain(elsewhereBase);
    expect(elsewhereSeen).toEqual([]);
  });

  it('a redirect loop ends after MEDIA_MAX_REDIRECTS hops', async () => {
    nextLocation = '/2010-04-01/loop';
    seen.length = 0;
    const err = await caught(rest.fetchRecordingMedia(randomTwilioSid('RE'), 'wav'));
    expect(err.reason).toBe('bad_response');
    // The first request and MEDIA_MAX_REDIRECTS redirects followed; the next one is refused.
    expect(seen.length).toBe(MEDIA_MAX_REDIRECTS + 1);
  });
});

describe('isTwilioMediaUrl', () => {
  const base = 'https://api.twilio.com';
  it.each([
    'https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.wav',
    'https://api.dublin.ie1.twilio.com/x',
    'https://media.twiliocdn.com/AC1/abc',
    'https://s3-external-1.amazonaws.com/media.twiliocdn.com/AC1/abc',
    'https://s3-external-1.amazonaws.com/com.twilio.prod.recordings/AC1/RE1',
    'https://com-twilio-recordings.s3.amazonaws.com/AC1/RE1',
    'https://com-twilio-recordings.s3.us-east-1.amazonaws.com/AC1/RE1',
  ])('allows %s', (u) => {
    expect(isTwilioMediaUrl(new URL(u), base)).toBe(true);
  });
  it.each([
    'http://media.twiliocdn.com/AC1/abc',
    'https://media.twiliocdn.com:8443/AC1/abc',
    'https://twilio.com.evil.example/x',
    'https://eviltwilio.com/x',
    'https://s3.amazonaws.com/attacker-bucket/x',
    'https://attacker.s3.amazonaws.com/x',
    'https://user:pw@media.twiliocdn.com/x',
    'http://169.254.169.254/latest/meta-data',
  ])('refuses %s', (u) => {
    expect(isTwilioMediaUrl(new URL(u), base)).toBe(false);
  });
});
