import { z } from 'zod';
import { Bounds, intBetween, keyed, language, nodeRef, promptSchema, type NodeWithoutId } from '../flow-fields.js';
import type { LanguageNode } from '../flow-types.js';
import { nextEdge, noKeypress, type NodeDescriptor } from './descriptor.js';

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
      (n): NodeWithoutId<LanguageNode> => ({
        kind: n.kind,
        prompt: n.prompt,
        options: n.options,
        timeoutSeconds: n.timeout_seconds,
        default: n.default,
        next: n.next,
      }),
    ),
  edges: nextEdge,
  waitsForCaller: true,
  // No key, or a wrong one, takes the default: the edge needs nothing from the caller.
  needsKeypress: noKeypress,
  prompts: (n) => [{ field: 'prompt', prompt: n.prompt }],
  readsPatientFacts: false,
  run: (turn, n) => {
    if (turn.ctx.practice.languages.length < 2) {
      turn.state = { ...turn.state, lang: turn.ctx.practice.languages[0] ?? n.default };
      return { to: n.next, via: 'single_language' };
    }
    const g = turn.gather({ numDigits: 1, timeout: n.timeoutSeconds, action: turn.actionUrl(n.id), method: 'POST', actionOnEmptyResult: true });
    // The choice is offered in every language, each in its own voice.
    for (const lang of turn.ctx.practice.languages) turn.speak(n.prompt, g, lang);
    turn.waitAt(n.id);
    return 'stop';
  },
  resume: (turn, n, event) => {
    if (event.kind !== 'gather') return 'reprompt';
    const digits = event.digits ?? '';
    const chosen = (digits.length === 1 ? n.options[digits] : undefined) ?? n.default;
    turn.state = { ...turn.state, lang: turn.ctx.practice.languages.includes(chosen) ? chosen : (turn.ctx.practice.languages[0] ?? 'en') };
    return { to: n.next, via: `language ${turn.state.lang}` };
  },
};
