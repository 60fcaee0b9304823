/**
 * Log mode's Twilio stand-in: what `npm start` talks to when no Twilio account is configured
 * (the development defaults). It places nothing: an SMS or call is logged (redacted) and kept in
 * an in-memory outbox; a recording's media is generated silence as long as the recording
 * (./placeholder-media.ts), marked `placeholder`, so a new user sees the whole voicemail
 * pipeline (encrypt → store → verify) work and the voicemail listed as `simulated`.
 *
 * Development code: src/ never imports it and the production image does not contain devtools/.
 * src/log-mode.ts loads it at start-up, only in log mode and never in production; tests and
 * the simulator import it directly.
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../src/config.js';
import {
  checkCall,
  checkListOptions,
  checkMediaFormat,
  checkRecordingSid,
  checkSms,
  twilioRestMode,
  type CreateCallInput,
  type RecordingSummary,
  type SendSmsInput,
  type TwilioRest,
} from '../src/adapters/twilio-rest.js';
import { logger } from '../src/log/logger.js';
import { placeholderSeconds, silentWav } from './placeholder-media.js';

/** Log mode keeps at most this many outbox entries (the oldest are dropped). */
const OUTBOX_LIMIT = 1000;

export type OutboxEntry =
  | ({ type: 'sms'; sid: string; at: Date } & SendSmsInput)
  | ({ type: 'call'; sid: string; at: Date } & CreateCallInput);

/** Log mode: places nothing; what would have been sent is kept in memory. */
export interface LogTwilioRest extends TwilioRest {
  kind: 'log';
  /** A copy of what would have been sent, oldest first (holds numbers and bodies: tests and the simulator only). */
  readonly outbox: readonly OutboxEntry[];
}

function fakeSid(prefix: 'SM' | 'CA'): string {
  return prefix + randomBytes(16).toString('hex');
}

/**
 * The stand-in, for a configuration in log mode only (not production, the development token,
 * Twilio's own API URL): with a real account, or a test's double, it refuses to exist, so
 * placeholder media can never stand in for a caller's recording.
 */
export function createLogTwilioRest(config: Config): LogTwilioRest {
  if (twilioRestMode(config) !== 'log') throw new Error('the log-mode Twilio stand-in is only for log mode (no Twilio account configured, not production)');
  const outbox: OutboxEntry[] = [];
  const keep = (entry: OutboxEntry): void => {
    outbox.push(entry);
    if (outbox.length > OUTBOX_LIMIT) outbox.splice(0, outbox.length - OUTBOX_LIMIT);
  };

  return {
    kind: 'log',
    get outbox(): readonly OutboxEntry[] {
      return outbox.map((entry) => ({ ...entry }));
    },

    async sendSms(input) {
      checkSms(input);
      const sid = fakeSid('SM');
      keep({ type: 'sms', sid, at: new Date(), ...input });
      // Numbers only under `to`/`from`, which the redactor masks. The text is shown so a new user
      // sees what a page or notice says: it carries no PHI by design (pages and notices are
      // generic), and still passes the redactor like every line (numbers, dates, digit runs).
      // A patient SMS (through a Messaging Service) is logged without its text: it is a message to a patient.
      if (input.messagingServiceSid !== undefined) logger.info('twilio log mode: patient sms not sent', { sid, to: input.to, messagingServiceSid: input.messagingServiceSid, length: input.body.length });
      else logger.info('twilio log mode: sms not sent', { sid, to: input.to, from: input.from, content: input.body });
      return { sid };
    },

    async createCall(input) {
      checkCall(input);
      const sid = fakeSid('CA');
      keep({ type: 'call', sid, at: new Date(), ...input, ...(input.statusCallbackEvent ? { statusCallbackEvent: [...input.statusCallbackEvent] } : {}) });
      logger.info('twilio log mode: call not placed', { sid, to: input.to, from: input.from });
      return { sid };
    },

    async fetchRecordingMedia(recordingSid, format, hint) {
      checkRecordingSid('fetchRecordingMedia', recordingSid);
      checkMediaFormat('fetchRecordingMedia', format);
      // No recording exists without an account: silence as long as the caller's message.
      return { ...silentWav(placeholderSeconds(hint?.durationSeconds ?? null)), placeholder: true };
    },

    async deleteRecording(recordingSid) {
      checkRecordingSid('deleteRecording', recordingSid);
      // Nothing exists at Twilio in log mode.
      return 'not_found';
    },

    listRecordings(opts) {
      checkListOptions(opts);
      async function* none(): AsyncGenerator<RecordingSummary> {
        // No account, no recordings.
      }
      return none();
    },
  };
}
