// Over 400 lines because every Twilio REST call we make (SMS, calls, recording media and its redirect rules, deletion, listing) shares one error model and one set of input checks.
/**
 * The only place the service talks to Twilio's REST API (2010-04-01): send an SMS, place a
 * call, stream a recording's media, delete a recording, list recordings.
 *
 * Why plain `fetch` and not the `twilio` client: the library has no call for a recording's
 * media (`/Recordings/{Sid}.wav`), and its axios-based RequestClient buffers every response
 * whole, so the media download would need a second HTTP path anyway. Pointing the library at
 * another base URL also means wrapping its RequestClient to rewrite every request's `uri`
 * (its own options only pick a Twilio region/edge). Five calls over one small `fetch`
 * wrapper give one code path for auth, timeouts, error mapping and redaction, true
 * streaming of media, and an injectable `fetchImpl` for tests. The library stays in use for
 * webhook signatures and TwiML.
 *
 * Nothing here retries: every failure is a `TwilioRestError` saying whether a retry may
 * help, and the caller (a BullMQ job with backoff) decides. Note that a retried POST after a
 * timeout or network error may send a second SMS or place a second call, because Twilio may
 * have acted before the connection broke; callers of sendSms/createCall should only retry
 * where a duplicate is acceptable.
 *
 * Errors never carry the request body, phone numbers, Twilio's own error text (which may
 * echo the number) or the auth token: only the operation, the HTTP status and Twilio's
 * numeric error code.
 */
import { Readable, finished } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { DEV_TWILIO_AUTH_TOKEN, type Config } from '../config.js';
// Imports zod only, so no cycle: the one definition of a CallSid.
import { CALL_SID_PATTERN } from './twilio-ids.js';

export const TWILIO_DEFAULT_API_BASE_URL = 'https://api.twilio.com';
const API_VERSION = '2010-04-01';
/** Whole request, response body included, for the JSON calls. */
export const JSON_TIMEOUT_MS = 10_000;
/** Media: until the response headers arrive. */
export const MEDIA_HEADERS_TIMEOUT_MS = 10_000;
/** Media: the whole download (the stream errors if it is not consumed in this time). */
export const MEDIA_BODY_TIMEOUT_MS = 10 * 60_000;
/** Media: redirects followed at most (Twilio answers with one, to its media store). */
export const MEDIA_MAX_REDIRECTS = 3;
/**
 * Where Twilio sends a recording's media (a redirect from api.twilio.com): its own hosts
 * (*.twilio.com, including regional API edges, and *.twiliocdn.com) and its S3 buckets
 * (named com.twilio… / com-twilio…, virtual-hosted or path-style). HTTPS only.
 */
const TWILIO_MEDIA_HOST = /^(?:[a-z0-9-]+\.)*(?:twilio\.com|twiliocdn\.com)$/;
const S3_HOST = /^(?:(?<bucket>[a-z0-9.-]+)\.)?s3(?:[.-](?:external-1|[a-z]{2}(?:-[a-z]+)+-\d))?\.amazonaws\.com$/;
const TWILIO_BUCKET = /^(?:com\.twilio\.|com-twilio-)[a-z0-9.-]+$|^media\.twiliocdn\.com$/;

/** Pure: may a recording's media be fetched from this URL (a redirect's target)? */
export function isTwilioMediaUrl(url: URL, apiBaseUrl: string): boolean {
  // The configured API origin itself (a test double, or api.twilio.com).
  if (url.origin === new URL(apiBaseUrl).origin) return true;
  if (url.protocol !== 'https:' || url.port !== '' || url.username !== '' || url.password !== '') return false;
  const host = url.hostname.toLowerCase();
  if (TWILIO_MEDIA_HOST.test(host)) return true;
  const s3 = S3_HOST.exec(host);
  if (s3 === null) return false;
  const bucket = s3.groups?.bucket ?? url.pathname.split('/')[1] ?? '';
  return TWILIO_BUCKET.test(bucket);
}

const E164 = /^\+[1-9]\d{6,14}$/;
export const RECORDING_SID = /^RE[0-9a-f]{32}$/;
const MESSAGE_SID = /^(?:SM|MM)[0-9a-f]{32}$/;
const SMS_MAX_LENGTH = 1600;
const CALL_EVENTS: ReadonlySet<string> = new Set(['initiated', 'ringing', 'answered', 'completed']);
const MACHINE_DETECTION: ReadonlySet<string> = new Set(['Enable', 'DetectMessageEnd']);

/** A Twilio Messaging Service SID. */
export const MESSAGING_SERVICE_SID = /^MG[0-9a-f]{32}$/;

export type TwilioOperation = 'sendSms' | 'createCall' | 'fetchRecordingMedia' | 'deleteRecording' | 'listRecordings' | 'findIncomingNumber' | 'updateIncomingNumber';

export interface SendSmsInput {
  to: string;
  /** The sending number; or, instead, `messagingServiceSid` (Twilio then picks the sender from the service's pool). */
  from?: string;
  /** A Twilio Messaging Service (MG + 32 hex): sent as MessagingServiceSid instead of From (patient SMS, A2P 10DLC). */
  messagingServiceSid?: string;
  body: string;
  statusCallback?: string;
}

export interface CreateCallInput {
  to: string;
  from: string;
  url: string;
  statusCallback?: string;
  statusCallbackEvent?: string[];
  machineDetection?: 'Enable' | 'DetectMessageEnd';
  asyncAmd?: boolean;
  asyncAmdStatusCallback?: string;
  /** Seconds to let the call ring (Twilio accepts 5–600; default 60). */
  timeout?: number;
}

export interface RecordingMedia {
  /** A Node Readable over the response body (not a web ReadableStream); read it once. */
  stream: Readable;
  contentType: string;
  contentLength: number | null;
  /**
   * Set only by log mode's stand-in (devtools/twilio-log-mode.ts): generated silence, not a
   * caller's recording. The pipeline marks the voicemail `simulated` from it.
   */
  placeholder?: true;
}

/** What the caller already knows of a recording. Twilio's API ignores it; log mode's stand-in serves silence that long. */
export interface RecordingMediaHint {
  /** The callback's RecordingDuration (seconds), or null when it did not say. */
  durationSeconds: number | null;
}

export interface RecordingSummary {
  sid: string;
  callSid: string;
  dateCreated: Date;
  status: string;
  /** Seconds; -1 while Twilio does not know it yet. */
  duration: number;
}

export interface TwilioRest {
  kind: 'twilio' | 'log';
  sendSms(input: SendSmsInput): Promise<{ sid: string }>;
  createCall(input: CreateCallInput): Promise<{ sid: string }>;
  /**
   * Streams a recording's media — never buffers it whole. Only for RecordingSids of the
   * configured account (the path always names that account). While Twilio is still
   * processing the recording it answers 404: that is a retryable `TwilioRestError` with
   * reason 'not_ready'; the caller's retry budget bounds how long a recording that never
   * appears (deleted, or another account's) keeps being asked for.
   */
  fetchRecordingMedia(recordingSid: string, format: 'wav' | 'mp3', hint?: RecordingMediaHint): Promise<RecordingMedia>;
  deleteRecording(recordingSid: string): Promise<'deleted' | 'not_found'>;
  /** Newest first (Twilio's order), following `next_page_uri` until the last page. */
  listRecordings(opts: { dateCreatedAfter?: Date; pageSize?: number }): AsyncIterable<RecordingSummary>;
}

export type TwilioRestErrorReason =
  | 'invalid_input' // refused before any request
  | 'not_configured' // log mode cannot do this
  | 'not_ready' // recording media not available yet (404)
  | 'http' // any other non-success status
  | 'network'
  | 'timeout'
  | 'bad_response'; // success status but a body we cannot use

export class TwilioRestError extends Error {
  override readonly name = 'TwilioRestError';
  readonly operation: TwilioOperation;
  readonly reason: TwilioRestErrorReason;
  /** HTTP status, or null when no response arrived (or none was sent). */
  readonly status: number | null;
  readonly retryable: boolean;
  /** Twilio's numeric error code from the response body (e.g. 20003, 21211), when present. */
  readonly twilioCode: number | null;

  constructor(init: {
    operation: TwilioOperation;
    reason: TwilioRestErrorReason;
    status?: number | null;
    retryable: boolean;
    twilioCode?: number | null;
    detail: string;
  }) {
    super(`twilio ${init.operation}: ${init.detail}`);
    this.operation = init.operation;
    this.reason = init.reason;
    this.status = init.status ?? null;
    this.retryable = init.retryable;
    this.twilioCode = init.twilioCode ?? null;
  }
}

/**
 * Log mode when no real Twilio account is configured: not production, the development auth
 * token, and the default API base URL (a test pointing TWILIO_API_BASE_URL at a double gets
 * the real adapter, even with the development token).
 */
export function twilioRestMode(config: Config): 'twilio' | 'log' {
  const devToken = config.twilio.authTokens[0] === DEV_TWILIO_AUTH_TOKEN;
  const defaultBase = config.twilio.apiBaseUrl.replace(/\/+$/, '') === TWILIO_DEFAULT_API_BASE_URL;
  return config.env !== 'production' && devToken && defaultBase ? 'log' : 'twilio';
}

/**
 * Log mode's stand-in is development code (devtools/twilio-log-mode.ts), which the product never
 * imports and the production image does not contain: main.ts loads it (src/log-mode.ts) and
 * hands it to startServices, as tests do. Reaching here in log mode means nobody did.
 */
export class LogModeUnavailable extends Error {
  override readonly name = 'LogModeUnavailable';
  constructor() {
    super('no Twilio account configured (log mode), and no log-mode stand-in was given: load devtools/twilio-log-mode.ts (src/log-mode.ts)');
  }
}

export function createTwilioRest(
  config: Config,
  opts: { fetchImpl?: typeof fetch; timeoutMs?: number; mediaHeadersTimeoutMs?: number; mediaBodyTimeoutMs?: number } = {},
): TwilioRest {
  if (twilioRestMode(config) === 'log') throw new LogModeUnavailable();
  return createRealTwilioRest(config, opts);
}

// ---------------------------------------------------------------------------
// Input checks (shared with log mode's stand-in, devtools/twilio-log-mode.ts). Values are
// never echoed in the error.
// ---------------------------------------------------------------------------

function invalid(operation: TwilioOperation, what: string): TwilioRestError {
  return new TwilioRestError({ operation, reason: 'invalid_input', retryable: false, detail: `invalid ${what}` });
}

function checkE164(op: TwilioOperation, field: string, value: unknown): void {
  if (typeof value !== 'string' || !E164.test(value)) throw invalid(op, `${field} (expected an E.164 number)`);
}

function checkUrl(op: TwilioOperation, field: string, value: unknown): void {
  let ok = false;
  if (typeof value === 'string') {
    try {
      const u = new URL(value);
      ok = (u.protocol === 'https:' || u.protocol === 'http:') && u.username === '' && u.password === '';
    } catch {
      ok = false;
    }
  }
  if (!ok) throw invalid(op, `${field} (expected an absolute http(s) URL)`);
}

export function checkRecordingSid(op: TwilioOperation, sid: unknown): asserts sid is string {
  if (typeof sid !== 'string' || !RECORDING_SID.test(sid)) throw invalid(op, 'RecordingSid (expected RE followed by 32 hex characters)');
}

export function checkSms(input: SendSmsInput): void {
  const op = 'sendSms';
  checkE164(op, 'to', input.to);
  if ((input.from === undefined) === (input.messagingServiceSid === undefined)) throw invalid(op, 'from or messagingServiceSid (exactly one)');
  if (input.from !== undefined) checkE164(op, 'from', input.from);
  if (input.messagingServiceSid !== undefined && !MESSAGING_SERVICE_SID.test(input.messagingServiceSid)) throw invalid(op, 'messagingServiceSid (expected MG and 32 hex digits)');
  if (typeof input.body !== 'string' || input.body.length === 0 || input.body.length > SMS_MAX_LENGTH) {
    throw invalid(op, `body (expected 1–${SMS_MAX_LENGTH} characters)`);
  }
  if (input.statusCallback !== undefined) checkUrl(op, 'statusCallback', input.statusCallback);
}

export function checkCall(input: CreateCallInput): void {
  const op = 'createCall';
  checkE164(op, 'to', input.to);
  checkE164(op, 'from', input.from);
  checkUrl(op, 'url', input.url);
  if (input.statusCallback !== undefined) checkUrl(op, 'statusCallback', input.statusCallback);
  if (input.asyncAmdStatusCallback !== undefined) checkUrl(op, 'asyncAmdStatusCallback', input.asyncAmdStatusCallback);
  if (input.statusCallbackEvent !== undefined) {
    if (!Array.isArray(input.statusCallbackEvent) || !input.statusCallbackEvent.every((e) => CALL_EVENTS.has(e))) {
      throw invalid(op, 'statusCallbackEvent (expected initiated, ringing, answered, completed)');
    }
  }
  if (input.machineDetection !== undefined && !MACHINE_DETECTION.has(input.machineDetection)) {
    throw invalid(op, 'machineDetection (expected Enable or DetectMessageEnd)');
  }
  if (input.asyncAmd !== undefined && typeof input.asyncAmd !== 'boolean') throw invalid(op, 'asyncAmd (expected a boolean)');
  if (input.timeout !== undefined && !(Number.isInteger(input.timeout) && input.timeout >= 5 && input.timeout <= 600)) {
    throw invalid(op, 'timeout (expected whole seconds, 5–600)');
  }
}

export function checkMediaFormat(op: TwilioOperation, format: unknown): asserts format is 'wav' | 'mp3' {
  if (format !== 'wav' && format !== 'mp3') throw invalid(op, 'format (expected wav or mp3)');
}

export function checkListOptions(opts: { dateCreatedAfter?: Date; pageSize?: number }): void {
  const op = 'listRecordings';
  if (opts.pageSize !== undefined && !(Number.isInteger(opts.pageSize) && opts.pageSize >= 1 && opts.pageSize <= 1000)) {
    throw invalid(op, 'pageSize (expected 1–1000)');
  }
  if (opts.dateCreatedAfter !== undefined && !(opts.dateCreatedAfter instanceof Date && Number.isFinite(opts.dateCreatedAfter.getTime()))) {
    throw invalid(op, 'dateCreatedAfter (expected a valid Date)');
  }
}

// ---------------------------------------------------------------------------
// Real mode
// ---------------------------------------------------------------------------

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Twilio's numeric error code from an error body, reading at most a few KB. Never its message. */
export async function readTwilioCode(res: Response): Promise<number | null> {
  try {
    const text = await res.text();
    if (text.length > 64 * 1024) return null;
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object' && 'code' in parsed) {
      const code = (parsed as { code: unknown }).code;
      if (typeof code === 'number' && Number.isInteger(code)) return code;
    }
  } catch {
    // Not JSON, or the body broke off: the status alone must do.
  }
  return null;
}

export function httpError(op: TwilioOperation, status: number, twilioCode: number | null): TwilioRestError {
  const code = twilioCode === null ? '' : ` (Twilio error ${twilioCode})`;
  return new TwilioRestError({ operation: op, reason: 'http', status, retryable: isRetryableStatus(status), twilioCode, detail: `HTTP ${status}${code}` });
}

function isTimeout(err: unknown, signal: AbortSignal): boolean {
  if (signal.aborted) return true;
  return err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
}

/** A network failure, without the underlying message (which may name the URL); only a system code such as ECONNREFUSED. */
export function transportError(op: TwilioOperation, err: unknown, signal: AbortSignal, timeoutMs: number): TwilioRestError {
  if (err instanceof TwilioRestError) return err;
  if (isTimeout(err, signal)) {
    return new TwilioRestError({ operation: op, reason: 'timeout', retryable: true, detail: `timed out after ${timeoutMs} ms` });
  }
  const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
  const code = typeof cause?.code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(cause.code) ? ` (${cause.code})` : '';
  return new TwilioRestError({ operation: op, reason: 'network', retryable: true, detail: `network error${code}` });
}

export function badResponse(op: TwilioOperation, status: number, what: string): TwilioRestError {
  return new TwilioRestError({ operation: op, reason: 'bad_response', status, retryable: false, detail: `unexpected response (${what})` });
}

function discard(res: Response): void {
  res.body?.cancel().catch(() => undefined);
}

/** Twilio's API format without milliseconds, as the twilio library sends it: 2026-11-25T22:00:00Z. */
function twilioDateTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function createRealTwilioRest(
  config: Config,
  opts: { fetchImpl?: typeof fetch; timeoutMs?: number; mediaHeadersTimeoutMs?: number; mediaBodyTimeoutMs?: number },
): TwilioRest {
  const fetchImpl = opts.fetchImpl ?? globalThis.fetch;
  const jsonTimeoutMs = opts.timeoutMs ?? JSON_TIMEOUT_MS;
  const mediaHeadersTimeoutMs = opts.mediaHeadersTimeoutMs ?? MEDIA_HEADERS_TIMEOUT_MS;
  const mediaBodyTimeoutMs = opts.mediaBodyTimeoutMs ?? MEDIA_BODY_TIMEOUT_MS;
  const accountSid = config.twilio.accountSid;
  const token = config.twilio.authTokens[0];
  if (token === undefined || token.length === 0) throw new Error('twilio: no auth token configured');
  // String concatenation, not new URL(path, base): keeps any path prefix of the base URL.
  const base = config.twilio.apiBaseUrl.replace(/\/+$/, '');
  const accountPath = `/${API_VERSION}/Accounts/${accountSid}`;
  const authorization = `Basic ${Buffer.from(`${accountSid}:${token}`).toString('base64')}`;
  const headers = { authorization, accept: 'application/json', 'user-agent': 'after-hours-line' };

  /** One JSON request under a 10 s budget covering the body too. Non-2xx statuses are returned, not thrown. */
  async function requestJson(
    op: TwilioOperation,
    method: 'GET' | 'POST' | 'DELETE',
    pathAndQuery: string,
    form?: URLSearchParams,
  ): Promise<{ res: Response; json: () => Promise<unknown>; signal: AbortSignal }> {
    const signal = AbortSignal.timeout(jsonTimeoutMs);
    let res: Response;
    try {
      res = await fetchImpl(base + pathAndQuery, {
        method,
        headers: form === undefined ? headers : { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
        ...(form === undefined ? {} : { body: form.toString() }),
        signal,
      });
    } catch (err) {
      throw transportError(op, err, signal, jsonTimeoutMs);
    }
    const json = async (): Promise<unknown> => {
      try {
        return (await res.json()) as unknown;
      } catch (err) {
        if (signal.aborted || (err instanceof Error && err.name !== 'SyntaxError')) throw transportError(op, err, signal, jsonTimeoutMs);
        throw badResponse(op, res.status, 'not JSON');
      }
    };
    return { res, json, signal };
  }

  /**
   * GET with redirects handled here, not by fetch: each hop must be Twilio's own media host
   * (isTwilioMediaUrl), at most MEDIA_MAX_REDIRECTS of them, and the Authorization header goes
   * only to the configured API origin (a media host's signed URL needs none). A redirect
   * anywhere else is refused: the media is never fetched from a host we do not trust.
   */
  async function fetchMediaFollowingTwilioRedirects(first: string, signal: AbortSignal): Promise<Response> {
    const op = 'fetchRecordingMedia';
    let url = first;
    for (let hop = 0; ; hop += 1) {
      const sameOrigin = new URL(url).origin === new URL(base).origin;
      const res = await fetchImpl(url, {
        method: 'GET',
        headers: sameOrigin ? { ...headers, accept: '*/*' } : { accept: '*/*', 'user-agent': headers['user-agent'] },
        redirect: 'manual',
        signal,
      });
      if (![301, 302, 303, 307, 308].includes(res.status)) return res;
      discard(res);
      const location = res.headers.get('location');
      let next: URL | null = null;
      try {
        next = location === null ? null : new URL(location, url);
      } catch {
        next = null;
      }
      // The Location is never put in the error or the log: a signed URL is a credential.
      if (next === null) throw badResponse(op, res.status, 'redirect without a usable location');
      if (!isTwilioMediaUrl(next, base)) throw badResponse(op, res.status, "redirect to a host that is not Twilio's");
      if (hop >= MEDIA_MAX_REDIRECTS) throw badResponse(op, res.status, 'too many redirects');
      url = next.toString();
    }
  }

  async function failure(op: TwilioOperation, res: Response): Promise<TwilioRestError> {
    return httpError(op, res.status, await readTwilioCode(res));
  }

  async function createResource(op: 'sendSms' | 'createCall', path: string, form: URLSearchParams, sidPattern: RegExp): Promise<{ sid: string }> {
    const { res, json } = await requestJson(op, 'POST', `${accountPath}/${path}`, form);
    if (!res.ok) throw await failure(op, res);
    const body = await json();
    const sid = body !== null && typeof body === 'object' ? (body as { sid?: unknown }).sid : undefined;
    if (typeof sid !== 'string' || !sidPattern.test(sid)) throw badResponse(op, res.status, 'no sid');
    return { sid };
  }

  return {
    kind: 'twilio',

    async sendSms(input) {
      checkSms(input);
      const form = new URLSearchParams({ To: input.to, Body: input.body });
      if (input.messagingServiceSid !== undefined) form.set('MessagingServiceSid', input.messagingServiceSid);
      else form.set('From', input.from ?? '');
      if (input.statusCallback !== undefined) form.set('StatusCallback', input.statusCallback);
      return createResource('sendSms', 'Messages.json', form, MESSAGE_SID);
    },

    async createCall(input) {
      checkCall(input);
      const form = new URLSearchParams({ To: input.to, From: input.from, Url: input.url });
      if (input.statusCallback !== undefined) form.set('StatusCallback', input.statusCallback);
      // Twilio takes the events as a repeated parameter (StatusCallbackEvent=a&StatusCallbackEvent=b).
      for (const event of input.statusCallbackEvent ?? []) form.append('StatusCallbackEvent', event);
      if (input.machineDetection !== undefined) form.set('MachineDetection', input.machineDetection);
      if (input.asyncAmd !== undefined) form.set('AsyncAmd', input.asyncAmd ? 'true' : 'false');
      if (input.asyncAmdStatusCallback !== undefined) form.set('AsyncAmdStatusCallback', input.asyncAmdStatusCallback);
      if (input.timeout !== undefined) form.set('Timeout', String(input.timeout));
      return createResource('createCall', 'Calls.json', form, CALL_SID_PATTERN);
    },

    async fetchRecordingMedia(recordingSid, format) {
      const op = 'fetchRecordingMedia';
      checkRecordingSid(op, recordingSid);
      checkMediaFormat(op, format);
      // One controller, two budgets: the headers must come within mediaHeadersTimeoutMs, the
      // whole body within mediaBodyTimeoutMs (a stalled download must not hang the pipeline).
      const controller = new AbortController();
      const abortFor = (ms: number) => (): void => controller.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError'));
      const headersTimer = setTimeout(abortFor(mediaHeadersTimeoutMs), mediaHeadersTimeoutMs).unref();
      const bodyTimer = setTimeout(abortFor(mediaBodyTimeoutMs), mediaBodyTimeoutMs).unref();
      const stopTimers = (): void => {
        clearTimeout(headersTimer);
        clearTimeout(bodyTimer);
      };
      let res: Response;
      try {
        res = await fetchMediaFollowingTwilioRedirects(`${base}${accountPath}/Recordings/${recordingSid}.${format}`, controller.signal);
      } catch (err) {
        stopTimers();
        throw transportError(op, err, controller.signal, mediaHeadersTimeoutMs);
      }
      if (res.status === 404) {
        const twilioCode = await readTwilioCode(res);
        stopTimers();
        throw new TwilioRestError({ operation: op, reason: 'not_ready', status: 404, retryable: true, twilioCode, detail: 'HTTP 404 (recording media not available yet)' });
      }
      if (!res.ok) {
        const error = await failure(op, res);
        stopTimers();
        throw error;
      }
      clearTimeout(headersTimer);
      if (res.body === null) {
        stopTimers();
        throw badResponse(op, res.status, 'no body');
      }
      const stream = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
      finished(stream, stopTimers);
      const length = res.headers.get('content-length');
      const contentLength = length !== null && /^\d{1,15}$/.test(length) ? Number(length) : null;
      const contentType = res.headers.get('content-type') ?? (format === 'wav' ? 'audio/x-wav' : 'audio/mpeg');
      return { stream, contentType, contentLength };
    },

    async deleteRecording(recordingSid) {
      const op = 'deleteRecording';
      checkRecordingSid(op, recordingSid);
      const { res } = await requestJson(op, 'DELETE', `${accountPath}/Recordings/${recordingSid}.json`);
      if (res.status === 204 || res.status === 200) {
        discard(res);
        return 'deleted';
      }
      if (res.status === 404) {
        discard(res);
        return 'not_found';
      }
      throw await failure(op, res);
    },

    listRecordings(opts) {
      const op = 'listRecordings';
      checkListOptions(opts);
      const listPath = `${accountPath}/Recordings.json`;
      const query = new URLSearchParams();
      if (opts.pageSize !== undefined) query.set('PageSize', String(opts.pageSize));
      // `DateCreated>=X` in Twilio's docs is the parameter `DateCreated>` with the value X
      // (the `=` is the separator); the twilio library sends it the same way, as a date-time.
      if (opts.dateCreatedAfter !== undefined) query.set('DateCreated>', twilioDateTime(opts.dateCreatedAfter));
      const first = query.size > 0 ? `${listPath}?${query.toString()}` : listPath;

      async function* pages(): AsyncGenerator<RecordingSummary> {
        const seen = new Set<string>();
        let next: string | null = first;
        while (next !== null) {
          seen.add(next);
          const { res, json } = await requestJson(op, 'GET', next);
          if (!res.ok) throw await failure(op, res);
          const page = await json();
          if (page === null || typeof page !== 'object') throw badResponse(op, res.status, 'not an object');
          const { recordings, next_page_uri: nextUri } = page as { recordings?: unknown; next_page_uri?: unknown };
          if (!Array.isArray(recordings)) throw badResponse(op, res.status, 'no recordings array');
          for (const item of recordings) yield toSummary(op, res.status, item);
          if (nextUri === null || nextUri === undefined || nextUri === '') {
            next = null;
          } else if (typeof nextUri !== 'string' || !nextUri.startsWith(`${listPath}?`) || seen.has(nextUri)) {
            // Only ever follow a page of this account's list on the configured host.
            throw badResponse(op, res.status, 'next_page_uri');
          } else {
            next = nextUri;
          }
        }
      }
      return pages();
    },
  };
}

function toSummary(op: TwilioOperation, status: number, item: unknown): RecordingSummary {
  if (item === null || typeof item !== 'object') throw badResponse(op, status, 'recording entry');
  const r = item as { sid?: unknown; call_sid?: unknown; date_created?: unknown; status?: unknown; duration?: unknown };
  if (typeof r.sid !== 'string' || !RECORDING_SID.test(r.sid)) throw badResponse(op, status, 'recording sid');
  const dateCreated = typeof r.date_created === 'string' ? new Date(r.date_created) : new Date(Number.NaN);
  if (!Number.isFinite(dateCreated.getTime())) throw badResponse(op, status, 'recording date_created');
  // Twilio sends duration as a string ("4"), and -1 or null while processing.
  const duration = r.duration === null || r.duration === undefined || r.duration === '' ? Number.NaN : Number(r.duration);
  return {
    sid: r.sid,
    callSid: typeof r.call_sid === 'string' ? r.call_sid : '',
    dateCreated,
    status: typeof r.status === 'string' ? r.status : 'unknown',
    duration: Number.isFinite(duration) ? duration : -1,
  };
}
