import { z } from 'zod';
import type { Language } from '../flow-types.js';
import { nodeRef, promptSchema, type NodeWithoutId } from '../flow-fields.js';
import type { OptOutNode } from '../flow-types.js';
import { neverWaits, nextEdge, noKeypress, ownPrompt, type NodeDescriptor } from './descriptor.js';

const NO_CALLER_ID_OPT_OUT: Record<Language, string> = {
  en: 'We could not identify the number you are calling from. Please call us from the phone that received the message.',
  es: 'No pudimos identificar el número desde el que llama. Por favor, llámenos desde el teléfono que recibió el mensaje.',
};

/** `opt_out`: the caller's number goes on the practice's drop opt-out list (an effect the edge carries out). */
export const optOut: NodeDescriptor<'opt_out'> = {
  schema: z
    .strictObject({ kind: z.literal('opt_out'), prompt: promptSchema, next: nodeRef })
    .transform((raw): NodeWithoutId<OptOutNode> => ({ kind: raw.kind, prompt: raw.prompt, next: raw.next })),
  edges: nextEdge,
  waitsForCaller: false,
  needsKeypress: noKeypress,
  prompts: ownPrompt,
  readsPatientFacts: false,
  run: (turn, node) => {
    if (!turn.ctx.hasCallerId) {
      turn.say(NO_CALLER_ID_OPT_OUT);
      return { to: node.next, via: 'no_caller_id' };
    }
    turn.effects.push({ kind: 'opt_out' });
    turn.speak(node.prompt);
    return { to: node.next, via: 'opted_out' };
  },
  resume: neverWaits,
};
