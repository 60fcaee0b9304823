import type { Keyring } from '../adapters/keyring.js';
import type { PracticeScope } from '../tenancy/scope.js';
import type { MappedAppointment, MappedPatient } from './map.js';

/**
 * Where mapped FHIR records land: the patient and appointment stores (src/patients/). The FHIR
 * code decides what a resource means; the stores decide how a patient is kept (encrypted fields,
 * blind indexes, several phones) and matched (by MRN). `tx` is the import's transaction.
 */
export type PatientWrite =
  | { outcome: 'created' | 'updated'; patientId: string }
  | { outcome: 'invalid' | 'duplicate'; field: string; reason: string };

export type AppointmentWrite =
  | { outcome: 'created' | 'updated'; appointmentId: string }
  | { outcome: 'invalid' | 'duplicate'; field: string; reason: string };

export interface FhirRecordSink {
  /** Creates or updates the patient: the one linked to this resource before, else the one with this MRN, else a new one. */
  patient(tx: PracticeScope, keyring: Keyring, record: MappedPatient, linkedId: string | null): Promise<PatientWrite>;
  /** The practice's patient with this MRN (an Appointment naming its patient by identifier). */
  patientIdByMrn(tx: PracticeScope, keyring: Keyring, mrn: string): Promise<string | null>;
  /** Creates or updates the appointment (the one linked to this resource before, else a new one). */
  appointment(tx: PracticeScope, record: MappedAppointment & { patientId: string }, linkedId: string | null): Promise<AppointmentWrite>;
}
