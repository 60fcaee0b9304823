/**
 * Pure redaction for log lines. No winston here: the logger's format calls
 * these functions, and so can anything else that must print untrusted text.
 *
 * Policy (fail closed):
 * - Metadata keys on a short allow-list pass their primitive values through
 *   (after control-character stripping and bounding).
 * - Keys that look sensitive are replaced by `[REDACTED]` whatever the value.
 * - Every other string is scrubbed with `redactString`, which removes phone
 *   numbers, dates, e-mail addresses and any run of 4+ digits, while keeping
 *   Twilio SIDs, UUIDs and hex hashes intact.
 * Free-text names cannot be detected; log constant messages and put ids in
 * metadata.
 */

export const REDACTED = '[REDACTED]';
export const MAX_STRING_LENGTH = 2000;
export const MAX_DEPTH = 6;
const MAX_ITEMS = 100;
/** Input beyond this is dropped before the regexes run, to bound their cost. */
const MAX_SCAN_LENGTH = 20_000;
const TRUNCATED_SUFFIX = '…[truncated]';

// ---------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------

/**
 * C0/C1 control characters except tab and newline, and Unicode format
 * characters (zero-width spaces and joiners, bidi overrides, BOM), which could
 * hide digits from the patterns below or spoof a terminal.
 */
const CONTROL_CHARS = /[\p{Cc}\p{Cf}]/gu;
const KEPT_CONTROL = new Set(['\t', '\n']);

/**
 * Opaque ids that must survive: Twilio SIDs, UUIDs, hex hashes (16+ hex chars),
 * each with at least one hex letter so an all-digit run is never protected;
 * and the `:line:col` that ends a stack frame (`    at f (file.ts:12:34)`).
 */
const HEX = '[0-9a-fA-F]';
const ALNUM_BEFORE = '(?<![A-Za-z0-9])';
const ALNUM_AFTER = '(?![A-Za-z0-9])';
const PROTECTED = new RegExp(
  [
    // Twilio SID: CA/RE/AC... + 32 hex
    `${ALNUM_BEFORE}[A-Z]{2}(?=${HEX}{0,31}[a-fA-F])${HEX}{32}${ALNUM_AFTER}`,
    // UUID
    `${ALNUM_BEFORE}(?=[0-9a-fA-F-]{0,35}[a-fA-F])${HEX}{8}-${HEX}{4}-${HEX}{4}-${HEX}{4}-${HEX}{12}${ALNUM_AFTER}`,
    // hex hash
    `${ALNUM_BEFORE}(?=${HEX}*[a-fA-F])${HEX}{16,}${ALNUM_AFTER}`,
    // stack frame position
    String.raw`(?<=^[ \t]+at [^\n]*\S):\d{1,6}:\d{1,6}(?=\)?$)`,
  ].join('|'),
  'gm',
);

const MONTH = '(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\\.?';

/** Applied in order to text outside protected ids. */
const to =
  (placeholder: string): (() => string) =>
  (): string =>
    placeholder;

const RULES: ReadonlyArray<readonly [RegExp, (match: string) => string]> = [
  [/[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g, to('[email]')],
  // "April 15, 1980", "15 Apr 1980"
  [new RegExp(`\\b${MONTH}\\s+\\d{1,2}(?:st|nd|rd|th)?,?\\s+\\d{2,4}(?!\\d)`, 'gi'), to('[date]')],
  [new RegExp(`(?<!\\d)\\d{1,2}(?:st|nd|rd|th)?\\s+${MONTH},?\\s+\\d{2,4}(?!\\d)`, 'gi'), to('[date]')],
  // ISO-ish year first: 1980-04-15, 1980/04/15, 1980.04.15
  [/(?<!\d)\d{4}([-/.])\d{1,2}\1\d{1,2}(?!\d)/g, to('[date]')],
  // E.164 and international with separators: +12025550123, +1 (202) 555-0123, +44 20 7946 0958
  [/\+\d[\d ().-]{5,18}\d(?!\d)/g, to('[phone]')],
  // US: (202) 555-0123, 202-555-0123, 202.555.0123, 202 555 0123, 1-202-555-0123
  [/(?<!\d)(?:1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\d)/g, to('[phone]')],
  [/(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)/g, to('[ssn]')],
  // Day/month first: 04/15/1980, 4/15/80, 04-15-1980, 15.04.1980
  [/(?<!\d)\d{1,2}([-/.])\d{1,2}\1\d{2,4}(?!\d)/g, to('[date]')],
  // Local phone: 555-0123
  [/(?<!\d)\d{3}[.-]\d{4}(?!\d)/g, to('[phone]')],
  // Any remaining run of 4+ digits (keypad entries, PINs, MRNs, compact dates and phones).
  [/\p{Nd}{4,}/gu, classifyDigitRun],
];

function classifyDigitRun(run: string): string {
  if (run.length === 10 || (run.length === 11 && run.startsWith('1'))) return '[phone]';
  if (run.length === 8 && looksLikeCompactDate(run)) return '[date]';
  return '[digits]';
}

function looksLikeCompactDate(run: string): boolean {
  const n = (from: number, len: number): number => Number(run.slice(from, from + len));
  const isDay = (d: number): boolean => d >= 1 && d <= 31;
  const isMonth = (m: number): boolean => m >= 1 && m <= 12;
  const isYear = (y: number): boolean => y >= 1850 && y <= 2150;
  const yyyymmdd = isYear(n(0, 4)) && isMonth(n(4, 2)) && isDay(n(6, 2));
  const mmddyyyy = isMonth(n(0, 2)) && isDay(n(2, 2)) && isYear(n(4, 4));
  const ddmmyyyy = isDay(n(0, 2)) && isMonth(n(2, 2)) && isYear(n(4, 4));
  return yyyymmdd || mmddyyyy || ddmmyyyy;
}

/** Strip control/format characters (keeping tab and newline) and bound the length. Does not redact. */
export function sanitizeString(s: string): string {
  return truncate(stripControl(s.length > MAX_SCAN_LENGTH ? s.slice(0, MAX_SCAN_LENGTH) : s));
}

function stripControl(s: string): string {
  return s.replace(CONTROL_CHARS, (c) => (KEPT_CONTROL.has(c) ? c : ''));
}

function truncate(s: string): string {
  return s.length > MAX_STRING_LENGTH ? s.slice(0, MAX_STRING_LENGTH) + TRUNCATED_SUFFIX : s;
}

function redactFreeText(text: string): string {
  return RULES.reduce((out, [pattern, replace]) => out.replace(pattern, replace), text);
}

/**
 * Replace phone numbers, dates, e-mail addresses and runs of 4+ digits in free
 * text with placeholders. Twilio SIDs, UUIDs and hex hashes are kept intact.
 * Control characters are stripped first (so they cannot split a number) and
 * the result is bounded to MAX_STRING_LENGTH characters.
 */
export function redactString(s: string): string {
  const text = stripControl(s.length > MAX_SCAN_LENGTH ? s.slice(0, MAX_SCAN_LENGTH) : s);
  let out = '';
  let last = 0;
  for (const m of text.matchAll(PROTECTED)) {
    const start = m.index;
    out += redactFreeText(text.slice(last, start)) + m[0];
    last = start + m[0].length;
  }
  out += redactFreeText(text.slice(last));
  return truncate(out);
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/**
 * Keys whose primitive values pass unchanged (after sanitizeString). Compared after normalizeKey.
 * Only values the service itself chooses belong here: not `route`, `path` or `url`, which can
 * carry whatever a client put in the request line (they go through redactString like any text).
 */
const SAFE_KEYS: ReadonlySet<string> = new Set([
  'level',
  'timestamp',
  'requestid',
  'callsid',
  'parentcallsid',
  'accountsid',
  'practiceid',
  'action',
  'method',
  'status',
  'statuscode',
  'durationms',
  'event',
  'service',
  'leg',
  'subjectid',
  'auditid',
  'seq',
]);

/** Matched anywhere in the normalized key: long enough not to hit innocent keys. */
const SENSITIVE_SUBSTRINGS: readonly string[] = [
  'name',
  'birth',
  'phone',
  'digit',
  'address',
  'email',
  'password',
  'passwd',
  'secret',
  'token',
  'authorization',
  'cookie',
  'apikey',
  'privatekey',
  'credential',
  'transcri',
  'callerid',
  'speech',
  'signature',
  'street',
  'postal',
  'query',
];

/** Short tokens: matched as a whole word of the key, or as the normalized key's suffix. */
const SENSITIVE_WORD_OR_SUFFIX: readonly string[] = [
  'dob',
  'ssn',
  'mrn',
  'pin',
  'url',
  'uri',
  'href',
  'body',
  'zip',
  'from',
];

/** Matched only as a whole word of the key (camelCase, snake_case, kebab-case and dotted words). */
const SENSITIVE_WORDS: ReadonlySet<string> = new Set([
  'to',
  'caller',
  'called',
  'callee',
  'auth',
  'pass',
  'text',
  'note',
  'notes',
  'comment',
  'comments',
  'memo',
]);

/** `number` is sensitive alone or after one of these; `attemptNumber`, `seqNumber` are not. */
const NUMBER_KEY = /^(?:.*(?:phone|caller|called|callee|from|to|contact|mobile|cell|fax|callback|tel|home|work|forwarded|dial|dialed|dialled))?numbers?$/;

function keyWords(key: string): string[] {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** True when the key is on the allow-list whose primitive values are logged as they are. */
export function isSafeKey(key: string): boolean {
  return SAFE_KEYS.has(normalizeKey(key));
}

/** True when the key name suggests PHI or a secret (case-insensitive, camelCase/snake_case aware). */
export function isSensitiveKey(key: string): boolean {
  const joined = normalizeKey(key);
  if (joined.length === 0) return false;
  if (SAFE_KEYS.has(joined)) return false;
  if (SENSITIVE_SUBSTRINGS.some((s) => joined.includes(s))) return true;
  if (NUMBER_KEY.test(joined)) return true;
  const words = keyWords(key);
  if (SENSITIVE_WORD_OR_SUFFIX.some((s) => joined.endsWith(s) || words.includes(s))) return true;
  return words.some((w) => SENSITIVE_WORDS.has(w));
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/** Numbers whose integer part has 7+ digits (phone numbers, compact dates, MRNs) become `[digits]`. */
function redactNumber(n: number | bigint): number | bigint | string {
  if (typeof n === 'bigint') return (n < 0n ? -n : n) >= 1_000_000n ? '[digits]' : n;
  if (!Number.isFinite(n)) return n;
  return Math.abs(n) >= 1_000_000 ? '[digits]' : n;
}

function redactError(err: Error, depth: number, seen: WeakSet<object>): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: sanitizeString(String(err.name)),
    message: redactString(String(err.message)),
  };
  if (typeof err.stack === 'string') out['stack'] = redactString(err.stack);
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') out['code'] = redactValue('code', code, depth + 1);
  if (err.cause !== undefined) out['cause'] = walk('cause', err.cause, depth + 1, seen);
  return out;
}

function isBinary(value: object): boolean {
  return (
    (typeof Buffer !== 'undefined' && Buffer.isBuffer(value)) ||
    ArrayBuffer.isView(value) ||
    value instanceof ArrayBuffer ||
    value instanceof SharedArrayBuffer
  );
}

function walk(key: string | undefined, value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (key !== undefined && value !== null && value !== undefined) {
    if (isSafeKey(key)) {
      if (typeof value === 'string') return sanitizeString(value);
      if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return value;
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
    } else if (isSensitiveKey(key)) {
      return REDACTED;
    }
  }

  switch (typeof value) {
    case 'string':
      return redactString(value);
    case 'number':
    case 'bigint':
      return redactNumber(value);
    case 'boolean':
    case 'undefined':
      return value;
    case 'symbol':
      return '[symbol]';
    case 'function':
      return '[function]';
    case 'object':
      break;
  }
  if (value === null) return null;

  if (isBinary(value)) return '[binary]';
  if (value instanceof Date) return '[date]';
  if (seen.has(value)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[truncated]';
  seen.add(value);
  try {
    if (value instanceof Error) return redactError(value, depth, seen);
    if (Array.isArray(value) || value instanceof Set) {
      const items = Array.from(value as Iterable<unknown>);
      const out = items.slice(0, MAX_ITEMS).map((v) => walk(undefined, v, depth + 1, seen));
      if (items.length > MAX_ITEMS) out.push(`[+${items.length - MAX_ITEMS} more]`);
      return out;
    }
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function' && !(value instanceof Map)) {
      // URL, Decimal, and similar: log what JSON.stringify would, scrubbed.
      return walk(undefined, (toJSON as () => unknown).call(value), depth + 1, seen);
    }
    const entries: Array<[string, unknown]> =
      value instanceof Map
        ? Array.from(value.entries(), ([k, v]): [string, unknown] => [String(k), v])
        : Object.entries(value);
    const out: Record<string, unknown> = {};
    for (const [k, v] of entries.slice(0, MAX_ITEMS)) {
      // Keys can carry PHI too (an object keyed by phone number). defineProperty so '__proto__' stays data.
      Object.defineProperty(out, redactString(k), {
        value: walk(k, v, depth + 1, seen),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    if (entries.length > MAX_ITEMS) out['[more]'] = entries.length - MAX_ITEMS;
    return out;
  } finally {
    seen.delete(value);
  }
}

/**
 * Deep-redact a metadata value. `key` is the property name it sits under
 * (undefined for array items and top-level values). Sensitive keys become
 * `[REDACTED]`; safe keys keep primitive values; strings are scrubbed with
 * redactString; numbers with 7+ integer digits become `[digits]`; Errors become
 * `{ name, message, stack, code?, cause? }` with text scrubbed; binary becomes
 * `[binary]`; nesting deeper than MAX_DEPTH becomes `[truncated]`.
 */
export function redactValue(key: string | undefined, value: unknown, depth = 0): unknown {
  return walk(key, value, depth, new WeakSet<object>());
}
