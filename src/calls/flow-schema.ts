import { z } from 'zod';
import {
  LANGUAGES,
  type DialOnCallNode,
  type DiscloseNode,
  type Flow,
  type FlowNode,
  type HangupNode,
  type HoursNode,
  type LanguageNode,
  type MenuNode,
  type Prompt,
  type SayNode,
  type TransferNode,
  type PageAckNode,
  type OptOutNode,
  type VerifyNode,
  type VoicemailNode,
} from './flow-types.js';

/**
 * The schema of a call-flow file (callflows/*.yaml), in the file's snake_case, parsed into the
 * camelCase types of ./flow-types.ts. Every object is strict: an unknown field is refused, not
 * ignored. Graph rules (targets, reachability, the disclosure rule) live in ./flow-graph.ts.
 */

/** One thing wrong with a flow file; `node` when it is about one node. */
export interface FlowProblem {
  file: string;
  node?: string;
  message: string;
}

export function formatFlowProblem(p: FlowProblem): string {
  return p.node === undefined ? `${p.file}: ${p.message}` : `${p.file}: node ${p.node}: ${p.message}`;
}

/** A flow (or a directory of flows) was refused; `problems` lists every reason. */
export class FlowError extends Error {
  readonly problems: FlowProblem[];

  constructor(problems: FlowProblem[]) {
    const n = problems.length;
    super(`call flow check failed (${n} problem${n === 1 ? '' : 's'}):\n${problems.map((p) => `  ${formatFlowProblem(p)}`).join('\n')}`);
    this.name = 'FlowError';
    this.problems = problems;
  }
}

export const NODE_ID = /^[a-z][a-z0-9_]{0,40}$/;
export const FLOW_ID = /^[a-z][a-z0-9_-]{0,40}$/;
export const AUDIO_FILE = /^[a-z0-9][a-z0-9._-]*\.(mp3|wav)$/;
export const KEYPAD_KEY = /^[0-9*#]$/;
export const PLACEHOLDERS = ['practice_name', 'callback_number'] as const;
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
} as const satisfies Record<string, readonly [number, number]>;

/** Longest piece of the file quoted back in a message. */
const MAX_QUOTE = 40;

function quote(s: string): string {
  const short = s.length > MAX_QUOTE ? `${s.slice(0, MAX_QUOTE)}…` : s;
  return JSON.stringify(short);
}

/** A type error's message; a missing field says so instead. */
function typeError(message: string): { error: (iss: { input?: unknown }) => string } {
  return { error: (iss) => (iss.input === undefined ? 'is required' : message) };
}

function intBetween([min, max]: readonly [number, number]) {
  const message = `must be a whole number from ${min} to ${max}`;
  return z.int(typeError(message)).min(min, { error: message }).max(max, { error: message });
}

const nodeRef = z.string(typeError('must be a node id')).regex(NODE_ID, { error: 'must be a node id (a-z, 0-9, _)' });

/** Every `{...}` in a prompt text that is not an allowed placeholder, and any stray brace. */
export function badPlaceholders(text: string): string[] {
  const bad: string[] = [];
  const rest = text.replace(/\{([^{}]*)\}/g, (whole, name: string) => {
    if (!(PLACEHOLDERS as readonly string[]).includes(name)) bad.push(`unknown placeholder ${quote(whole)}`);
    return '';
  });
  if (/[{}]/.test(rest)) bad.push('unmatched brace');
  return bad;
}

const promptText = z
  .string(typeError('must be text'))
  .min(1, { error: 'must not be empty' })
  .max(MAX_PROMPT_TEXT, { error: `must be at most ${MAX_PROMPT_TEXT} characters` })
  .superRefine((text, ctx) => {
    for (const message of badPlaceholders(text)) {
      ctx.addIssue({
        code: 'custom',
        message: `${message} (allowed: ${PLACEHOLDERS.map((p) => `{${p}}`).join(', ')})`,
      });
    }
  });

const audioFile = z
  .string(typeError('must be a file name'))
  .regex(AUDIO_FILE, { error: 'must be a file name in audio/ (a-z, 0-9, . _ -) ending in .mp3 or .wav' });

const localizedText = z.strictObject({ en: promptText, es: promptText.optional() });

const promptSchema = z
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

const language = z.enum(LANGUAGES, typeError(`must be one of ${LANGUAGES.join(', ')}`));

function keyed<T extends z.ZodType<string>>(target: T) {
  return z
    .record(z.string().regex(KEYPAD_KEY, { error: 'must be a single keypad key (0-9, * or #)' }), target)
    .refine((o) => Object.keys(o).length > 0, { error: 'must map at least one key' });
}

const urgency = z.enum(['urgent', 'routine'], typeError('must be urgent or routine'));

type NodeWithoutId<N extends FlowNode> = Omit<N, 'id'>;

const sayNode = z
  .strictObject({ kind: z.literal('say'), prompt: promptSchema, all_languages: z.boolean().optional(), next: nodeRef })
  .transform(
    (n): NodeWithoutId<SayNode> => ({
      kind: n.kind,
      prompt: n.prompt,
      ...(n.all_languages === undefined ? {} : { allLanguages: n.all_languages }),
      next: n.next,
    }),
  );

const menuNode = z
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
  );

const hoursNode = z
  .strictObject({ kind: z.literal('hours'), open: nodeRef, closed: nodeRef, holiday: nodeRef })
  .transform((n): NodeWithoutId<HoursNode> => ({ ...n }));

const languageNode = z
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
  );

const verifyNode = z
  .strictObject({
    kind: z.literal('verify'),
    method: z.enum(['dob', 'pin', 'dob_or_pin'], typeError('must be dob, pin or dob_or_pin')),
    prompt: promptSchema,
    retry_prompt: promptSchema,
    timeout_seconds: intBetween(Bounds.verifyTimeoutSeconds),
    max_tries: intBetween(Bounds.verifyMaxTries),
    success: nodeRef,
    failure: nodeRef,
  })
  .transform(
    (n): NodeWithoutId<VerifyNode> => ({
      kind: n.kind,
      method: n.method,
      prompt: n.prompt,
      retryPrompt: n.retry_prompt,
      timeoutSeconds: n.timeout_seconds,
      maxTries: n.max_tries,
      success: n.success,
      failure: n.failure,
    }),
  );

const discloseNode = z
  .strictObject({
    kind: z.literal('disclose'),
    what: z.enum(['next_appointment'], typeError('must be next_appointment')),
    next: nodeRef,
  })
  .transform((n): NodeWithoutId<DiscloseNode> => ({ ...n }));

const dialOnCallNode = z
  .strictObject({ kind: z.literal('dial_oncall'), prompt: promptSchema, urgency, on_fail: nodeRef, next: nodeRef })
  .transform(
    (n): NodeWithoutId<DialOnCallNode> => ({
      kind: n.kind,
      prompt: n.prompt,
      urgency: n.urgency,
      onFail: n.on_fail,
      next: n.next,
    }),
  );

const voicemailNode = z
  .strictObject({
    kind: z.literal('voicemail'),
    prompt: promptSchema,
    urgency,
    max_length_seconds: intBetween(Bounds.voicemailMaxLengthSeconds),
    next: nodeRef,
  })
  .transform(
    (n): NodeWithoutId<VoicemailNode> => ({
      kind: n.kind,
      prompt: n.prompt,
      urgency: n.urgency,
      maxLengthSeconds: n.max_length_seconds,
      next: n.next,
    }),
  );

const transferNode = z
  .strictObject({
    kind: z.literal('transfer'),
    prompt: promptSchema,
    to: z.enum(['front_desk', 'fallback'], typeError('must be front_desk or fallback')),
    timeout_seconds: intBetween(Bounds.transferTimeoutSeconds),
    on_fail: nodeRef,
    next: nodeRef,
  })
  .transform(
    (n): NodeWithoutId<TransferNode> => ({
      kind: n.kind,
      prompt: n.prompt,
      to: n.to,
      timeoutSeconds: n.timeout_seconds,
      onFail: n.on_fail,
      next: n.next,
    }),
  );

const pageAckNode = z
  .strictObject({ kind: z.literal('page_ack'), prompt: promptSchema, timeout_seconds: intBetween(Bounds.verifyTimeoutSeconds), next: nodeRef })
  .transform((n): NodeWithoutId<PageAckNode> => ({ kind: n.kind, prompt: n.prompt, timeoutSeconds: n.timeout_seconds, next: n.next }));

const optOutNode = z
  .strictObject({ kind: z.literal('opt_out'), prompt: promptSchema, next: nodeRef })
  .transform((n): NodeWithoutId<OptOutNode> => ({ kind: n.kind, prompt: n.prompt, next: n.next }));

const hangupNode = z
  .strictObject({ kind: z.literal('hangup'), prompt: promptSchema.optional() })
  .transform((n): NodeWithoutId<HangupNode> => (n.prompt === undefined ? { kind: n.kind } : { kind: n.kind, prompt: n.prompt }));

const NODE_SCHEMAS = [
  sayNode,
  menuNode,
  hoursNode,
  languageNode,
  verifyNode,
  discloseNode,
  dialOnCallNode,
  voicemailNode,
  transferNode,
  pageAckNode,
  optOutNode,
  hangupNode,
] as const;

/** The kinds a file may use, in the order of the schema (for messages). */
export const NODE_KINDS = [
  'say',
  'menu',
  'hours',
  'language',
  'verify',
  'disclose',
  'dial_oncall',
  'voicemail',
  'transfer',
  'page_ack',
  'opt_out',
  'hangup',
] as const satisfies ReadonlyArray<FlowNode['kind']>;

const nodeSchema = z.discriminatedUnion('kind', NODE_SCHEMAS, {
  error: `must be one of ${NODE_KINDS.join(', ')}`,
});

export const flowFileSchema = z.strictObject({
  id: z.string(typeError('must be text')).regex(FLOW_ID, { error: 'must be a flow id (a-z, 0-9, _ -)' }),
  description: z.string(typeError('must be text')).min(1, { error: 'must not be empty' }).max(500, { error: 'must be at most 500 characters' }),
  start: nodeRef,
  nodes: z
    .record(z.string().regex(NODE_ID, { error: 'must be a node id (a-z, 0-9, _; starting with a letter; at most 41 characters)' }), nodeSchema)
    .refine((o) => Object.keys(o).length > 0, { error: 'must have at least one node' }),
});

/** Per-parse messages for the issues every field shares (missing, unknown fields). */
const errorMap: z.core.$ZodErrorMap = (iss) => {
  if (iss.code === 'invalid_type' && iss.input === undefined) return 'is required';
  if (iss.code === 'unrecognized_keys') {
    const s = iss.keys.length === 1 ? '' : 's';
    return `unknown field${s} ${iss.keys.map(quote).join(', ')}`;
  }
  return undefined;
};

function toProblem(issue: z.core.$ZodIssue, file: string): FlowProblem {
  const path = issue.path.map(String);
  let message = issue.message;
  if (issue.code === 'invalid_key') {
    // The key itself is wrong: the last path element is the key, the nested issue says why.
    const key = path.pop() ?? '';
    message = `key ${quote(key)} ${issue.issues[0]?.message ?? 'is not allowed'}`;
  }
  if (path[0] === 'nodes' && path.length >= 2) {
    const node = path[1] ?? '';
    const field = path.slice(2).join('.');
    return { file, node: NODE_ID.test(node) ? node : quote(node), message: field === '' ? message : `${field}: ${message}` };
  }
  const field = path.join('.');
  return { file, message: field === '' ? message : `${field}: ${message}` };
}

/**
 * Check one parsed YAML document against the schema and build the Flow (ids from the keys of
 * `nodes`). Graph rules are not checked here (see checkFlowGraph). Throws FlowError.
 */
export function parseFlowDocument(doc: unknown, file: string): Flow {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new FlowError([{ file, message: 'must be a mapping with id, description, start and nodes' }]);
  }
  const result = flowFileSchema.safeParse(doc, { error: errorMap });
  if (!result.success) {
    throw new FlowError(result.error.issues.map((issue) => toProblem(issue, file)));
  }
  const { id, description, start, nodes } = result.data;
  const withIds: Record<string, FlowNode> = {};
  for (const [nodeId, node] of Object.entries(nodes)) {
    withIds[nodeId] = { ...node, id: nodeId };
  }
  return { id, description, start, nodes: withIds, file };
}
