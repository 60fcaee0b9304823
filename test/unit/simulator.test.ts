import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallSimulator, formatTranscript, heard, type CallResult, type CallScript } from '../../devtools/simulator/simulator.js';
import { parseTwiml, TwimlError } from '../../devtools/simulator/twiml.js';

const AUTH_TOKEN = 'test-auth-token';
const ACCOUNT_SID = `AC${'1'.repeat(32)}`;
const CALLER = '+12025550123';
const PRACTICE_LINE = '+12025550100';
const PROVIDER = '+14155550199';
const NOW = new Date('2025-01-15T03:00:00Z');

interface FakeServer {
  target: string;
  publicBase: string;
  /** Every request that reached a route, after the signature check. */
  seen: Array<{ method: string; url: string; params: Record<string, string> }>;
  /** Requests refused by the signature check. */
  refused: string[];
  close: () => Promise<void>;
}

const xml = (body: string): string => `<?xml version="1.0" encoding="UTF-8"?><Response>${body}</Response>`;

/**
 * A fake after-hours service: checks the Twilio signature against the public URL (base + originalUrl,
 * as the real service must behind a proxy) and answers with a small call flow.
 */
async function startFakeService(publicBase: string): Promise<FakeServer> {
  const seen: FakeServer['seen'] = [];
  const refused: string[] = [];
  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.use((req: Request, res: Response, next: NextFunction) => {
    const params = req.method === 'POST' ? (req.body as Record<string, string>) : {};
    const signature = req.header('X-Twilio-Signature') ?? '';
    if (!twilio.validateRequest(AUTH_TOKEN, signature, `${publicBase}${req.originalUrl}`, params)) {
      refused.push(req.originalUrl);
      res.status(403).type('text/plain').send('invalid signature');
      return;
    }
    seen.push({ method: req.method, url: req.originalUrl, params });
    next();
  });
  const twiml = (res: Response, body: string): void => {
    res.type('text/xml').send(xml(body));
  };
  const param = (req: Request, name: string): string => (req.body as Record<string, string> | undefined)?.[name] ?? '';

  app.post('/twilio/voice/incoming', (req, res) => {
    if (req.query['retry'] !== undefined) {
      twiml(res, '<Say>Goodbye.</Say><Hangup/>');
      return;
    }
    twiml(
      res,
      '<Gather numDigits="1" action="/twilio/voice/menu?practice=p1" timeout="4">' +
        '<Say language="en-US">Press 1 for the on-call provider, 2 to leave a message.</Say></Gather>' +
        '<Say>We did not receive a selection.</Say><Redirect>/twilio/voice/incoming?retry=1</Redirect>',
    );
  });
  app.post('/twilio/voice/menu', (req, res) => {
    switch (param(req, 'Digits')) {
      case '1':
        twiml(
          res,
          '<Say>Connecting you to the on-call provider.</Say>' +
            '<Dial action="/twilio/voice/dial-done" timeout="20" callerId="+12025550100">' +
            `<Number url="/twilio/voice/whisper" statusCallback="/twilio/voice/child-status" statusCallbackEvent="initiated ringing answered completed">${PROVIDER}</Number>` +
            '</Dial>',
        );
        return;
      case '2':
        twiml(
          res,
          '<Say>Leave a message after the beep.</Say>' +
            '<Record action="/twilio/voice/recorded" maxLength="120" finishOnKey="#" recordingStatusCallback="/twilio/voice/recording-status"/>' +
            '<Say>We did not get a message.</Say>',
        );
        return;
      default:
        // An absolute URL under the public base: the simulator maps it to the target.
        twiml(res, `<Say>That is not an option.</Say><Redirect>${publicBase}/twilio/voice/incoming?retry=1</Redirect>`);
    }
  });
  app.post('/twilio/voice/whisper', (_req, res) => {
    // A relative action resolves against this document's URL.
    twiml(res, '<Gather numDigits="1" action="whisper-answer"><Say>After-hours call. Press 1 to accept.</Say></Gather><Hangup/>');
  });
  app.post('/twilio/voice/whisper-answer', (req, res) => {
    twiml(res, param(req, 'Digits') === '1' ? '<Say>Connecting.</Say>' : '<Hangup/>');
  });
  app.post('/twilio/voice/dial-done', (req, res) => {
    twiml(res, `<Say>Provider call: ${param(req, 'DialCallStatus')}.</Say><Hangup/>`);
  });
  app.post('/twilio/voice/recorded', (_req, res) => {
    twiml(res, '<Say>Thank you, goodbye.</Say><Hangup/>');
  });
  app.get('/twilio/voice/get-doc', (_req, res) => {
    twiml(res, '<Say>Fetched with GET.</Say>');
  });
  app.post('/twilio/voice/get-redirect', (_req, res) => {
    twiml(res, '<Redirect method="GET">/twilio/voice/get-doc?x=1</Redirect>');
  });
  app.post('/twilio/voice/boom', (_req, res) => {
    res.status(500).type('text/plain').send('boom');
  });
  app.post('/twilio/voice/html', (_req, res) => {
    res.type('text/html').send('<html><body>hello</body></html>');
  });
  app.post('/twilio/voice/not-a-response', (_req, res) => {
    res.type('text/xml').send('<Say>no root</Say>');
  });
  app.post('/twilio/voice/sms', (_req, res) => {
    twiml(res, '<Sms>hello</Sms>');
  });
  app.post('/twilio/voice/foreign', (_req, res) => {
    twiml(res, '<Say>One moment.</Say><Redirect>https://evil.example.com/steal</Redirect>');
  });
  app.post('/twilio/voice/loop', (_req, res) => {
    twiml(res, '<Redirect>/twilio/voice/loop</Redirect>');
  });
  app.post('/twilio/voice/reject', (_req, res) => {
    twiml(res, '<Reject reason="busy"/>');
  });
  for (const path of ['/twilio/voice/status', '/twilio/voice/recording-status']) {
    app.post(path, (_req, res) => {
      res.status(204).end();
    });
  }
  app.post('/twilio/voice/child-status', (_req, res) => {
    res.status(200).send('');
  });

  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(0, '127.0.0.1', (error?: Error) => (error ? reject(error) : resolve(listening)));
  });
  const { port } = server.address() as AddressInfo;
  return {
    target: `http://127.0.0.1:${port}`,
    publicBase,
    seen,
    refused,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('CallSimulator against a signature-checking service', () => {
  let service: FakeServer;
  let proxied: FakeServer;
  const sentTo: string[] = [];
  const spyFetch: typeof fetch = (input, init) => {
    sentTo.push(String(input));
    return fetch(input, init);
  };

  beforeAll(async () => {
    service = await startFakeService('https://ahl.example.test');
    proxied = await startFakeService('https://proxy.example.test:8443');
  });
  afterAll(async () => {
    await service.close();
    await proxied.close();
  });

  const simulator = (server: FakeServer, overrides: { authToken?: string; maxSteps?: number } = {}): CallSimulator =>
    new CallSimulator({
      targetBaseUrl: server.target,
      publicBaseUrl: server.publicBase,
      authToken: overrides.authToken ?? AUTH_TOKEN,
      accountSid: ACCOUNT_SID,
      fetchImpl: spyFetch,
      now: () => NOW,
      ...(overrides.maxSteps !== undefined ? { maxSteps: overrides.maxSteps } : {}),
    });
  const call = (server: FakeServer, script: Partial<CallScript>, overrides?: { authToken?: string; maxSteps?: number }): Promise<CallResult> =>
    simulator(server, overrides).placeCall({ from: CALLER, to: PRACTICE_LINE, ...script });
  const paths = (result: CallResult): string[] => result.requests.map((r) => r.path.split('?')[0] ?? '');
  const noErrors = (result: CallResult): void => {
    expect(result.errors, formatTranscript(result)).toEqual([]);
  };

  it('signs every request so the service validates it (query string, proxy with an explicit port)', async () => {
    const before = proxied.refused.length;
    const result = await call(proxied, { incomingPath: '/twilio/voice/incoming?practice=p1&lang=en%20US', digits: ['9', null] });
    noErrors(result);
    expect(proxied.refused.length).toBe(before);
    expect(result.requests.every((r) => r.status === 200 || r.status === 204)).toBe(true);
    expect(result.requests[0]?.path).toBe('/twilio/voice/incoming?practice=p1&lang=en%20US');
    // The absolute URL under the public base was mapped to the target, never requested as is.
    expect(sentTo.some((url) => url.includes('proxy.example.test'))).toBe(false);
  });

  it('is refused (403, recorded as an error) when it signs with the wrong token', async () => {
    const result = await call(service, {}, { authToken: 'wrong-token' });
    expect(result.ended).toBe('error');
    expect(result.requests[0]?.status).toBe(403);
    expect(result.errors[0]).toContain('HTTP 403');
  });

  it('posts realistic inbound parameters, then in-progress ones', async () => {
    const result = await call(service, { digits: ['9', null], callSid: `CA${'a'.repeat(32)}`, extraParams: { FromState: 'XX' } });
    noErrors(result);
    const [incoming, menu] = result.requests;
    expect(incoming?.params).toMatchObject({
      CallSid: `CA${'a'.repeat(32)}`,
      AccountSid: ACCOUNT_SID,
      From: CALLER,
      To: PRACTICE_LINE,
      Caller: CALLER,
      Called: PRACTICE_LINE,
      CallStatus: 'ringing',
      Direction: 'inbound',
      ApiVersion: '2010-04-01',
      FromCountry: 'US',
      CallerCountry: 'US',
      FromState: 'XX',
    });
    expect(menu?.params).toMatchObject({ CallStatus: 'in-progress', Digits: '9', FinishedOnKey: '' });
    expect(menu?.params['FromState']).toBe('DC');
  });

  it('follows Gather digits, Gather timeouts and Redirects', async () => {
    const result = await call(service, { digits: ['9', null] });
    noErrors(result);
    expect(paths(result)).toEqual([
      '/twilio/voice/incoming',
      '/twilio/voice/menu', // pressed 9
      '/twilio/voice/incoming', // absolute Redirect → retry
      '/twilio/voice/status',
    ]);
    expect(result.requests[1]?.path).toBe('/twilio/voice/menu?practice=p1');
    expect(result.transcript.filter((e) => e.kind === 'press')).toEqual([{ kind: 'press', digits: '9', party: 'caller' }]);
    expect(heard(result)).toContain('That is not an option.');
    expect(heard(result)).toContain('Goodbye.');
    expect(result.ended).toBe('hangup');

    const silent = await call(service, { digits: [null] });
    noErrors(silent);
    expect(silent.transcript).toContainEqual({ kind: 'silence', party: 'caller' });
    expect(silent.transcript).toContainEqual({ kind: 'redirect', url: '/twilio/voice/incoming?retry=1' });
    expect(heard(silent)).toBe(
      'Press 1 for the on-call provider, 2 to leave a message. We did not receive a selection. Goodbye.',
    );
  });

  it('signs GET requests over the URL with the parameters in the query string', async () => {
    const result = await call(service, { incomingPath: '/twilio/voice/get-redirect' });
    noErrors(result);
    expect(result.requests[1]?.method).toBe('GET');
    expect(result.requests[1]?.path).toMatch(/^\/twilio\/voice\/get-doc\?x=1&AccountSid=/);
    expect(heard(result)).toBe('Fetched with GET.');
    expect(result.ended).toBe('completed');
  });

  it('posts the Record action, then the recording status callback', async () => {
    const result = await call(service, { digits: ['2'], recordings: [{ durationSeconds: 42, digits: '#' }] });
    noErrors(result);
    expect(paths(result)).toEqual([
      '/twilio/voice/incoming',
      '/twilio/voice/menu',
      '/twilio/voice/recorded',
      '/twilio/voice/recording-status',
      '/twilio/voice/status',
    ]);
    const action = result.requests[2];
    const status = result.requests[3];
    expect(action?.kind).toBe('twiml');
    expect(action?.params).toMatchObject({ RecordingDuration: '42', Digits: '#' });
    expect(action?.params['RecordingSid']).toMatch(/^RE[0-9a-f]{32}$/);
    expect(action?.params['RecordingUrl']).toBe(
      `https://api.twilio.com/2010-04-01/Accounts/${ACCOUNT_SID}/Recordings/${action?.params['RecordingSid']}`,
    );
    expect(status?.kind).toBe('callback');
    expect(status?.params).toMatchObject({
      RecordingSid: action?.params['RecordingSid'],
      RecordingStatus: 'completed',
      RecordingDuration: '42',
      RecordingChannels: '1',
      RecordingSource: 'RecordVerb',
      ErrorCode: '0',
      CallSid: result.callSid,
    });
    expect(result.transcript).toContainEqual({ kind: 'record', seconds: 42, status: 'completed' });
    expect(heard(result)).toContain('Thank you, goodbye.');
  });

  it('skips the Record action for an empty recording and runs the next verb', async () => {
    const result = await call(service, { digits: ['2'], recordings: [{ status: 'absent' }] });
    noErrors(result);
    expect(paths(result)).not.toContain('/twilio/voice/recorded');
    expect(heard(result)).toContain('We did not get a message.');
  });

  it('ends as caller-hangup when the caller hangs up to finish the recording', async () => {
    const result = await call(service, { digits: ['2'], recordings: [{ durationSeconds: 5 }] });
    noErrors(result);
    expect(result.requests[2]?.params).toMatchObject({ Digits: 'hangup', CallStatus: 'completed' });
    expect(result.ended).toBe('caller-hangup');
    expect(heard(result)).not.toContain('Thank you, goodbye.');
  });

  it('runs the whisper on the provider leg and bridges when the provider accepts', async () => {
    const result = await call(service, { digits: ['1'], dialOutcomes: [{ status: 'completed', duration: 120, whisperDigits: '1' }] });
    noErrors(result);
    expect(paths(result)).toEqual([
      '/twilio/voice/incoming',
      '/twilio/voice/menu',
      '/twilio/voice/child-status', // initiated
      '/twilio/voice/child-status', // ringing
      '/twilio/voice/child-status', // answered
      '/twilio/voice/whisper',
      '/twilio/voice/whisper-answer',
      '/twilio/voice/child-status', // completed
      '/twilio/voice/dial-done',
      '/twilio/voice/status',
    ]);
    const whisper = result.requests[5];
    const childSid = whisper?.params['CallSid'];
    expect(whisper?.party).toBe('provider');
    expect(whisper?.params).toMatchObject({
      ParentCallSid: result.callSid,
      Direction: 'outbound-dial',
      CallStatus: 'in-progress',
      From: PRACTICE_LINE,
      To: PROVIDER,
    });
    expect(childSid).toMatch(/^CA[0-9a-f]{32}$/);
    expect(childSid).not.toBe(result.callSid);
    expect(result.requests[6]?.params).toMatchObject({ CallSid: childSid, Digits: '1' });
    const childEvents = result.requests.filter((r) => r.path === '/twilio/voice/child-status').map((r) => r.params);
    expect(childEvents.map((p) => p['CallStatus'])).toEqual(['initiated', 'ringing', 'in-progress', 'completed']);
    expect(childEvents.map((p) => p['SequenceNumber'])).toEqual(['0', '1', '2', '3']);
    expect(childEvents.every((p) => p['ParentCallSid'] === result.callSid && p['CallSid'] === childSid)).toBe(true);
    expect(result.requests[8]?.params).toMatchObject({ DialCallStatus: 'completed', DialCallSid: childSid, DialBridged: 'true' });
    expect(Number(result.requests[8]?.params['DialCallDuration'])).toBeGreaterThanOrEqual(120);

    expect(heard(result, 'provider')).toBe('After-hours call. Press 1 to accept. Connecting.');
    expect(heard(result)).not.toContain('After-hours call');
    expect(heard(result)).toContain('Provider call: completed.');
    expect(result.transcript).toContainEqual({ kind: 'dial', numbers: [PROVIDER], outcome: 'completed', bridged: true });
    expect(result.transcript).toContainEqual({ kind: 'press', digits: '1', party: 'provider' });
    expect(formatTranscript(result)).toContain(`DIAL ${PROVIDER} → completed (bridged)`);
  });

  it('reports completed but not bridged when the whisper hangs up', async () => {
    const result = await call(service, { digits: ['1'], dialOutcomes: [{ status: 'completed', whisperDigits: null }] });
    noErrors(result);
    const dialDone = result.requests.find((r) => r.path === '/twilio/voice/dial-done');
    expect(dialDone?.params).toMatchObject({ DialCallStatus: 'completed', DialBridged: 'false' });
    expect(result.transcript).toContainEqual({ kind: 'dial', numbers: [PROVIDER], outcome: 'completed', bridged: false });
    expect(result.transcript).toContainEqual({ kind: 'silence', party: 'provider' });
    expect(result.transcript).toContainEqual({ kind: 'hangup', party: 'provider' });
  });

  it('does not run the whisper when nobody answers', async () => {
    const result = await call(service, { digits: ['1'], dialOutcomes: [{ status: 'no-answer' }] });
    noErrors(result);
    expect(paths(result)).not.toContain('/twilio/voice/whisper');
    const dialDone = result.requests.find((r) => r.path === '/twilio/voice/dial-done');
    expect(dialDone?.params).toMatchObject({ DialCallStatus: 'no-answer', DialCallDuration: '0' });
    const childStatuses = result.requests.filter((r) => r.path === '/twilio/voice/child-status').map((r) => r.params['CallStatus']);
    expect(childStatuses).toEqual(['initiated', 'ringing', 'no-answer']);
    expect(formatTranscript(result)).toContain(`DIAL ${PROVIDER} → no-answer`);
  });

  it('posts the final status callback when the call ends', async () => {
    const result = await call(service, { digits: ['9', null] });
    noErrors(result);
    const last = result.requests.at(-1);
    expect(last?.path).toBe('/twilio/voice/status');
    expect(last?.kind).toBe('callback');
    expect(last?.status).toBe(204);
    expect(last?.params).toMatchObject({
      CallSid: result.callSid,
      CallStatus: 'completed',
      CallbackSource: 'call-progress-events',
      SequenceNumber: '0',
      CallDuration: String(result.durationSeconds),
    });
    expect(result.durationSeconds).toBeGreaterThan(0);
    expect(last?.params['Timestamp']).toMatch(/^Wed, 15 Jan 2025 03:0\d:\d\d \+0000$/);
  });

  it('hangs up for the caller after the given number of documents', async () => {
    const result = await call(service, { hangupAfterSteps: 1, digits: ['1'] });
    noErrors(result);
    expect(result.ended).toBe('caller-hangup');
    expect(paths(result)).toEqual(['/twilio/voice/incoming', '/twilio/voice/status']);
    expect(result.transcript.at(-1)).toEqual({ kind: 'hangup', callerHungUp: true });
  });

  it('records HTTP 500, non-XML and non-TwiML answers as errors and ends the call', async () => {
    const boom = await call(service, { incomingPath: '/twilio/voice/boom' });
    expect(boom.ended).toBe('error');
    expect(boom.errors).toEqual(['POST /twilio/voice/boom → HTTP 500 (expected 200 with TwiML)']);
    expect(boom.requests.at(-1)?.path).toBe('/twilio/voice/status');

    const html = await call(service, { incomingPath: '/twilio/voice/html' });
    expect(html.ended).toBe('error');
    expect(html.errors[0]).toMatch(/Content-Type "text\/html.*" is not XML/);

    const noRoot = await call(service, { incomingPath: '/twilio/voice/not-a-response' });
    expect(noRoot.ended).toBe('error');
    expect(noRoot.errors[0]).toContain('expected a single <Response> root element');

    const sms = await call(service, { incomingPath: '/twilio/voice/sms' });
    expect(sms.errors[0]).toContain('Unsupported TwiML verb <Sms>');
  });

  it('refuses a URL outside the public base and never requests it', async () => {
    const result = await call(service, { incomingPath: '/twilio/voice/foreign' });
    expect(result.ended).toBe('error');
    expect(result.errors[0]).toContain('https://evil.example.com/steal is outside the public base URL');
    expect(sentTo.some((url) => url.includes('evil.example.com'))).toBe(false);
    expect(heard(result)).toBe('One moment.');
  });

  it('stops a looping flow at maxSteps', async () => {
    const result = await call(service, { incomingPath: '/twilio/voice/loop' }, { maxSteps: 5 });
    expect(result.ended).toBe('max-steps');
    expect(result.requests.filter((r) => r.kind === 'twiml')).toHaveLength(5);
    expect(result.errors[0]).toContain('maxSteps');
  });

  it('ends a call rejected with <Reject> as busy, unanswered', async () => {
    const result = await call(service, { incomingPath: '/twilio/voice/reject' });
    noErrors(result);
    expect(result.ended).toBe('hangup');
    expect(result.finalCallStatus).toBe('busy');
    expect(result.requests.at(-1)?.params).toMatchObject({ CallStatus: 'busy', CallDuration: '0' });
  });
});

describe('parseTwiml', () => {
  it('keeps verb order and fills in Twilio defaults', () => {
    const verbs = parseTwiml(
      xml(
        '<Say voice="Polly.Joanna">Hello &amp; welcome</Say><Pause/>' +
          '<Gather action="/next" numDigits="1"><Say>Press 1</Say><Play>https://cdn.example.test/a.mp3</Play></Gather>' +
          '<Record/><Dial>+12025550100</Dial><Redirect method="GET">/again</Redirect><Hangup/>',
      ),
    );
    expect(verbs.map((v) => v.verb)).toEqual(['Say', 'Pause', 'Gather', 'Record', 'Dial', 'Redirect', 'Hangup']);
    expect(verbs[0]).toEqual({ verb: 'Say', text: 'Hello & welcome', voice: 'Polly.Joanna', loop: 1 });
    expect(verbs[1]).toEqual({ verb: 'Pause', length: 1 });
    expect(verbs[2]).toMatchObject({
      verb: 'Gather',
      action: '/next',
      method: 'POST',
      numDigits: 1,
      timeout: 5,
      finishOnKey: '#',
      input: ['dtmf'],
      actionOnEmptyResult: false,
      children: [
        { verb: 'Say', text: 'Press 1', loop: 1 },
        { verb: 'Play', url: 'https://cdn.example.test/a.mp3', loop: 1 },
      ],
    });
    expect(verbs[3]).toMatchObject({ verb: 'Record', maxLength: 3600, playBeep: true, finishOnKey: '1234567890*#', timeout: 5, trim: 'trim-silence' });
    expect(verbs[4]).toMatchObject({ verb: 'Dial', timeout: 30, nouns: [{ noun: 'Number', number: '+12025550100', method: 'POST' }] });
    expect(verbs[5]).toEqual({ verb: 'Redirect', url: '/again', method: 'GET' });
  });

  it('parses Dial nouns with their attributes', () => {
    const [dial] = parseTwiml(
      xml(
        '<Dial action="/done" callerId="+12025550100" record="record-from-answer" timeout="20">' +
          '<Number url="/whisper" statusCallback="/child" statusCallbackEvent="initiated completed" sendDigits="ww1" machineDetection="Enable">+14155550199</Number>' +
          '<Client>nurse-7</Client><Sip>sip:oncall@pbx.example.test</Sip></Dial>',
      ),
    );
    expect(dial).toMatchObject({
      verb: 'Dial',
      action: '/done',
      callerId: '+12025550100',
      record: 'record-from-answer',
      timeout: 20,
      nouns: [
        {
          noun: 'Number',
          number: '+14155550199',
          url: '/whisper',
          statusCallback: '/child',
          statusCallbackEvent: ['initiated', 'completed'],
          sendDigits: 'ww1',
          machineDetection: 'Enable',
        },
        { noun: 'Client', identity: 'nurse-7' },
        { noun: 'Sip', uri: 'sip:oncall@pbx.example.test' },
      ],
    });
  });

  it('refuses documents and verbs it does not support, naming them', () => {
    expect(() => parseTwiml('')).toThrow(TwimlError);
    expect(() => parseTwiml('{"ok":true}')).toThrow(/malformed XML/);
    expect(() => parseTwiml('<html><body>hi</body></html>')).toThrow(/<Response> root/);
    expect(() => parseTwiml(xml('<Message>hi</Message>'))).toThrow('Unsupported TwiML verb <Message>');
    expect(() => parseTwiml(xml('<Enqueue>q</Enqueue>'))).toThrow('Unsupported TwiML verb <Enqueue>');
    expect(() => parseTwiml(xml('<Dial><Conference>room</Conference></Dial>'))).toThrow('<Conference>');
    expect(() => parseTwiml(xml('<Sya>typo</Sya>'))).toThrow('Unknown TwiML verb <Sya>');
    expect(() => parseTwiml(xml('<Gather><Record/></Gather>'))).toThrow('cannot be nested in <Gather>');
    expect(() => parseTwiml(xml('<Gather numDigits="one"/>'))).toThrow('numDigits');
  });
});
