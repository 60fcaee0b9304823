import { describe, it, expect } from 'vitest';
import { checkPhi, loadPhiTerms, type PhiProblem, type PhiProblemKind } from '../../src/drops/phi-check.js';

const problemsOf = (text: string, opts?: Parameters<typeof checkPhi>[1]): PhiProblem[] => {
  const r = checkPhi(text, opts);
  return r.ok ? [] : r.problems;
};

describe('checkPhi: refused text names what failed', () => {
  const cases: Array<[text: string, kind: PhiProblemKind, term: string]> = [
    ['We need to talk about your diabetes follow-up.', 'clinical_term', 'diabetes'],
    ['The results of your biopsy are in.', 'clinical_term', 'biopsy'],
    ["Please call Dr. Smith's oncology clinic.", 'clinical_term', 'oncology'],
    ["Please call Dr. Smith's oncology clinic.", 'personal_name', "Dr. Smith's"],
    ['Your oncologist asked us to call.', 'clinical_term', 'oncologist'],
    ['Your metformin refill is ready.', 'clinical_term', 'metformin'],
    ['Your METFORMIN is ready.', 'clinical_term', 'METFORMIN'],
    ['Both mammograms are booked.', 'clinical_term', 'mammograms'],
    ['Your biopsy results are ready.', 'clinical_term', 'biopsy'],
    ['Two biopsies were taken.', 'clinical_term', 'biopsies'],
    ['Both injuries are healing.', 'clinical_term', 'injuries'],
    ['This is the HIV clinic.', 'clinical_term', 'HIV clinic'],
    ['This is your OB/GYN office.', 'clinical_term', 'OB/GYN'],
    ['This is your ob-gyn office.', 'clinical_term', 'ob-gyn'],
    ['Our psychiatrist can see you.', 'clinical_term', 'psychiatrist'],
    ['Your dialysis chair is ready.', 'clinical_term', 'dialysis'],
    ['Call the fertility team.', 'clinical_term', 'fertility'],
    ['Your blood work came back.', 'clinical_term', 'blood work'],
    ['Your bloodwork came back.', 'clinical_term', 'bloodwork'],
    ['Bring your X-rays.', 'clinical_term', 'X-rays'],
    ["About your Alzheimer’s care.", 'clinical_term', 'Alzheimer’s'],
    ['Confirm your DOB 04/15/1980.', 'date_of_birth', 'DOB'],
    ['Confirm your DOB 04/15/1980.', 'date', '04/15/1980'],
    ['Please confirm your date of birth.', 'date_of_birth', 'date of birth'],
    ['You were born on April 15, 1980.', 'date_of_birth', 'born on'],
    ['You were born on April 15, 1980.', 'date', 'April 15, 1980'],
    ['Record of 1980-04-15.', 'date', '1980-04-15'],
    ['Seen on 15 April 1980.', 'date', '15 April 1980'],
    ['Your MRN 12345678 is on file.', 'identifier', 'MRN 12345678'],
    ['Have your medical record number ready.', 'identifier', 'medical record number'],
    ['SSN 123-45-6789', 'identifier', 'SSN 123-45-6789'],
    ['Ours is 123-45-6789.', 'identifier', '123-45-6789'],
    ['Quote member ID A12345.', 'identifier', 'member ID A12345'],
    ['Quote 98765432 when you call.', 'identifier', '98765432'],
    ['Call 202-555-0100 today.', 'identifier', '202-555-0100'],
    ['Hello {patient_name}.', 'unknown_placeholder', '{patient_name}'],
    ['Hello {{practice_name}}.', 'unknown_placeholder', '{{practice_name}}'],
    ['Hello [first name].', 'unknown_placeholder', '[first name]'],
    ['Hello %NAME%.', 'unknown_placeholder', '%NAME%'],
    ['Please state the patient name.', 'personal_name_field', 'patient name'],
  ];
  it.each(cases)('%s → %s "%s"', (text, kind, term) => {
    expect(problemsOf(text)).toContainEqual(expect.objectContaining({ kind, term }));
  });

  it('reports the clinical category of a term', () => {
    expect(problemsOf('metformin')).toEqual([{ kind: 'clinical_term', term: 'metformin', category: 'medication' }]);
  });

  it('names an SSN-shaped number as such', () => {
    expect(problemsOf('Ours is 123-45-6789.')).toEqual([{ kind: 'identifier', term: '123-45-6789', category: 'ssn' }]);
  });

  it('reports a phrase once, not also the words inside it', () => {
    expect(problemsOf('MRN 12345678').map((p) => p.term)).toEqual(['MRN 12345678']);
  });

  it('refuses placeholders outside opts.placeholders', () => {
    expect(checkPhi('On {appointment_day}.')).toEqual({ ok: true });
    expect(problemsOf('On {appointment_day}.', { placeholders: ['practice_name'] })).toEqual([
      { kind: 'unknown_placeholder', term: '{appointment_day}', category: 'placeholder' },
    ]);
  });

  it('lets the digits of an allowed phone number through, and only those', () => {
    const spoken = 'Call 2 0 2, 5 5 5, 0 1 0 0 today.';
    expect(problemsOf(spoken)).toContainEqual(expect.objectContaining({ kind: 'identifier', term: '2 0 2, 5 5 5, 0 1 0 0' }));
    expect(checkPhi(spoken, { allowedNumbers: ['+12025550100'] })).toEqual({ ok: true });
    expect(checkPhi(spoken, { allowedNumbers: ['+12025550199'] }).ok).toBe(false);
  });
});

describe('checkPhi: administrative messages pass', () => {
  const admin = [
    'Demo Family Medicine is closed on Thursday for Thanksgiving.',
    'Hello, this is Demo Pediatrics with a reminder of your appointment on Tuesday, December 8 at 2:30 PM.',
    'Demo Internal Medicine and Primary Care: it is time for your annual checkup.',
    'Our office will be closed Monday for Labor Day. Hours of operation are 8:30 AM to 5 PM, Monday to Friday.',
    'Please call our billing office about the balance on your account.',
    'Your doctor asked us to call you back about your visit. This is a callback reminder.',
    'It is time to schedule your recall visit with our family health care practice.',
    'In an emergency, hang up and dial 9 1 1. Please call us about a cancellation.',
    'We are at 42 Flushing Avenue; we will deliver the forms stating the new hours by mail.',
    'Please leave your name and number, and we will call you back.',
    'To stop these messages, call {callback_number} and press 8, or text STOP to that number.',
    '{practice_name} {callback_number} {office_hours} {appointment_day} {appointment_time}',
  ];
  it.each(admin)('%s', (text) => {
    expect(checkPhi(text)).toEqual({ ok: true });
  });
});

describe('phi-terms.json', () => {
  const terms = loadPhiTerms();
  const clinical = Object.values(terms.clinical).flat();

  it('holds a few hundred clinical entries across categories, none twice', () => {
    expect(clinical.length).toBeGreaterThanOrEqual(300);
    expect(Object.keys(terms.clinical)).toEqual(
      expect.arrayContaining(['condition', 'mental_health', 'medication', 'test_or_result', 'procedure', 'specialty']),
    );
    const lower = clinical.map((t) => t.toLowerCase());
    expect(lower.filter((t, i) => lower.indexOf(t) !== i)).toEqual([]);
  });

  it('every entry is caught by the check', () => {
    const missed = clinical.filter((entry) => {
      const sample = entry.replace(/\*$/, '');
      return problemsOf(`about ${sample} today`).every((p) => p.kind !== 'clinical_term');
    });
    expect(missed).toEqual([]);
  });

  it('keeps out the words administrative messages need', () => {
    const generic = ['appointment', 'office', 'doctor', 'visit', 'checkup', 'annual', 'billing', 'balance', 'callback', 'reminder', 'closed', 'recall', 'health', 'care', 'practice', 'emergency', 'family medicine', 'internal medicine', 'pediatrics', 'primary care', 'schedule', 'account', 'hours', 'holiday'];
    expect(generic.filter((w) => !checkPhi(w).ok)).toEqual([]);
  });
});
