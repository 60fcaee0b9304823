import type { SequenceChannel, SequenceCondition, SequenceStopReason } from '../adapters/db-schema.js';

/**
 * What a sequence does for one recipient when a step comes due (issue 15, item 5): pure, from
 * facts the caller loaded (the database holds them: the appointment's status, the ledger's
 * `replied_at` and delivery of the previous step's send, the opt-outs).
 *
 * - A recipient whose appointment is confirmed stops (`confirmed`), whatever the step.
 * - A step conditioned `opted_out_previous_channel` goes only to those who opted out of the
 *   previous step's channel and not of this one (e.g. an e-mail to whom said STOP to the SMS).
 * - Otherwise a recipient opted out of this step's channel stops (`opted_out`).
 * - Otherwise the step's condition decides: `always`; `no_reply` (the previous step's send has no
 *   reply); `not_confirmed` (no confirmed appointment); `not_delivered` (the previous step's send
 *   was not delivered). A condition that does not hold skips the step (the next one may still apply).
 */

export const SEQUENCE_CONDITIONS = ['always', 'no_reply', 'not_confirmed', 'not_delivered', 'opted_out_previous_channel'] as const satisfies readonly SequenceCondition[];
export const SEQUENCE_CHANNELS = ['sms', 'rvm', 'email'] as const satisfies readonly SequenceChannel[];

export interface StepFacts {
  /** The recipient's appointment (named, or none): confirmed or not. */
  appointmentConfirmed: boolean;
  /** Channels the recipient opted out of (a STOP covers sms and rvm: one opt-out per number). */
  optedOut: ReadonlySet<SequenceChannel>;
  /** The previous step, if any: its channel, and what its send came to (null when it was skipped). */
  previous: { channel: SequenceChannel; sent: boolean; delivered: boolean; replied: boolean } | null;
}

export type StepDecision = { kind: 'send' } | { kind: 'skip'; reason: `condition_${SequenceCondition}` } | { kind: 'stop'; reason: Extract<SequenceStopReason, 'confirmed' | 'opted_out'> };

export function decideStep(step: { channel: SequenceChannel; condition: SequenceCondition }, facts: StepFacts): StepDecision {
  if (facts.appointmentConfirmed) return { kind: 'stop', reason: 'confirmed' };
  const skip = { kind: 'skip', reason: `condition_${step.condition}` } as const;
  if (step.condition === 'opted_out_previous_channel') {
    const prev = facts.previous;
    return prev && facts.optedOut.has(prev.channel) && !facts.optedOut.has(step.channel) ? { kind: 'send' } : skip;
  }
  if (facts.optedOut.has(step.channel)) return { kind: 'stop', reason: 'opted_out' };
  switch (step.condition) {
    case 'always':
    case 'not_confirmed':
      // Confirmed recipients stopped above.
      return { kind: 'send' };
    case 'no_reply':
      // A STOP to the previous channel is an answer too (the keyword marks no ledger row): no "did you get this?" by e-mail after it.
      return facts.previous?.replied || (facts.previous && facts.optedOut.has(facts.previous.channel)) ? skip : { kind: 'send' };
    case 'not_delivered':
      return facts.previous?.delivered ? skip : { kind: 'send' };
    default:
      return step.condition satisfies never;
  }
}

/** When step `position` of a recipient is due: the previous step's time plus this step's wait (the first: the start, or their reminder time). */
export function dueAt(from: Date, waitHours: number): Date {
  return new Date(from.getTime() + waitHours * 3_600_000);
}
