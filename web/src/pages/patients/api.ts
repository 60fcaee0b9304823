import { api } from '../../api/client';
import type * as Generated from '../../api/generated';

/**
 * What the Patients pages read and send. Names, dates of birth, MRNs and numbers travel in
 * request bodies only (search is a POST), never in a URL or the query key's URL; ids do.
 * Shapes follow src/patients/records.ts, appointments.ts, import-store.ts and src/consent/.
 */
export interface PatientSummary {
  id: string;
  firstName: string | null;
  lastName: string | null;
  dateOfBirth: string;
  mrn: string | null;
  active: boolean;
  mergedInto: string | null;
}

export interface PatientView extends PatientSummary {
  phones: Array<{ id: string; number: string | null; kind: 'mobile' | 'home' | 'work' | 'other'; preferred: boolean }>;
  preferredLanguage: string | null;
  usState: string | null;
  timeZone: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface PatientSearch {
  name?: string;
  dateOfBirth?: string;
  phone?: string;
  mrn?: string;
  includeInactive?: boolean;
}

export type PatientPatch = Partial<Pick<PatientView, 'firstName' | 'lastName' | 'mrn' | 'preferredLanguage' | 'usState'>> & { dateOfBirth?: string };

export interface Appointment {
  id: string;
  patientId: string;
  startsAt: string;
  status: string;
  providerId: string | null;
  locationName: string | null;
}

export const CONSENT_CHANNELS = ['voice', 'rvm', 'sms', 'email'] as const;
export type ConsentChannel = (typeof CONSENT_CHANNELS)[number];

export interface ConsentEntry {
  id: string;
  seq: number;
  channel: ConsentChannel;
  action: 'granted' | 'revoked';
  source: string;
  disclosureVersion: string | null;
  recordedBy: string;
  evidenceRef: string | null;
  recordedAt: string;
}

export interface Consents {
  patientId: string;
  current: Record<ConsentChannel, 'granted' | 'revoked' | 'none'>;
  history: ConsentEntry[];
}

/** GET /api/imports/:id: the OpenAPI document's Import (web/src/api/generated.ts). */
export type ImportDetail = Generated.Import;
export type ImportKind = ImportDetail['kind'];
export type ImportEntry = NonNullable<ImportDetail['report']>['entries'][number];

export function searchPatients(criteria: PatientSearch, signal?: AbortSignal): Promise<{ patients: PatientSummary[] }> {
  return api('/api/patients/search', { method: 'POST', body: { ...criteria, limit: 50 }, signal });
}

export function readPatient(id: string, signal?: AbortSignal): Promise<PatientView> {
  return api(`/api/patients/${encodeURIComponent(id)}`, { signal });
}

export function updatePatient(id: string, patch: PatientPatch): Promise<PatientView> {
  return api(`/api/patients/${encodeURIComponent(id)}`, { method: 'PATCH', body: patch });
}

export function readConsents(id: string, signal?: AbortSignal): Promise<Consents> {
  return api(`/api/patients/${encodeURIComponent(id)}/consents`, { signal });
}

export function readAppointments(patientId: string, signal?: AbortSignal): Promise<{ appointments: Appointment[] }> {
  return api('/api/appointments', { query: { patientId }, signal });
}

/** Sends the CSV as it is (text/csv); the answer is 202 with the import's id. */
export function startImport(kind: ImportKind, file: Blob, dryRun: boolean): Promise<{ id: string; status: string }> {
  return api(`/api/${kind}/import`, { method: 'POST', query: { dryRun: String(dryRun) }, upload: { contentType: 'text/csv', data: file } });
}

export function readImport(id: string, signal?: AbortSignal): Promise<ImportDetail> {
  return api(`/api/imports/${encodeURIComponent(id)}`, { query: { limit: 200 }, signal });
}
