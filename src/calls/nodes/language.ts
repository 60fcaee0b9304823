import { z } from 'zod';
import { Bounds, intBetween, keyed, language, nodeRef, promptSchema, type NodeWithoutId } from '../flow-fields.js';
import type { LanguageNode } from '../flow-types.js';
import { nextEdge, noKeypress, ownPrompt, type NodeDescriptor } from './descriptor.js';

/** `language`: choose the language for the rest of the call (no choice when the practice offers one). */
export const languageChoice: NodeDescriptor<'language'> = {
  schema: z
    .strictObject({
      kind: z.literal('language'),
      prompt: promptSchema,
      options: keyed(language),
      timeout_seconds: intBetween(Bounds.languageTimeoutSeconds),
      default: language,
      next: nodeRef,
    })
    .transform(
      (raw): NodeWithoutId<LanguageNode> => ({
        kind: raw.kind,
        prompt: raw.prompt,
        options: raw.options,
        timeoutSeconds: raw.timeout_seconds,
        default: raw.default,
        next: raw.next,
      }),
    ),
  edges: nextEdge,
  waitsForCaller: true,
  // No key, or a wrong one, takes the default: the edge needs nothing from the caller.
  needsKeypress: noKeypress,
  prompts: ownPrompt,
  readsPatientFacts: false,
  run: (turn, node) => {
    if (turn.ctx.practice.languages.length < 2) {
      turn.state = { ...turn.state, lang: turn.ctx.practice.languages[0] ?? node.default };
      return { to: node.next, via: 'single_language' };
    }
    const g = turn.gather({ numDigits: 1, timeout: node.timeoutSeconds, action: turn.actionUrl(node.id), method: 'POST', actionOnEmptyResult: true });
    // The choice is offered in every language, each in its own voice.
    for (const lang of turn.ctx.practice.languages) turn.speak(node.prompt, g, lang);
    turn.waitAt(node.id);
    return 'stop';
  },
  resume: (turn, node, event) => {
    if (event.kind !== 'gather') return 'reprompt';
    const digits = event.digits ?? '';
    const chosen = (digits.length === 1 ? node.options[digits] : undefined) ?? node.default;
    turn.state = { ...turn.state, lang: turn.ctx.practice.languages.includes(chosen) ? chosen : (turn.ctx.practice.languages[0] ?? 'en') };
    return { to: node.next, via: `language ${turn.state.lang}` };
  },
};
