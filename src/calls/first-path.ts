import twilio from 'twilio';
import { AuditAction, type AuditEvent } from '../audit/events.js';
import type { Practice } from '../practices/store.js';

/**
 * The first, hard-wired after-hours call path (issue "Platform"). Pure: inputs in,
 * TwiML and audit events out. The call-flow engine replaces it.
 * Nothing here speaks anything about the caller: the caller is not verified.
 */

const { VoiceResponse } = twilio.twiml;

export const KEY_URGENT = '1';
export const KEY_MESSAGE = '2';
export const KEY_REPEAT = '0';
export const MAX_MENU_ATTEMPTS = 3;

export const EMERGENCY_DISCLAIMER = 'If this is a medical emergency, hang up and dial 911.';
const VOICE = { voice: 'Polly.Joanna', language: 'en-US' } as const;

export const Paths = {
  incoming: '/twilio/voice/incoming',
  menu: '/twilio/voice/menu',
  dialResult: '/twilio/voice/dial-result',
  recorded: '/twilio/voice/recorded',
  recordingStatus: '/twilio/voice/recording-status',
  status: '/twilio/voice/status',
  fallback: '/twilio/voice/fallback',
} as const;

export type StepEvent = Omit<AuditEvent, 'actor' | 'callSid' | 'practiceId'>;
export interface Step {
  twiml: string;
  events: StepEvent[];
}

type VR = InstanceType<typeof VoiceResponse>;

function menu(vr: VR, attempt: number): void {
  const gather = vr.gather({
    numDigits: 1,
    timeout: 6,
    action: `${Paths.menu}?attempt=${attempt}`,
    method: 'POST',
    actionOnEmptyResult: false,
  });
  gather.say(VOICE, 'For an urgent medical question, press 1.');
  gather.say(VOICE, 'To leave a message for the office, press 2.');
  gather.say(VOICE, 'To hear these options again, press 0.');
  // No key pressed: Twilio runs the verbs after <Gather>.
  vr.redirect({ method: 'POST' }, `${Paths.menu}?attempt=${attempt}&timeout=1`);
}

function leaveMessage(vr: VR): void {
  vr.say(VOICE, 'Please leave your message after the tone. Press the pound key when you are finished.');
  vr.record({
    maxLength: 180,
    playBeep: true,
    finishOnKey: '#',
    timeout: 8,
    trim: 'trim-silence',
    action: Paths.recorded,
    method: 'POST',
    recordingStatusCallback: Paths.recordingStatus,
    recordingStatusCallbackEvent: ['completed', 'absent'],
  });
  vr.say(VOICE, 'We did not receive a message. Goodbye.');
  vr.hangup();
}

/** A call has arrived at a practice number. */
export function answerCall(practice: Practice): Step {
  const vr = new VoiceResponse();
  vr.say(VOICE, `Thank you for calling ${practice.name}.`);
  vr.say(VOICE, EMERGENCY_DISCLAIMER);
  vr.say(VOICE, 'Our office is closed.');
  menu(vr, 1);
  return { twiml: vr.toString(), events: [{ action: AuditAction.CallTransition, leg: 'parent', details: { to: 'menu' } }] };
}

/** A call has arrived at a number no practice owns. */
export function unknownNumber(): Step {
  const vr = new VoiceResponse();
  vr.say(VOICE, EMERGENCY_DISCLAIMER);
  vr.say(VOICE, 'We are sorry, this number is not in service. Please check the number and call again. Goodbye.');
  vr.hangup();
  return { twiml: vr.toString(), events: [{ action: AuditAction.CallUnknownNumber, leg: 'parent', details: {} }] };
}

/** The caller pressed a key, or pressed nothing (`digits` null), at menu attempt `attempt`. */
export function menuChoice(practice: Practice, digits: string | null, attempt: number): Step {
  const vr = new VoiceResponse();
  const transition = (to: string, input: string): StepEvent => ({
    action: AuditAction.CallTransition,
    leg: 'parent',
    details: { from: 'menu', to, input, attempt },
  });
  if (digits === KEY_URGENT) {
    if (!practice.fallbackNumber) {
      vr.say(VOICE, 'We are unable to reach the on-call provider right now.');
      leaveMessage(vr);
      return { twiml: vr.toString(), events: [transition('voicemail', 'urgent')] };
    }
    vr.say(VOICE, 'Please hold while we connect you to the on-call provider.');
    vr.dial({ action: Paths.dialResult, method: 'POST', timeout: 25 }).number(practice.fallbackNumber);
    return { twiml: vr.toString(), events: [transition('on_call', 'urgent')] };
  }
  if (digits === KEY_MESSAGE) {
    leaveMessage(vr);
    return { twiml: vr.toString(), events: [transition('voicemail', 'message')] };
  }
  const next = attempt + 1;
  if (next > MAX_MENU_ATTEMPTS) {
    // Never strand the caller: after the last try, take a message.
    vr.say(VOICE, 'We did not receive a valid selection.');
    leaveMessage(vr);
    return { twiml: vr.toString(), events: [transition('voicemail', digits === null ? 'timeout' : 'invalid')] };
  }
  if (digits === KEY_REPEAT) {
    menu(vr, next);
    return { twiml: vr.toString(), events: [transition('menu', 'repeat')] };
  }
  vr.say(VOICE, digits === null ? 'We did not receive a selection.' : 'Sorry, that is not a valid choice.');
  menu(vr, next);
  return { twiml: vr.toString(), events: [transition('menu', digits === null ? 'timeout' : 'invalid')] };
}

/** The <Dial> to the on-call number ended. */
export function dialResult(dialStatus: string | undefined): Step {
  const vr = new VoiceResponse();
  if (dialStatus === 'completed' || dialStatus === 'answered') {
    vr.hangup();
    return { twiml: vr.toString(), events: [{ action: AuditAction.CallTransition, leg: 'parent', details: { from: 'on_call', to: 'hangup', dial: dialStatus } }] };
  }
  vr.say(VOICE, 'The on-call provider could not be reached.');
  leaveMessage(vr);
  return {
    twiml: vr.toString(),
    events: [{ action: AuditAction.CallTransition, leg: 'parent', details: { from: 'on_call', to: 'voicemail', dial: dialStatus ?? 'unknown' } }],
  };
}

export function recorded(): Step {
  const vr = new VoiceResponse();
  vr.say(VOICE, 'Thank you. Your message has been recorded and will be reviewed. Goodbye.');
  vr.hangup();
  return { twiml: vr.toString(), events: [{ action: AuditAction.CallTransition, leg: 'parent', details: { from: 'voicemail', to: 'hangup' } }] };
}

/**
 * What a caller hears when anything goes wrong (bad input, a database or Redis outage,
 * Twilio's fallback URL): the disclaimer first, then a human if we know a number.
 */
export function failSafe(fallbackNumber: string | null | undefined): string {
  const vr = new VoiceResponse();
  vr.say(VOICE, EMERGENCY_DISCLAIMER);
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
