import twilio from 'twilio';
import { AuditAction } from '../audit/events.js';
import { hoursStatus } from '../practices/hours.js';
import type { Holidays, WeeklyHours } from '../practices/settings.js';
import type { Flow, FlowNode, Language, Prompt } from './flow-types.js';
import { failSafe, type StepEvent } from './fail-safe.js';
import type { WhisperOutcome } from '../oncall/whisper.js';
import { childLegDetails, oncallNumberAttributes, readOncallDial } from '../oncall/dial.js';
import type { DialTarget, EscalationPlan } from '../oncall/escalation.js';
import type { DialResultStatus } from './twilio-params.js';

// Defined beside the code that resolves (oncall/escalation.ts) and reads (calls/twilio-params.ts) them; re-exported for the engine's callers.
export type { DialTarget, EscalationPlan, DialResultStatus };

/**
 * The call-flow engine. Pure: (flow, call state, event, context) → (new state, TwiML, audit
 * events). The HTTP edge loads and saves the state and writes the events; it also resolves
 * what needs I/O (an identity check, the next appointment) before calling in.
 *
 * "Verify before you disclose" is enforced twice: flows that could reach a disclose node
 * without a successful verify are refused at load time, and the engine refuses to speak a
 * disclosure for a call whose state is not verified.
 */

const { VoiceResponse } = twilio.twiml;
type VR = InstanceType<typeof VoiceResponse>;

export const FLOW_PATH = '/twilio/voice/flow';
export const RECORDING_STATUS_PATH = '/twilio/voice/recording-status';
/** Loop guard: a call that has run this many steps gets the fail-safe answer (disclaimer, fallback line). */
export const MAX_STEPS = 60;
/** Key that repeats a menu when the flow does not map it. */
export const REPEAT_KEY = '0';

export const VOICES: Record<Language, { voice: 'Polly.Joanna' | 'Polly.Lupe'; language: 'en-US' | 'es-US' }> = {
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
}

/** Something the edge must do after the engine has answered. */
export type Effect = { kind: 'page'; policyId: string | null } | { kind: 'opt_out' };

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
  | { kind: 'page_ack'; node: string; outcome: PageAckOutcome };

export type PageAckOutcome = 'acknowledged' | 'already' | 'not_found' | 'not_provider' | 'timeout';

/** Facts about the verified patient that the edge loads when the engine asks. */
export interface Facts {
  nextAppointment?: { id: string; startsAt: Date } | null;
  escalation?: EscalationPlan;
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

export type EngineResult =
  | { kind: 'twiml'; state: CallState; twiml: string; events: StepEvent[]; effects: Effect[] }
  /** The engine needs a fact loaded; call again with it in `ctx.facts`. */
  | { kind: 'needs'; fact: 'nextAppointment'; patientId: string }
  | { kind: 'needs'; fact: 'escalation' };

export function initialState(flow: Flow, practice: PracticeContext): CallState {
  return {
    flowId: flow.id,
    practiceId: practice.id,
    lang: practice.languages[0] ?? 'en',
    step: 0,
    waitingAt: null,
    attempts: {},
    verifyTries: 0,
    verifiedPatientId: null,
    escalation: null,
    done: false,
  };
}

class NeedsFact {
  constructor(
    readonly fact: 'nextAppointment' | 'escalation',
    readonly patientId: string | null = null,
  ) {}
}

/** One webhook's worth of work: a TwiML document being built and the events it causes. */
class Turn {
  readonly vr: VR = new VoiceResponse();
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

  /** Speaks a prompt into the document, or into a <Gather>. */
  speak(prompt: Prompt, into?: ReturnType<VR['gather']>, lang: Language = this.state.lang): void {
    const audio = prompt.audio?.[lang];
    const target = into ?? this.vr;
    if (audio) target.play({}, `${this.ctx.publicBaseUrl}/audio/${encodeURIComponent(audio)}`);
    else target.say(VOICES[lang], this.text(prompt, lang));
  }

  /**
   * Transitions taken one after another in one webhook are one audit event, listing them in
   * order (`steps`): every transition is recorded, in a row per run instead of a row each.
   */
  transition(from: string, to: string, via: string): void {
    const last = this.events.at(-1);
    const steps = last?.action === AuditAction.CallTransition ? last.details?.['steps'] : undefined;
    if (Array.isArray(steps)) steps.push({ from, to, via });
    else this.events.push({ action: AuditAction.CallTransition, leg: 'parent', details: { steps: [{ from, to, via }] } });
  }
}

function spokenNumber(e164: string | null): string {
  if (!e164) return '';
  const m = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(e164);
  return m ? `${m[1]}-${m[2]}-${m[3]}` : e164.replace(/^\+/, '');
}

function node(flow: Flow, id: string): FlowNode {
  const n = flow.nodes[id];
  if (!n) throw new Error(`flow ${flow.id}: no node ${id}`);
  return n;
}

function formatAppointment(startsAt: Date, timeZone: string, lang: Language): string {
  const locale = lang === 'es' ? 'es-US' : 'en-US';
  const day = new Intl.DateTimeFormat(locale, { timeZone, weekday: 'long', month: 'long', day: 'numeric' }).format(startsAt);
  const time = new Intl.DateTimeFormat(locale, { timeZone, hour: 'numeric', minute: '2-digit' }).format(startsAt);
  const end = (t: string): string => (t.endsWith('.') ? t : `${t}.`);
  return lang === 'es' ? end(`Su próxima cita es el ${day} a las ${time}`) : end(`Your next appointment is on ${day} at ${time}`);
}

const NO_APPOINTMENT: Record<Language, string> = {
  en: 'We do not have an upcoming appointment on file for you.',
  es: 'No tenemos una próxima cita registrada para usted.',
};

const STILL_TRYING: Record<Language, string> = {
  en: 'We are still trying to reach the on-call provider. Please stay on the line.',
  es: 'Seguimos intentando comunicarnos con el proveedor de guardia. Por favor, permanezca en la línea.',
};

/** The whisper number of the chain's current attempt (the `a` of the whisper URL). */
export function whisperId(esc: NonNullable<CallState['escalation']>): number {
  return esc.base + esc.attempt;
}

/** Rings the escalation chain's current attempt, with the whisper the provider must accept. */
function dialAttempt(turn: Turn, id: string, urgency: 'urgent' | 'routine'): void {
  const esc = turn.state.escalation;
  if (!esc) throw new Error('no escalation in progress');
  const target = esc.plan.targets[esc.attempt % esc.plan.targets.length];
  if (!target) throw new Error('empty escalation plan');
  if (esc.attempt > 0) turn.vr.say(VOICES[turn.state.lang], STILL_TRYING[turn.state.lang]);
  turn.vr
    .dial({ action: turn.actionUrl(id), method: 'POST', timeout: target.ringSeconds, answerOnBridge: true })
    .number(oncallNumberAttributes(turn.ctx.callSid, whisperId(esc)), target.number);
  turn.events.push({
    action: AuditAction.CallDial,
    leg: 'parent',
    subjectId: target.providerId,
    details: { node: id, target: 'on_call', urgency, tier: target.tier, round: Math.floor(esc.attempt / esc.plan.targets.length), attempt: esc.attempt },
  });
  turn.state = { ...turn.state, waitingAt: id, whisperSeq: whisperId(esc) + 1 };
}

/**
 * Runs nodes from `startId` until one waits for Twilio (Gather, Dial, Record) or hangs up.
 * `reprompt`: `startId` is asked again after an answer that did not do (a wrong key, silence,
 * a failed verification), rather than entered from another node.
 */
function runFrom(turn: Turn, startId: string, opts: { reprompt?: boolean } = {}): void {
  let id = startId;
  let reprompt = opts.reprompt === true;
  for (let hops = 0; hops < 100; hops += 1) {
    const n = node(turn.flow, id);
    const go = (to: string, via: string): void => {
      turn.transition(id, to, via);
      id = to;
      reprompt = false;
    };
    switch (n.kind) {
      case 'say': {
        const langs = n.allLanguages ? turn.ctx.practice.languages : [turn.state.lang];
        for (const lang of langs) turn.speak(n.prompt, undefined, lang);
        go(n.next, 'next');
        continue;
      }
      case 'hours': {
        const status = hoursStatus(turn.ctx.now, turn.ctx.practice.timeZone, turn.ctx.practice.weeklyHours, turn.ctx.practice.holidays);
        go(n[status], status);
        continue;
      }
      case 'disclose': {
        const patientId = turn.state.verifiedPatientId;
        if (!patientId) {
          // Unreachable for a flow that passed the load-time check; refuse all the same.
          turn.events.push({ action: AuditAction.DisclosureRefused, leg: 'parent', details: { node: id, reason: 'not_verified' } });
          go(n.next, 'refused');
          continue;
        }
        if (turn.ctx.facts.nextAppointment === undefined) throw new NeedsFact('nextAppointment', patientId);
        const appt = turn.ctx.facts.nextAppointment;
        turn.vr.say(VOICES[turn.state.lang], appt ? formatAppointment(appt.startsAt, turn.ctx.practice.timeZone, turn.state.lang) : NO_APPOINTMENT[turn.state.lang]);
        turn.events.push({
          action: AuditAction.Disclosure,
          leg: 'parent',
          subjectId: patientId,
          details: { node: id, what: n.what, appointmentId: appt?.id ?? null },
        });
        go(n.next, 'next');
        continue;
      }
      case 'language': {
        if (turn.ctx.practice.languages.length < 2) {
          turn.state = { ...turn.state, lang: turn.ctx.practice.languages[0] ?? n.default };
          go(n.next, 'single_language');
          continue;
        }
        const g = turn.vr.gather({ numDigits: 1, timeout: n.timeoutSeconds, action: turn.actionUrl(id), method: 'POST', actionOnEmptyResult: true });
        // The choice is offered in every language, each in its own voice.
        for (const lang of turn.ctx.practice.languages) turn.speak(n.prompt, g, lang);
        turn.state = { ...turn.state, waitingAt: id };
        return;
      }
      case 'menu': {
        // A caller who comes back to a menu from elsewhere gets all its retries again.
        if (!reprompt && (turn.state.attempts[id] ?? 0) > 0) turn.state = { ...turn.state, attempts: { ...turn.state.attempts, [id]: 0 } };
        const g = turn.vr.gather({ numDigits: 1, timeout: n.timeoutSeconds, action: turn.actionUrl(id), method: 'POST', actionOnEmptyResult: true, language: VOICES[turn.state.lang].language });
        turn.speak(n.prompt, g);
        turn.state = { ...turn.state, waitingAt: id };
        return;
      }
      case 'verify': {
        if ((turn.state.verifyTries ?? 0) >= n.maxTries) {
          // The call has used its tries (on this visit or an earlier one): no new chance.
          triesExhausted(turn, id);
          go(n.failure, 'tries_exhausted');
          continue;
        }
        const g = turn.vr.gather({ finishOnKey: '#', timeout: n.timeoutSeconds, action: turn.actionUrl(id), method: 'POST', actionOnEmptyResult: true, language: VOICES[turn.state.lang].language });
        turn.speak(reprompt ? n.retryPrompt : n.prompt, g);
        turn.state = { ...turn.state, waitingAt: id };
        return;
      }
      case 'dial_oncall': {
        if (turn.state.escalation?.node !== id) {
          const plan = turn.ctx.facts.escalation;
          if (!plan) throw new NeedsFact('escalation');
          turn.state = { ...turn.state, escalation: { node: id, plan, attempt: 0, base: turn.state.whisperSeq ?? 0 } };
          if (plan.targets.length === 0) {
            turn.state = { ...turn.state, escalation: null };
            turn.events.push({ action: AuditAction.OncallExhausted, leg: 'parent', details: { node: id, attempts: 0, policyId: plan.policyId } });
            turn.effects.push({ kind: 'page', policyId: plan.policyId });
            go(n.onFail, 'nobody_on_call');
            continue;
          }
          turn.speak(n.prompt);
        }
        dialAttempt(turn, id, n.urgency);
        return;
      }
      case 'transfer': {
        const number = n.to === 'front_desk' ? turn.ctx.practice.frontDeskNumber : turn.ctx.practice.fallbackNumber;
        if (!number) {
          go(n.onFail, 'no_number');
          continue;
        }
        turn.speak(n.prompt);
        turn.vr.dial({ action: turn.actionUrl(id), method: 'POST', timeout: n.timeoutSeconds, answerOnBridge: true }).number(number);
        turn.events.push({ action: AuditAction.CallDial, leg: 'parent', details: { node: id, target: n.to } });
        turn.state = { ...turn.state, waitingAt: id };
        return;
      }
      case 'voicemail': {
        turn.speak(n.prompt);
        turn.vr.record({
          action: turn.actionUrl(id),
          method: 'POST',
          maxLength: n.maxLengthSeconds,
          playBeep: true,
          finishOnKey: '#',
          timeout: 8,
          trim: 'trim-silence',
          recordingStatusCallback: `${RECORDING_STATUS_PATH}?n=${encodeURIComponent(id)}&u=${n.urgency}&v=${turn.state.verifiedPatientId ? 1 : 0}`,
          recordingStatusCallbackMethod: 'POST',
          recordingStatusCallbackEvent: ['completed', 'absent'],
        });
        // Twilio skips the action when nothing was recorded and runs the next verb instead.
        turn.vr.redirect({ method: 'POST' }, turn.actionUrl(id, '&empty=1'));
        turn.state = { ...turn.state, waitingAt: id };
        return;
      }
      case 'page_ack': {
        const g = turn.vr.gather({ finishOnKey: '#', timeout: n.timeoutSeconds, action: turn.actionUrl(id), method: 'POST', actionOnEmptyResult: true, language: VOICES[turn.state.lang].language });
        turn.speak(n.prompt, g);
        turn.state = { ...turn.state, waitingAt: id };
        return;
      }
      case 'opt_out': {
        if (!turn.ctx.hasCallerId) {
          turn.vr.say(VOICES[turn.state.lang], NO_CALLER_ID_OPT_OUT[turn.state.lang]);
          go(n.next, 'no_caller_id');
          continue;
        }
        turn.effects.push({ kind: 'opt_out' });
        turn.speak(n.prompt);
        go(n.next, 'opted_out');
        continue;
      }
      case 'hangup': {
        if (n.prompt) turn.speak(n.prompt);
        turn.vr.hangup();
        turn.state = { ...turn.state, waitingAt: null, done: true };
        return;
      }
      default:
        return n satisfies never;
    }
  }
  throw new Error(`flow ${turn.flow.id}: more than 100 nodes without waiting for the caller`);
}

/** Deliberately the same answer for "no such page" and "you are not a provider": nothing to probe. */
const PAGE_ACK_REPLY: Record<PageAckOutcome, Record<Language, string>> = {
  acknowledged: { en: 'The page is acknowledged. Paging has stopped.', es: 'El aviso quedó confirmado. Se detuvieron los avisos.' },
  already: { en: 'That page was already acknowledged.', es: 'Ese aviso ya estaba confirmado.' },
  not_found: { en: 'We could not acknowledge that reference.', es: 'No pudimos confirmar esa referencia.' },
  not_provider: { en: 'We could not acknowledge that reference.', es: 'No pudimos confirmar esa referencia.' },
  timeout: { en: 'We did not receive a reference.', es: 'No recibimos ninguna referencia.' },
};

const NO_CALLER_ID_OPT_OUT: Record<Language, string> = {
  en: 'We could not identify the number you are calling from. Please call us from the phone that received the message.',
  es: 'No pudimos identificar el número desde el que llama. Por favor, llámenos desde el teléfono que recibió el mensaje.',
};

const LOCKED_MESSAGE: Record<Language, string> = {
  en: 'For your security, we cannot verify your identity by phone right now.',
  es: 'Por su seguridad, no podemos verificar su identidad por teléfono en este momento.',
};

const TRIES_USED_MESSAGE: Record<Language, string> = {
  en: 'You have used all the tries to verify your identity on this call.',
  es: 'Ha usado todos los intentos para verificar su identidad en esta llamada.',
};

/** The call has no verification tries left: say so and record the refusal (the caller goes on to the failure branch). */
function triesExhausted(turn: Turn, id: string): void {
  turn.events.push({ action: AuditAction.VerificationRefused, leg: 'parent', details: { node: id, reason: 'tries_exhausted', tries: turn.state.verifyTries ?? 0 } });
  turn.vr.say(VOICES[turn.state.lang], TRIES_USED_MESSAGE[turn.state.lang]);
}

/** Applies an answered wait (a key, a verification, a finished dial or recording) and runs on. */
function resume(turn: Turn, event: Exclude<EngineEvent, { kind: 'start' }>): void {
  const id = event.node;
  const n = node(turn.flow, id);
  const attempts = (): number => turn.state.attempts[id] ?? 0;
  const bump = (): number => {
    const next = attempts() + 1;
    turn.state = { ...turn.state, attempts: { ...turn.state.attempts, [id]: next } };
    return next;
  };
  const go = (to: string, via: string): void => {
    turn.transition(id, to, via);
    runFrom(turn, to);
  };

  if (event.kind === 'gather' && n.kind === 'menu') {
    const digits = event.digits ?? '';
    const target = digits.length === 1 ? n.options[digits] : undefined;
    if (target) return go(target, `key ${digits}`);
    if (digits === REPEAT_KEY) return runFrom(turn, id, { reprompt: true });
    if (bump() >= n.retries) return go(n.onExhausted, digits === '' ? 'timeout' : 'invalid');
    if (digits !== '') turn.speak(n.invalid);
    return runFrom(turn, id, { reprompt: true });
  }
  if (event.kind === 'gather' && n.kind === 'language') {
    const digits = event.digits ?? '';
    const chosen = (digits.length === 1 ? n.options[digits] : undefined) ?? n.default;
    turn.state = { ...turn.state, lang: turn.ctx.practice.languages.includes(chosen) ? chosen : (turn.ctx.practice.languages[0] ?? 'en') };
    return go(n.next, `language ${turn.state.lang}`);
  }
  if (event.kind === 'verify' && n.kind === 'verify') {
    const used = turn.state.verifyTries ?? 0;
    // At most maxTries a call, across every visit: an answer beyond them is not even looked at.
    if (event.outcome === 'exhausted' || used >= n.maxTries) {
      triesExhausted(turn, id);
      return go(n.failure, 'tries_exhausted');
    }
    if (event.outcome === 'match' && event.patientId) {
      turn.state = { ...turn.state, verifiedPatientId: event.patientId, verifyTries: used + 1 };
      turn.events.push({ action: AuditAction.VerificationSucceeded, leg: 'parent', subjectId: event.patientId, details: { node: id, try: used + 1 } });
      return go(n.success, 'verified');
    }
    if (event.outcome === 'locked' || event.outcome === 'no_caller_id') {
      turn.events.push({ action: AuditAction.VerificationRefused, leg: 'parent', details: { node: id, reason: event.outcome } });
      turn.vr.say(VOICES[turn.state.lang], LOCKED_MESSAGE[turn.state.lang]);
      return go(n.failure, event.outcome);
    }
    const tries = used + 1;
    turn.state = { ...turn.state, verifyTries: tries };
    turn.events.push({ action: AuditAction.VerificationFailed, leg: 'parent', details: { node: id, try: tries, reason: event.outcome, lockedOut: event.lockedNow === true } });
    if (event.lockedNow) {
      turn.vr.say(VOICES[turn.state.lang], LOCKED_MESSAGE[turn.state.lang]);
      return go(n.failure, 'locked');
    }
    if (tries >= n.maxTries) return go(n.failure, 'failed');
    return runFrom(turn, id, { reprompt: true });
  }
  if (event.kind === 'dial_done' && n.kind === 'transfer') {
    const connected = event.status === 'completed' || event.status === 'answered';
    return connected ? go(n.next, `dial ${event.status}`) : go(n.onFail, `dial ${event.status ?? 'unknown'}`);
  }
  if (event.kind === 'dial_done' && n.kind === 'dial_oncall') {
    const esc = turn.state.escalation;
    if (!esc || esc.node !== id) return runFrom(turn, id, { reprompt: true });
    const total = esc.plan.targets.length * esc.plan.rounds;
    const target = esc.plan.targets[esc.attempt % esc.plan.targets.length];
    const round = Math.floor(esc.attempt / esc.plan.targets.length);
    // Only the provider's recorded 1 bridges; a recorded decline, voicemail or silence is the
    // outcome whatever DialCallStatus says (see readOncallDial).
    const { connected, outcome } = readOncallDial(event.status, event.whisper ?? null);
    const leg = childLegDetails(event.childCallSid, event.durationSeconds, outcome);
    if (connected) {
      turn.events.push({ action: AuditAction.OncallConnected, leg: 'parent', subjectId: target?.providerId ?? null, details: { node: id, tier: target?.tier ?? null, round, attempt: esc.attempt, ...leg } });
      // The chain is over: reaching this node again in the same call starts a fresh one.
      turn.state = { ...turn.state, escalation: null };
      return go(n.next, 'accepted');
    }
    turn.events.push({ action: AuditAction.OncallAttemptFailed, leg: 'parent', subjectId: target?.providerId ?? null, details: { node: id, tier: target?.tier ?? null, round, attempt: esc.attempt, outcome, ...leg } });
    if (esc.attempt + 1 < total) {
      turn.state = { ...turn.state, escalation: { ...esc, attempt: esc.attempt + 1 } };
      dialAttempt(turn, id, n.urgency);
      return;
    }
    turn.state = { ...turn.state, escalation: null };
    turn.events.push({ action: AuditAction.OncallExhausted, leg: 'parent', details: { node: id, attempts: total, policyId: esc.plan.policyId } });
    turn.effects.push({ kind: 'page', policyId: esc.plan.policyId });
    return go(n.onFail, 'chain_exhausted');
  }
  if (event.kind === 'record_done' && n.kind === 'voicemail') {
    turn.events.push({ action: AuditAction.VoicemailTaken, leg: 'parent', details: { node: id, urgency: n.urgency, recorded: event.recorded, verified: turn.state.verifiedPatientId !== null } });
    return go(n.next, event.recorded ? 'recorded' : 'nothing_recorded');
  }
  if (event.kind === 'page_ack' && n.kind === 'page_ack') {
    turn.vr.say(VOICES[turn.state.lang], PAGE_ACK_REPLY[event.outcome][turn.state.lang]);
    return go(n.next, `page_ack ${event.outcome}`);
  }
  // A webhook that does not fit the node (a stale or forged action): ask again where we are.
  runFrom(turn, id, { reprompt: true });
}

/** The engine's one entry point. */
export function step(flow: Flow, state: CallState, event: EngineEvent, ctx: EngineContext): EngineResult {
  const turn = new Turn(flow, { ...state, step: state.step + 1 }, ctx);
  try {
    if (event.kind === 'start') {
      runFrom(turn, flow.start);
    } else if (turn.state.step > MAX_STEPS) {
      // Loop guard: a call that has gone on this long is offered the fallback line.
      turn.state = { ...turn.state, done: true, waitingAt: null };
      turn.events.push({ action: AuditAction.CallFailSafe, leg: 'parent', details: { reason: 'max_steps' } });
      return { kind: 'twiml', state: turn.state, twiml: failSafe(ctx.practice.fallbackNumber), events: turn.events, effects: [] };
    } else {
      resume(turn, event);
    }
  } catch (err) {
    if (err instanceof NeedsFact) {
      return err.fact === 'escalation' ? { kind: 'needs', fact: 'escalation' } : { kind: 'needs', fact: 'nextAppointment', patientId: err.patientId ?? '' };
    }
    throw err;
  }
  return { kind: 'twiml', state: turn.state, twiml: turn.vr.toString(), events: turn.events, effects: turn.effects };
}
