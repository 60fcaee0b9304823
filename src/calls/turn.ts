import { AuditAction } from '../audit/events.js';
import type { Holidays, WeeklyHours } from '../practices/settings.js';
import type { EscalationPlan } from '../oncall/escalation.js';
import type { WhisperOutcome } from '../oncall/whisper.js';
import type { StepEvent } from './fail-safe.js';
import type { Flow, FlowNode, Language, Prompt } from './flow-types.js';
import type { DialResultStatus } from './twilio-params.js';
import type { GatherAttributes, NumberAttributes, SayVoice, SpeechVerb, Verb } from './verbs.js';

/**
 * What the engine (./engine.ts) and the node descriptors (./nodes/) share: the call state, the
 * events that resume a waiting call, and the `Turn` — one webhook's worth of work (the verbs
 * being built, the audit events and effects it causes). Pure: nothing here does I/O.
 */

export const FLOW_PATH = '/twilio/voice/flow';
export const RECORDING_STATUS_PATH = '/twilio/voice/recording-status';
/** Key that repeats a menu when the flow does not map it. */
export const REPEAT_KEY = '0';

export const VOICES: Record<Language, SayVoice> = {
  en: { voice: 'Polly.Joanna', language: 'en-US' },
  es: { voice: 'Polly.Lupe', language: 'es-US' },
};

export interface PracticeContext {
  id: string;
  name: string;
  greetingName: string;
  timeZone: string;
  weeklyHours: WeeklyHours;
  holidays: Holidays;
  languages: Language[];
  frontDeskNumber: string | null;
  fallbackNumber: string | null;
  /** The practice's contacts by key (transfer targets): business numbers, not PHI. */
  contacts?: Readonly<Record<string, string>>;
}

/** Something the edge must do after the engine has answered. */
export type Effect =
  | { kind: 'page'; policyId: string | null }
  | { kind: 'opt_out' }
  /** The number to call back, confirmed: the keyed one (sealed), or null for the caller's own. */
  | { kind: 'callback_number'; keyed: SealedNumber | null };

/**
 * A number the caller keyed, as the edge hands it to the engine: sealed (envelope encryption,
 * ./callback-number.ts; base64) with its blind index. Never in clear in the call state or the
 * replay list in Redis; the edge opens it only to read it back (`Facts.keyedNumber`).
 */
export interface SealedNumber {
  sealed: string;
  index: string;
}

/** Where a callback_number node stands: which question its <Gather> asks, the tries used, the keyed number (sealed). */
export interface CallbackProgress {
  node: string;
  phase: 'choose' | 'key' | 'confirm';
  tries: number;
  keyed: SealedNumber | null;
}

export interface CallState {
  flowId: string;
  practiceId: string;
  lang: Language;
  /** Number of TwiML documents issued; every action URL carries it, so a retried webhook is recognised. */
  step: number;
  /** The node whose <Gather>, <Dial> or <Record> the next webhook answers. */
  waitingAt: string | null;
  /** Menu retries, per menu node; a menu entered afresh from another node starts again at 0. */
  attempts: Record<string, number>;
  /**
   * Verification tries this call has used, across every visit to every verify node: a call
   * gets a verify node's `maxTries` in all, however often the caller comes back to it.
   * (Optional: states saved before the counter existed count as 0.)
   */
  verifyTries?: number;
  verifiedPatientId: string | null;
  /**
   * Where the on-call chain stands: attempt n rings targets[n % targets.length]. `base` + n
   * numbers the dial's whisper, unique within the call even if the caller reaches a chain twice.
   */
  escalation?: { node: string; plan: EscalationPlan; attempt: number; base: number } | null;
  /** How many on-call dials this call has made: the next whisper's number. */
  whisperSeq?: number;
  /** A callback_number node being answered (absent or null: none). */
  callback?: CallbackProgress | null;
  /**
   * A keyed callback number the caller confirmed that PostgreSQL would not take when confirmed
   * (./callback-number.ts keepCallbackNumber): held here, sealed, until a later webhook of the
   * call or the call's task lands it on the call record. Absent or null: nothing held.
   */
  heldCallbackNumber?: SealedNumber | null;
  done: boolean;
}

/** `exhausted`: the call had no tries left; the edge did not even look at the entry. */
export type VerifyOutcome = 'match' | 'no_match' | 'invalid' | 'timeout' | 'locked' | 'no_caller_id' | 'exhausted';

export type EngineEvent =
  | { kind: 'start' }
  | { kind: 'gather'; node: string; digits: string | null }
  | { kind: 'verify'; node: string; outcome: VerifyOutcome; patientId?: string; lockedNow?: boolean }
  | { kind: 'dial_done'; node: string; status: DialResultStatus | null; whisper?: WhisperOutcome | null; childCallSid?: string | null; durationSeconds?: number | null }
  | { kind: 'record_done'; node: string; recorded: boolean }
  | { kind: 'page_ack'; node: string; outcome: PageAckOutcome }
  | { kind: 'callback'; node: string; entry: CallbackEntry };

/**
 * A callback_number node's <Gather> answered: one key (press 1 or 2), or in the keying phase
 * the number already judged and sealed by the edge (the digits themselves never get here).
 */
export type CallbackEntry = { kind: 'key'; digit: string | null } | { kind: 'number'; number: SealedNumber } | { kind: 'invalid' } | { kind: 'timeout' };

/** An event that answers a node's wait (everything but the call's start). */
export type ResumeEvent = Exclude<EngineEvent, { kind: 'start' }>;

export type PageAckOutcome = 'acknowledged' | 'already' | 'not_found' | 'not_provider' | 'timeout';

/** Facts about the verified patient that the edge loads when the engine asks. */
export interface Facts {
  nextAppointment?: { id: string; startsAt: Date } | null;
  escalation?: EscalationPlan;
  /** The named policy `escalation` was resolved for; null or absent: the practice's default. */
  escalationPolicy?: string | null;
  /** A keyed callback number, opened for its read-back: the sealed form it was opened from, and the digits. */
  keyedNumber?: { sealed: string; digits: string };
}

export interface EngineContext {
  now: Date;
  callSid: string;
  practice: PracticeContext;
  publicBaseUrl: string;
  facts: Facts;
  /** Whether the call has a usable caller ID (an opt-out needs the number). */
  hasCallerId?: boolean;
}

/** Thrown by a node that needs a fact the edge must load; the engine answers `needs`. */
export class NeedsFact {
  constructor(
    readonly fact: 'nextAppointment' | 'escalation' | 'keyedNumber',
    readonly patientId: string | null = null,
    /** For `escalation`: the named policy to resolve (null: the practice's default). */
    readonly policy: string | null = null,
    /** For `keyedNumber`: the sealed number to open. */
    readonly sealed: string | null = null,
  ) {}
}

/** One webhook's worth of work: the verbs being built and the events it causes. */
export class Turn {
  readonly verbs: Verb[] = [];
  readonly events: StepEvent[] = [];
  readonly effects: Effect[] = [];
  constructor(
    readonly flow: Flow,
    public state: CallState,
    readonly ctx: EngineContext,
  ) {}

  actionUrl(node: string, extra = ''): string {
    return `${FLOW_PATH}?s=${this.state.step}&n=${encodeURIComponent(node)}${extra}`;
  }

  text(prompt: Prompt, lang: Language): string {
    const raw = prompt.text[lang] ?? prompt.text.en;
    const p = this.ctx.practice;
    return raw
      .replaceAll('{practice_name}', p.greetingName)
      .replaceAll('{callback_number}', spokenNumber(p.frontDeskNumber ?? p.fallbackNumber));
  }

  /** Speaks a prompt into the document, or into a <Gather>'s speech. */
  speak(prompt: Prompt, into?: SpeechVerb[], lang: Language = this.state.lang): void {
    const audio = prompt.audio?.[lang];
    const target: Array<Verb | SpeechVerb> = into ?? this.verbs;
    if (audio) target.push({ verb: 'play', url: `${this.ctx.publicBaseUrl}/audio/${encodeURIComponent(audio)}` });
    else target.push({ verb: 'say', voice: VOICES[lang], text: this.text(prompt, lang) });
  }

  /** Speaks fixed text in the call's language. */
  say(text: Record<Language, string>): void {
    this.verbs.push({ verb: 'say', voice: VOICES[this.state.lang], text: text[this.state.lang] });
  }

  /** Adds a <Gather>; what it speaks goes into the returned list. */
  gather(attributes: GatherAttributes): SpeechVerb[] {
    const speech: SpeechVerb[] = [];
    this.verbs.push({ verb: 'gather', attributes, speech });
    return speech;
  }

  /** Adds a <Dial> whose result comes back to `node`; the caller hears ringing until the far end answers. */
  dial(node: string, timeout: number, number: string, numberAttributes?: NumberAttributes): void {
    const attributes = { action: this.actionUrl(node), method: 'POST', timeout, answerOnBridge: true } as const;
    this.verbs.push(numberAttributes ? { verb: 'dial', attributes, number, numberAttributes } : { verb: 'dial', attributes, number });
  }

  /** The call waits at `node` for the next webhook. */
  waitAt(node: string): void {
    this.state = { ...this.state, waitingAt: node };
  }

  /**
   * Transitions taken one after another in one webhook are one audit event, listing them in
   * order (`steps`): every transition is recorded, in a row per run instead of a row each.
   */
  transition(from: string, to: string, via: string): void {
    const last = this.events.at(-1);
    const transitions = last?.action === AuditAction.CallTransition ? last.details?.['steps'] : undefined;
    if (Array.isArray(transitions)) transitions.push({ from, to, via });
    else this.events.push({ action: AuditAction.CallTransition, leg: 'parent', details: { steps: [{ from, to, via }] } });
  }
}

function spokenNumber(e164: string | null): string {
  if (!e164) return '';
  const m = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(e164);
  return m ? `${m[1]}-${m[2]}-${m[3]}` : e164.replace(/^\+/, '');
}

export function nodeOf(flow: Flow, id: string): FlowNode {
  const n = flow.nodes[id];
  if (!n) throw new Error(`flow ${flow.id}: no node ${id}`);
  return n;
}

/** The whisper number of the chain's current attempt (the `a` of the whisper URL). */
export function whisperId(esc: NonNullable<CallState['escalation']>): number {
  return esc.base + esc.attempt;
}
