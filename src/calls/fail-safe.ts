import twilio from 'twilio';
import { AuditAction, type AuditEvent } from '../audit/events.js';

/**
 * What a caller hears when the normal path cannot run: a number no practice owns, bad input,
 * a PostgreSQL or Redis outage, Twilio's fallback URL. Pure. Nothing about the caller is spoken.
 */

const { VoiceResponse } = twilio.twiml;
const VOICE = { voice: 'Polly.Joanna', language: 'en-US' } as const;
const VOICE_ES = { voice: 'Polly.Lupe', language: 'es-US' } as const;

export const EMERGENCY_DISCLAIMER = 'If this is a medical emergency, hang up and dial 911.';
export const EMERGENCY_DISCLAIMER_ES = 'Si tiene una emergencia médica, cuelgue y marque el 911.';

/** An audit event a call step causes; the edge adds actor, practice and call SID. */
export type StepEvent = Omit<AuditEvent, 'actor' | 'callSid' | 'practiceId'>;

/**
 * Where the fail-safe `<Dial>` reports how it ended (relative: Twilio resolves it against the URL
 * it was requesting, always one of our /twilio routes). Answered by `failSafeDialResult`.
 */
export const FAIL_SAFE_DIAL_PATH = '/twilio/voice/fail-safe-dial';
export const COULD_NOT_CONNECT = 'We could not connect your call. Please call back in a few minutes. Goodbye.';

/**
 * The disclaimer first (in English and Spanish), then a human if we know a number. The `<Dial>`
 * has an action, so what follows it is decided by how the dial ended (`failSafeDialResult`): a
 * caller who was connected never hears "we could not connect your call" when the other side hangs up.
 */
export function failSafe(fallbackNumber: string | null | undefined): string {
  const vr = new VoiceResponse();
  vr.say(VOICE, EMERGENCY_DISCLAIMER);
  vr.say(VOICE_ES, EMERGENCY_DISCLAIMER_ES);
  if (fallbackNumber) {
    vr.say(VOICE, 'Please hold while we connect your call.');
    vr.dial({ timeout: 30, action: FAIL_SAFE_DIAL_PATH, method: 'POST' }).number(fallbackNumber);
    return vr.toString();
  }
  vr.say(VOICE, 'We are sorry, we cannot take your call right now. Please call back in a few minutes. Goodbye.');
  vr.hangup();
  return vr.toString();
}

/**
 * Pure: the answer to the fail-safe `<Dial>`'s action. Connected (`completed`, `answered`): the
 * call is over, hang up. Anything else — busy, no answer, failed, canceled, or no status at all —
 * the caller is still on the line: the disclaimer again, the apology, then hang up.
 */
export function failSafeDialResult(dialCallStatus: string | undefined): string {
  const vr = new VoiceResponse();
  if (dialCallStatus !== 'completed' && dialCallStatus !== 'answered') {
    vr.say(VOICE, EMERGENCY_DISCLAIMER);
    vr.say(VOICE_ES, EMERGENCY_DISCLAIMER_ES);
    vr.say(VOICE, COULD_NOT_CONNECT);
  }
  vr.hangup();
  return vr.toString();
}

/** TwiML that does nothing: the answer to callbacks (status, recording) where nobody listens. */
const EMPTY_TWIML = new VoiceResponse().toString();
/** TwiML that ends the call: for a leg that must not go on (a provider's whisper, a failed drop). */
const HANGUP_TWIML = (() => {
  const vr = new VoiceResponse();
  vr.hangup();
  return vr.toString();
})();

export function emptyTwiml(): string {
  return EMPTY_TWIML;
}

export function hangupTwiml(): string {
  return HANGUP_TWIML;
}

/** A call has arrived at a number no practice owns: polite, generic, audited. */
export function unknownNumber(): { twiml: string; events: StepEvent[] } {
  const vr = new VoiceResponse();
  vr.say(VOICE, EMERGENCY_DISCLAIMER);
  vr.say(VOICE, 'We are sorry, this number is not in service. Please check the number and call again. Goodbye.');
  vr.hangup();
  return { twiml: vr.toString(), events: [{ action: AuditAction.CallUnknownNumber, leg: 'parent', details: {} }] };
}
