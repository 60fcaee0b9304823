import { AuditAction, type AuditEvent } from '../audit/events.js';
import { renderTwiml } from './render-twiml.js';
import { HANGUP, say, type SayVoice, type Verb } from './verbs.js';

/**
 * What a caller hears when the normal path cannot run: a number no practice owns, bad input,
 * a PostgreSQL or Redis outage, Twilio's fallback URL. Pure. Nothing about the caller is spoken.
 */

const VOICE: SayVoice = { voice: 'Polly.Joanna', language: 'en-US' };
const VOICE_ES: SayVoice = { voice: 'Polly.Lupe', language: 'es-US' };

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
  return renderTwiml(failSafeVerbs(fallbackNumber));
}

/** The fail-safe answer as verbs (for the engine's loop guard). */
export function failSafeVerbs(fallbackNumber: string | null | undefined): Verb[] {
  const disclaimer = [say(VOICE, EMERGENCY_DISCLAIMER), say(VOICE_ES, EMERGENCY_DISCLAIMER_ES)];
  if (fallbackNumber) {
    return [
      ...disclaimer,
      say(VOICE, 'Please hold while we connect your call.'),
      { verb: 'dial', attributes: { timeout: 30, action: FAIL_SAFE_DIAL_PATH, method: 'POST' }, number: fallbackNumber },
    ];
  }
  return [...disclaimer, say(VOICE, 'We are sorry, we cannot take your call right now. Please call back in a few minutes. Goodbye.'), HANGUP];
}

/**
 * Pure: the answer to the fail-safe `<Dial>`'s action. Connected (`completed`, `answered`): the
 * call is over, hang up. Anything else — busy, no answer, failed, canceled, or no status at all —
 * the caller is still on the line: the disclaimer again, the apology, then hang up.
 */
export function failSafeDialResult(dialCallStatus: string | undefined): string {
  const verbs: Verb[] = [];
  if (dialCallStatus !== 'completed' && dialCallStatus !== 'answered') {
    verbs.push(say(VOICE, EMERGENCY_DISCLAIMER), say(VOICE_ES, EMERGENCY_DISCLAIMER_ES), say(VOICE, COULD_NOT_CONNECT));
  }
  verbs.push(HANGUP);
  return renderTwiml(verbs);
}

/** TwiML that does nothing: the answer to callbacks (status, recording) where nobody listens. */
const EMPTY_TWIML = renderTwiml([]);
/** TwiML that ends the call: for a leg that must not go on (a provider's whisper, a failed drop). */
const HANGUP_TWIML = renderTwiml([HANGUP]);

export function emptyTwiml(): string {
  return EMPTY_TWIML;
}

export function hangupTwiml(): string {
  return HANGUP_TWIML;
}

/** A call has arrived at a number no practice owns: polite, generic, audited. */
export function unknownNumber(): { twiml: string; events: StepEvent[] } {
  const verbs: Verb[] = [
    say(VOICE, EMERGENCY_DISCLAIMER),
    say(VOICE, 'We are sorry, this number is not in service. Please check the number and call again. Goodbye.'),
    HANGUP,
  ];
  return { twiml: renderTwiml(verbs), events: [{ action: AuditAction.CallUnknownNumber, leg: 'parent', details: {} }] };
}
