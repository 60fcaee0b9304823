import type { Services } from '../services.js';
import { AuditAction, type AuditEvent } from '../audit/events.js';
import { blindIndex } from '../adapters/keyring.js';
import { PHONE_INDEX } from '../patients/store.js';
import { nextAppointment } from '../patients/appointments.js';
import { findPracticeByNumber, type Practice } from '../practices/store.js';
import { parseEntry } from '../verification/entry.js';
import { matchPatient } from '../verification/identity.js';
import { clearFailures, isLockedOut, recordFailure } from '../verification/lockout.js';
import { getCall, recordCallEvent } from './records.js';
import { checkRecordingUrl, receiveRecording } from '../voicemail/pipeline.js';
import {
  initialState,
  step,
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
import { acknowledgePage, openPage } from '../oncall/paging.js';
import type { WhisperOutcome } from '../oncall/whisper.js';
import { failSafe, unknownNumber, type StepEvent } from './fail-safe.js';
import type { Flow } from './flow-types.js';
import { claimStep, getWhisperOutcome, loadCall, saveCall, type StoredCall } from './state-store.js';
import { normaliseE164, type VoiceWebhook } from './twilio-params.js';
import { recordOptOut } from '../consent/store.js';

/**
 * The I/O around the call-flow engine: load the practice and the call state, resolve what
 * needs the database or Redis (identity checks, lockouts, the next appointment), run the
 * engine, save the state, write the call record and the audit events. Decisions live in
 * ./engine.ts.
 */

export type FlowRequest = { kind: 'incoming' } | { kind: 'action'; step: number; node: string; empty: boolean };

/**
 * Practices seen recently, by number. Fresh entries (under PRACTICE_CACHE_MS old) save a
 * database round trip on every webhook; any entry, however old, tells the fail-safe answer
 * where to forward the caller if PostgreSQL fails mid-call. Admin changes on this instance
 * clear it at once; other instances follow within PRACTICE_CACHE_MS.
 */
export const PRACTICE_CACHE_MS = 5_000;
type PracticeCache = Map<string, { found: { practice: Practice; flowId: string }; at: number }>;
/** One cache per running service (tests run several side by side in one process). */
const practiceCaches = new WeakMap<Services, PracticeCache>();

function cacheOf(services: Services): PracticeCache {
  let cache = practiceCaches.get(services);
  if (!cache) {
    cache = new Map();
    practiceCaches.set(services, cache);
  }
  return cache;
}

export function invalidatePracticeCache(services: Services): void {
  cacheOf(services).clear();
}

export function cachedFallbackNumber(services: Services, to: string | undefined): string | null {
  const entry = to ? cacheOf(services).get(to) : undefined;
  return entry?.found.practice.fallbackNumber ?? services.config.fallbackNumber ?? null;
}

/** Twilio's fallback URL, or any failure: the disclaimer and a way to a human. */
export function failSafeTwiml(services: Services, to: string | undefined): string {
  return failSafe(cachedFallbackNumber(services, to));
}

async function loadPractice(services: Services, to: string): Promise<{ practice: Practice; flowId: string } | null> {
  const cache = cacheOf(services);
  const cached = cache.get(to);
  if (cached && Date.now() - cached.at < PRACTICE_CACHE_MS) return cached.found;
  const found = await findPracticeByNumber(services.db, to);
  if (found) cache.set(to, { found, at: Date.now() });
  else cache.delete(to);
  return found;
}

function practiceContext(p: Practice): PracticeContext {
  return {
    id: p.id,
    name: p.name,
    greetingName: p.greetingName,
    timeZone: p.timeZone,
    weeklyHours: p.weeklyHours,
    holidays: p.holidays,
    languages: p.languages,
    frontDeskNumber: p.frontDeskNumber,
    fallbackNumber: p.fallbackNumber,
    transcribeVoicemail: p.voicemailTranscription,
  };
}

function auditEvents(practiceId: string | null, callSid: string, events: StepEvent[]): AuditEvent[] {
  return events.map((e) => ({ ...e, actor: 'twilio', practiceId, callSid }));
}

/** Runs the engine, loading a fact it asks for and running it again. */
async function runEngine(
  services: Services,
  flow: Flow,
  state: CallState,
  event: EngineEvent,
  ctx: EngineContext,
): Promise<{ state: CallState; twiml: string; events: StepEvent[]; effects: Effect[] }> {
  let facts: Facts = {};
  for (let i = 0; i < 4; i += 1) {
    const result = step(flow, state, event, { ...ctx, facts });
    if (result.kind === 'twiml') return result;
    if (result.fact === 'escalation') {
      facts = { ...facts, escalation: await resolvePlan(services.db, state.practiceId, ctx.practice.fallbackNumber, ctx.now) };
    } else {
      facts = { ...facts, nextAppointment: await nextAppointment(services.db, state.practiceId, result.patientId, ctx.now) };
    }
  }
  throw new Error('engine kept asking for facts');
}

/**
 * Turns the webhook answering a verify node into an outcome. Side effects (failure counts,
 * lockouts) happen here, once: a retried webhook replays the stored outcome instead.
 */
async function verifyOutcome(services: Services, state: CallState, nodeId: string, flow: Flow, p: VoiceWebhook, now: Date): Promise<EngineEvent> {
  const n = flow.nodes[nodeId];
  if (!n || n.kind !== 'verify') throw new Error('not a verify node');
  const digits = p.Digits ?? '';
  if (digits === '') return { kind: 'verify', node: nodeId, outcome: 'timeout' };
  const caller = normaliseE164(p.From);
  if (!caller) return { kind: 'verify', node: nodeId, outcome: 'no_caller_id' };
  const phoneIndex = blindIndex(services.keyring.indexKey, PHONE_INDEX, caller);
  if (await isLockedOut(services.redis, phoneIndex, now)) return { kind: 'verify', node: nodeId, outcome: 'locked' };
  const entry = parseEntry(digits, n.method, now);
  const patientId = entry.kind === 'invalid' ? null : await matchPatient(services.db, services.keyring, state.practiceId, caller, entry);
  if (patientId) {
    await clearFailures(services.redis, phoneIndex);
    return { kind: 'verify', node: nodeId, outcome: 'match', patientId };
  }
  const lockedNow = await recordFailure(services.redis, phoneIndex, now);
  return { kind: 'verify', node: nodeId, outcome: entry.kind === 'invalid' ? 'invalid' : 'no_match', lockedNow };
}

/** Staff line: the caller ID must be an active provider of the practice; the keys a page's reference. */
async function pageAckOutcome(services: Services, practiceId: string, p: VoiceWebhook): Promise<PageAckOutcome> {
  const digits = (p.Digits ?? '').replace(/#$/, '');
  if (digits === '') return 'timeout';
  const caller = normaliseE164(p.From);
  const provider = caller
    ? await services.db
        .selectFrom('providers')
        .select('id')
        .where('practice_id', '=', practiceId)
        .where('active', '=', true)
        .where((eb) => eb.or([eb('phone', '=', caller), eb('sms_phone', '=', caller)]))
        .executeTakeFirst()
    : undefined;
  if (!provider) return 'not_provider';
  if (!/^\d{6}$/.test(digits)) return 'not_found';
  const ack = await acknowledgePage(services, { practiceId, referenceCode: digits, by: `provider:${provider.id}`, via: 'keypad' });
  return ack.result;
}

async function eventFor(services: Services, flow: Flow, state: CallState, req: Extract<FlowRequest, { kind: 'action' }>, p: VoiceWebhook, now: Date): Promise<EngineEvent> {
  const n = flow.nodes[req.node];
  if (!n) return { kind: 'gather', node: state.waitingAt ?? flow.start, digits: null };
  switch (n.kind) {
    case 'menu':
    case 'language':
      return { kind: 'gather', node: req.node, digits: p.Digits ? p.Digits : null };
    case 'verify':
      return verifyOutcome(services, state, req.node, flow, p, now);
    case 'dial_oncall': {
      const attempt = state.escalation?.node === req.node ? whisperId(state.escalation) : -1;
      const whisper = (await getWhisperOutcome(services.redis, p.CallSid, attempt)) as WhisperOutcome | null;
      return { kind: 'dial_done', node: req.node, status: p.DialCallStatus ?? null, whisper };
    }
    case 'transfer':
      return { kind: 'dial_done', node: req.node, status: p.DialCallStatus ?? null };
    case 'voicemail':
      return { kind: 'record_done', node: req.node, recorded: !req.empty && p.RecordingSid !== undefined };
    case 'page_ack':
      return { kind: 'page_ack', node: req.node, outcome: await pageAckOutcome(services, state.practiceId, p) };
    case 'say':
    case 'hours':
    case 'disclose':
    case 'opt_out':
    case 'hangup':
      return { kind: 'gather', node: req.node, digits: null };
    default:
      return n satisfies never;
  }
}

/** One voice webhook of a call flow in, TwiML out. Throws on infrastructure failure (the route answers fail-safe). */
export async function handleFlowWebhook(services: Services, req: FlowRequest, p: VoiceWebhook): Promise<string> {
  const now = services.clock();
  const found = await loadPractice(services, p.To);
  const from = normaliseE164(p.From);
  const record = async (key: string, practiceId: string | null): Promise<boolean> =>
    recordCallEvent(
      services.db,
      {
        callSid: p.CallSid,
        practiceId,
        direction: p.Direction ?? 'inbound',
        fromIndex: from ? blindIndex(services.keyring.indexKey, PHONE_INDEX, from) : null,
        toNumber: practiceId ? p.To : null,
        status: p.CallStatus ?? 'in-progress',
        key,
        source: req.kind === 'incoming' ? 'incoming' : `flow:${req.node}`,
      },
      now,
    );

  if (!found) {
    const answer = unknownNumber();
    if (await record(req.kind === 'incoming' ? 'incoming' : `flow:${req.step}`, null)) {
      await services.audit(auditEvents(null, p.CallSid, answer.events));
    }
    return answer.twiml;
  }
  const { practice, flowId } = found;
  const flow = services.flows.get(flowId);
  if (!flow) {
    await services.audit({ action: AuditAction.CallFailSafe, actor: 'system', practiceId: practice.id, callSid: p.CallSid, leg: 'parent', details: { reason: 'unknown_flow', flowId } });
    return failSafe(practice.fallbackNumber);
  }
  const ctx: EngineContext = { now, callSid: p.CallSid, practice: practiceContext(practice), publicBaseUrl: services.config.publicBaseUrl, facts: {}, hasCallerId: from !== null };
  const stored: StoredCall | null = await loadCall(services.redis, p.CallSid);

  // A retried webhook: re-run the same step from the stored state; no side effects.
  const requestStep = req.kind === 'incoming' ? 0 : req.step;
  const replay = stored?.replay.find((r) => r.step === requestStep);
  if (replay && (req.kind === 'incoming' || (stored && requestStep < stored.state.step))) {
    return (await runEngine(services, flow, replay.before, replay.event, ctx)).twiml;
  }

  let before: CallState;
  let event: EngineEvent;
  if (req.kind === 'incoming') {
    before = initialState(flow, ctx.practice);
    event = { kind: 'start' };
  } else {
    if (!stored || stored.state.step !== req.step || stored.state.waitingAt !== req.node) {
      // No state (expired, Redis restarted) or an action from another turn: keep the caller safe.
      await services.audit({ action: AuditAction.CallFailSafe, actor: 'system', practiceId: practice.id, callSid: p.CallSid, leg: 'parent', details: { reason: stored ? 'stale_action' : 'no_state' } });
      return failSafe(practice.fallbackNumber);
    }
    before = stored.state;
    event = await eventFor(services, flow, before, req, p, now);
  }

  const result = await runEngine(services, flow, before, event, ctx);
  // Exactly one webhook per step causes side effects, even if Twilio delivers it twice at once.
  if (!(await claimStep(services.redis, p.CallSid, requestStep))) return result.twiml;
  const started: StepEvent[] =
    req.kind === 'incoming' ? [{ action: AuditAction.CallLegStarted, leg: 'parent', details: { direction: p.Direction ?? 'inbound', flowId } }] : [];
  // The state, the call record and the audit events are independent writes: do them at once.
  await Promise.all([
    saveCall(services.redis, p.CallSid, stored, { step: requestStep, before, event }, result.state),
    record(req.kind === 'incoming' ? 'incoming' : `flow:${req.step}`, practice.id),
    services.audit(auditEvents(practice.id, p.CallSid, [...started, ...result.events])),
    event.kind === 'dial_done' ? recordDialLeg(services, practice.id, before, event, p, now) : Promise.resolve(),
  ]);
  for (const effect of result.effects) {
    if (effect.kind === 'page') await openPage(services, { practiceId: practice.id, callSid: p.CallSid, policyId: effect.policyId });
    else if (effect.kind === 'opt_out' && from) await recordOptOut(services.db, services.keyring, services.audit, { practiceId: practice.id, phone: from, source: 'keypad', recordedBy: `call:${p.CallSid}` });
  }
  return result.twiml;
}

/** One <Dial> child leg: who was tried, at which tier and round, and how it ended. */
async function recordDialLeg(
  services: Services,
  practiceId: string,
  before: CallState,
  event: Extract<EngineEvent, { kind: 'dial_done' }>,
  p: VoiceWebhook,
  now: Date,
): Promise<void> {
  const esc = before.escalation?.node === event.node ? before.escalation : null;
  const target = esc ? esc.plan.targets[esc.attempt % esc.plan.targets.length] : undefined;
  const answered = event.status === 'completed' || event.status === 'answered';
  const outcome = answered && event.whisper !== undefined ? (event.whisper ?? 'no_response') : (event.status ?? 'unknown');
  await services.db
    .insertInto('call_legs')
    .values({
      call_sid: p.CallSid,
      leg_sid: p.DialCallSid ?? null,
      practice_id: practiceId,
      kind: 'dial',
      tier: target?.tier ?? null,
      round: esc && target ? Math.floor(esc.attempt / esc.plan.targets.length) : null,
      provider_id: target?.providerId ?? null,
      number_tried: target?.number ?? null,
      outcome,
      duration_seconds: p.DialCallDuration ?? null,
      started_at: new Date(now.getTime() - 1000 * (p.DialCallDuration ?? 0)),
      ended_at: now,
    })
    .execute();
}

/** A call status callback: record it; nothing to say to the caller. */
export async function handleCallStatus(services: Services, p: VoiceWebhook): Promise<void> {
  const found = await loadPractice(services, p.To);
  const practiceId = found?.practice.id ?? null;
  const status = p.CallStatus ?? 'unknown';
  const leg = p.ParentCallSid ? 'child' : 'parent';
  const isNew = await recordCallEvent(
    services.db,
    {
      callSid: p.CallSid,
      practiceId,
      direction: p.Direction ?? 'inbound',
      fromIndex: null,
      toNumber: practiceId ? p.To : null,
      status,
      key: `status:${status}:${p.SequenceNumber ?? 0}`,
      source: 'status-callback',
      ...(p.SequenceNumber !== undefined ? { seq: p.SequenceNumber } : {}),
    },
    services.clock(),
  );
  if (isNew) {
    await services.audit({
      action: AuditAction.CallLegStatus,
      actor: 'twilio',
      practiceId,
      callSid: p.CallSid,
      leg,
      details: {
        status,
        ...(p.CallDuration !== undefined ? { durationSeconds: p.CallDuration } : {}),
        ...(p.ParentCallSid ? { parentCallSid: p.ParentCallSid } : {}),
      },
    });
  }
}

/**
 * Twilio's recording status callback. A completed recording becomes a voicemail row and a job
 * of the voicemail pipeline; its media is fetched only from a URL we build, so a RecordingUrl
 * pointing anywhere but the configured account on the Twilio API host is refused.
 */
export async function handleRecordingStatus(services: Services, p: VoiceWebhook, meta: { node: string | null; urgency: string | null; verified: boolean }): Promise<void> {
  // Recording callbacks carry no To/From: the call record says whose call it was.
  const call = await getCall(services.db, p.CallSid);
  const practiceId = call?.practiceId ?? null;
  await services.audit({
    action: AuditAction.VoicemailRecordingStatus,
    actor: 'twilio',
    practiceId,
    callSid: p.CallSid,
    leg: 'parent',
    subjectId: p.RecordingSid ?? null,
    details: {
      status: p.RecordingStatus ?? 'unknown',
      ...(p.RecordingDuration !== undefined ? { durationSeconds: p.RecordingDuration } : {}),
      node: meta.node,
      urgency: meta.urgency,
      verified: meta.verified,
    },
  });
  if (p.RecordingStatus !== 'completed' || !p.RecordingSid) return;
  const check = checkRecordingUrl(p.RecordingUrl, services.config.twilio.apiBaseUrl, services.config.twilio.accountSid, p.RecordingSid);
  if (!check.ok || p.AccountSid !== services.config.twilio.accountSid) {
    await services.audit({
      action: AuditAction.VoicemailRecordingUrlRefused,
      actor: 'twilio',
      practiceId,
      callSid: p.CallSid,
      subjectId: p.RecordingSid,
      details: { reason: check.ok ? 'foreign_account' : check.reason },
    });
    return;
  }
  await receiveRecording(services, {
    callSid: p.CallSid,
    recordingSid: p.RecordingSid,
    durationSeconds: p.RecordingDuration ?? null,
    urgency: meta.urgency === 'urgent' ? 'urgent' : 'routine',
    node: meta.node,
    source: 'callback',
  });
}
