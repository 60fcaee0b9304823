import { z } from 'zod';
import { AuditAction } from '../../audit/events.js';
import { Bounds, intBetween, nodeRef, promptSchema, typeError, type NodeWithoutId } from '../flow-fields.js';
import type { TransferNode } from '../flow-types.js';
import { noKeypress, type NodeDescriptor } from './descriptor.js';

/** `transfer`: forward the call to a practice number (front desk or fallback); `onFail` when it does not connect. */
export const transfer: NodeDescriptor<'transfer'> = {
  schema: z
    .strictObject({
      kind: z.literal('transfer'),
      prompt: promptSchema,
      to: z.enum(['front_desk', 'fallback'], typeError('must be front_desk or fallback')),
      timeout_seconds: intBetween(Bounds.transferTimeoutSeconds),
      on_fail: nodeRef,
      next: nodeRef,
    })
    .transform(
      (raw): NodeWithoutId<TransferNode> => ({
        kind: raw.kind,
        prompt: raw.prompt,
        to: raw.to,
        timeoutSeconds: raw.timeout_seconds,
        onFail: raw.on_fail,
        next: raw.next,
      }),
    ),
  edges: (node) => [
    { label: 'next', to: node.next },
    { label: 'onFail', to: node.onFail },
  ],
  waitsForCaller: true,
  needsKeypress: noKeypress,
  prompts: (node) => [{ field: 'prompt', prompt: node.prompt }],
  readsPatientFacts: false,
  run: (turn, node) => {
    const number = node.to === 'front_desk' ? turn.ctx.practice.frontDeskNumber : turn.ctx.practice.fallbackNumber;
    if (!number) return { to: node.onFail, via: 'no_number' };
    turn.speak(node.prompt);
    turn.verbs.push({ verb: 'dial', attributes: { action: turn.actionUrl(node.id), method: 'POST', timeout: node.timeoutSeconds, answerOnBridge: true }, number });
    turn.events.push({ action: AuditAction.CallDial, leg: 'parent', details: { node: node.id, target: node.to } });
    turn.waitAt(node.id);
    return 'stop';
  },
  resume: (_turn, node, event) => {
    if (event.kind !== 'dial_done') return 'reprompt';
    const connected = event.status === 'completed' || event.status === 'answered';
    return connected ? { to: node.next, via: `dial ${event.status}` } : { to: node.onFail, via: `dial ${event.status ?? 'unknown'}` };
  },
};
