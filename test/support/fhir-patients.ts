import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Appointment, Patient } from '@medplum/fhirtypes';

/**
 * FHIR resources for the import and sync tests, made from HL7's own published examples
 * (test/fixtures/fhir) so that what the service reads is shaped as an EHR sends it; only what
 * a test varies (ids, MRNs, numbers, names, times) is set here.
 */

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/fhir');

/** The MRN system of HL7's example patient (the practice's configured `mrnSystem`). */
export const MRN_SYSTEM = 'urn:oid:1.2.36.146.595.217.0.1';

export const hl7Patient = JSON.parse(readFileSync(path.join(FIXTURES, 'patient-example.json'), 'utf8')) as Patient;
export const hl7Appointment = JSON.parse(readFileSync(path.join(FIXTURES, 'appointment-example.json'), 'utf8')) as Appointment;

/**
 * HL7's Patient "example" given US numbers (its own are Australian local numbers, not E.164) and
 * a US address; `given` must differ where two share a birth date under two MRNs (a duplicate).
 */
export function fhirPatient(id: string, mrn: string, phone: string, given: string): Patient {
  return {
    ...hl7Patient,
    id,
    identifier: [{ ...hl7Patient.identifier?.[0], system: MRN_SYSTEM, value: mrn }],
    name: [{ use: 'official', family: 'Chalmers', given: [given, 'James'] }],
    telecom: [{ system: 'phone', value: phone, use: 'mobile', rank: 1 }],
    address: [{ use: 'home', state: 'NY' }],
  };
}
