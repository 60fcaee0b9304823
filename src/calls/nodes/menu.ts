import { z } from 'zod';
import { Bounds, intBetween, keyed, nodeRef, promptSchema, type NodeWithoutId } from '../flow-fields.js';
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
      timeout_seconds: intBetween(Bounds.menuTimeoutSeconds),
      retries: intBetween(Bounds.menuRetries),
      invalid: promptSchema,
      on_exhausted: nodeRef,
    })
    .transform(
      (n): NodeWithoutId<MenuNode> => ({
        kind: n.kind,
        prompt: n.prompt,
        options: n.options,
        timeoutSeconds: n.timeout_seconds,
        retries: n.retries,
        invalid: n.invalid,
        onExhausted: n.on_exhausted,
      }),
    ),
  edges: (n) => [
    ...Object.entries(n.options).map(([key, to]) => ({ label: `key ${key}`, to })),
    { label: 'onExhausted', to: n.onExhausted },
  ],
  waitsForCaller: true,
  needsKeypress: (label) => label.startsWith('key '),
  prompts: (n) => [
    { field: 'prompt', prompt: n.prompt },
    { field: 'invalid', prompt: n.invalid },
  ],
  readsPatientFacts: false,
  run: (turn, n, reprompt) => {
    // A caller who comes back to a menu from elsewhere gets all its retries again.
    if (!reprompt && (turn.state.attempts[n.id] ?? 0) > 0) turn.state = { ...turn.state, attempts: { ...turn.state.attempts, [n.id]: 0 } };
    const g = turn.gather({ numDigits: 1, timeout: n.timeoutSeconds, action: turn.actionUrl(n.id), method: 'POST', actionOnEmptyResult: true, language: VOICES[turn.state.lang].language });
    turn.speak(n.prompt, g);
    turn.waitAt(n.id);
    return 'stop';
  },
  resume: (turn, n, event) => {
    if (event.kind !== 'gather') return 'reprompt';
    const digits = event.digits ?? '';
    const target = digits.length === 1 ? n.options[digits] : undefined;
    if (target) return { to: target, via: `key ${digits}` };
    if (digits === REPEAT_KEY) return 'reprompt';
    const tries = (turn.state.attempts[n.id] ?? 0) + 1;
    turn.state = { ...turn.state, attempts: { ...turn.state.attempts, [n.id]: tries } };
    if (tries >= n.retries) return { to: n.onExhausted, via: digits === '' ? 'timeout' : 'invalid' };
    if (digits !== '') turn.speak(n.invalid);
    return 'reprompt';
  },
};
