import { z } from 'zod';
import { Bounds, intBetween, keyed, nodeRef, promptSchema, reason, type NodeWithoutId } from '../flow-fields.js';
import type { MenuNode } from '../flow-types.js';
import { REPEAT_KEY, VOICES } from '../turn.js';
import type { NodeDescriptor } from './descriptor.js';

/** `menu`: a keypad menu; '0' repeats it unless mapped; silence or a wrong key retries, then `onExhausted`. */
export const menu: NodeDescriptor<'menu'> = {
  schema: z
    .strictObject({
      kind: z.literal('menu'),
      prompt: promptSchema,
      options: keyed(nodeRef),
      reasons: keyed(reason).optional(),
      timeout_seconds: intBetween(Bounds.menuTimeoutSeconds),
      retries: intBetween(Bounds.menuRetries),
      invalid: promptSchema,
      on_exhausted: nodeRef,
    })
    // A reason names an option's key: one for a key the menu does not offer is a typo.
    .superRefine((raw, ctx) => {
      for (const key of Object.keys(raw.reasons ?? {})) {
        if (!(key in raw.options)) ctx.addIssue({ code: 'custom', path: ['reasons', key], message: `names key ${JSON.stringify(key)}, which is not one of the options` });
      }
    })
    .transform(
      (raw): NodeWithoutId<MenuNode> => ({
        kind: raw.kind,
        prompt: raw.prompt,
        options: raw.options,
        ...(raw.reasons !== undefined ? { reasons: raw.reasons } : {}),
        timeoutSeconds: raw.timeout_seconds,
        retries: raw.retries,
        invalid: raw.invalid,
        onExhausted: raw.on_exhausted,
      }),
    ),
  edges: (node) => [
    ...Object.entries(node.options).map(([key, to]) => ({ label: `key ${key}`, to })),
    { label: 'onExhausted', to: node.onExhausted },
  ],
  waitsForCaller: true,
  needsKeypress: (label) => label.startsWith('key '),
  prompts: (node) => [
    { field: 'prompt', prompt: node.prompt },
    { field: 'invalid', prompt: node.invalid },
  ],
  readsPatientFacts: false,
  run: (turn, node, reprompt) => {
    // A caller who comes back to a menu from elsewhere gets all its retries again.
    if (!reprompt && (turn.state.attempts[node.id] ?? 0) > 0) turn.state = { ...turn.state, attempts: { ...turn.state.attempts, [node.id]: 0 } };
    const g = turn.gather({ numDigits: 1, timeout: node.timeoutSeconds, action: turn.actionUrl(node.id), method: 'POST', actionOnEmptyResult: true, language: VOICES[turn.state.lang].language });
    turn.speak(node.prompt, g);
    turn.waitAt(node.id);
    return 'stop';
  },
  resume: (turn, node, event) => {
    if (event.kind !== 'gather') return 'reprompt';
    const digits = event.digits ?? '';
    const target = digits.length === 1 ? node.options[digits] : undefined;
    if (target) return { to: target, via: `key ${digits}` };
    if (digits === REPEAT_KEY) return 'reprompt';
    const tries = (turn.state.attempts[node.id] ?? 0) + 1;
    turn.state = { ...turn.state, attempts: { ...turn.state.attempts, [node.id]: tries } };
    if (tries >= node.retries) return { to: node.onExhausted, via: digits === '' ? 'timeout' : 'invalid' };
    if (digits !== '') turn.speak(node.invalid);
    return 'reprompt';
  },
};
