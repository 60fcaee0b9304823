/**
 * A loopback stand-in for Twilio's REST API (2010-04-01), for the REST adapter's tests and
 * anything that places calls or fetches recordings. node:http on 127.0.0.1, a free port.
 *
 * It checks basic auth (401 otherwise) and the account in the path (404 otherwise), records
 * every request, answers Messages.json and Calls.json as Twilio does (201 and a queued
 * resource), serves recording media from `recordings` in 64 KiB chunks with backpressure
 * (404 while not ready or once deleted), deletes (204 / 404) and lists recordings newest
 * first with `next_page_uri` paging. IncomingPhoneNumbers: lists the account's numbers by
 * `PhoneNumber` and updates one's webhooks, keeping what was configured (`incomingNumbers`); a
 * number's `sticky` fields keep their value whatever an update says (Twilio not applying a change).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DoubleRecording {
  bytes: Buffer;
  /** false while "processing": the media answers 404. */
  ready: boolean;
  deleted: boolean;
  callSid: string;
  dateCreated: Date;
  /** Seconds; defaults to the length of 8 kHz 16-bit mono audio. */
  duration?: number;
}

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  /** The form-encoded body (empty for GET/DELETE). Use getAll() for repeated parameters. */
  form: URLSearchParams;
  /** Whether the basic-auth credentials matched. */
  authorized: boolean;
  contentType: string | undefined;
  time: Date;
  status: number;
  /** Bytes of response body written so far, and whether the response has ended (for streaming checks). */
  bytesSent: number;
  finished: boolean;
}

/** One of the account's numbers, with its webhooks as Twilio would hold them. */
export interface DoubleIncomingNumber {
  phoneNumber: string;
  voiceUrl: string;
  voiceMethod: string;
  voiceFallbackUrl: string;
  voiceFallbackMethod: string;
  statusCallback: string;
  statusCallbackMethod: string;
  smsUrl: string;
  smsMethod: string;
  smsFallbackUrl: string;
  smsFallbackMethod: string;
  /** Form fields (VoiceUrl, SmsUrl, …) an update does not change. */
  sticky: Set<string>;
}

/** Form field of an update → the number's field. */
const NUMBER_FIELDS = {
  VoiceUrl: 'voiceUrl',
  VoiceMethod: 'voiceMethod',
  VoiceFallbackUrl: 'voiceFallbackUrl',
  VoiceFallbackMethod: 'voiceFallbackMethod',
  StatusCallback: 'statusCallback',
  StatusCallbackMethod: 'statusCallbackMethod',
  SmsUrl: 'smsUrl',
  SmsMethod: 'smsMethod',
  SmsFallbackUrl: 'smsFallbackUrl',
  SmsFallbackMethod: 'smsFallbackMethod',
} as const;

export interface TwilioDouble {
  baseUrl: string;
  accountSid: string;
  requests: RecordedRequest[];
  recordings: Map<string, DoubleRecording>;
  /** The account's numbers by their PN sid. */
  incomingNumbers: Map<string, DoubleIncomingNumber>;
  /** Adds a number to the account (no webhooks yet) and returns its sid. */
  addIncomingNumber(phoneNumber: string, init?: Partial<DoubleIncomingNumber>): string;
  /** The next `n` requests (any path, before auth) answer `status` with a Twilio-shaped error body. */
  failNext(n: number, status: number): void;
  /** The next media response stops after `afterBytes` until `release()` (to observe streaming). */
  holdNextMedia(afterBytes: number): { release(): void };
  /** The next Messages.json POST whose Body contains `bodyIncludes` is answered only on `release()` (an SMS send in flight). */
  holdNextMessage(bodyIncludes: string): { release(): void };
  /** Messages.json POSTs to this number answer 400 with this Twilio error code (21211 invalid number, 21610 unsubscribed…). */
  rejectMessagesTo(to: string, code: number): void;
  /** Calls.json POSTs to this number answer 400 with this Twilio error code (21215 not permitted, 21217 invalid…); null accepts them again. */
  rejectCallsTo(to: string, code: number | null): void;
  /** Adds a recording and returns its sid. */
  addRecording(init?: Partial<DoubleRecording> & { sid?: string }): string;
  close(): Promise<void>;
}

const CHUNK = 64 * 1024;

export function randomTwilioSid(prefix: string): string {
  return prefix + randomBytes(16).toString('hex');
}

/** RFC 2822, as Twilio formats its JSON dates: "Wed, 25 Nov 2026 22:00:00 +0000". */
function rfc2822(d: Date): string {
  return d.toUTCString().replace('GMT', '+0000');
}

export async function startTwilioDouble(opts: { accountSid: string; authToken: string }): Promise<TwilioDouble> {
  const { accountSid, authToken } = opts;
  const expectedAuth = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;
  const accountPath = `/2010-04-01/Accounts/${accountSid}`;
  const requests: RecordedRequest[] = [];
  const recordings = new Map<string, DoubleRecording>();
  const incomingNumbers = new Map<string, DoubleIncomingNumber>();
  let failures: { remaining: number; status: number } = { remaining: 0, status: 500 };
  let hold: { afterBytes: number; released: Promise<void> } | null = null;
  let messageHold: { bodyIncludes: string; released: Promise<void> } | null = null;
  const messageRejections = new Map<string, number>();
  const callRejections = new Map<string, number>();

  function sendJson(res: http.ServerResponse, rec: RecordedRequest, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    rec.status = status;
    rec.bytesSent = Buffer.byteLength(text);
    rec.finished = true;
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(rec.bytesSent) });
    res.end(text);
  }

  function twilioError(res: http.ServerResponse, rec: RecordedRequest, status: number, code: number, message: string): void {
    sendJson(res, rec, status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
  }

  async function streamMedia(res: http.ServerResponse, rec: RecordedRequest, bytes: Buffer, contentType: string): Promise<void> {
    const held = hold;
    hold = null;
    rec.status = 200;
    res.writeHead(200, { 'content-type': contentType, 'content-length': String(bytes.length) });
    for (let offset = 0; offset < bytes.length; offset += CHUNK) {
      if (held !== null && offset >= held.afterBytes) await held.released;
      if (res.destroyed) return;
      const chunk = bytes.subarray(offset, offset + CHUNK);
      const ok = res.write(chunk);
      rec.bytesSent += chunk.length;
      if (!ok) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            res.off('drain', done).off('close', done);
            resolve();
          };
          res.on('drain', done).on('close', done);
        });
      }
    }
    res.end();
    rec.finished = true;
  }

  function publicRecording(sid: string, r: DoubleRecording): Record<string, unknown> {
    return {
      account_sid: accountSid,
      api_version: '2010-04-01',
      call_sid: r.callSid,
      conference_sid: null,
      date_created: rfc2822(r.dateCreated),
      date_updated: rfc2822(r.dateCreated),
      start_time: rfc2822(r.dateCreated),
      duration: r.ready ? String(r.duration ?? Math.round(r.bytes.length / 16000)) : '-1',
      sid,
      price: null,
      price_unit: 'USD',
      status: r.ready ? 'completed' : 'processing',
      channels: 1,
      source: 'RecordVerb',
      error_code: null,
      uri: `${accountPath}/Recordings/${sid}.json`,
      encryption_details: null,
      media_url: `https://api.twilio.com${accountPath}/Recordings/${sid}`,
    };
  }

  function listRecordings(res: http.ServerResponse, rec: RecordedRequest): void {
    const pageSize = Math.min(Math.max(Number(rec.query.get('PageSize') ?? '50') || 50, 1), 1000);
    const page = Math.max(Number(rec.query.get('Page') ?? '0') || 0, 0);
    const after = rec.query.get('DateCreated>');
    const since = after === null ? null : new Date(after);
    const all = [...recordings.entries()]
      .filter(([, r]) => !r.deleted)
      .filter(([, r]) => since === null || r.dateCreated.getTime() >= since.getTime())
      .sort(([, a], [, b]) => b.dateCreated.getTime() - a.dateCreated.getTime());
    const slice = all.slice(page * pageSize, (page + 1) * pageSize);
    const keep = new URLSearchParams();
    keep.set('PageSize', String(pageSize));
    if (after !== null) keep.set('DateCreated>', after);
    const pageUri = (p: number): string => {
      const q = new URLSearchParams(keep);
      q.set('Page', String(p));
      if (p > 0) q.set('PageToken', `PA${randomBytes(8).toString('hex')}`);
      return `${accountPath}/Recordings.json?${q.toString()}`;
    };
    const hasNext = (page + 1) * pageSize < all.length;
    sendJson(res, rec, 200, {
      recordings: slice.map(([sid, r]) => publicRecording(sid, r)),
      page,
      page_size: pageSize,
      start: page * pageSize,
      end: page * pageSize + slice.length - 1,
      uri: `${rec.path}?${rec.query.toString()}`,
      first_page_uri: pageUri(0),
      previous_page_uri: page > 0 ? pageUri(page - 1) : null,
      next_page_uri: hasNext ? pageUri(page + 1) : null,
    });
  }

  function publicNumber(sid: string, n: DoubleIncomingNumber): Record<string, unknown> {
    return {
      account_sid: accountSid,
      sid,
      phone_number: n.phoneNumber,
      friendly_name: n.phoneNumber,
      voice_url: n.voiceUrl,
      voice_method: n.voiceMethod,
      voice_fallback_url: n.voiceFallbackUrl,
      voice_fallback_method: n.voiceFallbackMethod,
      status_callback: n.statusCallback,
      status_callback_method: n.statusCallbackMethod,
      sms_url: n.smsUrl,
      sms_method: n.smsMethod,
      sms_fallback_url: n.smsFallbackUrl,
      sms_fallback_method: n.smsFallbackMethod,
      uri: `${accountPath}/IncomingPhoneNumbers/${sid}.json`,
    };
  }

  function listNumbers(res: http.ServerResponse, rec: RecordedRequest): void {
    const wanted = rec.query.get('PhoneNumber');
    const found = [...incomingNumbers.entries()].filter(([, n]) => wanted === null || n.phoneNumber === wanted);
    sendJson(res, rec, 200, { incoming_phone_numbers: found.map(([sid, n]) => publicNumber(sid, n)), page: 0, page_size: 50, next_page_uri: null });
  }

  function updateNumber(res: http.ServerResponse, rec: RecordedRequest, sid: string): void {
    const n = incomingNumbers.get(sid);
    if (n === undefined) return twilioError(res, rec, 404, 20404, 'The requested resource was not found');
    for (const [form, field] of Object.entries(NUMBER_FIELDS)) {
      const value = rec.form.get(form);
      if (value !== null && !n.sticky.has(form)) n[field] = value;
    }
    sendJson(res, rec, 200, publicNumber(sid, n));
  }

  function created(res: http.ServerResponse, rec: RecordedRequest, kind: 'message' | 'call'): void {
    const to = rec.form.get('To');
    const from = rec.form.get('From');
    // A message may name a Messaging Service instead of a From number (Twilio picks the sender from its pool).
    const service = kind === 'message' ? rec.form.get('MessagingServiceSid') : null;
    if (!to) return twilioError(res, rec, 400, 21604, "A 'To' phone number is required.");
    if (!from && !service) return twilioError(res, rec, 400, 21603, "A 'From' phone number is required.");
    const rejected = (kind === 'message' ? messageRejections : callRejections).get(to);
    if (rejected !== undefined) return twilioError(res, rec, 400, rejected, `Failure for ${to}`);
    const now = rfc2822(new Date());
    if (kind === 'message') {
      const body = rec.form.get('Body');
      if (!body) return twilioError(res, rec, 400, 21602, 'Message body is required.');
      const sid = randomTwilioSid('SM');
      return sendJson(res, rec, 201, {
        account_sid: accountSid,
        api_version: '2010-04-01',
        body,
        date_created: now,
        date_sent: null,
        date_updated: now,
        direction: 'outbound-api',
        error_code: null,
        error_message: null,
        from: from ?? null,
        messaging_service_sid: service ?? null,
        num_media: '0',
        num_segments: '1',
        price: null,
        price_unit: 'USD',
        sid,
        status: 'queued',
        to,
        uri: `${accountPath}/Messages/${sid}.json`,
      });
    }
    if (!rec.form.get('Url') && !rec.form.get('Twiml')) return twilioError(res, rec, 400, 21205, 'Url parameter is required.');
    const sid = randomTwilioSid('CA');
    return sendJson(res, rec, 201, {
      account_sid: accountSid,
      answered_by: null,
      api_version: '2010-04-01',
      caller_name: null,
      date_created: now,
      date_updated: now,
      direction: 'outbound-api',
      duration: null,
      end_time: null,
      from,
      from_formatted: from,
      parent_call_sid: null,
      price: null,
      price_unit: 'USD',
      sid,
      start_time: null,
      status: 'queued',
      to,
      to_formatted: to,
      uri: `${accountPath}/Calls/${sid}.json`,
    });
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const contentType = req.headers['content-type'];
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      form: contentType?.startsWith('application/x-www-form-urlencoded') ? new URLSearchParams(raw) : new URLSearchParams(),
      authorized: req.headers.authorization === expectedAuth,
      contentType,
      time: new Date(),
      status: 0,
      bytesSent: 0,
      finished: false,
    };
    requests.push(rec);

    if (failures.remaining > 0) {
      failures.remaining -= 1;
      // Like Twilio, an error message may echo the number: the adapter must not pass it on.
      const to = rec.form.get('To');
      return twilioError(res, rec, failures.status, failures.status === 429 ? 20429 : 20500, to ? `Failure for ${to}` : 'Failure');
    }
    if (!rec.authorized) return twilioError(res, rec, 401, 20003, 'Authenticate');
    if (!rec.path.startsWith(`${accountPath}/`)) return twilioError(res, rec, 404, 20404, 'The requested resource was not found');

    const rest = rec.path.slice(accountPath.length);
    if (rec.method === 'POST' && rest === '/Messages.json') {
      const held = messageHold;
      if (held !== null && (rec.form.get('Body') ?? '').includes(held.bodyIncludes)) {
        messageHold = null;
        await held.released;
      }
      return created(res, rec, 'message');
    }
    if (rec.method === 'POST' && rest === '/Calls.json') return created(res, rec, 'call');
    if (rec.method === 'GET' && rest === '/Recordings.json') return listRecordings(res, rec);
    if (rec.method === 'GET' && rest === '/IncomingPhoneNumbers.json') return listNumbers(res, rec);
    const numberPath = /^\/IncomingPhoneNumbers\/(PN[0-9a-f]{32})\.json$/.exec(rest);
    if (rec.method === 'POST' && numberPath !== null) return updateNumber(res, rec, numberPath[1] ?? '');

    const media = /^\/Recordings\/(RE[0-9a-f]{32})\.(wav|mp3|json)$/.exec(rest);
    if (media !== null) {
      const sid = media[1] ?? '';
      const ext = media[2];
      const r = recordings.get(sid);
      if (rec.method === 'DELETE' && ext === 'json') {
        if (r === undefined || r.deleted) return twilioError(res, rec, 404, 20404, 'The requested resource was not found');
        r.deleted = true;
        rec.status = 204;
        rec.finished = true;
        res.writeHead(204);
        res.end();
        return;
      }
      if (rec.method === 'GET' && r !== undefined && !r.deleted) {
        if (ext === 'json') return sendJson(res, rec, 200, publicRecording(sid, r));
        if (r.ready) return streamMedia(res, rec, r.bytes, ext === 'wav' ? 'audio/x-wav' : 'audio/mpeg');
      }
      return twilioError(res, rec, 404, 20404, 'The requested resource was not found');
    }
    return twilioError(res, rec, 404, 20404, 'The requested resource was not found');
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    accountSid,
    requests,
    recordings,
    incomingNumbers,
    addIncomingNumber(phoneNumber, init = {}) {
      const sid = randomTwilioSid('PN');
      incomingNumbers.set(sid, {
        phoneNumber,
        voiceUrl: '',
        voiceMethod: 'POST',
        voiceFallbackUrl: '',
        voiceFallbackMethod: 'POST',
        statusCallback: '',
        statusCallbackMethod: 'POST',
        smsUrl: '',
        smsMethod: 'POST',
        smsFallbackUrl: '',
        smsFallbackMethod: 'POST',
        sticky: new Set(),
        ...init,
      });
      return sid;
    },
    failNext(n, status) {
      failures = { remaining: n, status };
    },
    holdNextMedia(afterBytes) {
      let release!: () => void;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      hold = { afterBytes, released };
      return { release };
    },
    holdNextMessage(bodyIncludes) {
      let release!: () => void;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      messageHold = { bodyIncludes, released };
      return { release };
    },
    rejectMessagesTo(to, code) {
      messageRejections.set(to, code);
    },
    rejectCallsTo(to, code) {
      if (code === null) callRejections.delete(to);
      else callRejections.set(to, code);
    },
    addRecording(init = {}) {
      const { sid = randomTwilioSid('RE'), ...rest } = init;
      recordings.set(sid, {
        bytes: randomBytes(32_000),
        ready: true,
        deleted: false,
        callSid: randomTwilioSid('CA'),
        dateCreated: new Date(),
        ...rest,
      });
      return sid;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
