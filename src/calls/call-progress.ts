import { AuditAction } from '../audit/events.js';
import type { CallOutcome, CallReason } from '../adapters/db-schema.js';
import type { StepEvent } from './fail-safe.js';
import type { Flow } from './flow-types.js';

/**
 * What one webhook of a call adds to its record: the menu choices taken, how the call ended up,
 * who the caller was verified as. Pure: read off the audit events the engine returned for the
 * webhook, so the call record says what the audit log says. The edge writes it in the same
 * statement as the webhook's call event (./records.ts): no extra round trip on the call path.
 */
export interface CallProgress {
  /** Menu choices, in order: the node each chosen option led to (its id is the option's name; never a digit). */
  path: string[];
  /** How the call ended up, as far as this webhook says (null: nothing yet). */
  outcome: CallOutcome | null;
  urgency: 'urgent' | 'routine' | null;
  /** The patient the caller verified as in this webhook. */
  verifiedPatientId: string | null;
  /** The reason of the path taken so far in this webhook: the last option or node that carried one (null: none). */
  reason: CallReason | null;
}

/**
 * Outcomes that only say nothing else happened: they fill an empty outcome and never replace
 * one (a call hung up at the end of its flow, or before reaching any outcome). Any other
 * outcome replaces what was there: the latest thing that happened to the caller is what counts
 * (a failed transfer that ends in a message is a message).
 */
export const FALLBACK_OUTCOMES: readonly CallOutcome[] = ['abandoned_at_menu', 'completed_other'];

export const NO_PROGRESS: CallProgress = { path: [], outcome: null, urgency: null, verifiedPatientId: null, reason: null };

const URGENCY: Record<CallOutcome, 'urgent' | 'routine' | null> = {
  handed_to_provider: 'urgent',
  urgent_voicemail: 'urgent',
  message: 'routine',
  transferred: null,
  abandoned_at_menu: null,
  fail_safe: null,
  completed_other: null,
};

/** The outcome one audit event of a step stands for, if any. */
function outcomeOf(flow: Flow, e: StepEvent): CallOutcome | null {
  switch (e.action) {
    case AuditAction.OncallConnected:
      return 'handed_to_provider';
    case AuditAction.VoicemailTaken:
      if (e.details?.['recorded'] !== true) return null;
      return e.details['urgency'] === 'urgent' ? 'urgent_voicemail' : 'message';
    case AuditAction.CallFailSafe:
      return 'fail_safe';
    case AuditAction.CallTransition: {
      // A transfer counts once it connected: its `next` edge, taken with the dial's status.
      const steps = Array.isArray(e.details?.['steps']) ? e.details['steps'] : [];
      let outcome: CallOutcome | null = null;
      for (const step of steps) {
        const node = isStep(step) ? flow.nodes[step.from] : undefined;
        if (node?.kind === 'transfer' && isStep(step) && step.to === node.next && step.via.startsWith('dial ')) outcome = 'transferred';
      }
      return outcome;
    }
    default:
      return null;
  }
}

interface Step {
  from: string;
  to: string;
  via: string;
}

function isStep(v: unknown): v is Step {
  const s = v as Partial<Step> | null;
  return typeof s === 'object' && s !== null && typeof s.from === 'string' && typeof s.to === 'string' && typeof s.via === 'string';
}

/** The menu options taken in a transition event: the node each led to. */
function menuChoices(flow: Flow, e: StepEvent): string[] {
  if (e.action !== AuditAction.CallTransition || !Array.isArray(e.details?.['steps'])) return [];
  const steps: unknown[] = e.details['steps'];
  return steps.filter(isStep).flatMap((s) => (flow.nodes[s.from]?.kind === 'menu' && s.via.startsWith('key ') ? [s.to] : []));
}

/** The reasons the steps of a transition event carry, in order: a menu option's (by its key), then the node it led to's own. */
function reasonsOf(flow: Flow, e: StepEvent): CallReason[] {
  if (e.action !== AuditAction.CallTransition || !Array.isArray(e.details?.['steps'])) return [];
  const steps: unknown[] = e.details['steps'];
  return steps.filter(isStep).flatMap((s) => {
    const from = flow.nodes[s.from];
    const to = flow.nodes[s.to];
    const option = from?.kind === 'menu' && s.via.startsWith('key ') ? from.reasons?.[s.via.slice(4)] : undefined;
    const own = to?.kind === 'voicemail' || to?.kind === 'dial_oncall' ? to.reason : undefined;
    return [option, own].filter((r): r is CallReason => r !== undefined);
  });
}

/**
 * A webhook's progress from its events, in order. `flowEnded`: the flow hung up (or went to the
 * fail-safe) in this webhook; without any other outcome the call then `completed_other`.
 */
export function progressOf(flow: Flow, events: readonly StepEvent[], flowEnded: boolean): CallProgress {
  let outcome: CallOutcome | null = null;
  let verifiedPatientId: string | null = null;
  const path: string[] = [];
  let reason: CallReason | null = null;
  for (const e of events) {
    path.push(...menuChoices(flow, e));
    reason = reasonsOf(flow, e).at(-1) ?? reason;
    outcome = outcomeOf(flow, e) ?? outcome;
    if (e.action === AuditAction.VerificationSucceeded && e.subjectId) verifiedPatientId = e.subjectId;
  }
  if (outcome === null && flowEnded) outcome = 'completed_other';
  return { path, outcome, urgency: outcome ? URGENCY[outcome] : null, verifiedPatientId, reason };
}

/** Twilio's final call statuses: a parent call in one of these is over. */
const FINAL_STATUSES: ReadonlySet<string> = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled']);

export function isFinalStatus(status: string): boolean {
  return FINAL_STATUSES.has(status);
}
