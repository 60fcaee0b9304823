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
      (n): NodeWithoutId<TransferNode> => ({
        kind: n.kind,
        prompt: n.prompt,
        to: n.to,
        timeoutSeconds: n.timeout_seconds,
        onFail: n.on_fail,
        next: n.next,
      }),
    ),
  edges: (n) => [
    { label: 'next', to: n.next },
    { label: 'onFail', to: n.onFail },
  ],
  waitsForCaller: true,
  needsKeypress: noKeypress,
  prompts: (n) => [{ field: 'prompt', prompt: n.prompt }],
  readsPatientFacts: false,
  run: (turn, n) => {
    const number = n.to === 'front_desk' ? turn.ctx.practice.frontDeskNumber : turn.ctx.practice.fallbackNumber;
    if (!number) return { to: n.onFail, via: 'no_number' };
    turn.speak(n.prompt);
    turn.verbs.push({ verb: 'dial', attributes: { action: turn.actionUrl(n.id), method: 'POST', timeout: n.timeoutSeconds, answerOnBridge: true }, number });
    turn.events.push({ action: AuditAction.CallDial, leg: 'parent', details: { node: n.id, target: n.to } });
    turn.waitAt(n.id);
    return 'stop';
  },
  resume: (_turn, n, event) => {
    if (event.kind !== 'dial_done') return 'reprompt';
    const connected = event.status === 'completed' || event.status === 'answered';
    return connected ? { to: n.next, via: `dial ${event.status}` } : { to: n.onFail, via: `dial ${event.status ?? 'unknown'}` };
  },
};
