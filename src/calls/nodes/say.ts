import { z } from 'zod';
import { nodeRef, promptSchema, type NodeWithoutId } from '../flow-fields.js';
import type { SayNode } from '../flow-types.js';
import { neverWaits, nextEdge, noKeypress, ownPrompt, type NodeDescriptor } from './descriptor.js';

/** `say`: speak a prompt (in every language offered, with `all_languages`), then go on. */
export const say: NodeDescriptor<'say'> = {
  schema: z
    .strictObject({ kind: z.literal('say'), prompt: promptSchema, all_languages: z.boolean().optional(), next: nodeRef })
    .transform(
      (raw): NodeWithoutId<SayNode> => ({
        kind: raw.kind,
        prompt: raw.prompt,
        ...(raw.all_languages === undefined ? {} : { allLanguages: raw.all_languages }),
        next: raw.next,
      }),
    ),
  edges: nextEdge,
  waitsForCaller: false,
  needsKeypress: noKeypress,
  prompts: ownPrompt,
  readsPatientFacts: false,
  run: (turn, node) => {
    const langs = node.allLanguages ? turn.ctx.practice.languages : [turn.state.lang];
    for (const lang of langs) turn.speak(node.prompt, undefined, lang);
    return { to: node.next, via: 'next' };
  },
  resume: neverWaits,
};
