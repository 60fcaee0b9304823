import { createAppointment } from '../patients/appointments.js';
import { createPatient } from '../patients/store.js';
import type { FhirRecordSink } from './record-sink.js';

/**
 * INTERIM (until the patient store's upsert by MRN lands from h-patients): creates patients and
 * appointments through the existing store; a resource linked before counts as updated without
 * rewriting its row, and an MRN cannot be looked up (the table has no MRN yet).
 */
export const patientStoreSink: FhirRecordSink = {
  async patient(tx, keyring, record, linkedId) {
    if (linkedId) return { outcome: 'updated', patientId: linkedId };
    const preferred = record.phones[0];
    if (!preferred) return { outcome: 'invalid', field: 'telecom', reason: 'no phone number readable as E.164' };
    const patientId = await createPatient(tx.db, keyring, {
      practiceId: tx.practiceId,
      phone: preferred.e164,
      ...(record.firstName ? { firstName: record.firstName } : {}),
      ...(record.lastName ? { lastName: record.lastName } : {}),
      dateOfBirth: record.dateOfBirth,
      ...(record.usState ? { usState: record.usState } : {}),
    });
    return { outcome: 'created', patientId };
  },
  async patientIdByMrn() {
    return null;
  },
  async appointment(tx, record, linkedId) {
    if (linkedId) return { outcome: 'updated', appointmentId: linkedId };
    const appointmentId = await createAppointment(tx.db, { practiceId: tx.practiceId, patientId: record.patientId, startsAt: record.startsAt });
    return { outcome: 'created', appointmentId };
  },
};
