/**
 * Call flows are data: one YAML file per flow in callflows/, checked against the schema in
 * ./flow-schema.ts when loaded. These are the types the engine (./engine.ts) interprets.
 * Node kinds are a closed union; what each kind means lives in its descriptor in ./nodes/
 * (a new kind does not compile until it has one).
 */

export const LANGUAGES = ['en', 'es'] as const;
export type Language = (typeof LANGUAGES)[number];

/** Text per language. English is required; other languages fall back to English if missing. */
export type LocalizedText = { en: string } & Partial<Record<Language, string>>;

/**
 * Something the caller hears: text-to-speech per language, or a pre-rendered file from audio/
 * per language (with text kept as the transcript and as the fallback).
 * Text may contain the placeholders {practice_name} and {callback_number} (the practice's
 * number) only — never anything about the caller; the one exception is a callback_number
 * node's read-back, which says back the digits the caller has just keyed ({keyed_number}).
 */
export interface Prompt {
  text: LocalizedText;
  audio?: Partial<Record<Language, string>>;
}

/** Why the caller called: the reason a callback task carries (src/tasks/). */
export const REASONS = ['clinical', 'refill', 'appointment', 'billing', 'other'] as const;
export type Reason = (typeof REASONS)[number];

/** A keypad key: '0'-'9', '*' or '#'. */
export type Key = string;

interface NodeBase {
  id: string;
}

/**
 * Speak a prompt, then go on. With `allLanguages`, the prompt is spoken once in every language
 * the practice offers (each in its own voice): for what must come before the language choice,
 * such as the emergency disclaimer.
 */
export interface SayNode extends NodeBase {
  kind: 'say';
  prompt: Prompt;
  allLanguages?: boolean;
  next: string;
}

/**
 * A keypad menu. `options` maps keys to nodes; '0' repeats the menu unless it is mapped.
 * No key within `timeoutSeconds`, or a wrong key, replays the prompt (after `invalid`)
 * up to `retries` times in all, then goes to `onExhausted`.
 */
export interface MenuNode extends NodeBase {
  kind: 'menu';
  prompt: Prompt;
  options: Record<Key, string>;
  /**
   * Why a caller presses an option (`refill` for "press 2 for a refill"), by key: the call keeps
   * the reason of the last option taken that has one, and the message it leaves carries it.
   */
  reasons?: Partial<Record<Key, Reason>>;
  timeoutSeconds: number;
  retries: number;
  invalid: Prompt;
  onExhausted: string;
}

/** Branch on the practice's hours, in the practice's time zone. */
export interface HoursNode extends NodeBase {
  kind: 'hours';
  open: string;
  closed: string;
  holiday: string;
}

/** Choose the language for the rest of the call. */
export interface LanguageNode extends NodeBase {
  kind: 'language';
  prompt: Prompt;
  options: Record<Key, Language>;
  timeoutSeconds: number;
  /** Language used when the caller presses nothing or a wrong key. */
  default: Language;
  next: string;
}

/**
 * Identity check: the caller ID must belong to a patient of the practice, and the caller keys
 * that patient's date of birth (MMDDYYYY) or PIN. At most `maxTries` a call; repeated failures
 * lock the caller's number out (see verification/). On success → `success` (the only way to a
 * `disclose` node); on failure or lockout → `failure`, which must still reach help.
 */
export interface VerifyNode extends NodeBase {
  kind: 'verify';
  method: 'dob' | 'pin' | 'dob_or_pin';
  prompt: Prompt;
  retryPrompt: Prompt;
  timeoutSeconds: number;
  maxTries: number;
  success: string;
  failure: string;
}

/** What a disclose node may speak to a verified caller. */
export type DisclosureKind = 'next_appointment';

/** Speak one fact about the verified patient, then go on. */
export interface DiscloseNode extends NodeBase {
  kind: 'disclose';
  what: DisclosureKind;
  next: string;
}

/** Route the call to the on-call provider; `onFail` when nobody takes it. */
export interface DialOnCallNode extends NodeBase {
  kind: 'dial_oncall';
  prompt: Prompt;
  urgency: 'urgent' | 'routine';
  /** The reason a call that reaches this node is about (overrides the menu's), if the node says. */
  reason?: Reason;
  /** A named escalation policy of the practice ("patients of Dr Reyes"); absent: the practice's default. */
  policy?: string;
  onFail: string;
  next: string;
}

/** Take a message. */
export interface VoicemailNode extends NodeBase {
  kind: 'voicemail';
  prompt: Prompt;
  urgency: 'urgent' | 'routine';
  /** The reason a message left here is about (overrides the menu's), if the node says. */
  reason?: Reason;
  maxLengthSeconds: number;
  next: string;
}

/** Forward the call to a practice number (front desk, or the fallback line). */
export interface TransferNode extends NodeBase {
  kind: 'transfer';
  prompt: Prompt;
  /** The practice's front desk or fallback number, or one of its contacts by key (`contact`). */
  to: 'front_desk' | 'fallback' | 'contact';
  /** With `to: contact`: the contact's key (a nurse line, an answering team, a hospital operator). */
  contact?: string;
  timeoutSeconds: number;
  onFail: string;
  next: string;
}

/**
 * Staff line: a provider of the practice, calling from their registered phone, keys the
 * six-digit reference of a page to acknowledge it (stops the re-pages). Says nothing about
 * any patient; a caller who is not a provider learns nothing either.
 */
export interface PageAckNode extends NodeBase {
  kind: 'page_ack';
  prompt: Prompt;
  timeoutSeconds: number;
  next: string;
}

/**
 * The drop callback line's keypad opt-out: the caller's number (caller ID) is added to the
 * practice's opt-out list, so no ringless-voicemail drop reaches it again. Speaks `prompt` as
 * the confirmation; a call without caller ID is told to call from the phone that got the message.
 */
export interface OptOutNode extends NodeBase {
  kind: 'opt_out';
  prompt: Prompt;
  next: string;
}

/**
 * The number to call back, confirmed on the call: press 1 for the number the caller is calling
 * from, 2 to key another (ten digits, a US number), which is read back digit by digit and
 * confirmed with 1. A caller with no usable caller ID goes straight to keying. Wrong keys,
 * invalid numbers, silence and "try again" count against `maxTries`; then `onFail`, where the
 * caller's own number stands. Reading back what the caller just keyed is no disclosure: the
 * node speaks nothing about a patient (the `{keyed_number}` placeholder is this node's alone).
 */
export interface CallbackNumberNode extends NodeBase {
  kind: 'callback_number';
  /** "press 1 for this number, 2 for another". */
  prompt: Prompt;
  /** Asks for the ten digits. */
  keyPrompt: Prompt;
  /** Text only, with `{keyed_number}`: the keyed digits, one by one, and how to confirm. */
  readBack: Prompt;
  /** After a wrong key or a number that is not a US number. */
  invalid: Prompt;
  timeoutSeconds: number;
  maxTries: number;
  /** A number confirmed (the caller's own or the keyed one). */
  next: string;
  /** Tries used up: the caller goes on with the number they call from (if any). */
  onFail: string;
}

/** Say goodbye and end the call. */
export interface HangupNode extends NodeBase {
  kind: 'hangup';
  prompt?: Prompt;
}

export type FlowNode =
  | SayNode
  | MenuNode
  | HoursNode
  | LanguageNode
  | VerifyNode
  | DiscloseNode
  | DialOnCallNode
  | VoicemailNode
  | TransferNode
  | PageAckNode
  | OptOutNode
  | CallbackNumberNode
  | HangupNode;

export type NodeKind = FlowNode['kind'];

export interface Flow {
  id: string;
  description: string;
  /** Where every call starts. */
  start: string;
  nodes: Record<string, FlowNode>;
  /** File the flow came from, for error messages. */
  file: string;
}
