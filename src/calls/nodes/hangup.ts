import { z } from 'zod';
import { promptSchema, type NodeWithoutId } from '../flow-fields.js';
import type { HangupNode } from '../flow-types.js';
import { neverWaits, noKeypress, type NodeDescriptor } from './descriptor.js';

/** `hangup`: say goodbye and end the call. */
export const hangup: NodeDescriptor<'hangup'> = {
  schema: z
    .strictObject({ kind: z.literal('hangup'), prompt: promptSchema.optional() })
    .transform((n): NodeWithoutId<HangupNode> => (n.prompt === undefined ? { kind: n.kind } : { kind: n.kind, prompt: n.prompt })),
  edges: () => [],
  waitsForCaller: false,
  needsKeypress: noKeypress,
  prompts: (n) => (n.prompt === undefined ? [] : [{ field: 'prompt', prompt: n.prompt }]),
  readsPatientFacts: false,
  run: (turn, n) => {
    if (n.prompt) turn.speak(n.prompt);
    turn.verbs.push({ verb: 'hangup' });
    turn.state = { ...turn.state, waitingAt: null, done: true };
    return 'stop';
  },
  resume: neverWaits,
};
