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

/** The disclaimer first (in English and Spanish), then a human if we know a number. */
export function failSafe(fallbackNumber: string | null | undefined): string {
  const vr = new VoiceResponse();
  vr.say(VOICE, EMERGENCY_DISCLAIMER);
  vr.say(VOICE_ES, EMERGENCY_DISCLAIMER_ES);
  if (fallbackNumber) {
    vr.say(VOICE, 'Please hold while we connect your call.');
    vr.dial({ timeout: 30 }).number(fallbackNumber);
    vr.say(VOICE, 'We could not connect your call. Please call back in a few minutes. Goodbye.');
  } else {
    vr.say(VOICE, 'We are sorry, we cannot take your call right now. Please call back in a few minutes. Goodbye.');
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
