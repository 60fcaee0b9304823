import { renderTwiml } from '../calls/render-twiml.js';
import { HANGUP, say, type SayVoice, type SpeechVerb } from '../calls/verbs.js';

/**
 * What the provider hears before being bridged to the caller (the `<Number url>` whisper), and
 * what their key means. Pure. Only 1 bridges: the whisper TwiML then ends and Twilio connects
 * the two; anything else hangs up the provider's leg and the chain moves on.
 * Patient details are spoken only for a verified caller, and then only the first name and the
 * callback number (minimum necessary).
 */

const VOICE: SayVoice = { voice: 'Polly.Joanna', language: 'en-US' };

export const ACCEPT_CALL = '1';
export const DECLINE_CALL = '2';
export const WHISPER_PATH = '/twilio/voice/whisper';
export const WHISPER_ANSWER_PATH = '/twilio/voice/whisper-answer';

export type WhisperOutcome = 'accepted' | 'declined' | 'machine' | 'no_response';

export interface WhisperInput {
  practiceName: string;
  /** Present only when the caller passed identity verification. */
  verifiedCaller: { firstName: string; callbackNumber: string | null } | null;
  answeredBy: string | undefined;
  /** Query string identifying the call and attempt, e.g. `parent=CA…&a=0`. */
  query: string;
}

function spoken(e164: string): string {
  const m = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(e164);
  return (m ? `${m[1]}${m[2]}${m[3]}` : e164.replace(/^\+/, '')).split('').join(' ');
}

/** Whether Twilio's machine detection (AnsweredBy) found a machine or fax rather than a person. */
export function isMachine(answeredBy: string | undefined): boolean {
  return answeredBy !== undefined && /^(machine|fax)/.test(answeredBy);
}

/** The whisper: a machine (the provider's voicemail) is hung up on; a person is asked to accept. */
export function whisperTwiml(input: WhisperInput): { twiml: string; outcome: WhisperOutcome | null } {
  if (isMachine(input.answeredBy)) return { twiml: renderTwiml([HANGUP]), outcome: 'machine' };
  const speech: SpeechVerb[] = [say(VOICE, `This is the after-hours line for ${input.practiceName}. Urgent after-hours call.`)];
  if (input.verifiedCaller) {
    const back = input.verifiedCaller.callbackNumber ? `, calling from ${spoken(input.verifiedCaller.callbackNumber)}` : '';
    speech.push(say(VOICE, `The caller is ${input.verifiedCaller.firstName}${back}.`));
  }
  speech.push(say(VOICE, `Press ${ACCEPT_CALL} to accept, or ${DECLINE_CALL} to decline.`));
  const gather = { numDigits: 1, timeout: 8, action: `${WHISPER_ANSWER_PATH}?${input.query}`, method: 'POST', actionOnEmptyResult: true } as const;
  return { twiml: renderTwiml([{ verb: 'gather', attributes: gather, speech }]), outcome: null };
}

/** The provider's key: 1 bridges (the document ends), anything else hangs up their leg. */
export function whisperAnswer(digits: string | undefined): { twiml: string; outcome: WhisperOutcome } {
  if (digits === ACCEPT_CALL) return { twiml: renderTwiml([say(VOICE, 'Connecting you now.')]), outcome: 'accepted' };
  const text = digits === DECLINE_CALL ? 'Declined. We will try the next provider.' : 'No response. Goodbye.';
  return { twiml: renderTwiml([say(VOICE, text), HANGUP]), outcome: digits === DECLINE_CALL ? 'declined' : 'no_response' };
}
