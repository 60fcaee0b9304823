import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Appointment, Bundle, Patient } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { mapAppointment, mapPatient, phoneToE164, type MappedAppointment, type MappedPatient, type MapResult } from '../src/fhir/map.js';

/**
 * The FHIR mapping, pure: HL7's published R4 examples (test/fixtures/fhir) map to the records
 * expected, and clinical fields (reasons, diagnoses, notes, comments, descriptions, narrative)
 * never reach a record, whatever a resource carries.
 */

const FIXTURES = path.resolve(import.meta.dirname, 'fixtures/fhir');
const fixture = <T>(name: string): T => JSON.parse(readFileSync(path.join(FIXTURES, name), 'utf8')) as T;
const MRN_SYSTEM = 'urn:oid:1.2.36.146.595.217.0.1';
const NOW = new Date('2026-11-26T03:00:00Z');

function record<T>(result: MapResult<T>): T {
  if (result.kind !== 'record') throw new Error(`expected a record, got ${JSON.stringify(result)}`);
  return result.record;
}

describe('HL7 R4 examples', () => {
  it('Patient "example" (Peter James Chalmers)', () => {
    const mapped = record(mapPatient(fixture<Patient>('patient-example.json'), { mrnSystem: MRN_SYSTEM, now: NOW }));
    expect(mapped).toEqual<MappedPatient>({
      resourceId: 'example',
      mrn: '12345',
      firstName: 'Peter',
      lastName: 'Chalmers',
      dateOfBirth: '1974-12-25',
      // Australian local numbers ((03) 5555 6473): not readable as E.164, so counted, never kept;
      // the `old` number is not counted at all.
      phones: [],
      unreadablePhones: 2,
      // "Vic" is not a US state.
      usState: null,
      // The example has phones only.
      email: null,
      language: null,
      active: true,
    });
  });

  it('Appointment "example" (booked, 2013-12-10T09:00:00Z, Patient/example)', () => {
    const mapped = record(mapAppointment(fixture<Appointment>('appointment-example.json'), { mrnSystem: MRN_SYSTEM }));
    expect(mapped).toEqual<MappedAppointment>({ resourceId: 'example', patient: { reference: 'Patient/example' }, startsAt: new Date('2013-12-10T09:00:00Z'), status: 'booked' });
  });

  it('the searchset Bundle: its entries map like the files', () => {
    const bundle = fixture<Bundle>('bundle-searchset.json');
    const [appointment, patient] = (bundle.entry ?? []).map((e) => e.resource);
    expect(record(mapAppointment(appointment as Appointment, { mrnSystem: MRN_SYSTEM })).patient).toEqual({ reference: 'Patient/example' });
    expect(record(mapPatient(patient as Patient, { mrnSystem: MRN_SYSTEM, now: NOW })).mrn).toBe('12345');
  });

  it('another MRN system: the Patient is invalid, naming identifier', () => {
    expect(mapPatient(fixture<Patient>('patient-example.json'), { mrnSystem: 'http://hospital.example/mrn', now: NOW })).toEqual({
      kind: 'invalid',
      problem: { field: 'identifier', reason: 'no identifier in the MRN system' },
    });
  });
});

describe('Patient fields', () => {
  const base = fixture<Patient>('patient-example.json');

  it('US phones: use, rank, the preferred one (lowest rank), ended numbers left out', () => {
    const mapped = record(
      mapPatient(
        {
          ...base,
          telecom: [
            { system: 'phone', value: '(202) 555-0141', use: 'home', rank: 2 },
            { system: 'phone', value: '+1 202 555 0142', use: 'mobile', rank: 1 },
            { system: 'phone', value: '202.555.0143', use: 'work' },
            { system: 'phone', value: '2025550144', use: 'home', period: { end: '2020-01-01' } },
            { system: 'email', value: 'peter@example.org' },
          ],
        },
        { mrnSystem: MRN_SYSTEM, now: NOW },
      ),
    );
    expect(mapped.phones).toEqual([
      { e164: '+12025550142', use: 'mobile', rank: 1, preferred: true },
      { e164: '+12025550141', use: 'home', rank: 2, preferred: false },
      { e164: '+12025550143', use: 'work', rank: null, preferred: false },
    ]);
  });

  it('e-mail: telecom system email, current, lowest rank first, trimmed and lower-cased; an unreadable one skipped', () => {
    const mapped = (telecom: Patient['telecom']): string | null => record(mapPatient({ ...base, telecom }, { mrnSystem: MRN_SYSTEM, now: NOW })).email;
    expect(
      mapped([
        { system: 'email', value: 'old@example.org', use: 'old' },
        { system: 'email', value: 'ended@example.org', period: { end: '2020-01-01' } },
        { system: 'email', value: 'not an address', rank: 1 },
        { system: 'email', value: ' Second@Example.ORG ', rank: 3 },
        { system: 'email', value: 'first@example.org', rank: 2 },
        { system: 'phone', value: '2025550141' },
      ]),
    ).toBe('first@example.org');
    expect(mapped([{ system: 'email', value: ' Peter.C@Example.ORG ' }])).toBe('peter.c@example.org');
    expect(mapped([{ system: 'phone', value: '2025550141' }])).toBeNull();
    expect(mapped([{ system: 'email', value: 'a@b.example, c@d.example' }])).toBeNull();
  });

  it('without ranks the first mobile is preferred', () => {
    const mapped = record(
      mapPatient({ ...base, telecom: [{ system: 'phone', value: '2025550141', use: 'home' }, { system: 'phone', value: '2025550142', use: 'mobile' }] }, { mrnSystem: MRN_SYSTEM, now: NOW }),
    );
    expect(mapped.phones.map((p) => [p.e164, p.preferred])).toEqual([
      ['+12025550142', true],
      ['+12025550141', false],
    ]);
  });

  it('US state of the home address; preferred communication language', () => {
    const mapped = record(
      mapPatient(
        {
          ...base,
          address: [{ use: 'work', state: 'NY' }, { use: 'home', state: 'ca' }],
          communication: [
            { language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'en-US' }] } },
            { language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'es' }] }, preferred: true },
          ],
        },
        { mrnSystem: MRN_SYSTEM, now: NOW },
      ),
    );
    expect([mapped.usState, mapped.language]).toEqual(['CA', 'es']);
  });

  it('the usual name when there is no official one; a partial birth date is invalid', () => {
    expect(record(mapPatient({ ...base, name: [{ use: 'usual', given: ['Jim'], family: 'Chalmers' }] }, { mrnSystem: MRN_SYSTEM, now: NOW })).firstName).toBe('Jim');
    expect(mapPatient({ ...base, birthDate: '1974-12' }, { mrnSystem: MRN_SYSTEM, now: NOW })).toEqual({ kind: 'invalid', problem: { field: 'birthDate', reason: 'a full date (YYYY-MM-DD) is required' } });
  });

  it('phone numbers: US and E.164 read, the rest not', () => {
    expect(['2025550141', '1-202-555-0141', '+44 20 7946 0958', '(03) 5555 6473', '555-0141', '+1 (202) 555-0141 ext 4'].map(phoneToE164)).toEqual([
      '+12025550141',
      '+12025550141',
      '+442079460958',
      null,
      null,
      null,
    ]);
  });
});

describe('Appointment statuses', () => {
  const base = fixture<Appointment>('appointment-example.json');
  const statusOf = (status: Appointment['status']): string => {
    const r = mapAppointment({ ...base, status }, { mrnSystem: MRN_SYSTEM });
    return r.kind === 'record' ? r.record.status : r.kind;
  };

  it('maps every R4 status as documented', () => {
    const all: Appointment['status'][] = ['booked', 'arrived', 'checked-in', 'fulfilled', 'cancelled', 'entered-in-error', 'noshow', 'proposed', 'pending', 'waitlist'];
    expect(Object.fromEntries(all.map((s) => [s, statusOf(s)]))).toEqual({
      booked: 'booked',
      arrived: 'booked',
      'checked-in': 'booked',
      fulfilled: 'completed',
      cancelled: 'cancelled',
      'entered-in-error': 'cancelled',
      noshow: 'no_show',
      proposed: 'skipped',
      pending: 'skipped',
      waitlist: 'skipped',
    });
  });

  it('a patient named by MRN identifier instead of a reference', () => {
    const r = record(mapAppointment({ ...base, participant: [{ actor: { type: 'Patient', identifier: { system: MRN_SYSTEM, value: '12345' } }, status: 'accepted' }] }, { mrnSystem: MRN_SYSTEM }));
    expect(r.patient).toEqual({ mrn: '12345' });
  });

  it('no start, or no Patient participant: invalid, naming the field', () => {
    const { start: _start, ...noStart } = base;
    expect(mapAppointment(noStart as Appointment, { mrnSystem: MRN_SYSTEM })).toMatchObject({ kind: 'invalid', problem: { field: 'start' } });
    expect(mapAppointment({ ...base, participant: [{ actor: { reference: 'Practitioner/example' }, status: 'accepted' }] }, { mrnSystem: MRN_SYSTEM })).toMatchObject({
      kind: 'invalid',
      problem: { field: 'participant' },
    });
  });
});

describe('clinical fields are never imported', () => {
  const CLINICAL = 'CLINICAL-SECRET';
  const clinical = (tag: string): string => `${CLINICAL} ${tag}`;

  it('a Patient full of clinical text maps to a record without any of it', () => {
    const patient = {
      ...fixture<Patient>('patient-example.json'),
      telecom: [{ system: 'phone', value: '2025550141', use: 'mobile' }],
      text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${clinical('narrative')}</div>` },
      extension: [{ url: 'http://example.org/diagnosis', valueString: clinical('extension') }],
      contact: [{ name: { family: clinical('contact') }, telecom: [{ system: 'phone', value: '2025550199' }] }],
      generalPractitioner: [{ display: clinical('gp') }],
    } as Patient;
    const mapped = record(mapPatient(patient, { mrnSystem: MRN_SYSTEM, now: NOW }));
    expect(JSON.stringify(mapped)).not.toContain(CLINICAL);
    // The contact's number is the contact's, not the patient's.
    expect(mapped.phones.map((p) => p.e164)).toEqual(['+12025550141']);
  });

  it('an Appointment full of reasons, diagnoses, notes and comments maps to a record without any of them', () => {
    const appointment = {
      ...fixture<Appointment>('appointment-example.json'),
      description: clinical('description'),
      comment: clinical('comment'),
      patientInstruction: clinical('instruction'),
      reasonCode: [{ text: clinical('reasonCode'), coding: [{ display: clinical('reason coding') }] }],
      reasonReference: [{ reference: 'Condition/example', display: clinical('reasonReference') }],
      supportingInformation: [{ display: clinical('supporting') }],
      text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${clinical('narrative')}</div>` },
      note: [{ text: clinical('note') }],
      extension: [{ url: 'http://example.org/diagnosis', valueString: clinical('diagnosis') }],
    } as Appointment;
    const mapped = record(mapAppointment(appointment, { mrnSystem: MRN_SYSTEM }));
    expect(JSON.stringify(mapped)).not.toContain(CLINICAL);
    expect(Object.keys(mapped).sort()).toEqual(['patient', 'resourceId', 'startsAt', 'status']);
  });
});
