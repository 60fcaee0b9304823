/**
 * Twilio's IncomingPhoneNumbers resource (REST API 2010-04-01): find one of the account's
 * numbers by its E.164 form, and set the webhooks it calls (voice URL, voice fallback URL,
 * status callback, SMS URL). What `numbers:connect` and `numbers:check` use; beside
 * ./twilio-rest.ts, whose error model and its redaction (never a number, never Twilio's
 * message) it shares, so that file keeps to the call path's operations.
 *
 * Nothing here retries: an operator runs the command again.
 */
import type { Config } from '../config.js';
import { badResponse, httpError, JSON_TIMEOUT_MS, readTwilioCode, transportError, twilioRestMode, TwilioRestError, type TwilioOperation } from './twilio-rest.js';

const API_VERSION = '2010-04-01';
const E164 = /^\+[1-9]\d{6,14}$/;
const PHONE_NUMBER_SID = /^PN[0-9a-f]{32}$/;

/** The webhooks of one number, as this service configures them (every method POST). */
export interface NumberWebhooks {
  voiceUrl: string;
  voiceFallbackUrl: string;
  statusCallback: string;
  smsUrl: string;
  /** Requested when the SMS URL fails or answers 5xx (a text not stored): src/http/twilio-routes.ts, /sms/fallback. */
  smsFallbackUrl: string;
}

/** One of the account's numbers as Twilio reports it; a webhook Twilio has none for is `''`. */
export interface IncomingNumber extends NumberWebhooks {
  sid: string;
  phoneNumber: string;
  voiceMethod: string;
  voiceFallbackMethod: string;
  statusCallbackMethod: string;
  smsMethod: string;
  smsFallbackMethod: string;
}

export interface TwilioNumbers {
  /** The account's number with this E.164 form, or null when the account has no such number. */
  find(e164: string): Promise<IncomingNumber | null>;
  /** Sets the number's webhooks (all POST) and returns what Twilio answered with. */
  update(sid: string, webhooks: NumberWebhooks): Promise<IncomingNumber>;
}

/**
 * The client for the configured account, or null in log mode (no Twilio account: development
 * with the development token): there is nothing to configure, and the caller says so.
 */
export function createTwilioNumbers(config: Config, opts: { fetchImpl?: typeof fetch; timeoutMs?: number } = {}): TwilioNumbers | null {
  if (twilioRestMode(config) === 'log') return null;
  const token = config.twilio.authTokens[0];
  if (token === undefined || token.length === 0) return null;
  const fetchImpl = opts.fetchImpl ?? globalThis.fetch;
  const timeoutMs = opts.timeoutMs ?? JSON_TIMEOUT_MS;
  const base = config.twilio.apiBaseUrl.replace(/\/+$/, '');
  const accountPath = `/${API_VERSION}/Accounts/${config.twilio.accountSid}`;
  const headers = {
    authorization: `Basic ${Buffer.from(`${config.twilio.accountSid}:${token}`).toString('base64')}`,
    accept: 'application/json',
    'user-agent': 'after-hours-line',
  };

  async function request(op: TwilioOperation, method: 'GET' | 'POST', pathAndQuery: string, form?: URLSearchParams): Promise<unknown> {
    const signal = AbortSignal.timeout(timeoutMs);
    let res: Response;
    try {
      res = await fetchImpl(base + accountPath + pathAndQuery, {
        method,
        headers: form === undefined ? headers : { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
        ...(form === undefined ? {} : { body: form.toString() }),
        signal,
      });
    } catch (err) {
      throw transportError(op, err, signal, timeoutMs);
    }
    if (!res.ok) throw httpError(op, res.status, await readTwilioCode(res));
    try {
      return (await res.json()) as unknown;
    } catch (err) {
      if (signal.aborted || (err instanceof Error && err.name !== 'SyntaxError')) throw transportError(op, err, signal, timeoutMs);
      throw badResponse(op, res.status, 'not JSON');
    }
  }

  return {
    async find(e164) {
      const op = 'findIncomingNumber';
      if (!E164.test(e164)) throw new TwilioRestError({ operation: op, reason: 'invalid_input', retryable: false, detail: 'invalid PhoneNumber (expected an E.164 number)' });
      const body = await request(op, 'GET', `/IncomingPhoneNumbers.json?${new URLSearchParams({ PhoneNumber: e164 }).toString()}`);
      const list = body !== null && typeof body === 'object' ? (body as { incoming_phone_numbers?: unknown }).incoming_phone_numbers : undefined;
      if (!Array.isArray(list)) throw badResponse(op, 200, 'no incoming_phone_numbers');
      // Twilio matches PhoneNumber as a pattern; only the exact number is ours to configure.
      const exact = list.map((r) => toIncomingNumber(op, r)).find((n) => n.phoneNumber === e164);
      return exact ?? null;
    },

    async update(sid, webhooks) {
      const op = 'updateIncomingNumber';
      if (!PHONE_NUMBER_SID.test(sid)) throw new TwilioRestError({ operation: op, reason: 'invalid_input', retryable: false, detail: 'invalid sid (expected PN followed by 32 hex characters)' });
      const form = new URLSearchParams({
        VoiceUrl: webhooks.voiceUrl,
        VoiceMethod: 'POST',
        VoiceFallbackUrl: webhooks.voiceFallbackUrl,
        VoiceFallbackMethod: 'POST',
        StatusCallback: webhooks.statusCallback,
        StatusCallbackMethod: 'POST',
        SmsUrl: webhooks.smsUrl,
        SmsMethod: 'POST',
        SmsFallbackUrl: webhooks.smsFallbackUrl,
        SmsFallbackMethod: 'POST',
      });
      return toIncomingNumber(op, await request(op, 'POST', `/IncomingPhoneNumbers/${sid}.json`, form));
    },
  };
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function toIncomingNumber(op: TwilioOperation, raw: unknown): IncomingNumber {
  const r = (raw ?? {}) as Record<string, unknown>;
  if (typeof r.sid !== 'string' || !PHONE_NUMBER_SID.test(r.sid)) throw badResponse(op, 200, 'phone number sid');
  return {
    sid: r.sid,
    phoneNumber: text(r.phone_number),
    voiceUrl: text(r.voice_url),
    voiceMethod: text(r.voice_method),
    voiceFallbackUrl: text(r.voice_fallback_url),
    voiceFallbackMethod: text(r.voice_fallback_method),
    statusCallback: text(r.status_callback),
    statusCallbackMethod: text(r.status_callback_method),
    smsUrl: text(r.sms_url),
    smsMethod: text(r.sms_method),
    smsFallbackUrl: text(r.sms_fallback_url),
    smsFallbackMethod: text(r.sms_fallback_method),
  };
}
