import { AuditAction } from '../audit/events.js';
import { failSafeVerbs, type StepEvent } from './fail-safe.js';
import type { Flow } from './flow-types.js';
import { resumeNode, runNode, type ResumeNext } from './nodes/index.js';
import { NeedsFact, nodeOf, Turn, type CallState, type EngineContext, type EngineEvent, type Effect, type PracticeContext } from './turn.js';
import type { Verb } from './verbs.js';

/**
 * The call-flow engine. Pure: (flow, call state, event, context) → (new state, verbs, audit
 * events). What each node kind does lives in its descriptor (./nodes/); this file walks the
 * graph. The verbs are data (./verbs.ts): the edge renders them as TwiML (./render-twiml.ts)
 * and loads and saves the state and writes the events; it also resolves what needs I/O (an
 * identity check, the next appointment) before calling in.
 *
 * "Verify before you disclose" is enforced twice: flows that could reach a node that reads
 * patient facts without a successful verify are refused at load time, and the disclose node
 * refuses to speak for a call whose state is not verified.
 */

export {
  FLOW_PATH,
  RECORDING_STATUS_PATH,
  REPEAT_KEY,
  VOICES,
  whisperId,
  type CallState,
  type Effect,
  type EngineContext,
  type EngineEvent,
  type Facts,
  type PageAckOutcome,
  type PracticeContext,
  type VerifyOutcome,
  type CallbackEntry,
  type SealedNumber,
} from './turn.js';
export type { DialTarget, EscalationPlan } from '../oncall/escalation.js';
export type { DialResultStatus } from './twilio-params.js';

/** Loop guard: a call that has run this many steps gets the fail-safe answer (disclaimer, fallback line). */
export const MAX_STEPS = 60;

export type EngineResult =
  | { kind: 'verbs'; state: CallState; verbs: Verb[]; events: StepEvent[]; effects: Effect[] }
  /** The engine needs a fact loaded; call again with it in `ctx.facts`. */
  | { kind: 'needs'; fact: 'nextAppointment'; patientId: string }
  | { kind: 'needs'; fact: 'escalation'; policy: string | null }
  | { kind: 'needs'; fact: 'keyedNumber'; sealed: string };

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
    callback: null,
    done: false,
  };
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
    const next = runNode(turn, nodeOf(turn.flow, id), reprompt);
    if (next === 'stop') return;
    turn.transition(id, next.to, next.via);
    id = next.to;
    reprompt = false;
  }
  throw new Error(`flow ${turn.flow.id}: more than 100 nodes without waiting for the caller`);
}

/** Applies an answered wait (a key, a verification, a finished dial or recording) and runs on. */
function resume(turn: Turn, event: Exclude<EngineEvent, { kind: 'start' }>): void {
  const id = event.node;
  // A webhook that does not fit the node (a stale or forged action) asks again where we are.
  const next: ResumeNext = resumeNode(turn, nodeOf(turn.flow, id), event);
  if (next === 'stop') return;
  if (next === 'reprompt') return runFrom(turn, id, { reprompt: true });
  turn.transition(id, next.to, next.via);
  runFrom(turn, next.to);
}

/**
 * The engine's one entry point: advances a call by one webhook (one count of the state's `step`
 * counter), from its state and the event it waited for, to the next state, verbs and audit events.
 */
export function advance(flow: Flow, state: CallState, event: EngineEvent, ctx: EngineContext): EngineResult {
  const turn = new Turn(flow, { ...state, step: state.step + 1 }, ctx);
  try {
    if (event.kind === 'start') {
      runFrom(turn, flow.start);
    } else if (turn.state.step > MAX_STEPS) {
      // Loop guard: a call that has gone on this long is offered the fallback line.
      turn.state = { ...turn.state, done: true, waitingAt: null };
      turn.events.push({ action: AuditAction.CallFailSafe, leg: 'parent', details: { reason: 'max_steps' } });
      return { kind: 'verbs', state: turn.state, verbs: failSafeVerbs(ctx.practice.fallbackNumber), events: turn.events, effects: [] };
    } else {
      resume(turn, event);
    }
  } catch (err) {
    if (err instanceof NeedsFact) {
      if (err.fact === 'escalation') return { kind: 'needs', fact: 'escalation', policy: err.policy };
      if (err.fact === 'keyedNumber') return { kind: 'needs', fact: 'keyedNumber', sealed: err.sealed ?? '' };
      return { kind: 'needs', fact: 'nextAppointment', patientId: err.patientId ?? '' };
    }
    throw err;
  }
  return { kind: 'verbs', state: turn.state, verbs: turn.verbs, events: turn.events, effects: turn.effects };
}
