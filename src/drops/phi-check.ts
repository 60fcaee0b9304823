import { z } from 'zod';
import rawTerms from './data/phi-terms.json' with { type: 'json' };
import { TEMPLATE_PLACEHOLDERS } from './types.js';

/**
 * The PHI check of ringless-voicemail text: a voicemail may be heard by anyone in the household,
 * so it carries the practice's name, its number and what is needed, nothing more (HHS guidance).
 * Pure: `checkPhi(text)` says which words fail and why. The word lists live in
 * ./data/phi-terms.json; the patterns of dates and identifiers are here.
 *
 * What fails:
 * - `clinical_term`: a word or phrase of the lists (conditions, mental health, substance use,
 *   sexual and reproductive health, medications, tests and results, procedures, specialties),
 *   case-insensitive, on word boundaries, plurals and possessives included;
 * - `date_of_birth`: "date of birth", "DOB", "born on" and the like;
 * - `date`: a full calendar date with a year (04/15/1980, 1980-04-15, April 15, 1980);
 * - `identifier`: SSN-shaped numbers, record / member / account labels (with or without a value),
 *   runs of 5 or more digits (spaces, dots, dashes or commas between them) other than an allowed
 *   phone number;
 * - `personal_name`: an honorific and a name ("Dr. Smith");
 * - `personal_name_field`: "patient name", "first name" and the like;
 * - `unknown_placeholder`: a `{placeholder}` not in the allowed list, a stray or doubled brace, or
 *   another template syntax (`[name]`, `<name>`, `%NAME%`, `$name`).
 */

export type PhiProblemKind =
  | 'clinical_term'
  | 'date_of_birth'
  | 'date'
  | 'identifier'
  | 'personal_name'
  | 'personal_name_field'
  | 'unknown_placeholder';

export interface PhiProblem {
  kind: PhiProblemKind;
  /** The text that failed, as it appears in the input. */
  term: string;
  /** The word list or pattern that caught it (e.g. `medication`, `ssn`). */
  category?: string;
}

export type PhiCheckResult = { ok: true } | { ok: false; problems: PhiProblem[] };

export interface PhiCheckOptions {
  /** Placeholder names allowed as `{name}`; default TEMPLATE_PLACEHOLDERS. */
  placeholders?: readonly string[];
  /** Phone numbers (any formatting) whose digits may appear: the rendered callback number. */
  allowedNumbers?: readonly string[];
}

const TERM = z
  .string()
  .min(1)
  .max(80)
  .regex(/^[\p{L}\p{N} '’\-/.#&]+\*?$/u, 'letters, digits, spaces and - / . # & \' only; * only at the end');
const TERM_LIST = z.array(TERM).min(1);

const PhiTermsSchema = z.object({
  about: z.string(),
  version: z.literal(1),
  clinical: z.record(z.string().regex(/^[a-z_]+$/), TERM_LIST),
  dateOfBirthLabels: TERM_LIST,
  identifierLabels: TERM_LIST,
  identifierValueLabels: TERM_LIST,
  nameFieldPhrases: TERM_LIST,
  honorifics: z.array(z.string().regex(/^\p{L}+$/u)).min(1),
});

export type PhiTerms = z.infer<typeof PhiTermsSchema>;

const TERMS: PhiTerms = Object.freeze(PhiTermsSchema.parse(rawTerms));

/** The word lists of the check, validated when the module loads. */
export function loadPhiTerms(): PhiTerms {
  return TERMS;
}

const START = String.raw`(?<![\p{L}\p{N}_])`;
const END = String.raw`(?![\p{L}\p{N}_])`;
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A list entry as a regex source: flexible separators, optional apostrophes, plural or `*` ending. */
function termSource(entry: string): string {
  const wildcard = entry.endsWith('*');
  let body = (wildcard ? entry.slice(0, -1) : entry).toLowerCase();
  let ending = '';
  if (wildcard) ending = String.raw`\p{L}*`;
  else if (/[^aeiou]y$/.test(body)) {
    body = body.slice(0, -1);
    ending = `(?:y|ies)(?:['’]s?)?`;
  } else if (/\p{L}$/u.test(body)) ending = `(?:['’]s?|s|es)?`;
  let out = '';
  for (const piece of body.split(/([\s\-/]+|['’])/)) {
    if (piece === '') continue;
    if (/^[\s\-/]+$/.test(piece)) out += String.raw`[\s\-/]*`;
    else if (piece === "'" || piece === '’') out += `['’]?`;
    else out += escape(piece);
  }
  return out + ending;
}

/** One alternation for a list, longest entries first so the longest phrase wins at a position. */
function listSource(entries: readonly string[]): string {
  return [...entries]
    .sort((a, b) => b.length - a.length)
    .map(termSource)
    .join('|');
}

const MONTH = String.raw`(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)`;
const ORDINAL = String.raw`(?:st|nd|rd|th)?`;

interface Matcher {
  kind: PhiProblemKind;
  category: string;
  re: RegExp;
}

const MATCHERS: readonly Matcher[] = [
  // Dates before identifiers: a date's digits are reported once, as a date.
  {
    kind: 'date',
    category: 'iso_date',
    re: new RegExp(String.raw`(?<!\p{N})(?:1[89]|20)\d{2}[/.\-](?:0?[1-9]|1[0-2])[/.\-](?:0?[1-9]|[12]\d|3[01])(?!\p{N})`, 'gu'),
  },
  { kind: 'date', category: 'numeric_date', re: new RegExp(String.raw`(?<![\p{N}/.\-])\d{1,2}[/.\-]\d{1,2}[/.\-](?:\d{4}|\d{2})(?![\p{N}])`, 'gu') },
  {
    kind: 'date',
    category: 'written_date',
    re: new RegExp(
      String.raw`${START}(?:${MONTH}\.?\s+\d{1,2}${ORDINAL},?\s+(?:\d{4}|['’]\d{2})|\d{1,2}${ORDINAL}\s+(?:of\s+)?${MONTH}\.?,?\s+\d{4})(?!\p{N})`,
      'giu',
    ),
  },
  { kind: 'date_of_birth', category: 'label', re: new RegExp(`${START}(?:${listSource(TERMS.dateOfBirthLabels)})${END}`, 'giu') },
  { kind: 'identifier', category: 'ssn', re: /(?<!\p{N})\d{3}[ -]\d{2}[ -]\d{4}(?!\p{N})/gu },
  {
    kind: 'identifier',
    category: 'labelled_value',
    re: new RegExp(
      String.raw`${START}(?:${listSource([...TERMS.identifierLabels, ...TERMS.identifierValueLabels])})[\s:#.\-]*(?=[\p{L}\p{N}\-]*\p{N})[\p{L}\p{N}][\p{L}\p{N}\-]{2,}(?![\p{L}\p{N}])`,
      'giu',
    ),
  },
  { kind: 'identifier', category: 'label', re: new RegExp(`${START}(?:${listSource(TERMS.identifierLabels)})${END}`, 'giu') },
  { kind: 'identifier', category: 'digit_run', re: /(?<!\p{N})\d(?:(?:,\s?|[\s.-])?\d){4,}(?!\p{N})/gu },
  ...Object.entries(TERMS.clinical).map(
    ([category, entries]): Matcher => ({ kind: 'clinical_term', category, re: new RegExp(`${START}(?:${listSource(entries)})${END}`, 'giu') }),
  ),
  {
    kind: 'personal_name',
    category: 'honorific',
    // Case-sensitive on the name (a capital letter), either case on the honorific.
    re: new RegExp(
      String.raw`${START}(?:${TERMS.honorifics.map((h) => [...h].map((c) => `[${c.toUpperCase()}${c.toLowerCase()}]`).join('')).join('|')})\.?\s+\p{Lu}[\p{L}'’\-]+`,
      'gu',
    ),
  },
  { kind: 'personal_name_field', category: 'name_field', re: new RegExp(`${START}(?:${listSource(TERMS.nameFieldPhrases)})${END}`, 'giu') },
];

/** Template syntaxes other than ours: a sign that someone meant to personalise the message. */
const FOREIGN_PLACEHOLDER = /\[[^[\]\n]{1,60}\]|<[^<>\n]{1,60}>|%[\p{L}_]+%|\$[\p{L}_]+/gu;
const BRACES = /\{+[^{}]*\}+|[{}]/g;

interface Hit extends PhiProblem {
  start: number;
  end: number;
  order: number;
}

const digitsOf = (s: string): string => s.replace(/\D/g, '');

function allowedDigitSets(numbers: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const n of numbers) {
    const d = digitsOf(n);
    if (d.length === 0) continue;
    out.add(d);
    if (d.length === 11 && d.startsWith('1')) out.add(d.slice(1));
  }
  return out;
}

/** Pure: the PHI problems of `text`, each naming the text that failed; `{ ok: true }` when none. */
export function checkPhi(text: string, opts: PhiCheckOptions = {}): PhiCheckResult {
  const allowed = new Set(opts.placeholders ?? TEMPLATE_PLACEHOLDERS);
  const allowedNumbers = allowedDigitSets(opts.allowedNumbers ?? []);
  const hits: Hit[] = [];

  // Placeholders first; every braced span is then blanked so the lists never see placeholder names.
  let masked = text;
  for (const m of text.matchAll(BRACES)) {
    const token = m[0];
    const single = /^\{[^{}]*\}$/.test(token);
    if (!single || !allowed.has(token.slice(1, -1))) {
      hits.push({ kind: 'unknown_placeholder', term: token, category: 'placeholder', start: m.index, end: m.index + token.length, order: -1 });
    }
    masked = masked.slice(0, m.index) + ' '.repeat(token.length) + masked.slice(m.index + token.length);
  }
  for (const m of masked.matchAll(FOREIGN_PLACEHOLDER)) {
    hits.push({ kind: 'unknown_placeholder', term: m[0], category: 'template_syntax', start: m.index, end: m.index + m[0].length, order: -1 });
  }

  MATCHERS.forEach((matcher, order) => {
    for (const m of masked.matchAll(matcher.re)) {
      if (matcher.category === 'digit_run' && allowedNumbers.has(digitsOf(m[0]))) continue;
      hits.push({ kind: matcher.kind, term: m[0], category: matcher.category, start: m.index, end: m.index + m[0].length, order });
    }
  });
  if (hits.length === 0) return { ok: true };

  // A hit inside a longer one is the same finding ("biopsy" inside "biopsy results"): keep the longer.
  hits.sort((a, b) => a.start - b.start || b.end - b.start - (a.end - a.start) || a.order - b.order);
  const kept: Hit[] = [];
  for (const h of hits) {
    if (kept.some((k) => k.start <= h.start && h.end <= k.end)) continue;
    kept.push(h);
  }
  const seen = new Set<string>();
  const problems: PhiProblem[] = [];
  for (const h of kept) {
    const key = `${h.kind}\u0000${h.term.toLowerCase()}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push({ kind: h.kind, term: h.term, ...(h.category ? { category: h.category } : {}) });
  }
  return { ok: false, problems };
}
