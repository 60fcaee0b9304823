import { z } from 'zod';
import { AuditAction } from '../../audit/events.js';
import { childLegDetails, oncallNumberAttributes, readOncallDial } from '../../oncall/dial.js';
import { nodeRef, promptSchema, reason, typeError, urgency, type NodeWithoutId } from '../flow-fields.js';
import type { DialOnCallNode, Language } from '../flow-types.js';
import { NeedsFact, whisperId, type Turn } from '../turn.js';
import { nextOrFailEdges, noKeypress, ownPrompt, type NodeDescriptor } from './descriptor.js';

const STILL_TRYING: Record<Language, string> = {
  en: 'We are still trying to reach the on-call provider. Please stay on the line.',
  es: 'Seguimos intentando comunicarnos con el proveedor de guardia. Por favor, permanezca en la línea.',
};

/** Rings the escalation chain's current attempt, with the whisper the provider must accept. */
function dialAttempt(turn: Turn, id: string, urgency: 'urgent' | 'routine'): void {
  const esc = turn.state.escalation;
  if (!esc) throw new Error('no escalation in progress');
  const target = esc.plan.targets[esc.attempt % esc.plan.targets.length];
  if (!target) throw new Error('empty escalation plan');
  if (esc.attempt > 0) turn.say(STILL_TRYING);
  turn.dial(id, target.ringSeconds, target.number, oncallNumberAttributes(turn.ctx.callSid, whisperId(esc)));
  turn.events.push({
    action: AuditAction.CallDial,
    leg: 'parent',
    subjectId: target.providerId,
    details: { node: id, target: 'on_call', urgency, tier: target.tier, round: Math.floor(esc.attempt / esc.plan.targets.length), attempt: esc.attempt },
  });
  turn.state = { ...turn.state, waitingAt: id, whisperSeq: whisperId(esc) + 1 };
}

/**
 * `dial_oncall`: ring the escalation chain (resolved by the edge when the call reaches it), one
 * target a webhook; `onFail`, with a page, when nobody takes the call.
 */
export const dialOnCall: NodeDescriptor<'dial_oncall'> = {
  schema: z
    .strictObject({
      kind: z.literal('dial_oncall'),
      prompt: promptSchema,
      urgency,
      reason: reason.optional(),
      policy: z.string(typeError('must be text')).trim().min(1, { error: 'must not be empty' }).max(80, { error: 'must be at most 80 characters' }).optional(),
      on_fail: nodeRef,
      next: nodeRef,
    })
    .transform(
      (raw): NodeWithoutId<DialOnCallNode> => ({
        kind: raw.kind,
        prompt: raw.prompt,
        urgency: raw.urgency,
        ...(raw.reason !== undefined ? { reason: raw.reason } : {}),
        ...(raw.policy !== undefined ? { policy: raw.policy } : {}),
        onFail: raw.on_fail,
        next: raw.next,
      }),
    ),
  edges: nextOrFailEdges,
  waitsForCaller: true,
  needsKeypress: noKeypress,
  prompts: ownPrompt,
  readsPatientFacts: false,
  run: (turn, node) => {
    const id = node.id;
    if (turn.state.escalation?.node !== id) {
      const plan = turn.ctx.facts.escalation;
      const policy = node.policy ?? null;
      // A plan loaded for another policy (two chains in one call) is not this node's.
      if (!plan || (turn.ctx.facts.escalationPolicy ?? null) !== policy) throw new NeedsFact('escalation', null, policy);
      turn.state = { ...turn.state, escalation: { node: id, plan, attempt: 0, base: turn.state.whisperSeq ?? 0 } };
      if (plan.targets.length === 0) {
        turn.state = { ...turn.state, escalation: null };
        turn.events.push({ action: AuditAction.OncallExhausted, leg: 'parent', details: { node: id, attempts: 0, policyId: plan.policyId } });
        turn.effects.push({ kind: 'page', policyId: plan.policyId });
        return { to: node.onFail, via: 'nobody_on_call' };
      }
      turn.speak(node.prompt);
    }
    dialAttempt(turn, id, node.urgency);
    return 'stop';
  },
  resume: (turn, node, event) => {
    if (event.kind !== 'dial_done') return 'reprompt';
    const id = node.id;
    const esc = turn.state.escalation;
    if (!esc || esc.node !== id) return 'reprompt';
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
      return { to: node.next, via: 'accepted' };
    }
    turn.events.push({ action: AuditAction.OncallAttemptFailed, leg: 'parent', subjectId: target?.providerId ?? null, details: { node: id, tier: target?.tier ?? null, round, attempt: esc.attempt, outcome, ...leg } });
    if (esc.attempt + 1 < total) {
      turn.state = { ...turn.state, escalation: { ...esc, attempt: esc.attempt + 1 } };
      dialAttempt(turn, id, node.urgency);
      return 'stop';
    }
    turn.state = { ...turn.state, escalation: null };
    turn.events.push({ action: AuditAction.OncallExhausted, leg: 'parent', details: { node: id, attempts: total, policyId: esc.plan.policyId } });
    turn.effects.push({ kind: 'page', policyId: esc.plan.policyId });
    return { to: node.onFail, via: 'chain_exhausted' };
  },
};
