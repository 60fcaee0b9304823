// Over 400 lines because it is the whole I/O edge of the call path (practice and state, step claims, facts, engine, records, rendering); the decisions themselves live in engine.ts and nodes/.
import type { Services } from '../services.js';
import type { AppContext } from '../app-context.js';
import type { Db } from '../adapters/postgres.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { AuditAction, type AuditEvent } from '../audit/events.js';
import { phoneIndex } from '../patients/store.js';
import { nextAppointment } from '../patients/appointments.js';
import type { NumberLookup, Practice } from '../practices/store.js';
import { parseEntry } from '../verification/entry.js';
import { matchAmong, patientCandidates } from '../verification/identity.js';
import { guardedTry } from '../verification/attempts.js';
import { callRecorder, practiceOfCall, type CallEvent, type CallRecorder } from './records.js';
import { isFinalStatus, NO_PROGRESS, progressOf, type CallProgress } from './call-progress.js';
import { sealCallerNumber } from './caller-number.js';
import { callbackEntry, keepCallbackNumber, landHeldCallbackNumber, openKeyedDigits } from './callback-number.js';
import { queueCallbackTask } from '../tasks/queue-task.js';
import { checkRecordingUrl, receiveRecording } from '../voicemail/pipeline.js';
import {
  initialState,
  advance,
  whisperId,
  type CallState,
  type Effect,
  type EngineContext,
  type EngineEvent,
  type Facts,
  type PageAckOutcome,
  type PracticeContext,
} from './engine.js';
import { resolvePlan } from '../oncall/escalation.js';
import { flowKey } from './flow-resolver.js';
import { acknowledgePageByKeypad, openPage } from '../oncall/paging.js';
import { dialLegOutcome } from '../oncall/dial.js';
import { finishParentLeg, recordDialLegRow } from '../oncall/legs.js';
import type { WhisperOutcome } from '../oncall/whisper.js';
import { failSafe, unknownNumber, type StepEvent } from './fail-safe.js';
import { answerFailSafe, PRACTICE_SUSPENDED } from './fail-safe-answer.js';
import { renderTwiml } from './render-twiml.js';
import { fallbackNumberFor } from './fallback-numbers.js';
import type { Flow } from './flow-types.js';
import { awaitFirstDelivery, claimStep, getWhisperOutcome, loadCall, saveCall, startCall, type ReplayEntry, type StoredCall } from './state-store.js';
import { normaliseE164, type VoiceWebhook } from './twilio-params.js';
import { recordOptOut } from '../consent/store.js';
import { TIMED_OUT, withDeadline } from '../adapters/deadline.js';
import { logger } from '../log/logger.js';
import type { SpoolEntry, SpoolOutcome } from '../voicemail/spool.js';

/**
 * The I/O around the call-flow engine: load the practice and the call state, resolve what
 * needs the database or Redis (identity checks, lockouts, the next appointment), run the
 * engine, save the state, write the call record and the audit events. Decisions live in
 * ./engine.ts.
 */

export type FlowRequest = { kind: 'incoming' } | { kind: 'action'; step: number; node: string; empty: boolean };

/** The caller's number (E.164) and its blind index, computed once per webhook. */
interface Caller {
  phone: string;
  index: string;
}

/**
 * Mints the request scope of the practice a webhook has found by the number called (or by its
 * call record). Only the Twilio routes may mint one (.dependency-cruiser.cjs,
 * `scope-minted-by-auth`), and the practice is known only once the lookup here has run: so the
 * route hands this function down, and the call path's practice-owned reads and writes (patients,
 * appointments, the call record, its legs) run in the `ahl_tenant` role, held to that practice.
 */
export type { ScopeFor } from '../tenancy/scope.js';
import type { ScopeFor } from '../tenancy/scope.js';

/** The practice caches: the lookup of a practice by its number, and the fail-safe's fallback numbers. */
type PracticeLookup = Pick<Services, 'caches'>;

/**
 * What the flow webhook uses itself, and what the domain functions it calls take (their own
 * parameter types: narrowing one of them narrows this).
 */
export type FlowDeps = Pick<Services, 'flowResolver' | 'caches' | 'config' | 'db' | 'redis' | 'keyring' | 'audit' | 'metrics' | 'clock'> & EventDeps & Parameters<typeof openPage>[0];

/** What turning a webhook into the engine's event takes: the whisper outcome (Redis), the identity check and its lockout, a page's acknowledgement. */
type EventDeps = Pick<AppContext, 'redis' | 'keyring'> & Parameters<typeof guardedTry>[0] & Parameters<typeof acknowledgePageByKeypad>[0];

/**
 * One group-committing call-record writer per database handle: the system pool's (calls to
 * numbers no practice owns) and each practice's tenant handle, so that a batch never mixes practices.
 */
const recorders = new WeakMap<Db, CallRecorder>();

function recorderFor(db: Db): CallRecorder {
  let recorder = recorders.get(db);
  if (!recorder) {
    recorder = callRecorder(db);
    recorders.set(db, recorder);
  }
  return recorder;
}

/**
 * Records a call event under its practice's scope; a call to a number no practice owns (`null`)
 * is recorded by the system role, there being no practice to hold it to. The record's practice
 * is the scope's, never given apart from it.
 */
function recordCall(system: Db, scope: PracticeScope | null, e: Omit<CallEvent, 'practiceId'>, now: Date): Promise<boolean> {
  return recorderFor(scope?.db ?? system)({ ...e, practiceId: scope?.practiceId ?? null }, now);
}

/** After an admin change: fresh lookups from now on; the fallback numbers are reloaded, not dropped (../practices/caches.ts). */
export function invalidatePracticeCache(deps: PracticeLookup): void {
  deps.caches.invalidate();
}

/** Twilio's fallback URL, or any failure: the disclaimer and a way to a human. */
export function failSafeTwiml(deps: PracticeLookup, to: string | undefined): string {
  return failSafe(fallbackNumberFor(deps, to));
}

/**
 * The practice that owns a number, from the cache when fresh; every lookup also refreshes the
 * number's fallback entry. It runs in the system role: finding whose number was called crosses
 * practices by nature, and only then is there a practice to scope the rest of the webhook to.
 */
export async function loadPractice(deps: PracticeLookup, to: string): Promise<NumberLookup | null> {
  return deps.caches.practices.lookup(to);
}

function practiceContext(practice: Practice, contacts: Readonly<Record<string, string>> = {}): PracticeContext {
  return {
    contacts,
    id: practice.id,
    name: practice.name,
    greetingName: practice.greetingName,
    timeZone: practice.timeZone,
    weeklyHours: practice.weeklyHours,
    holidays: practice.holidays,
    languages: practice.languages,
    frontDeskNumber: practice.frontDeskNumber,
    fallbackNumber: practice.fallbackNumber,
  };
}

function auditEvents(practiceId: string | null, callSid: string, events: StepEvent[]): AuditEvent[] {
  return events.map((e) => ({ ...e, actor: 'twilio', practiceId, callSid }));
}

/** Runs the engine, loading a fact it asks for (under the practice's scope) and running it again. */
async function runEngine(
  deps: Pick<AppContext, 'keyring'>,
  scope: PracticeScope,
  flow: Flow,
  state: CallState,
  event: EngineEvent,
  ctx: EngineContext,
): Promise<{ state: CallState; twiml: string; events: StepEvent[]; effects: Effect[] }> {
  let facts: Facts = {};
  for (let i = 0; i < 4; i += 1) {
    const result = advance(flow, state, event, { ...ctx, facts });
    // The edge: the engine's verbs become the TwiML document here.
    if (result.kind === 'verbs') return { state: result.state, twiml: renderTwiml(result.verbs), events: result.events, effects: result.effects };
    if (result.fact === 'escalation') {
      facts = { ...facts, escalation: await resolvePlan(scope, ctx.practice.fallbackNumber, ctx.now, result.policy), escalationPolicy: result.policy };
    } else if (result.fact === 'keyedNumber') {
      // Opened only to be read back to the caller who keyed it: into the TwiML, nowhere else.
      facts = { ...facts, keyedNumber: { sealed: result.sealed, digits: await openKeyedDigits(deps.keyring, result.sealed, ctx.callSid, scope.practiceId) } };
    } else {
      facts = { ...facts, nextAppointment: await nextAppointment(scope, result.patientId, ctx.now) };
    }
  }
  throw new Error('engine kept asking for facts');
}

/**
 * Turns the webhook answering a verify node into an outcome. Side effects (failure counts,
 * lockouts) happen here, once: a retried webhook replays the stored outcome instead.
 */
async function verifyOutcome(
  deps: Pick<AppContext, 'keyring'> & Parameters<typeof guardedTry>[0],
  scope: PracticeScope,
  state: CallState,
  nodeId: string,
  flow: Flow,
  webhook: VoiceWebhook,
  caller: Caller | null,
  now: Date,
): Promise<EngineEvent> {
  const node = flow.nodes[nodeId];
  if (!node || node.kind !== 'verify') throw new Error('not a verify node');
  // The call has used its tries: the entry is not looked at (no match, no failure counted).
  if ((state.verifyTries ?? 0) >= node.maxTries) return { kind: 'verify', node: nodeId, outcome: 'exhausted' };
  const digits = webhook.Digits ?? '';
  if (digits === '') return { kind: 'verify', node: nodeId, outcome: 'timeout' };
  if (!caller) return { kind: 'verify', node: nodeId, outcome: 'no_caller_id' };
  const entry = parseEntry(digits, node.method, now);
  // The practice's patients only: the tenant role's row-level security holds the read to it.
  const candidates = await patientCandidates(scope.db, scope.practiceId, caller.index);
  // The try is reserved (number and patients) before anything is compared: concurrent calls cannot all pass.
  const tried = await guardedTry(
    deps,
    { practiceId: scope.practiceId, phoneIndex: caller.index, line: 'patient', callSid: webhook.CallSid, now },
    candidates.map((c) => ({ kind: 'patient', id: c.id }) as const),
    async (open) => matchAmong(deps.keyring, scope.practiceId, candidates.filter((c) => open.some((o) => o.id === c.id)), entry),
  );
  if (tried.kind === 'refused') return { kind: 'verify', node: nodeId, outcome: 'locked' };
  if (tried.kind === 'match') return { kind: 'verify', node: nodeId, outcome: 'match', patientId: tried.value };
  return { kind: 'verify', node: nodeId, outcome: entry.kind === 'invalid' ? 'invalid' : 'no_match', lockedNow: tried.lockedNow };
}

/** Staff line: the caller ID must be an active provider of the practice; the keys a page's reference. */
async function pageAckOutcome(deps: Parameters<typeof acknowledgePageByKeypad>[0], scope: PracticeScope, webhook: VoiceWebhook): Promise<PageAckOutcome> {
  const digits = (webhook.Digits ?? '').replace(/#$/, '');
  if (digits === '') return 'timeout';
  const caller = normaliseE164(webhook.From);
  const provider = caller
    ? await scope.db
        .selectFrom('providers')
        .select('id')
        .where('practice_id', '=', scope.practiceId)
        .where('active', '=', true)
        .where((eb) => eb.or([eb('phone', '=', caller), eb('sms_phone', '=', caller)]))
        .executeTakeFirst()
    : undefined;
  if (!provider) return 'not_provider';
  // Twilio's literal "timeout" is no reference here (acknowledgePageByKeypad would take it for a timeout).
  if (digits === 'timeout') return 'not_found';
  return acknowledgePageByKeypad(deps, scope, { providerId: provider.id, digits: webhook.Digits });
}

async function eventFor(
  deps: EventDeps,
  scope: PracticeScope,
  flow: Flow,
  state: CallState,
  req: Extract<FlowRequest, { kind: 'action' }>,
  webhook: VoiceWebhook,
  caller: Caller | null,
  now: Date,
): Promise<EngineEvent> {
  const node = flow.nodes[req.node];
  if (!node) return { kind: 'gather', node: state.waitingAt ?? flow.start, digits: null };
  switch (node.kind) {
    case 'menu':
    case 'language':
      return { kind: 'gather', node: req.node, digits: webhook.Digits ? webhook.Digits : null };
    case 'verify':
      return verifyOutcome(deps, scope, state, req.node, flow, webhook, caller, now);
    case 'dial_oncall': {
      const attempt = state.escalation?.node === req.node ? whisperId(state.escalation) : -1;
      const whisper = (await getWhisperOutcome(deps.redis, webhook.CallSid, attempt)) as WhisperOutcome | null;
      return { kind: 'dial_done', node: req.node, status: webhook.DialCallStatus ?? null, whisper, childCallSid: webhook.DialCallSid ?? null, durationSeconds: webhook.DialCallDuration ?? null };
    }
    case 'transfer':
      return { kind: 'dial_done', node: req.node, status: webhook.DialCallStatus ?? null };
    case 'voicemail':
      return { kind: 'record_done', node: req.node, recorded: !req.empty && webhook.RecordingSid !== undefined };
    case 'page_ack':
      return { kind: 'page_ack', node: req.node, outcome: await pageAckOutcome(deps, scope, webhook) };
    case 'callback_number':
      return { kind: 'callback', node: req.node, entry: await callbackEntry(deps, state, req.node, webhook) };
    case 'say':
    case 'hours':
    case 'disclose':
    case 'opt_out':
    case 'hangup':
      return { kind: 'gather', node: req.node, digits: null };
    default:
      return node satisfies never;
  }
}

/**
 * Twilio gives up on a webhook after 15 s in all. Whatever hangs (PostgreSQL or Redis that
 * accept connections but never answer), a flow webhook answers fail-safe before this.
 */
const FLOW_WEBHOOK_DEADLINE_MS = 9_000;

/** One voice webhook of a call flow in, TwiML out. Throws on infrastructure failure (the route answers fail-safe). */
export async function handleFlowWebhook(
  deps: FlowDeps,
  scopeFor: ScopeFor,
  req: FlowRequest,
  webhook: VoiceWebhook,
  deadlineMs = FLOW_WEBHOOK_DEADLINE_MS,
): Promise<string> {
  const twiml = await withDeadline(flowWebhook(deps, scopeFor, req, webhook), deadlineMs);
  if (twiml !== TIMED_OUT) return twiml;
  // Out of time: the caller hears the disclaimer and goes to a human. Nothing more is awaited
  // (the audit write may be what hangs); the work still running finishes or fails on its own.
  logger.error('flow webhook out of time; answering fail-safe', { deadlineMs });
  void deps
    .audit({ action: AuditAction.CallFailSafe, actor: 'system', callSid: webhook.CallSid, leg: 'parent', details: { reason: 'deadline' } })
    .catch(() => undefined);
  deps.metrics.countFailSafe('deadline');
  return failSafeTwiml(deps, webhook.To);
}

/** The answer a retried webhook gets: the same step re-run from the state it started from, with no side effect. */
async function replayTwiml(deps: Pick<Services, 'flowResolver' | 'keyring'>, scope: PracticeScope, entry: ReplayEntry, ctx: EngineContext, fallbackNumber: string | null): Promise<string> {
  const flow = await deps.flowResolver.get(scope.practiceId, entry.before.flowId);
  if (!flow) return failSafe(fallbackNumber);
  const asFirst = entry.at ? { ...ctx, now: new Date(entry.at) } : ctx;
  return (await runEngine(deps, scope, flow, entry.before, entry.event, asFirst)).twiml;
}

/** What a step started from, to answer its duplicate. A call's start is always known, even once out of the replay list. */
async function replayEntry(deps: Pick<Services, 'flowResolver'>, stored: StoredCall | null, step: number, practice: PracticeContext): Promise<ReplayEntry | null> {
  if (!stored) return null;
  const entry = stored.replay.find((r) => r.step === step);
  if (entry) return entry;
  const flow = step === 0 ? await deps.flowResolver.get(practice.id, stored.state.flowId) : null;
  return flow ? { step: 0, before: initialState(flow, practice), event: { kind: 'start' } } : null;
}

async function flowWebhook(deps: FlowDeps, scopeFor: ScopeFor, req: FlowRequest, webhook: VoiceWebhook): Promise<string> {
  const now = deps.clock();
  const found = await loadPractice(deps, webhook.To);
  const from = normaliseE164(webhook.From);
  // Blind-indexed once: for the call record and, at a verify node, the lockout.
  const caller: Caller | null = from ? { phone: from, index: phoneIndex(deps.keyring, from) } : null;
  // The first webhook of a practice's call also opens its parent leg, keeps the caller's number
  // (sealed) and looks it up among the practice's patients, all in the same statement.
  const record = async (key: string, scope: PracticeScope | null, progress: CallProgress = NO_PROGRESS, fromEnc: Buffer | null = null): Promise<boolean> =>
    recordCall(
      deps.db,
      scope,
      {
        callSid: webhook.CallSid,
        direction: webhook.Direction ?? 'inbound',
        fromIndex: caller?.index ?? null,
        toNumber: scope ? webhook.To : null,
        status: webhook.CallStatus ?? 'in-progress',
        key,
        source: req.kind === 'incoming' ? 'incoming' : `flow:${req.node}`,
        ...(req.kind === 'incoming' && scope ? { openParentLegAt: now, fromEnc, matchByNumber: true } : {}),
        progress,
      },
      now,
    );

  if (!found) {
    const answer = unknownNumber();
    if (await record(req.kind === 'incoming' ? 'incoming' : `flow:${req.step}`, null)) {
      await deps.audit(auditEvents(null, webhook.CallSid, answer.events));
    }
    return answer.twiml;
  }
  const { practice } = found;
  // From here on the webhook acts for this practice: its reads and writes of practice rows go through this scope.
  const scope = scopeFor(practice.id);
  // Sealed while the rest of the webhook runs; it never fails the call (the record then has no number).
  const requestStep = req.kind === 'incoming' ? 0 : req.step;
  const sealing = req.kind === 'incoming' && from ? sealedCaller(deps, from, practice.id) : Promise.resolve(null);
  const ctx: EngineContext = { now, callSid: webhook.CallSid, practice: practiceContext(practice, found.contacts), publicBaseUrl: deps.config.publicBaseUrl, facts: {}, hasCallerId: from !== null };
  const failSafeFor = (reason: string, details: Record<string, unknown> = {}): Promise<string> =>
    answerFailSafe(deps, { practiceId: practice.id, callSid: webhook.CallSid, fallbackNumber: practice.fallbackNumber }, reason, details, async () =>
      // On the call's record too (a step the engine never ran: keyed apart from the steps it did).
      record(req.kind === 'incoming' ? 'incoming' : `fail-safe:${requestStep}`, scope, { ...NO_PROGRESS, outcome: 'fail_safe' }, await sealing),
    );
  // A suspended practice's callers are never dropped: the emergency disclaimer and its fallback line.
  if (practice.suspended) return failSafeFor(PRACTICE_SUSPENDED);

  // Exactly one delivery of a step has side effects (lockout failures, page acknowledgements,
  // opt-outs, the call record, audit events), even if Twilio delivers it twice at once: the
  // step is claimed before any of them. A duplicate answers as the first did, side-effect free.
  let flow: Flow;
  let before: CallState;
  let stored: StoredCall | null;
  if (req.kind === 'incoming') {
    // The number's current flow, for a call that starts now. Its first step is claimed below,
    // with the state it leads to (nothing before that has a side effect).
    const key = flowKey(found.flowId, found.flowVersion);
    const current = await deps.flowResolver.get(practice.id, key);
    if (!current) return failSafeFor('unknown_flow', { flowId: key });
    flow = current;
    before = initialState(flow, ctx.practice);
    stored = null;
  } else {
    stored = await loadCall(deps.redis, webhook.CallSid);
    // A retried webhook of an earlier step: re-run it from the stored state.
    const replay = stored && requestStep < stored.state.step ? stored.replay.find((r) => r.step === requestStep) : undefined;
    if (replay) return replayTwiml(deps, scope, replay, ctx, practice.fallbackNumber);
    if (!stored || stored.state.step !== req.step || stored.state.waitingAt !== req.node) {
      // No state (expired, Redis restarted) or an action from another turn: keep the caller safe.
      return failSafeFor(stored ? 'stale_action' : 'no_state');
    }
    if (!(await claimStep(deps.redis, webhook.CallSid, requestStep))) {
      const entry = await replayEntry(deps, await awaitFirstDelivery(deps.redis, webhook.CallSid, requestStep), requestStep, ctx.practice);
      if (entry) return replayTwiml(deps, scope, entry, ctx, practice.fallbackNumber);
      deps.metrics.countFailSafe('duplicate_unanswered');
      return failSafe(practice.fallbackNumber);
    }
    // The flow the call started with, even if the number has been given another since.
    const started = await deps.flowResolver.get(practice.id, stored.state.flowId);
    if (!started) return failSafeFor('unknown_flow', { flowId: stored.state.flowId });
    flow = started;
    before = stored.state;
  }

  const event: EngineEvent = req.kind === 'incoming' ? { kind: 'start' } : await eventFor(deps, scope, flow, before, req, webhook, caller, now);
  const result = await runEngine(deps, scope, flow, before, event, ctx);
  for (const e of result.events) if (e.action === AuditAction.CallFailSafe) deps.metrics.countFailSafe(String(e.details?.['reason']));
  const entry: ReplayEntry = { step: requestStep, before, event, at: now.toISOString() };
  // A confirmed number PostgreSQL refused earlier in the call, held in its state: landed now if it can be.
  const held = result.state.heldCallbackNumber;
  if (held && (await landHeldCallbackNumber(scope, webhook.CallSid, held))) result.state.heldCallbackNumber = null;
  // The engine is pure: a call's first answer is worked out before its step is claimed, and the
  // claim saves the state in the same round trip. A duplicate answers as the first did.
  if (req.kind === 'incoming' && !(await startCall(deps.redis, webhook.CallSid, entry, result.state))) {
    const first = await replayEntry(deps, await awaitFirstDelivery(deps.redis, webhook.CallSid, 0), 0, ctx.practice);
    if (first) return replayTwiml(deps, scope, first, ctx, practice.fallbackNumber);
    deps.metrics.countFailSafe('duplicate_unanswered');
    return failSafe(practice.fallbackNumber);
  }
  const started: StepEvent[] =
    req.kind === 'incoming' ? [{ action: AuditAction.CallLegStarted, leg: 'parent', details: { direction: webhook.Direction ?? 'inbound', flowId: flow.id } }] : [];
  // The state, the call record and the audit events are independent writes: do them at once.
  await Promise.all([
    req.kind === 'incoming' ? Promise.resolve() : saveCall(deps.redis, webhook.CallSid, stored, entry, result.state),
    record(req.kind === 'incoming' ? 'incoming' : `flow:${req.step}`, scope, progressOf(flow, result.events, result.state.done), await sealing),
    deps.audit(auditEvents(practice.id, webhook.CallSid, [...started, ...result.events])),
    event.kind === 'dial_done' ? recordDialLeg(scope, before, event, webhook, now) : Promise.resolve(),
  ]);
  for (const effect of result.effects) {
    if (effect.kind === 'page') await openPage(deps, { practiceId: practice.id, callSid: webhook.CallSid, policyId: effect.policyId });
    else if (effect.kind === 'opt_out' && from) await recordOptOut(deps, scope, { phone: from, source: 'keypad', recordedBy: `call:${webhook.CallSid}` });
    else if (effect.kind === 'callback_number') await keepCallbackNumber(deps, scope, webhook.CallSid, effect.keyed, from);
  }
  return result.twiml;
}

/**
 * How long a webhook waits for the caller's number to be sealed. With KMS each seal is a
 * GenerateDataKey request, and a KMS that accepts it but never answers must not hold the
 * caller's answer until the webhook's deadline (the fail-safe): the number is only a field of
 * the call record, so past this the call is recorded without it.
 */
export const CALLER_SEAL_WAIT_MS = 1_000;

/** The caller's number sealed for the call record; null (and a warning, never the number) if sealing failed or took too long. */
async function sealedCaller(deps: Pick<AppContext, 'keyring'>, from: string, practiceId: string): Promise<Buffer | null> {
  try {
    const sealed = await withDeadline(sealCallerNumber(deps.keyring, from, practiceId), CALLER_SEAL_WAIT_MS, { unref: true });
    if (sealed !== TIMED_OUT) return sealed;
    logger.warn('caller number not sealed in time; the call is recorded without it', { waitedMs: CALLER_SEAL_WAIT_MS });
    return null;
  } catch (err) {
    logger.warn('caller number not sealed; the call is recorded without it', { err });
    return null;
  }
}

/** One <Dial> child leg: who was tried, at which tier and round, and how it ended. */
async function recordDialLeg(
  scope: PracticeScope,
  before: CallState,
  event: Extract<EngineEvent, { kind: 'dial_done' }>,
  webhook: VoiceWebhook,
  now: Date,
): Promise<void> {
  const esc = before.escalation?.node === event.node ? before.escalation : null;
  const target = esc ? esc.plan.targets[esc.attempt % esc.plan.targets.length] : undefined;
  await recordDialLegRow(scope.db, {
    callSid: webhook.CallSid,
    practiceId: scope.practiceId,
    legSid: webhook.DialCallSid ?? null,
    tier: target?.tier ?? null,
    round: esc && target ? Math.floor(esc.attempt / esc.plan.targets.length) : null,
    providerId: target?.providerId ?? null,
    numberTried: target?.number ?? null,
    outcome: dialLegOutcome(event.status, event.whisper),
    durationSeconds: webhook.DialCallDuration ?? null,
    endedAt: now,
  });
}

/**
 * A call status callback: record it; nothing to say to the caller. The call's practice is found
 * in the system role (its parent call's record, or the number called); its record and parent leg
 * are then written under that practice's scope.
 */
export async function handleCallStatus(deps: PracticeLookup & Pick<AppContext, 'db' | 'audit' | 'clock' | 'queues'>, scopeFor: ScopeFor, webhook: VoiceWebhook): Promise<void> {
  // A child leg's To is the provider's phone: its practice is its parent call's.
  const practiceId = webhook.ParentCallSid ? await practiceOfCall(deps.db, webhook.ParentCallSid) : ((await loadPractice(deps, webhook.To))?.practice.id ?? null);
  const scope = practiceId ? scopeFor(practiceId) : null;
  const status = webhook.CallStatus ?? 'unknown';
  const leg = webhook.ParentCallSid ? 'child' : 'parent';
  // A parent call's final status: it ended now, and if nothing else happened the caller hung up
  // before reaching an outcome (a fallback outcome: it never replaces one, ./call-progress.ts).
  const over = leg === 'parent' && isFinalStatus(status);
  const isNew = await recordCall(
    deps.db,
    scope,
    {
      callSid: webhook.CallSid,
      direction: webhook.Direction ?? 'inbound',
      fromIndex: null,
      toNumber: scope ? webhook.To : null,
      status,
      key: `status:${status}:${webhook.SequenceNumber ?? 0}`,
      source: 'status-callback',
      ...(webhook.SequenceNumber !== undefined ? { seq: webhook.SequenceNumber } : {}),
      ...(over ? { ended: { at: deps.clock(), durationSeconds: webhook.CallDuration ?? null }, progress: { ...NO_PROGRESS, outcome: 'abandoned_at_menu' } } : {}),
    },
    deps.clock(),
  );
  if (!webhook.ParentCallSid) await finishParentLeg(scope?.db ?? deps.db, { callSid: webhook.CallSid, practiceId, status, durationSeconds: webhook.CallDuration ?? null, at: deps.clock() });
  // A caller who hung up past the greeting with nothing else done: a callback task, made by a
  // queued job once the call's outcome is stored (ids only; the task sweep makes it if the job is
  // lost), so the callback is not held up reading the call back and sealing its number.
  if (over && scope) await queueCallbackTask(deps, { source: 'abandoned_call', practiceId: scope.practiceId, sourceId: webhook.CallSid });
  if (isNew) {
    await deps.audit({
      action: AuditAction.CallLegStatus,
      actor: 'twilio',
      practiceId,
      callSid: webhook.CallSid,
      leg,
      details: {
        status,
        ...(webhook.CallDuration !== undefined ? { durationSeconds: webhook.CallDuration } : {}),
        ...(webhook.ParentCallSid ? { parentCallSid: webhook.ParentCallSid } : {}),
      },
    });
  }
}

/** What a recording callback takes: the call's practice (a system lookup), the audit, and what the voicemail intake takes. */
type RecordingDeps = Pick<AppContext, 'db' | 'audit' | 'config'> & Parameters<typeof receiveRecording>[0];

/**
 * Twilio's recording status callback. A completed recording becomes a voicemail row and a job
 * of the voicemail pipeline; its media is fetched only from a URL we build, so a RecordingUrl
 * pointing anywhere but the configured account on the Twilio API host is refused.
 */
export async function handleRecordingStatus(deps: RecordingDeps, webhook: VoiceWebhook, meta: { node: string | null; urgency: string | null; verified: boolean }): Promise<void> {
  // Recording callbacks carry no To/From: the call record says whose call it was.
  const practiceId = await practiceOfCall(deps.db, webhook.CallSid);
  await deps.audit({
    action: AuditAction.VoicemailRecordingStatus,
    actor: 'twilio',
    practiceId,
    callSid: webhook.CallSid,
    leg: 'parent',
    subjectId: webhook.RecordingSid ?? null,
    details: {
      status: webhook.RecordingStatus ?? 'unknown',
      ...(webhook.RecordingDuration !== undefined ? { durationSeconds: webhook.RecordingDuration } : {}),
      node: meta.node,
      urgency: meta.urgency,
      verified: meta.verified,
    },
  });
  if (webhook.RecordingStatus !== 'completed' || !webhook.RecordingSid) return;
  const check = checkRecordingUrl(webhook.RecordingUrl, deps.config.twilio.apiBaseUrl, deps.config.twilio.accountSid, webhook.RecordingSid);
  if (!check.ok || webhook.AccountSid !== deps.config.twilio.accountSid) {
    await deps.audit({
      action: AuditAction.VoicemailRecordingUrlRefused,
      actor: 'twilio',
      practiceId,
      callSid: webhook.CallSid,
      subjectId: webhook.RecordingSid,
      details: { reason: check.ok ? 'foreign_account' : check.reason },
    });
    return;
  }
  await receiveRecording(deps, {
    practiceId,
    callSid: webhook.CallSid,
    recordingSid: webhook.RecordingSid,
    durationSeconds: webhook.RecordingDuration ?? null,
    urgency: meta.urgency === 'urgent' ? 'urgent' : 'routine',
    node: meta.node,
    source: 'callback',
    // From the callback URL's `v`, which Twilio's signature covers: whether the caller was verified.
    verified: meta.verified,
  });
}

/** A recording callback not made durable within this long is spooled instead (Twilio gives 15 s in all). */
export const RECORDING_CALLBACK_DEADLINE_MS = 6_000;

export type RecordingCallbackOutcome = 'recorded' | 'spooled' | 'ignored';

/**
 * The recording callback, made durable before it is acknowledged: recorded in PostgreSQL
 * (handleRecordingStatus) within `deadlineMs`, or else — the database down or hung — a completed
 * recording we would accept is appended to the local spool (fsynced) and replayed once PostgreSQL
 * answers (./../voicemail/recovery.ts). Throws only when neither worked: the route then answers
 * 503 so that Twilio retries. A handler still running after the deadline finishes on its own;
 * a duplicate is harmless (one voicemail per RecordingSid).
 */
export async function acceptRecordingStatus(
  deps: RecordingDeps & Pick<Services, 'recordingSpool' | 'clock'>,
  webhook: VoiceWebhook,
  meta: { node: string | null; urgency: string | null; verified: boolean },
  deadlineMs = RECORDING_CALLBACK_DEADLINE_MS,
): Promise<RecordingCallbackOutcome> {
  let reason: string;
  try {
    if ((await withDeadline(handleRecordingStatus(deps, webhook, meta), deadlineMs)) !== TIMED_OUT) return 'recorded';
    reason = 'deadline';
  } catch (err) {
    logger.warn('recording callback not recorded', { err });
    reason = 'error';
  }
  if (webhook.RecordingStatus !== 'completed' || !webhook.RecordingSid) return 'ignored';
  const check = checkRecordingUrl(webhook.RecordingUrl, deps.config.twilio.apiBaseUrl, deps.config.twilio.accountSid, webhook.RecordingSid);
  // What would be refused is not kept (its refusal is audited when PostgreSQL answers a resend).
  if (!check.ok || webhook.AccountSid !== deps.config.twilio.accountSid) return 'ignored';
  await deps.recordingSpool.append({
    v: 1,
    at: deps.clock().toISOString(),
    callSid: webhook.CallSid,
    accountSid: webhook.AccountSid,
    recordingSid: webhook.RecordingSid,
    durationSeconds: webhook.RecordingDuration ?? null,
    node: meta.node,
    urgency: meta.urgency === 'urgent' || meta.urgency === 'routine' ? meta.urgency : null,
    verified: meta.verified,
  });
  logger.warn('recording callback spooled until the database answers', { reason });
  return 'spooled';
}

/** Replays one spooled recording callback (no deadline: the spool's replay runs in the background). */
export async function replaySpooledRecording(deps: RecordingDeps, e: SpoolEntry): Promise<SpoolOutcome> {
  const webhook: VoiceWebhook = {
    CallSid: e.callSid,
    AccountSid: e.accountSid,
    From: '',
    To: '',
    RecordingSid: e.recordingSid,
    RecordingStatus: 'completed',
    ...(e.durationSeconds !== null ? { RecordingDuration: e.durationSeconds } : {}),
  };
  await handleRecordingStatus(deps, webhook, { node: e.node, urgency: e.urgency, verified: e.verified });
  return 'done';
}
