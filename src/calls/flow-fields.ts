import { z } from 'zod';
import { LANGUAGES, REASONS, type FlowNode, type Prompt } from './flow-types.js';

/**
 * The pieces the call-flow file's schema is built from (ids, prompts, keypad keys, bounded
 * numbers), shared by ./flow-schema.ts and each node kind's schema in ./nodes/.
 */

export const NODE_ID = /^[a-z][a-z0-9_]{0,40}$/;
export const FLOW_ID = /^[a-z][a-z0-9_-]{0,40}$/;
export const AUDIO_FILE = /^[a-z0-9][a-z0-9._-]*\.(mp3|wav)$/;
export const KEYPAD_KEY = /^[0-9*#]$/;
export const PLACEHOLDERS = ['practice_name', 'callback_number'] as const;
/**
 * What the caller has just keyed, said back to them: allowed only in a callback_number node's
 * read-back (its schema is the only one that admits it; flow-graph.ts checks no other prompt has it).
 */
export const KEYED_NUMBER = 'keyed_number';
export const MAX_PROMPT_TEXT = 500;

/** Bounds on the numbers a flow may set. */
export const Bounds = {
  menuTimeoutSeconds: [3, 15],
  menuRetries: [1, 5],
  languageTimeoutSeconds: [3, 15],
  verifyTimeoutSeconds: [5, 20],
  verifyMaxTries: [1, 3],
  voicemailMaxLengthSeconds: [10, 300],
  transferTimeoutSeconds: [10, 60],
  callbackTimeoutSeconds: [5, 20],
  callbackMaxTries: [1, 5],
} as const satisfies Record<string, readonly [number, number]>;

/** Longest piece of the file quoted back in a message. */
const MAX_QUOTE = 40;

export function quote(s: string): string {
  const short = s.length > MAX_QUOTE ? `${s.slice(0, MAX_QUOTE)}…` : s;
  return JSON.stringify(short);
}

/** A type error's message; a missing field says so instead. */
export function typeError(message: string): { error: (iss: { input?: unknown }) => string } {
  return { error: (iss) => (iss.input === undefined ? 'is required' : message) };
}

export function intBetween([min, max]: readonly [number, number]) {
  const message = `must be a whole number from ${min} to ${max}`;
  return z.int(typeError(message)).min(min, { error: message }).max(max, { error: message });
}

export const nodeRef = z.string(typeError('must be a node id')).regex(NODE_ID, { error: 'must be a node id (a-z, 0-9, _)' });

/** Every `{...}` in a prompt text that is not an allowed placeholder (`extra`: a node's own), and any stray brace. */
export function badPlaceholders(text: string, extra: readonly string[] = []): string[] {
  const bad: string[] = [];
  const rest = text.replace(/\{([^{}]*)\}/g, (whole, name: string) => {
    if (!(PLACEHOLDERS as readonly string[]).includes(name) && !extra.includes(name)) bad.push(`unknown placeholder ${quote(whole)}`);
    return '';
  });
  if (/[{}]/.test(rest)) bad.push('unmatched brace');
  return bad;
}

/** A prompt's text in one language; `extra`: placeholders a node kind allows beyond PLACEHOLDERS. */
function promptTextWith(extra: readonly string[]) {
  const allowed = [...PLACEHOLDERS, ...extra].map((p) => `{${p}}`).join(', ');
  return z
    .string(typeError('must be text'))
    .min(1, { error: 'must not be empty' })
    .max(MAX_PROMPT_TEXT, { error: `must be at most ${MAX_PROMPT_TEXT} characters` })
    .superRefine((text, ctx) => {
      for (const message of badPlaceholders(text, extra)) ctx.addIssue({ code: 'custom', message: `${message} (allowed: ${allowed})` });
    });
}

const promptText = promptTextWith([]);

const audioFile = z
  .string(typeError('must be a file name'))
  .regex(AUDIO_FILE, { error: 'must be a file name in audio/ (a-z, 0-9, . _ -) ending in .mp3 or .wav' });

const localizedText = z.strictObject({ en: promptText, es: promptText.optional() });

export const promptSchema = z
  .strictObject({
    text: localizedText,
    audio: z.strictObject({ en: audioFile.optional(), es: audioFile.optional() }).optional(),
  })
  .superRefine((p, ctx) => {
    // The text is the transcript of (and the fallback for) the recording.
    for (const lang of LANGUAGES) {
      if (p.audio?.[lang] !== undefined && p.text[lang] === undefined) {
        ctx.addIssue({ code: 'custom', path: ['text', lang], message: `is required when audio.${lang} is set` });
      }
    }
  })
  .transform((p): Prompt => {
    const audio = Object.fromEntries(Object.entries(p.audio ?? {}).filter(([, f]) => f !== undefined));
    const text = p.text.es === undefined ? { en: p.text.en } : { en: p.text.en, es: p.text.es };
    return Object.keys(audio).length > 0 ? { text, audio } : { text };
  });

/**
 * A spoken-only prompt (no recording: what it says is worked out on the call) that must use
 * `placeholder`, a node's own: the callback_number node's read-back of the keyed digits.
 */
export function spokenPromptWith(placeholder: string) {
  const text = promptTextWith([placeholder]).refine((t) => t.includes(`{${placeholder}}`), { error: `must say {${placeholder}}` });
  return z
    .strictObject({ text: z.strictObject({ en: text, es: text.optional() }) })
    .transform((p): Prompt => ({ text: p.text.es === undefined ? { en: p.text.en } : { en: p.text.en, es: p.text.es } }));
}

export const language = z.enum(LANGUAGES, typeError(`must be one of ${LANGUAGES.join(', ')}`));

export function keyed<T extends z.ZodType<string>>(target: T) {
  return z
    .record(z.string().regex(KEYPAD_KEY, { error: 'must be a single keypad key (0-9, * or #)' }), target)
    .refine((o) => Object.keys(o).length > 0, { error: 'must map at least one key' });
}

export const urgency = z.enum(['urgent', 'routine'], typeError('must be urgent or routine'));

/** Why a caller calls, as a callback task records it (src/tasks/): carried by menu options and message nodes. */
export const reason = z.enum(REASONS, typeError(`must be one of ${REASONS.join(', ')}`));

/** A node as the schema builds it: the id comes from its key in `nodes`. */
export type NodeWithoutId<N extends FlowNode> = N extends FlowNode ? Omit<N, 'id'> : never;
