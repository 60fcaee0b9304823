import twilio from 'twilio';

/**
 * What a Twilio voicemail-drop call plays, decided from Twilio's answering-machine verdict
 * (`MachineDetection=DetectMessageEnd`: the TwiML is fetched once the greeting has ended, so a
 * message played to a machine lands after the beep). Pure.
 */

const { VoiceResponse } = twilio.twiml;
const VOICE = { voice: 'Polly.Joanna', language: 'en-US' } as const;

/** Asked of a person who answers an appointment message with an appointment to confirm (issue 15, item 5). */
export const CONFIRM_PROMPT = 'To confirm your appointment, press 1.';
/** Said once 1 confirmed it: no day, no time. */
export const CONFIRMED_SPOKEN = 'Thank you, your appointment is confirmed. Goodbye.';
/** Said for any other key, or when there was nothing left to confirm. */
export const CONFIRM_GOODBYE = 'Thank you. Goodbye.';

/** Said to a person who answers when the practice chose `humanAnswer: 'hangup'`; nothing about the patient. */
export const POLITE_HANGUP_TEXT = 'Sorry to have disturbed you. Goodbye.';

export const ANSWERED_BY = ['human', 'machine_start', 'machine_end_beep', 'machine_end_silence', 'machine_end_other', 'fax', 'unknown'] as const;
export type AnsweredBy = (typeof ANSWERED_BY)[number];

/** What the call did: played the message, hung up politely on a person, or hung up on a fax. */
export type DropPlayed = 'message' | 'hangup' | 'fax';

export interface DropTwimlInput {
  /** Twilio's `AnsweredBy`, as received (anything unrecognised counts as `unknown`). */
  answeredBy: string | undefined;
  text: string;
  audioUrl?: string | undefined;
  humanAnswer: 'message' | 'hangup';
  /**
   * The <Gather> action that confirms the appointment the message spoke of: offered ("press 1")
   * only to a person (a machine cannot press), and only when the caller of dropTwiml found one to confirm.
   */
  confirmAction?: string | undefined;
}

export function toAnsweredBy(raw: string | undefined): AnsweredBy {
  return (ANSWERED_BY as readonly string[]).includes(raw ?? '') ? (raw as AnsweredBy) : 'unknown';
}

/** Pure: which of the three the call does for this verdict and setting. */
export function dropAction(answeredBy: AnsweredBy, humanAnswer: 'message' | 'hangup'): DropPlayed {
  switch (answeredBy) {
    case 'machine_end_beep':
    case 'machine_end_silence':
    case 'machine_end_other':
      return 'message';
    case 'human':
      return humanAnswer === 'hangup' ? 'hangup' : 'message';
    // No verdict before the greeting ended (or none at all): leave the message rather than nothing.
    case 'machine_start':
    case 'unknown':
      return 'message';
    case 'fax':
      return 'fax';
    default:
      return answeredBy satisfies never;
  }
}

/** Pure: the TwiML of the drop call, and what it plays. */
export function dropTwiml(input: DropTwimlInput): { twiml: string; played: DropPlayed } {
  const answeredBy = toAnsweredBy(input.answeredBy);
  const played = dropAction(answeredBy, input.humanAnswer);
  const vr = new VoiceResponse();
  if (played === 'message' && answeredBy === 'human' && input.confirmAction) {
    // No key pressed: the <Gather> ends and the call hangs up, as after any message.
    const g = vr.gather({ numDigits: 1, timeout: 6, action: input.confirmAction, method: 'POST', actionOnEmptyResult: false });
    if (input.audioUrl) g.play(input.audioUrl);
    else g.say(VOICE, input.text);
    g.say(VOICE, CONFIRM_PROMPT);
  } else if (played === 'message') {
    if (input.audioUrl) vr.play(input.audioUrl);
    else vr.say(VOICE, input.text);
  } else if (played === 'hangup') {
    vr.say(VOICE, POLITE_HANGUP_TEXT);
  }
  vr.hangup();
  return { twiml: vr.toString(), played };
}

/** What a key pressed at the confirmation prompt hears. */
export function dropConfirmTwiml(confirmed: boolean): string {
  const vr = new VoiceResponse();
  vr.say(VOICE, confirmed ? CONFIRMED_SPOKEN : CONFIRM_GOODBYE);
  vr.hangup();
  return vr.toString();
}

/** What the opt-out key at the confirmation prompt hears. */
export const OPTED_OUT_SPOKEN = 'You will not receive these messages again. Goodbye.';
export function dropOptedOutTwiml(): string {
  const vr = new VoiceResponse();
  vr.say(VOICE, OPTED_OUT_SPOKEN);
  vr.hangup();
  return vr.toString();
}

/** A drop call whose drop is unknown (or whose lookup failed): plays nothing. */
export function dropHangupTwiml(): string {
  const vr = new VoiceResponse();
  vr.hangup();
  return vr.toString();
}

/** Twilio's final call statuses for a drop call. */
export const FINAL_CALL_STATUSES = ['completed', 'busy', 'no-answer', 'failed', 'canceled'] as const;
export type FinalCallStatus = (typeof FINAL_CALL_STATUSES)[number];

/**
 * Pure: a Twilio drop call's final outcome from its final status and what it played. A message
 * left on a machine, or heard by a person, is delivered; anything else failed, with the reason.
 */
export function dropOutcome(callStatus: FinalCallStatus, played: DropPlayed | null): { status: 'delivered' | 'failed'; reason: string } {
  if (callStatus !== 'completed') return { status: 'failed', reason: callStatus.replace('-', '_') };
  switch (played) {
    case 'message':
      return { status: 'delivered', reason: 'message_played' };
    case 'hangup':
      return { status: 'failed', reason: 'human_answered' };
    case 'fax':
      return { status: 'failed', reason: 'fax' };
    case null:
      // Completed without ever fetching the drop's TwiML: nothing was played.
      return { status: 'failed', reason: 'not_played' };
    default:
      return played satisfies never;
  }
}
