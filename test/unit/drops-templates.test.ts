import { describe, it, expect } from 'vitest';
import {
  OPT_OUT_KEY,
  OPT_OUT_SENTENCE,
  TEMPLATES,
  estimateSeconds,
  getTemplate,
  listTemplates,
  renderTemplate,
  speakPhoneNumber,
  validateTemplate,
  type TemplateProblem,
} from '../../src/drops/templates.js';
import type { DropTemplate, TemplatePlaceholder, TemplatePurpose } from '../../src/drops/types.js';

const PARAMS: Record<TemplatePlaceholder, string> = {
  practice_name: 'Demo Family Medicine',
  callback_number: '+12025550101',
  office_hours: 'closed Thursday and Friday for Thanksgiving, open again Monday at 8 AM',
  appointment_day: 'Tuesday, December 8',
  appointment_time: '2:30 PM',
  appointment_location: 'Main Street Office',
};

/** A custom template that passes every rule; each test adds the one thing it checks. */
const custom = (middle: string): string => `Hello, this is {practice_name}. ${middle} Please call {callback_number}. ${OPT_OUT_SENTENCE}`;
const mine = (text: string, purpose: TemplatePurpose = 'callback_request'): DropTemplate => ({ id: 'custom', purpose, messageType: purpose, text, healthcareExempt: true });

const problemsOf = (r: ReturnType<typeof renderTemplate>): TemplateProblem[] => (r.ok ? [] : r.problems);

describe('the built-in library', () => {
  it('has one template per purpose with the agreed ids; billing alone is not healthcare-exempt', () => {
    expect(TEMPLATES.map((t) => [t.id, t.purpose, t.healthcareExempt])).toEqual([
      ['appointment-reminder', 'appointment_reminder', true],
      ['callback-request', 'callback_request', true],
      ['office-closure', 'office_closure', true],
      ['recall', 'recall', true],
      ['billing-callback', 'billing_callback', false],
      ['sms-appointment-reminder', 'appointment_reminder', true],
      ['sms-callback-request', 'callback_request', true],
      ['sms-office-closure', 'office_closure', true],
      ['sms-recall', 'recall', true],
      ['sms-billing-callback', 'billing_callback', false],
    ]);
    expect(getTemplate('recall')?.purpose).toBe('recall');
    expect(getTemplate('nope')).toBeUndefined();
    expect(listTemplates()).toBe(TEMPLATES);
    expect(listTemplates('office_closure').map((t) => t.id)).toEqual(['office-closure', 'sms-office-closure']);
  });

  it('the opt-out sentence names the callback number and keypad 8', () => {
    expect(OPT_OUT_KEY).toBe('8');
    expect(OPT_OUT_SENTENCE).toBe('To stop these messages, call {callback_number} and press 8, or text STOP to that number.');
  });

  it.each(TEMPLATES.filter((t) => t.channel === 'sms').map((t) => [t.id, t] as const))('%s (SMS) keeps every rule and renders the number as written', (_id, t) => {
    expect(validateTemplate(t)).toEqual([]);
    expect(t.text).toContain('{practice_name}');
    // No spoken opt-out: the first text of a conversation gets "Reply STOP to opt out." when sent.
    expect(t.text).not.toContain(OPT_OUT_SENTENCE);
    const r = renderTemplate(t, PARAMS);
    expect(r).toMatchObject({ ok: true });
    if (!r.ok) return;
    expect(r.text).not.toMatch(/[{}]/);
    expect(r.text).toContain('Demo Family Medicine');
    expect(r.text).toContain('202-555-0101');
  });

  it.each(TEMPLATES.filter((t) => t.channel !== 'sms').map((t) => [t.id, t] as const))('%s keeps every rule and renders with valid values', (_id, t) => {
    expect(validateTemplate(t)).toEqual([]);
    expect(t.text).toContain('{practice_name}');
    expect(t.text).toContain(OPT_OUT_SENTENCE);
    const usesDayOrTime = t.text.includes('{appointment_day}') || t.text.includes('{appointment_time}');
    expect(usesDayOrTime).toBe(t.purpose === 'appointment_reminder');

    const r = renderTemplate(t, PARAMS);
    expect(r).toMatchObject({ ok: true });
    if (!r.ok) return;
    expect(r.text).not.toMatch(/[{}]/);
    expect(r.text).toContain('Demo Family Medicine');
    expect(r.text).toContain('call 2 0 2, 5 5 5, 0 1 0 1 and press 8, or text STOP to that number.');
    expect(r.seconds).toBeGreaterThan(0);
    expect(r.seconds).toBeLessThanOrEqual(60);
  });

  it('the reminder says the day and time', () => {
    const r = renderTemplate(getTemplate('appointment-reminder') as DropTemplate, PARAMS);
    expect(r.ok && r.text).toContain('on Tuesday, December 8 at 2:30 PM.');
  });
});

describe('validateTemplate: custom templates', () => {
  it('the baseline custom template passes', () => {
    expect(validateTemplate({ purpose: 'callback_request', text: custom('We have a question for you.') })).toEqual([]);
  });

  const phi: Array<[middle: string, kind: string, term: string]> = [
    ['We need to discuss your diabetes follow-up.', 'clinical_term', 'diabetes'],
    ['We have the results of your biopsy.', 'clinical_term', 'biopsy'],
    ["This is about Dr. Smith's oncology clinic.", 'clinical_term', 'oncology'],
    ['Your metformin is ready.', 'clinical_term', 'metformin'],
    ['Please confirm DOB 04/15/1980.', 'date_of_birth', 'DOB'],
    ['Please confirm DOB 04/15/1980.', 'date', '04/15/1980'],
    ['Please quote MRN 12345678.', 'identifier', 'MRN 12345678'],
    ['Hello {patient_name}.', 'unknown_placeholder', '{patient_name}'],
  ];
  it.each(phi)('refuses "%s" naming %s "%s"', (middle, kind, term) => {
    expect(validateTemplate({ purpose: 'callback_request', text: custom(middle) })).toContainEqual(expect.objectContaining({ kind, term }));
  });

  it('allows a day and a time only in appointment reminders', () => {
    const text = custom('We will see you on {appointment_day} at {appointment_time}.');
    expect(validateTemplate({ purpose: 'appointment_reminder', text })).toEqual([]);
    expect(validateTemplate({ purpose: 'recall', text })).toEqual([
      { kind: 'placeholder_not_allowed', term: '{appointment_day}', category: 'recall' },
      { kind: 'placeholder_not_allowed', term: '{appointment_time}', category: 'recall' },
    ]);
  });

  it('requires the practice name, the callback number and an opt-out instruction', () => {
    expect(validateTemplate({ purpose: 'recall', text: `Hello. Please call {callback_number}. ${OPT_OUT_SENTENCE}` })).toEqual([
      { kind: 'missing_placeholder', term: '{practice_name}' },
    ]);
    expect(validateTemplate({ purpose: 'recall', text: 'Hello, this is {practice_name}. Please call us back.' })).toEqual([
      { kind: 'missing_placeholder', term: '{callback_number}' },
      { kind: 'missing_opt_out', term: 'opt-out instruction' },
    ]);
    // "stop" without the number to call is not an instruction.
    expect(validateTemplate({ purpose: 'recall', text: 'This is {practice_name}. Call {callback_number}. Say stop to stop.' })).toEqual([
      { kind: 'missing_opt_out', term: 'opt-out instruction' },
    ]);
    expect(validateTemplate({ purpose: 'recall', text: 'This is {practice_name}. To opt out of these calls, call {callback_number}.' })).toEqual([]);
  });

  it('refuses a 200-word template as longer than 60 seconds', () => {
    const fixed = custom('').split(/\s+/).filter(Boolean).length;
    const words = Array.from({ length: 200 - fixed }, () => 'we').join(' ');
    const text = custom(`${words}.`);
    expect(text.split(/\s+/)).toHaveLength(200);
    expect(text.length).toBeLessThan(1000); // so only the spoken length can refuse it
    const problems = validateTemplate({ purpose: 'callback_request', text });
    expect(problems).toEqual([{ kind: 'too_long', term: expect.stringMatching(/^\d+(\.\d)? s$/), category: 'seconds' }]);
  });

  it('refuses more than 1000 characters', () => {
    const text = custom(`${Array.from({ length: 70 }, () => 'administration').join(' ')}.`);
    expect(estimateSeconds(text)).toBeLessThanOrEqual(60); // so only the character bound can refuse it
    expect(validateTemplate({ purpose: 'callback_request', text })).toEqual([{ kind: 'too_long', term: `${text.length} characters`, category: 'characters' }]);
  });

  it('refuses empty text', () => {
    expect(validateTemplate({ purpose: 'recall', text: '  ' })).toEqual([{ kind: 'empty', term: '' }]);
  });
});

describe('estimateSeconds', () => {
  it('is 150 words a minute, placeholders at their worst case', () => {
    expect(estimateSeconds('one two three four five')).toBe(2);
    expect(estimateSeconds('{practice_name}')).toBe(6.4); // 16 words
    expect(estimateSeconds('{callback_number}')).toBe(4); // 10 digits
    expect(estimateSeconds('2 0 2, 5 5 5, 0 1 0 1')).toBe(4);
  });
});

describe('renderTemplate: values', () => {
  const reminder = getTemplate('appointment-reminder') as DropTemplate;

  it('speaks the callback number digit by digit', () => {
    expect(speakPhoneNumber('+12025550101')).toBe('2 0 2, 5 5 5, 0 1 0 1');
    expect(speakPhoneNumber('2025550101')).toBeUndefined();
  });

  it('a missing value is a problem', () => {
    const { appointment_time: _omitted, ...rest } = PARAMS;
    expect(problemsOf(renderTemplate(reminder, rest))).toEqual([{ kind: 'missing_value', term: 'appointment_time', placeholder: 'appointment_time' }]);
    expect(problemsOf(renderTemplate(reminder, { ...PARAMS, practice_name: '' }))).toEqual([
      { kind: 'missing_value', term: 'practice_name', placeholder: 'practice_name' },
    ]);
  });

  it.each(['Tuesday', 'Tuesday, December 8', 'Sunday, February 29', 'Friday, January 1'])('accepts appointment_day "%s"', (day) => {
    expect(renderTemplate(reminder, { ...PARAMS, appointment_day: day }).ok).toBe(true);
  });

  it.each([
    ['Tuesday, December 8, 2026', 'reads like a date of birth'],
    ['04/15/1980', 'reads like a date of birth'],
    ['1980-04-15', 'reads like a date of birth'],
    ["Tuesday, December 8 '26", 'reads like a date of birth'],
    ['December 8', 'a weekday'],
    ['Tuesday December 8', 'a weekday'],
    ['tuesday', 'a weekday'],
    ['Tuesday, February 30', 'no such day'],
    ['Tuesday at the oncology clinic', 'a weekday'],
  ])('refuses appointment_day "%s" without echoing it', (day, reason) => {
    const problems = problemsOf(renderTemplate(reminder, { ...PARAMS, appointment_day: day }));
    expect(problems).toEqual([{ kind: 'invalid_value', term: 'appointment_day', placeholder: 'appointment_day', reason: expect.stringContaining(reason) }]);
    expect(JSON.stringify(problems)).not.toContain(day);
  });

  it.each(['14:30', '2:30pm', '2:30 PM EST', '2:5 PM', '13:00 PM'])('refuses appointment_time "%s"', (time) => {
    expect(problemsOf(renderTemplate(reminder, { ...PARAMS, appointment_time: time }))).toEqual([
      expect.objectContaining({ kind: 'invalid_value', term: 'appointment_time' }),
    ]);
  });

  it.each(['202-555-0101', '+442071234567', '+10255550101', '+1202555010', ''])('refuses callback_number "%s"', (n) => {
    expect(problemsOf(renderTemplate(reminder, { ...PARAMS, callback_number: n }))).toEqual([
      expect.objectContaining({ kind: n === '' ? 'missing_value' : 'invalid_value', term: 'callback_number' }),
    ]);
  });

  it.each(['{practice_name}', 'Demo  Family', ' Demo', 'A'.repeat(81), '12345', 'Demo <b>'])('refuses practice_name %j', (name) => {
    expect(problemsOf(renderTemplate(reminder, { ...PARAMS, practice_name: name }))).toEqual([
      expect.objectContaining({ kind: 'invalid_value', term: 'practice_name' }),
    ]);
  });

  it('PHI-checks the practice name and the office hours', () => {
    expect(problemsOf(renderTemplate(reminder, { ...PARAMS, practice_name: 'Valley Oncology Associates' }))).toEqual([
      { kind: 'clinical_term', term: 'Oncology', category: 'specialty', placeholder: 'practice_name' },
    ]);
    const closure = getTemplate('office-closure') as DropTemplate;
    expect(problemsOf(renderTemplate(closure, { ...PARAMS, office_hours: 'closed Friday; the flu clinic runs Saturday' }))).toEqual([
      { kind: 'clinical_term', term: 'flu', category: 'condition', placeholder: 'office_hours' },
    ]);
    expect(problemsOf(renderTemplate(closure, { ...PARAMS, office_hours: 'closed on 12/24/2026' }))).toEqual([
      { kind: 'date', term: '12/24/2026', category: 'numeric_date', placeholder: 'office_hours' },
    ]);
  });

  it('refuses a template that breaks the rules whatever the values', () => {
    expect(problemsOf(renderTemplate(mine(custom('About your metformin.')), PARAMS))).toEqual([
      { kind: 'clinical_term', term: 'metformin', category: 'medication' },
    ]);
    expect(problemsOf(renderTemplate(mine(custom('See you {appointment_day}.'), 'recall'), PARAMS))).toEqual([
      { kind: 'placeholder_not_allowed', term: '{appointment_day}', category: 'recall' },
    ]);
  });

  it('checks the rendered text again: a name made by text and value together is refused', () => {
    const t = mine(custom('Ask for Dr. {practice_name} when you call.'));
    expect(validateTemplate(t)).toEqual([]);
    expect(problemsOf(renderTemplate(t, { ...PARAMS, practice_name: 'Smith Family Practice' }))).toEqual([
      { kind: 'personal_name', term: 'Dr. Smith', category: 'honorific' },
    ]);
  });

  it('checks the rendered length again: values longer than the worst case are refused', () => {
    const t = mine(custom(`${Array.from({ length: 93 }, () => 'we').join(' ')}.`));
    expect(validateTemplate(t)).toEqual([]);
    expect(renderTemplate(t, PARAMS).ok).toBe(true);
    const manyWords = Array.from({ length: 40 }, (_, i) => String.fromCharCode(65 + (i % 26))).join(' ');
    expect(problemsOf(renderTemplate(t, { ...PARAMS, practice_name: manyWords }))).toEqual([
      { kind: 'too_long', term: expect.stringMatching(/ s$/), category: 'seconds' },
    ]);
  });
});
