import type { TaskCallOutcome } from '../adapters/db-schema.js';
import { renderTwiml } from '../calls/render-twiml.js';
import type { DialResultStatus } from '../calls/twilio-params.js';
import { HANGUP, say, type SayVoice, type Verb } from '../calls/verbs.js';

/**
 * A call back through the practice line, as TwiML and outcomes. Pure. The person calling back
 * hears which practice is calling and is asked to press 1; only then is the patient dialled,
 * with the practice's own number as caller ID. Nothing of the patient is said (not a name, not
 * the number), and the URLs carry the call back's opaque id only.
 */

const VOICE: SayVoice = { voice: 'Polly.Joanna', language: 'en-US' };

export const CONNECT_PATIENT = '1';
export const CALL_BACK_ANSWER_PATH = '/twilio/callback/answer';
export const CALL_BACK_CONNECT_PATH = '/twilio/callback/connect';
export const CALL_BACK_DIALED_PATH = '/twilio/callback/dialed';
export const CALL_BACK_STATUS_PATH = '/twilio/callback/status';
/** Seconds the patient's phone rings before the dial gives up. */
export const PATIENT_RING_SECONDS = 30;
/** Seconds the caller's own phone rings (the REST call's Timeout). */
export const CALLER_RING_SECONDS = 30;
/** Every progress event of a leg, so its ring, answer and end land in its call record. */
export const LEG_EVENTS = ['initiated', 'ringing', 'answered', 'completed'] as const;

export function withId(path: string, callId: string): string {
  return `${path}?c=${callId}`;
}

/** What the person calling back hears when they answer: the practice, and the key that connects. */
export function callerPromptTwiml(practiceName: string, callId: string): string {
  return renderTwiml([
    {
      verb: 'gather',
      attributes: { input: ['dtmf'], numDigits: 1, timeout: 10, action: withId(CALL_BACK_CONNECT_PATH, callId), method: 'POST', actionOnEmptyResult: true },
      speech: [say(VOICE, `This is the after-hours line for ${practiceName}, with the patient call back you asked for. Press ${CONNECT_PATIENT} to connect.`)],
    },
    say(VOICE, 'Goodbye.'),
    HANGUP,
  ]);
}

/** The `<Dial>` to the patient: the practice's number as caller ID, the patient's leg reporting its progress. */
export function dialPatientVerbs(input: { callerId: string; patientNumber: string; callId: string }): Verb[] {
  return [
    say(VOICE, 'Connecting you to the patient now.'),
    {
      verb: 'dial',
      attributes: { action: withId(CALL_BACK_DIALED_PATH, input.callId), method: 'POST', timeout: PATIENT_RING_SECONDS, callerId: input.callerId },
      number: input.patientNumber,
      numberAttributes: { statusCallback: withId(CALL_BACK_STATUS_PATH, input.callId), statusCallbackEvent: [...LEG_EVENTS], statusCallbackMethod: 'POST' },
    },
  ];
}

export function dialPatientTwiml(input: { callerId: string; patientNumber: string; callId: string }): string {
  return renderTwiml(dialPatientVerbs(input));
}

/** The caller did not press 1 (or the task can no longer be called): their leg ends, nobody is dialled. */
export function notConnectedTwiml(why: 'no_key' | 'unavailable'): string {
  return renderTwiml([say(VOICE, why === 'no_key' ? 'The patient was not called. Goodbye.' : 'This call back is no longer available. Goodbye.'), HANGUP]);
}

export function callEndedTwiml(): string {
  return renderTwiml([say(VOICE, 'The call with the patient has ended. Goodbye.'), HANGUP]);
}

/** The patient's leg as the task records it: answered, no answer, busy, or failed. */
export function dialOutcome(status: DialResultStatus | null): TaskCallOutcome {
  switch (status) {
    case 'completed':
    case 'answered':
      return 'reached';
    case 'no-answer':
      return 'no_answer';
    case 'busy':
      return 'busy';
    default:
      return 'failed';
  }
}

const FINAL: ReadonlySet<string> = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled']);

/** Whether a CallStatus is a leg's last word. */
export function isFinal(status: string | undefined): boolean {
  return status !== undefined && FINAL.has(status);
}
