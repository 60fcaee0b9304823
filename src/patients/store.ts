import { sql } from 'kysely';
import type { Db } from '../adapters/postgres.js';
import type { PracticeScope } from '../tenancy/scope.js';
import type { PhoneKind } from '../adapters/db-schema.js';
import { blindIndex, decryptField, encryptField, type FieldSuite, type Keyring } from '../adapters/keyring.js';
import { dobIndex, emailIndex, familyNameIndex, fullNameIndex, mrnIndex, normaliseEmail, normaliseMrn } from './identifiers.js';

/** Blind-index purpose for caller phone numbers (E.164). */
export const PHONE_INDEX = 'phone-e164';

/** The blind index of a phone number (E.164): the only form in which numbers are looked up. */
export function phoneIndex(k: Keyring, e164: string): string {
  return blindIndex(k.indexKey, PHONE_INDEX, e164);
}

/** Keyed hash of a PIN, salted by the patient's id: useless without the index key. */
export function pinHash(k: Keyring, patientId: string, pin: string): string {
  return blindIndex(k.indexKey, `pin:${patientId}`, pin);
}

/** The fields of `patients` sealed by the application. */
export type SealedField = 'first_name' | 'last_name' | 'dob' | 'phone' | 'mrn' | 'email';

/** A sealed field's encryption context: ids only (stored in clear in the message header). */
export function fieldContext(field: SealedField, patientId: string, practiceId: string): Record<string, string> {
  return { table: 'patients', field, patient: patientId, practice: practiceId };
}

export function sealField(k: Keyring, field: SealedField, value: string, patientId: string, practiceId: string, suite: FieldSuite = 'unsigned'): Promise<Buffer> {
  return encryptField(k, value, fieldContext(field, patientId, practiceId), suite);
}

export function openField(k: Keyring, field: SealedField, ciphertext: Buffer, patientId: string, practiceId: string): Promise<string> {
  return decryptField(k, ciphertext, fieldContext(field, patientId, practiceId));
}

export interface ExtraPhone {
  phone: string; // E.164
  kind: PhoneKind;
}

export interface NewPatient {
  practiceId: string;
  /** The preferred number (E.164). */
  phone: string;
  /** What the preferred number is; mobile unless said. */
  phoneKind?: PhoneKind;
  /** Further numbers (home, work…), not preferred. */
  otherPhones?: readonly ExtraPhone[];
  firstName?: string;
  lastName?: string;
  dateOfBirth: string; // YYYY-MM-DD
  pin?: string; // 4-6 digits
  /** Medical record number, the practice's own identifier. */
  mrn?: string;
  preferredLanguage?: string;
  /** Two-letter US state, for calling-hour rules. */
  usState?: string;
  /** IANA zone of the patient, when known (otherwise the practice's). */
  timeZone?: string;
  /** E-mail address for notices (src/outreach/email-notice.ts), sealed and blind-indexed. */
  email?: string;
  /** When the patient is due for recall (YYYY-MM-DD), in clear (migration 0035); see ./recall.ts. */
  recallDue?: string;
}

/** The blind indexes of a patient's identifiers (what duplicates are found by). */
export interface PatientIndexes {
  mrn_index: string | null;
  family_name_index: string | null;
  full_name_index: string | null;
  dob_index: string;
}

export function indexesOf(k: Keyring, p: Pick<NewPatient, 'firstName' | 'lastName' | 'dateOfBirth' | 'mrn'>): PatientIndexes {
  return {
    mrn_index: p.mrn ? mrnIndex(k, p.mrn) : null,
    family_name_index: p.lastName ? familyNameIndex(k, p.lastName) : null,
    full_name_index: p.firstName || p.lastName ? fullNameIndex(k, p.firstName, p.lastName) : null,
    dob_index: dobIndex(k, p.dateOfBirth),
  };
}

/** The sealed and indexed `patients` row and its `patient_phones` rows, ready to insert. */
export async function sealPatient(k: Keyring, id: string, p: NewPatient) {
  const seal = (field: SealedField, value: string): Promise<Buffer> => sealField(k, field, value, id, p.practiceId);
  const preferredIndex = phoneIndex(k, p.phone);
  // Further numbers, each once and never the preferred one again.
  const extras: Array<ExtraPhone & { index: string }> = [];
  for (const extra of p.otherPhones ?? []) {
    const index = phoneIndex(k, extra.phone);
    if (index !== preferredIndex && !extras.some((x) => x.index === index)) extras.push({ ...extra, index });
  }
  // Every field at once: each is its own SDK message, and their awaits overlap.
  const [[first, last, dob, phone, mrn, email], extraSealed] = await Promise.all([
    Promise.all([
      p.firstName ? seal('first_name', p.firstName) : null,
      p.lastName ? seal('last_name', p.lastName) : null,
      seal('dob', p.dateOfBirth),
      seal('phone', p.phone),
      p.mrn ? seal('mrn', normaliseMrn(p.mrn)) : null,
      p.email ? seal('email', normaliseEmail(p.email)) : null,
    ]),
    Promise.all(extras.map((x) => seal('phone', x.phone))),
  ]);
  const patient = {
    id,
    practice_id: p.practiceId,
    phone_index: preferredIndex,
    phone_enc: phone,
    first_name_enc: first,
    last_name_enc: last,
    dob_enc: dob,
    mrn_enc: mrn,
    email_enc: email,
    email_index: p.email ? emailIndex(k, p.email) : null,
    ...indexesOf(k, p),
    pin_hash: p.pin ? pinHash(k, id, p.pin) : null,
    preferred_language: p.preferredLanguage ?? null,
    us_state: p.usState ?? null,
    time_zone: p.timeZone ?? null,
    recall_due: p.recallDue ?? null,
  };
  const phones = [{ practice_id: p.practiceId, patient_id: id, kind: p.phoneKind ?? 'mobile', phone_index: preferredIndex, phone_enc: phone, sealed_for: id, preferred: true }];
  extras.forEach((x, i) => {
    phones.push({ practice_id: p.practiceId, patient_id: id, kind: x.kind, phone_index: x.index, phone_enc: extraSealed[i] as Buffer, sealed_for: id, preferred: false });
  });
  return { patient, phones };
}

/** Stores a patient: names, date of birth, numbers and MRN encrypted, searchable only through blind indexes. */
export async function createPatient(db: Db, keyring: Keyring, p: NewPatient): Promise<string> {
  const id = crypto.randomUUID();
  const { patient, phones } = await sealPatient(keyring, id, p);
  const write = async (trx: Db): Promise<void> => {
    await trx.insertInto('patients').values(patient).execute();
    await trx.insertInto('patient_phones').values(phones).execute();
  };
  if (db.isTransaction) await write(db);
  else await db.transaction().execute(write);
  return id;
}

/** The practice's active patients with this number (any of their numbers), oldest first. */
export async function patientIdsByPhone(scope: PracticeScope, keyring: Keyring, phone: string): Promise<string[]> {
  const practiceId = scope.practiceId;
  const rows = await scope.db
    .selectFrom('patients')
    .select('id')
    .where('practice_id', '=', practiceId)
    .where('active', '=', true)
    .where(({ exists, selectFrom }) =>
      exists(selectFrom('patient_phones as n').select(sql`1`.as('one')).whereRef('n.patient_id', '=', 'patients.id').where('n.practice_id', '=', practiceId).where('n.phone_index', '=', phoneIndex(keyring, phone))),
    )
    .orderBy('created_at')
    .execute();
  return rows.map((r) => r.id);
}

export async function countPatientsByPhone(scope: PracticeScope, keyring: Keyring, phone: string): Promise<number> {
  const practiceId = scope.practiceId;
  const row = await scope.db
    .selectFrom('patient_phones as n')
    .innerJoin('patients as p', 'p.id', 'n.patient_id')
    .select(sql<string>`count(DISTINCT n.patient_id)`.as('n'))
    .where('n.practice_id', '=', practiceId)
    .where('n.phone_index', '=', phoneIndex(keyring, phone))
    .where('p.active', '=', true)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The patient's first name, decrypted: only for the whisper to a provider about a verified caller. */
export async function firstNameOf(scope: PracticeScope, keyring: Keyring, patientId: string): Promise<string | null> {
  const practiceId = scope.practiceId;
  const row = await scope.db.selectFrom('patients').select('first_name_enc').where('id', '=', patientId).where('practice_id', '=', practiceId).executeTakeFirst();
  if (!row?.first_name_enc) return null;
  return openField(keyring, 'first_name', row.first_name_enc, patientId, practiceId);
}

/** The patient's preferred phone number, decrypted: only to place a drop the patient consented to. */
export async function phoneOf(scope: PracticeScope, keyring: Keyring, patientId: string): Promise<string | null> {
  const practiceId = scope.practiceId;
  const row = await scope.db.selectFrom('patients').select('phone_enc').where('id', '=', patientId).where('practice_id', '=', practiceId).executeTakeFirst();
  if (!row?.phone_enc) return null;
  return openField(keyring, 'phone', row.phone_enc, patientId, practiceId);
}

/** Whether the practice has this patient (active or not). */
export async function patientExists(scope: PracticeScope, patientId: string): Promise<boolean> {
  const row = await scope.db.selectFrom('patients').select('id').where('id', '=', patientId).where('practice_id', '=', scope.practiceId).executeTakeFirst();
  return row !== undefined;
}

/** The patient's e-mail address, decrypted: only to send a notice the patient consented to; null for an inactive record. */
export async function emailOf(scope: PracticeScope, keyring: Keyring, patientId: string): Promise<{ email: string; index: string } | null> {
  const practiceId = scope.practiceId;
  // An inactive (deactivated or merged) record is sent nothing.
  const row = await scope.db.selectFrom('patients').select(['email_enc', 'email_index']).where('id', '=', patientId).where('practice_id', '=', practiceId).where('active', '=', true).executeTakeFirst();
  if (!row?.email_enc || !row.email_index) return null;
  return { email: await openField(keyring, 'email', row.email_enc, patientId, practiceId), index: row.email_index };
}
