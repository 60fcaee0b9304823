import { z } from 'zod';
import { promptSchema, type NodeWithoutId } from '../flow-fields.js';
import type { HangupNode } from '../flow-types.js';
import { neverWaits, noKeypress, type NodeDescriptor } from './descriptor.js';

/** `hangup`: say goodbye and end the call. */
export const hangup: NodeDescriptor<'hangup'> = {
  schema: z
    .strictObject({ kind: z.literal('hangup'), prompt: promptSchema.optional() })
    .transform((raw): NodeWithoutId<HangupNode> => (raw.prompt === undefined ? { kind: raw.kind } : { kind: raw.kind, prompt: raw.prompt })),
  edges: () => [],
  waitsForCaller: false,
  needsKeypress: noKeypress,
  prompts: (node) => (node.prompt === undefined ? [] : [{ field: 'prompt', prompt: node.prompt }]),
  readsPatientFacts: false,
  run: (turn, node) => {
    if (node.prompt) turn.speak(node.prompt);
    turn.verbs.push({ verb: 'hangup' });
    turn.state = { ...turn.state, waitingAt: null, done: true };
    return 'stop';
  },
  resume: neverWaits,
};
