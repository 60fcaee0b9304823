import type { z } from 'zod';
import type { Keyring } from '../adapters/keyring.js';
import { LANGUAGES } from '../calls/flow-types.js';
import { addAppointment, changeAppointment, listAppointments, type AppointmentRefusal } from '../patients/appointments.js';
import { addPatient, findDuplicate, PatientInput, updatePatient, type PatientInputValue } from '../patients/records.js';
import type { PracticeScope } from '../tenancy/scope.js';
import type { MappedAppointment, MappedPatient } from './map.js';
import type { AppointmentWrite, FhirRecordSink, PatientWrite } from './record-sink.js';

/**
 * FHIR records into the patient and appointment stores (src/patients/), inside the import's
 * transaction: a patient is matched by the resource's earlier link, else by MRN (blind index),
 * and updated, or else added; the stores' own rules apply (field checks, the same name and date
 * of birth under another MRN is a duplicate). Nothing here may make PostgreSQL refuse a statement
 * (a refused statement ends the whole transaction), so slots and MRNs are looked up before writing.
 */

/** At most this many numbers per patient (the store's limit). */
const MAX_PHONES = 5;

/** The store's field → the FHIR element it came from: what a refusal names. */
const FHIR_ELEMENT: Record<string, string> = {
  firstName: 'name',
  lastName: 'name',
  dateOfBirth: 'birthDate',
  mrn: 'identifier',
  phones: 'telecom',
  phone: 'telecom',
  usState: 'address',
  email: 'telecom',
  preferredLanguage: 'communication',
};

function isLanguage(code: string | null): code is (typeof LANGUAGES)[number] {
  return code !== null && (LANGUAGES as readonly string[]).includes(code);
}

/** The record as the store's input, checked by the store's own schema. */
function patientInput(record: MappedPatient): { ok: true; input: PatientInputValue } | { ok: false; field: string; reason: string } {
  if (record.phones.length === 0) return { ok: false, field: 'telecom', reason: 'no phone number readable as E.164' };
  const candidate = {
    dateOfBirth: record.dateOfBirth,
    mrn: record.mrn,
    ...(record.firstName ? { firstName: record.firstName } : {}),
    ...(record.lastName ? { lastName: record.lastName } : {}),
    phones: record.phones.slice(0, MAX_PHONES).map((p) => ({ number: p.e164, kind: p.use ?? 'other', preferred: p.preferred })),
    // A language the service does not speak is left out, not refused.
    ...(isLanguage(record.language) ? { preferredLanguage: record.language } : {}),
    ...(record.usState ? { usState: record.usState } : {}),
    ...(record.email ? { email: record.email } : {}),
  };
  const parsed = PatientInput.safeParse(candidate);
  if (parsed.success) return { ok: true, input: parsed.data };
  const issue: z.core.$ZodIssue | undefined = parsed.error.issues[0];
  const field = String(issue?.path[0] ?? 'resource');
  return { ok: false, field: FHIR_ELEMENT[field] ?? field, reason: issue?.message ?? 'not accepted' };
}

async function writePatient(tx: PracticeScope, keyring: Keyring, record: MappedPatient, linkedId: string | null): Promise<PatientWrite> {
  const checked = patientInput(record);
  if (!checked.ok) return { outcome: 'invalid', field: checked.field, reason: checked.reason };
  const { input } = checked;
  // With no names given, findDuplicate matches by MRN alone: the patient this MRN already is.
  const target = linkedId ?? (await findDuplicate(tx, keyring, { dateOfBirth: input.dateOfBirth, mrn: input.mrn }));
  if (target) {
    const { pin: _pin, phone: _phone, ...patch } = input;
    const changed = await updatePatient(tx, keyring, target, patch);
    if (changed.ok) return { outcome: 'updated', patientId: target };
    if (changed.reason === 'conflict') return { outcome: 'duplicate', field: 'identifier', reason: 'the same MRN, or name and date of birth, as another patient on file' };
    // The linked row is gone: add the patient again.
  }
  const added = await addPatient(tx, keyring, input);
  if (added.ok) return { outcome: 'created', patientId: added.id };
  return { outcome: 'duplicate', field: 'identifier', reason: 'a new MRN, but the same name and date of birth as a patient on file' };
}

/** The appointment already at this patient's start, if any (the store allows one per patient and start). */
async function appointmentAt(tx: PracticeScope, patientId: string, startsAt: Date): Promise<string | null> {
  const to = new Date(startsAt.getTime() + 1).toISOString();
  const [found] = await listAppointments(tx, { patientId, from: startsAt.toISOString(), to, limit: 1, offset: 0 });
  return found?.id ?? null;
}

function refusal(r: AppointmentRefusal): AppointmentWrite {
  const field = r.field === 'patientId' ? 'participant' : r.field === 'startsAt' ? 'start' : r.field;
  return { outcome: r.reason === 'conflict' ? 'duplicate' : 'invalid', field, reason: r.message.replace(/^\w+: /, '') };
}

async function writeAppointment(tx: PracticeScope, record: MappedAppointment & { patientId: string }, linkedId: string | null): Promise<AppointmentWrite> {
  const atSlot = await appointmentAt(tx, record.patientId, record.startsAt);
  const target = linkedId ?? atSlot;
  if (target && atSlot && atSlot !== target) return { outcome: 'duplicate', field: 'start', reason: 'the patient already has another appointment at that time' };
  if (target) {
    const changed = await changeAppointment(tx, target, { startsAt: record.startsAt.toISOString(), status: record.status });
    if (changed.ok) return { outcome: 'updated', appointmentId: target };
    if (changed.reason !== 'not_found') return refusal(changed);
    // The linked row is gone: add it again.
  }
  const added = await addAppointment(tx, { patientId: record.patientId, startsAt: record.startsAt.toISOString(), status: record.status });
  return added.ok ? { outcome: 'created', appointmentId: added.appointment.id } : refusal(added);
}

export const patientStoreSink: FhirRecordSink = {
  patient: writePatient,
  async patientIdByMrn(tx, keyring, mrn) {
    // A date of birth is needed by the index helper but, without names, never matched on.
    return findDuplicate(tx, keyring, { dateOfBirth: '1900-01-01', mrn });
  },
  appointment: writeAppointment,
};
