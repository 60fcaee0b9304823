import { z } from 'zod';
import { AuditAction } from '../../audit/events.js';
import { Bounds, intBetween, nodeRef, promptSchema, typeError, type NodeWithoutId } from '../flow-fields.js';
import type { TransferNode } from '../flow-types.js';
import type { PracticeContext } from '../turn.js';
import { nextOrFailEdges, noKeypress, ownPrompt, type NodeDescriptor } from './descriptor.js';

/** A contact key as flows name it (the practice_contacts.key check). */
export const CONTACT_KEY = /^[a-z][a-z0-9_]{0,39}$/;

/** The number a transfer dials; null when the practice has none (a contact removed since the flow was uploaded). */
function transferNumber(practice: PracticeContext, node: TransferNode): string | null {
  if (node.to === 'front_desk') return practice.frontDeskNumber;
  if (node.to === 'fallback') return practice.fallbackNumber;
  return (node.contact !== undefined ? practice.contacts?.[node.contact] : undefined) ?? null;
}

/**
 * `transfer`: forward the call to a practice number (front desk, fallback, or one of its
 * contacts by key); `onFail` when there is no such number or the dial does not connect.
 */
export const transfer: NodeDescriptor<'transfer'> = {
  schema: z
    .strictObject({
      kind: z.literal('transfer'),
      prompt: promptSchema,
      to: z.enum(['front_desk', 'fallback', 'contact'], typeError('must be front_desk, fallback or contact')),
      contact: z.string(typeError('must be text')).regex(CONTACT_KEY, { error: 'must be a contact key (a-z, 0-9, _; starting with a letter)' }).optional(),
      timeout_seconds: intBetween(Bounds.transferTimeoutSeconds),
      on_fail: nodeRef,
      next: nodeRef,
    })
    .refine((raw) => (raw.to === 'contact') === (raw.contact !== undefined), {
      error: 'contact: give a contact key exactly when to is contact',
      path: ['contact'],
    })
    .transform(
      (raw): NodeWithoutId<TransferNode> => ({
        kind: raw.kind,
        prompt: raw.prompt,
        to: raw.to,
        ...(raw.contact !== undefined ? { contact: raw.contact } : {}),
        timeoutSeconds: raw.timeout_seconds,
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
    const number = transferNumber(turn.ctx.practice, node);
    if (!number) return { to: node.onFail, via: 'no_number' };
    turn.speak(node.prompt);
    turn.dial(node.id, node.timeoutSeconds, number);
    turn.events.push({ action: AuditAction.CallDial, leg: 'parent', details: { node: node.id, target: node.to === 'contact' ? `contact:${node.contact ?? ''}` : node.to } });
    turn.waitAt(node.id);
    return 'stop';
  },
  resume: (_turn, node, event) => {
    if (event.kind !== 'dial_done') return 'reprompt';
    const connected = event.status === 'completed' || event.status === 'answered';
    return connected ? { to: node.next, via: `dial ${event.status}` } : { to: node.onFail, via: `dial ${event.status ?? 'unknown'}` };
  },
};
