/**
 * What a caller (or a provider's leg) is told to do, as data: the engine, the fail-safe answers
 * and the whisper return lists of these verbs, and ./render-twiml.ts turns them into TwiML at
 * the edge (as jambonz returns verbs as data). Only the verbs and attributes we use; the names
 * and attribute spellings are TwiML's, in the order they appear in the document.
 */

export type VoiceName = 'Polly.Joanna' | 'Polly.Lupe';
export type VoiceLanguage = 'en-US' | 'es-US';

export interface SayVoice {
  voice: VoiceName;
  language: VoiceLanguage;
}

/** Something spoken: text-to-speech, or a recording played from a URL. */
export type SpeechVerb = { verb: 'say'; voice: SayVoice; text: string } | { verb: 'play'; url: string };

export interface GatherAttributes {
  input?: Array<'dtmf' | 'speech'>;
  numDigits?: number;
  finishOnKey?: string;
  timeout: number;
  action: string;
  method: 'POST';
  actionOnEmptyResult?: boolean;
  language?: VoiceLanguage;
}

export interface DialAttributes {
  action: string;
  method?: 'POST';
  timeout: number;
  answerOnBridge?: boolean;
  /** The number shown to the called party (a practice's own number: src/tasks/call-back-twiml.ts). */
  callerId?: string;
}

/** A `<Number>`'s attributes: the whisper URL, machine detection and the leg's progress callbacks (a call back to a patient has no whisper). */
export interface NumberAttributes {
  url?: string;
  method?: 'POST';
  machineDetection?: 'Enable';
  statusCallback: string;
  statusCallbackEvent: Array<'initiated' | 'ringing' | 'answered' | 'completed'>;
  statusCallbackMethod: 'POST';
}

export interface RecordAttributes {
  action: string;
  method: 'POST';
  maxLength: number;
  playBeep: boolean;
  finishOnKey: string;
  timeout: number;
  trim: 'trim-silence' | 'do-not-trim';
  recordingStatusCallback: string;
  recordingStatusCallbackMethod: 'POST';
  recordingStatusCallbackEvent: Array<'in-progress' | 'completed' | 'absent'>;
}

export type Verb =
  | SpeechVerb
  | { verb: 'gather'; attributes: GatherAttributes; speech: SpeechVerb[] }
  | { verb: 'dial'; attributes: DialAttributes; number: string; numberAttributes?: NumberAttributes }
  | { verb: 'record'; attributes: RecordAttributes }
  | { verb: 'redirect'; method: 'POST'; url: string }
  | { verb: 'hangup' };

export function say(voice: SayVoice, text: string): SpeechVerb {
  return { verb: 'say', voice, text };
}

export const HANGUP: Verb = { verb: 'hangup' };
