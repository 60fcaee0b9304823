import { z } from 'zod';
import { Bounds, intBetween, KEYED_NUMBER, nodeRef, promptSchema, spokenPromptWith, type NodeWithoutId } from '../flow-fields.js';
import type { CallbackNumberNode, Prompt } from '../flow-types.js';
import { NeedsFact, VOICES, type CallbackProgress, type Turn } from '../turn.js';
import { nextOrFailEdges, type NodeDescriptor, type ResumeNext } from './descriptor.js';

/** What the node says unless the flow says otherwise (every language the service speaks). */
/** The most keys a keyed callback number takes: a leading 1 and ten digits (the caller may end ten with #). */
const KEYED_MAX_DIGITS = 11;

export const CALLBACK_DEFAULTS = {
  prompt: {
    text: {
      en: 'To be called back at the number you are calling from, press 1. To give another number, press 2.',
      es: 'Para que le devolvamos la llamada al número desde el que llama, oprima 1. Para dar otro número, oprima 2.',
    },
  },
  keyPrompt: {
    text: {
      en: 'Please enter the ten-digit phone number where we can call you back, starting with the area code.',
      es: 'Por favor, marque el número de teléfono de diez dígitos donde podemos llamarle, comenzando con el código de área.',
    },
  },
  readBack: {
    text: {
      en: `You entered {${KEYED_NUMBER}}. Press 1 if that is correct, 2 to try again.`,
      es: `Usted marcó {${KEYED_NUMBER}}. Oprima 1 si es correcto, 2 para intentarlo de nuevo.`,
    },
  },
  invalid: {
    text: {
      en: 'Sorry, that is not a valid choice or phone number.',
      es: 'Lo sentimos, esa opción o ese número de teléfono no es válido.',
    },
  },
} as const satisfies Record<string, Prompt>;

/** Ten digits, said one by one: "2, 0, 2, 5, …" (a number read as a number would be "two billion…"). */
export function spokenDigits(digits: string): string {
  return digits.split('').join(', ');
}

/** The node's progress in the call state, if it is this node's. */
function progressOf(turn: Turn, node: CallbackNumberNode): CallbackProgress | null {
  const p = turn.state.callback;
  return p && p.node === node.id ? p : null;
}

function setProgress(turn: Turn, progress: CallbackProgress | null): void {
  turn.state = { ...turn.state, callback: progress };
}

/** An answer that did not do: count it; past `maxTries` the caller goes on (`onFail`), their own number standing. */
function failed(turn: Turn, node: CallbackNumberNode, p: CallbackProgress, via: 'timeout' | 'invalid' | 'retry', next: Partial<CallbackProgress> = {}): ResumeNext {
  const tries = p.tries + 1;
  if (tries >= node.maxTries) {
    setProgress(turn, null);
    return { to: node.onFail, via: `tries_exhausted:${via}` };
  }
  setProgress(turn, { ...p, ...next, tries });
  if (via === 'invalid') turn.speak(node.invalid);
  return 'reprompt';
}

/**
 * `callback_number`: the number to call back, confirmed on the call. Speaks nothing about a
 * patient: the only thing it reads back is what the caller has just keyed, so it needs no
 * verification (the `{keyed_number}` placeholder is admitted in this node's read-back only).
 * The digits never reach the engine in clear except to be read back: the edge seals them
 * (./../callback-number.ts) and opens them again as a fact for the read-back.
 */
export const callbackNumber: NodeDescriptor<'callback_number'> = {
  schema: z
    .strictObject({
      kind: z.literal('callback_number'),
      prompt: promptSchema.optional(),
      key_prompt: promptSchema.optional(),
      read_back: spokenPromptWith(KEYED_NUMBER).optional(),
      invalid: promptSchema.optional(),
      timeout_seconds: intBetween(Bounds.callbackTimeoutSeconds),
      max_tries: intBetween(Bounds.callbackMaxTries),
      next: nodeRef,
      on_fail: nodeRef,
    })
    .transform(
      (raw): NodeWithoutId<CallbackNumberNode> => ({
        kind: raw.kind,
        prompt: raw.prompt ?? CALLBACK_DEFAULTS.prompt,
        keyPrompt: raw.key_prompt ?? CALLBACK_DEFAULTS.keyPrompt,
        readBack: raw.read_back ?? CALLBACK_DEFAULTS.readBack,
        invalid: raw.invalid ?? CALLBACK_DEFAULTS.invalid,
        timeoutSeconds: raw.timeout_seconds,
        maxTries: raw.max_tries,
        next: raw.next,
        onFail: raw.on_fail,
      }),
    ),
  edges: nextOrFailEdges,
  waitsForCaller: true,
  // A number is confirmed only by a key; silence runs out the tries into `onFail`.
  needsKeypress: (label) => label === 'next',
  prompts: (node) => [
    { field: 'prompt', prompt: node.prompt },
    { field: 'key_prompt', prompt: node.keyPrompt },
    { field: 'read_back', prompt: node.readBack },
    { field: 'invalid', prompt: node.invalid },
  ],
  readsPatientFacts: false,
  run: (turn, node, reprompt) => {
    let p = reprompt ? progressOf(turn, node) : null;
    if (p === null) {
      // Entered afresh: all the tries again; no usable caller ID means there is nothing to press 1 for.
      p = { node: node.id, phase: turn.ctx.hasCallerId === true ? 'choose' : 'key', tries: 0, keyed: null };
      setProgress(turn, p);
    }
    const lang = turn.state.lang;
    const common = { timeout: node.timeoutSeconds, action: turn.actionUrl(node.id), method: 'POST', actionOnEmptyResult: true, language: VOICES[lang].language } as const;
    if (p.phase === 'key') {
      // Eleven: "1" and ten digits is how many key a number (keyedUsNumber drops the 1); # ends ten.
      turn.speak(node.keyPrompt, turn.gather({ ...common, numDigits: KEYED_MAX_DIGITS, finishOnKey: '#' }));
    } else if (p.phase === 'confirm' && p.keyed) {
      const opened = turn.ctx.facts.keyedNumber;
      if (opened?.sealed !== p.keyed.sealed) throw new NeedsFact('keyedNumber', null, null, p.keyed.sealed);
      const text = turn.text(node.readBack, lang).replaceAll(`{${KEYED_NUMBER}}`, spokenDigits(opened.digits));
      turn.gather({ ...common, numDigits: 1 }).push({ verb: 'say', voice: VOICES[lang], text });
    } else {
      turn.speak(node.prompt, turn.gather({ ...common, numDigits: 1 }));
    }
    turn.waitAt(node.id);
    return 'stop';
  },
  resume: (turn, node, event) => {
    const p = progressOf(turn, node);
    if (event.kind !== 'callback' || p === null) return 'reprompt';
    const { entry } = event;
    if (entry.kind === 'timeout') return failed(turn, node, p, 'timeout');
    if (entry.kind === 'invalid') return failed(turn, node, p, 'invalid');
    if (p.phase === 'key') {
      if (entry.kind !== 'number') return 'reprompt';
      setProgress(turn, { ...p, phase: 'confirm', keyed: entry.number });
      return 'reprompt';
    }
    if (entry.kind !== 'key') return 'reprompt';
    if (entry.digit === null) return failed(turn, node, p, 'timeout');
    if (p.phase === 'choose') {
      if (entry.digit === '1') {
        setProgress(turn, null);
        turn.effects.push({ kind: 'callback_number', keyed: null });
        return { to: node.next, via: 'caller_number' };
      }
      if (entry.digit === '2') {
        setProgress(turn, { ...p, phase: 'key' });
        return 'reprompt';
      }
      return failed(turn, node, p, 'invalid');
    }
    // Confirming the read-back.
    if (entry.digit === '1' && p.keyed) {
      setProgress(turn, null);
      turn.effects.push({ kind: 'callback_number', keyed: p.keyed });
      return { to: node.next, via: 'keyed_number' };
    }
    if (entry.digit === '2') return failed(turn, node, p, 'retry', { phase: 'key', keyed: null });
    return failed(turn, node, p, 'invalid');
  },
};
