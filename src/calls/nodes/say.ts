import { z } from 'zod';
import { nodeRef, promptSchema, type NodeWithoutId } from '../flow-fields.js';
import type { SayNode } from '../flow-types.js';
import { neverWaits, nextEdge, noKeypress, type NodeDescriptor } from './descriptor.js';

/** `say`: speak a prompt (in every language offered, with `all_languages`), then go on. */
export const say: NodeDescriptor<'say'> = {
  schema: z
    .strictObject({ kind: z.literal('say'), prompt: promptSchema, all_languages: z.boolean().optional(), next: nodeRef })
    .transform(
      (n): NodeWithoutId<SayNode> => ({
        kind: n.kind,
        prompt: n.prompt,
        ...(n.all_languages === undefined ? {} : { allLanguages: n.all_languages }),
        next: n.next,
      }),
    ),
  edges: nextEdge,
  waitsForCaller: false,
  needsKeypress: noKeypress,
  prompts: (n) => [{ field: 'prompt', prompt: n.prompt }],
  readsPatientFacts: false,
  run: (turn, n) => {
    const langs = n.allLanguages ? turn.ctx.practice.languages : [turn.state.lang];
    for (const lang of langs) turn.speak(n.prompt, undefined, lang);
    return { to: n.next, via: 'next' };
  },
  resume: neverWaits,
};
