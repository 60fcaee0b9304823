import { checkPhi, type PhiProblemKind } from './phi-check.js';
import type { Detail } from '../outreach/matrix.js';
import { MAX_SMS_SEGMENTS, OPT_OUT_SMS_SENTENCE, smsLength } from '../outreach/sms-text.js';
import { isPersonalPlaceholder, PERSONAL_PLACEHOLDERS, TEMPLATE_PLACEHOLDERS, type DropTemplate, type PersonalPlaceholder, type TemplateChannel, type TemplateMessageType, type TemplatePlaceholder, type TemplatePurpose } from './types.js';

/**
 * The ringless-voicemail template library and the rules every message keeps: generic enough to be
 * overheard (HHS: the practice's name, its number and what is needed, nothing more), at most 60
 * seconds spoken, the practice's name, its callback number and an opt-out instruction in every
 * message (47 CFR 64.1200(a)(9)(iv)). Pure.
 */

/** The keypad digit that opts a number out on the practice's callback line. */
export const OPT_OUT_KEY = '8';

/** The opt-out instruction of every built-in template. */
export const OPT_OUT_SENTENCE = `To stop these messages, call {callback_number} and press ${OPT_OUT_KEY}, or text STOP to that number.`;

export const MAX_SECONDS = 60;
export const WORDS_PER_MINUTE = 150;
/** Upper bound on a template's raw text (the database allows 2000). */
export const MAX_TEMPLATE_CHARS = 1000;
export const MAX_PRACTICE_NAME_CHARS = 80;
export const MAX_OFFICE_HOURS_CHARS = 100;
/** An appointment's location name (appointments.location_name holds at most 120). */
export const MAX_LOCATION_CHARS = 120;

/** Placeholders every template must contain. */
export const REQUIRED_PLACEHOLDERS = ['practice_name', 'callback_number'] as const satisfies readonly TemplatePlaceholder[];

/** Placeholders each purpose may use: an appointment's day, time and location only for appointment reminders. */
export const PURPOSE_PLACEHOLDERS: Readonly<Record<TemplatePurpose, readonly TemplatePlaceholder[]>> = {
  appointment_reminder: TEMPLATE_PLACEHOLDERS,
  callback_request: ['practice_name', 'callback_number', 'office_hours'],
  office_closure: ['practice_name', 'callback_number', 'office_hours'],
  recall: ['practice_name', 'callback_number', 'office_hours'],
  billing_callback: ['practice_name', 'callback_number', 'office_hours'],
};

/**
 * The message types a template of each purpose may be sent as: its own, or a kin that says the
 * same words (a reminder's text confirms an appointment; a call-back request announces results
 * waiting). A billing template can never pass as a recall: the matrix row follows the words.
 */
export const PURPOSE_MESSAGE_TYPES: Readonly<Record<TemplatePurpose, readonly TemplateMessageType[]>> = {
  appointment_reminder: ['appointment_reminder', 'appointment_confirmation'],
  callback_request: ['callback_request', 'results_ready'],
  office_closure: ['office_closure'],
  recall: ['recall'],
  billing_callback: ['billing_callback'],
};

/** Placeholders that carry logistics (src/outreach/matrix.ts): an appointment's day, time and place, the office hours. */
const LOGISTICS_PLACEHOLDERS: readonly TemplatePlaceholder[] = ['appointment_day', 'appointment_time', 'appointment_location', 'office_hours'];

/** Pure: the detail a template's message carries, for its matrix cell: logistics when it names a day, a time or the hours. */
export function templateDetail(text: string): Detail {
  return placeholdersIn(text).some((name) => isPlaceholder(name) && LOGISTICS_PLACEHOLDERS.includes(name)) ? 'logistics' : 'none';
}

/**
 * Spoken words a placeholder may take at most, for the length estimate of an unrendered template:
 * a practice name of 80 characters (~5 per word), ten digits, 100 characters of hours,
 * "Wednesday, September 30", "12:30 PM", a location name of 120 characters.
 */
export const PLACEHOLDER_WORST_CASE_WORDS: Readonly<Record<TemplatePlaceholder, number>> = {
  practice_name: 16,
  callback_number: 10,
  office_hours: 20,
  appointment_day: 3,
  appointment_time: 2,
  appointment_location: 24,
};

export type TemplateProblemKind =
  | PhiProblemKind
  | 'empty'
  | 'invalid_purpose'
  | 'invalid_message_type'
  | 'placeholder_not_allowed'
  | 'missing_placeholder'
  | 'missing_opt_out'
  | 'too_long'
  | 'missing_value'
  | 'invalid_value';

export interface TemplateProblem {
  kind: TemplateProblemKind;
  /** What failed: the matched text, the placeholder (`{name}` in a template, `name` for a value), or a measure. */
  term: string;
  category?: string;
  /** For a value: which placeholder it was given for. */
  placeholder?: TemplatePlaceholder;
  /** Why a value was refused (never the value itself). */
  reason?: string;
}

export type RenderResult = { ok: true; text: string; seconds: number } | { ok: false; problems: TemplateProblem[] };

const builtIn = (id: string, purpose: TemplatePurpose, text: string, channel: TemplateChannel = 'rvm'): DropTemplate =>
  Object.freeze({ id, purpose, messageType: purpose, text, healthcareExempt: purpose !== 'billing_callback', channel });

export const TEMPLATES: readonly DropTemplate[] = Object.freeze([
  builtIn(
    'appointment-reminder',
    'appointment_reminder',
    `Hello, this is {practice_name} with a reminder of your appointment on {appointment_day} at {appointment_time}. If you need to change it, please call us at {callback_number}. Thank you. ${OPT_OUT_SENTENCE}`,
  ),
  builtIn(
    'callback-request',
    'callback_request',
    `Hello, this is {practice_name}. Please call us back at {callback_number} at your convenience. Thank you. ${OPT_OUT_SENTENCE}`,
  ),
  builtIn(
    'office-closure',
    'office_closure',
    `Hello, this is {practice_name} with a change to our office hours: {office_hours}. If you need to reach us, please call {callback_number}. In an emergency, hang up and dial 9 1 1. ${OPT_OUT_SENTENCE}`,
  ),
  builtIn(
    'recall',
    'recall',
    `Hello, this is {practice_name}. It is time to schedule your next visit with us. Please call {callback_number} to book a time that suits you. Thank you. ${OPT_OUT_SENTENCE}`,
  ),
  builtIn(
    'billing-callback',
    'billing_callback',
    `Hello, this is {practice_name}. Please call our office at {callback_number} about your account. Thank you. ${OPT_OUT_SENTENCE}`,
  ),
  // SMS (written): no spoken opt-out; the first message of a conversation gets OPT_OUT_SMS_SENTENCE when sent.
  builtIn('sms-appointment-reminder', 'appointment_reminder', '{practice_name}: a reminder of your appointment on {appointment_day} at {appointment_time}. To change it, call {callback_number}.', 'sms'),
  builtIn('sms-callback-request', 'callback_request', '{practice_name}: please call us back at {callback_number} when you can.', 'sms'),
  builtIn('sms-office-closure', 'office_closure', '{practice_name}: our office hours change: {office_hours}. To reach us, call {callback_number}.', 'sms'),
  builtIn('sms-recall', 'recall', '{practice_name}: it is time to schedule your next visit. Please call {callback_number} to book.', 'sms'),
  builtIn('sms-billing-callback', 'billing_callback', '{practice_name}: please call our office at {callback_number} about your account.', 'sms'),
]);

export function getTemplate(id: string): DropTemplate | undefined {
  return TEMPLATES.find((t) => t.id === id);
}

export function listTemplates(purpose?: TemplatePurpose): readonly DropTemplate[] {
  return purpose === undefined ? TEMPLATES : TEMPLATES.filter((t) => t.purpose === purpose);
}

const PLACEHOLDER = /\{([a-z_]+)\}/g;
const isPlaceholder = (name: string): name is TemplatePlaceholder => (TEMPLATE_PLACEHOLDERS as readonly string[]).includes(name);
const placeholdersIn = (text: string): string[] => [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1] ?? ''))];

/** Pure: the per-recipient placeholders a template's text uses (its recipients' own appointment), in list order. */
export function personalPlaceholdersIn(text: string): PersonalPlaceholder[] {
  const used = placeholdersIn(text);
  return PERSONAL_PLACEHOLDERS.filter((name) => used.includes(name));
}

/**
 * Seconds the text takes to speak at 150 words per minute, to a tenth. Placeholders still in the
 * text count as their worst-case number of words; a spoken phone number counts a word per digit.
 */
export function estimateSeconds(text: string): number {
  let words = 0;
  const rest = text.replace(PLACEHOLDER, (_m, name: string) => {
    words += isPlaceholder(name) ? PLACEHOLDER_WORST_CASE_WORDS[name] : 1;
    return ' ';
  });
  words += rest.split(/\s+/).filter((w) => /[\p{L}\p{N}]/u.test(w)).length;
  return Math.round(((words * 60) / WORDS_PER_MINUTE) * 10) / 10;
}

/** An opt-out instruction: a sentence with an opt-out word ("stop", "opt out", "unsubscribe") and {callback_number}. */
const OPT_OUT_WORD = /\b(?:stop|opt[\s-]?out|unsubscribe)\b/i;
const hasOptOut = (text: string): boolean =>
  text.split(/(?<=[.!?])\s+/).some((sentence) => OPT_OUT_WORD.test(sentence) && sentence.includes('{callback_number}'));

const PURPOSES = Object.keys(PURPOSE_PLACEHOLDERS) as TemplatePurpose[];

/**
 * Pure: the problems of a template (a built-in or a practice's own); none means it may be used.
 * PHI check; placeholders from the allow-list of its purpose; {practice_name} and
 * {callback_number} present; an opt-out instruction (see `hasOptOut`); at most
 * MAX_TEMPLATE_CHARS characters and MAX_SECONDS seconds with placeholders at their worst case.
 */
export function validateTemplate(t: { purpose: TemplatePurpose; text: string; channel?: TemplateChannel | undefined }): TemplateProblem[] {
  const sms = t.channel === 'sms';
  const problems: TemplateProblem[] = [];
  if (!PURPOSES.includes(t.purpose)) return [{ kind: 'invalid_purpose', term: 'purpose' }];
  if (t.text.trim() === '') return [{ kind: 'empty', term: '' }];
  if (t.text.length > MAX_TEMPLATE_CHARS) problems.push({ kind: 'too_long', term: `${t.text.length} characters`, category: 'characters' });

  const phi = checkPhi(t.text, { placeholders: TEMPLATE_PLACEHOLDERS });
  if (!phi.ok) problems.push(...phi.problems);

  const allowed: readonly string[] = PURPOSE_PLACEHOLDERS[t.purpose];
  const used = placeholdersIn(t.text);
  for (const name of used) {
    if (isPlaceholder(name) && !allowed.includes(name)) problems.push({ kind: 'placeholder_not_allowed', term: `{${name}}`, category: t.purpose });
  }
  for (const name of REQUIRED_PLACEHOLDERS) {
    if (!used.includes(name)) problems.push({ kind: 'missing_placeholder', term: `{${name}}` });
  }
  if (sms) {
    // Written: the opt-out sentence is added when sent (the first message of a conversation); the limit is segments.
    const worst = smsWorstCase(t.text);
    if (worst.segments > MAX_SMS_SEGMENTS) problems.push({ kind: 'too_long', term: `${worst.segments} segments`, category: 'segments' });
    return problems;
  }
  if (!hasOptOut(t.text)) problems.push({ kind: 'missing_opt_out', term: 'opt-out instruction' });

  const seconds = estimateSeconds(t.text);
  if (seconds > MAX_SECONDS) problems.push({ kind: 'too_long', term: `${seconds} s`, category: 'seconds' });
  return problems;
}

/** Characters a placeholder may take at most in an SMS, for the segments of an unrendered template. */
export const PLACEHOLDER_WORST_CASE_CHARS: Readonly<Record<TemplatePlaceholder, number>> = {
  practice_name: MAX_PRACTICE_NAME_CHARS,
  callback_number: 12, // 202-555-0100
  office_hours: MAX_OFFICE_HOURS_CHARS,
  appointment_day: 23, // Wednesday, September 30
  appointment_time: 8, // 12:30 PM
  appointment_location: MAX_LOCATION_CHARS,
};

/**
 * Pure: the segments of an SMS template at its worst: every placeholder at its longest, with the
 * opt-out sentence a first message carries. The encoding is the template's own text's (a value
 * outside GSM-7 is caught when the message is rendered).
 */
export function smsWorstCase(text: string): ReturnType<typeof smsLength> {
  const filled = text.replace(PLACEHOLDER, (_m, name: string) => 'x'.repeat(isPlaceholder(name) ? PLACEHOLDER_WORST_CASE_CHARS[name] : name.length + 2));
  return smsLength(`${filled} ${OPT_OUT_SMS_SENTENCE}`);
}

/** "+12025550100" → "202-555-0100": how an SMS writes a number (one digit run, which the PHI check knows as the callback number). */
export function writePhoneNumber(e164: string): string | undefined {
  const m = CALLBACK_NUMBER.exec(e164);
  return m ? `${m[1]}-${m[2]}-${m[3]}` : undefined;
}

type ValueCheck = { ok: true; spoken: string } | { ok: false; reason: string };

const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const MONTH_DAYS: Readonly<Record<string, number>> = {
  January: 31,
  February: 29,
  March: 31,
  April: 30,
  May: 31,
  June: 30,
  July: 31,
  August: 31,
  September: 30,
  October: 31,
  November: 30,
  December: 31,
};
const APPOINTMENT_DAY = new RegExp(`^(?:${WEEKDAYS.join('|')})(?:, (${Object.keys(MONTH_DAYS).join('|')}) ([1-9]|[12][0-9]|3[01]))?$`);
const APPOINTMENT_TIME = /^(?:[1-9]|1[0-2]):[0-5][0-9] (?:AM|PM)$/;
const CALLBACK_NUMBER = /^\+1([2-9][0-9]{2})([2-9][0-9]{2})([0-9]{4})$/;
const PRACTICE_NAME = /^[\p{L}\p{N}](?:[\p{L}\p{N}.,'’&()-]| (?! ))*$/u;
const OFFICE_HOURS = /^[\p{L}\p{N}](?:[\p{L}\p{N}.,:;'’&()/-]| (?! ))*$/u;
const LOCATION = /^[\p{L}\p{N}](?:[\p{L}\p{N}.,:'’&()/#-]| (?! ))*$/u;

/** "+12025550100" → "2 0 2, 5 5 5, 0 1 0 0": text-to-speech reads it digit by digit. */
export function speakPhoneNumber(e164: string): string | undefined {
  const m = CALLBACK_NUMBER.exec(e164);
  if (!m) return undefined;
  return m
    .slice(1)
    .map((group) => [...group].join(' '))
    .join(', ');
}

const VALUE_RULES: Readonly<Record<TemplatePlaceholder, (v: string) => ValueCheck>> = {
  practice_name: (v) =>
    v.length <= MAX_PRACTICE_NAME_CHARS && PRACTICE_NAME.test(v) && /\p{L}/u.test(v)
      ? { ok: true, spoken: v }
      : { ok: false, reason: `1 to ${MAX_PRACTICE_NAME_CHARS} characters: letters, digits, single spaces and . , ' & ( ) -` },
  callback_number: (v) => {
    const spoken = speakPhoneNumber(v);
    return spoken ? { ok: true, spoken } : { ok: false, reason: 'a US number in E.164 form, +1 and 10 digits' };
  },
  office_hours: (v) =>
    v.length <= MAX_OFFICE_HOURS_CHARS && OFFICE_HOURS.test(v) && /\p{L}/u.test(v)
      ? { ok: true, spoken: v }
      : { ok: false, reason: `1 to ${MAX_OFFICE_HOURS_CHARS} characters: letters, digits, single spaces and . , : ; ' & ( ) / -` },
  appointment_day: (v) => {
    if (/\d{3,}|['’]\d{2}\b/.test(v)) return { ok: false, reason: 'no year: a date with a year reads like a date of birth' };
    const m = APPOINTMENT_DAY.exec(v);
    if (!m) return { ok: false, reason: 'a weekday, optionally with month and day (like "Friday, March 6"), no year' };
    if (m[1] !== undefined && Number(m[2]) > (MONTH_DAYS[m[1]] ?? 0)) return { ok: false, reason: 'no such day in that month' };
    return { ok: true, spoken: v };
  },
  appointment_time: (v) => (APPOINTMENT_TIME.test(v) ? { ok: true, spoken: v } : { ok: false, reason: 'a time like "2:30 PM"' }),
  appointment_location: (v) =>
    v.length <= MAX_LOCATION_CHARS && LOCATION.test(v) && /\p{L}/u.test(v)
      ? { ok: true, spoken: v }
      : { ok: false, reason: `1 to ${MAX_LOCATION_CHARS} characters: letters, digits, single spaces and . , : ' & ( ) / # -` },
};

/**
 * Pure: one placeholder's value as it would be spoken, or why not: the value's own rule, then the
 * PHI check on it (a location named for a specialty or a person is refused like any other text).
 * The reason never repeats the value.
 */
export function checkValue(name: TemplatePlaceholder, value: string): { ok: true; spoken: string } | { ok: false; problems: TemplateProblem[] } {
  const checked = VALUE_RULES[name](value);
  if (!checked.ok) return { ok: false, problems: [{ kind: 'invalid_value', term: name, placeholder: name, reason: checked.reason }] };
  const phi = checkPhi(checked.spoken, { placeholders: [], allowedNumbers: name === 'callback_number' ? [value] : [] });
  if (!phi.ok) return { ok: false, problems: phi.problems.map((p) => ({ ...p, placeholder: name })) };
  return checked;
}

export interface RenderOptions {
  /**
   * Leave the per-recipient placeholders ({appointment_day}, {appointment_time},
   * {appointment_location}) in the text, unfilled: the campaign's preview and its check when it
   * is created, before any recipient's values exist. Their length counts at its worst case.
   */
  keepPersonal?: boolean;
}

/**
 * Pure: the template with its placeholders filled, ready for text-to-speech, or every problem.
 * The template must pass `validateTemplate`; each placeholder it uses needs a valid value (free
 * text is PHI-checked too); the rendered text is PHI-checked again and must fit in MAX_SECONDS.
 * Values given for placeholders the template does not use are ignored.
 */
export function renderTemplate(template: DropTemplate, params: Partial<Record<TemplatePlaceholder, string>>, opts: RenderOptions = {}): RenderResult {
  const problems = validateTemplate(template);
  const allowed: readonly string[] = PURPOSE_PLACEHOLDERS[template.purpose] ?? [];
  const spoken = new Map<string, string>();
  for (const name of placeholdersIn(template.text)) {
    if (!isPlaceholder(name) || !allowed.includes(name)) continue; // already a problem of the template
    if (opts.keepPersonal && isPersonalPlaceholder(name)) continue;
    const value = params[name];
    if (value === undefined || value === '') {
      problems.push({ kind: 'missing_value', term: name, placeholder: name });
      continue;
    }
    const valid = checkValue(name, value);
    // An SMS writes the callback number as a number, not digit by digit.
    const checked = valid.ok && name === 'callback_number' && template.channel === 'sms' ? { ok: true as const, spoken: writePhoneNumber(value) ?? valid.spoken } : valid;
    if (!checked.ok) {
      problems.push(...checked.problems);
      continue;
    }
    spoken.set(name, checked.spoken);
  }
  if (problems.length > 0) return { ok: false, problems };

  const text = template.text.replace(PLACEHOLDER, (m, name: string) => spoken.get(name) ?? m);
  const phi = checkPhi(text, { placeholders: opts.keepPersonal ? PERSONAL_PLACEHOLDERS : [], allowedNumbers: params.callback_number ? [params.callback_number] : [] });
  if (!phi.ok) return { ok: false, problems: phi.problems };
  const seconds = estimateSeconds(text);
  if (template.channel === 'sms') {
    const length = smsLength(`${text} ${OPT_OUT_SMS_SENTENCE}`);
    if (length.segments > MAX_SMS_SEGMENTS) return { ok: false, problems: [{ kind: 'too_long', term: `${length.segments} segments`, category: 'segments' }] };
    return { ok: true, text, seconds };
  }
  if (seconds > MAX_SECONDS) return { ok: false, problems: [{ kind: 'too_long', term: `${seconds} s`, category: 'seconds' }] };
  return { ok: true, text, seconds };
}

// The built-in library must keep its own rules: refuse to load otherwise.
for (const t of TEMPLATES) {
  const problems = validateTemplate(t);
  if (problems.length > 0) throw new Error(`built-in template ${t.id}: ${problems.map((p) => `${p.kind} ${p.term}`).join(', ')}`);
}
