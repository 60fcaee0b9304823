import type VoiceResponse from 'twilio/lib/twiml/VoiceResponse.js';
import type { DialResultStatus } from '../calls/twilio-params.js';
import { WHISPER_PATH, type WhisperOutcome } from './whisper.js';

/**
 * One on-call `<Dial>` leg, as data. Pure: the `<Number>`'s attributes (the whisper and the
 * child leg's status callbacks) and how a finished dial is read.
 */

/** Where Twilio posts call status callbacks (already routed: /twilio/voice/status). */
const CALL_STATUS_PATH = '/twilio/voice/status';
/** Every progress event of the child leg, so its ring, answer and end times land in its call record. */
const DIAL_LEG_EVENTS = ['initiated', 'ringing', 'answered', 'completed'] as const;

type NumberAttributes = VoiceResponse.NumberAttributes;

/** The `<Number>` of one on-call attempt: the whisper the provider must accept, machine detection, progress callbacks. */
export function oncallNumberAttributes(parentCallSid: string, whisperId: number): NumberAttributes {
  return {
    url: `${WHISPER_PATH}?parent=${parentCallSid}&a=${whisperId}`,
    method: 'POST',
    machineDetection: 'Enable',
    statusCallback: CALL_STATUS_PATH,
    statusCallbackEvent: [...DIAL_LEG_EVENTS],
    statusCallbackMethod: 'POST',
  };
}

export interface DialReading {
  /** Only the provider's recorded 1 bridges the caller (and Twilio must say the leg was answered). */
  connected: boolean;
  /** What the attempt came to, for the audit log and the call-legs table. */
  outcome: string;
}

/**
 * How a finished on-call dial is read: `status` is the `<Dial action>`'s DialCallStatus,
 * `whisper` what the service recorded from the provider's leg (null: nothing recorded).
 *
 * The recorded whisper outcome wins whenever there is one, whatever DialCallStatus says.
 * When the whisper TwiML hangs up (decline, voicemail, no key), the parties are never bridged,
 * and Twilio's documents do not pin down the DialCallStatus the action then gets. Searched
 * (2026-11): twilio.com/docs/voice/twiml/number says the url's TwiML runs "on the called
 * party's end, after they answer, but before the parties are connected", so 'no-answer'
 * ("no one answered before the timeout") should not apply; Twilio's support article "What are
 * the possible call statuses" (support.twilio.com/hc/en-us/articles/223132547) says
 * 'completed' means "a connection was established ... answered by a person, an IVR ... or even
 * a voicemail"; and screening code in the wild (twilio-labs/function-templates#17, the Call Me
 * funlet) treats DialCallStatus 'completed' as answered even for an unaccepted leg. So expect
 * 'completed' with nothing bridged, but never rely on it: the recorded outcome decides.
 */
export function readOncallDial(status: DialResultStatus | null, whisper: WhisperOutcome | null): DialReading {
  const answered = status === 'completed' || status === 'answered';
  if (whisper === 'accepted') return answered ? { connected: true, outcome: 'accepted' } : { connected: false, outcome: status ?? 'unknown' };
  if (whisper !== null) return { connected: false, outcome: whisper };
  return { connected: false, outcome: answered ? 'no_response' : (status ?? 'unknown') };
}

/** The outcome of any dialled leg: a transfer has no whisper (undefined), so Twilio's status is all there is. */
export function dialLegOutcome(status: DialResultStatus | null, whisper: WhisperOutcome | null | undefined): string {
  return whisper === undefined ? (status ?? 'unknown') : readOncallDial(status, whisper).outcome;
}

/** Audit details of the child leg, when Twilio named it (DialCallSid): its SID, talk time and outcome. */
export function childLegDetails(childCallSid: string | null | undefined, durationSeconds: number | null | undefined, outcome: string): Record<string, string | number | null> {
  return childCallSid ? { childCallSid, durationSeconds: durationSeconds ?? null, outcome } : {};
}
