import type { Db } from '../adapters/postgres.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { blindIndex, decryptField, encryptField, type Keyring } from '../adapters/keyring.js';

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

export interface NewPatient {
  practiceId: string;
  phone: string; // E.164
  firstName?: string;
  lastName?: string;
  dateOfBirth: string; // YYYY-MM-DD
  pin?: string; // 4-6 digits
  /** Two-letter US state, for calling-hour rules. */
  usState?: string;
  /** IANA zone of the patient, when known (otherwise the practice's). */
  timeZone?: string;
}

/** Stores a patient with names and date of birth encrypted and the phone only as a blind index. */
export async function createPatient(db: Db, keyring: Keyring, p: NewPatient): Promise<string> {
  const id = crypto.randomUUID();
  const ctx = (field: string): Record<string, string> => ({ table: 'patients', field, patient: id, practice: p.practiceId });
  await db
    .insertInto('patients')
    .values({
      id,
      practice_id: p.practiceId,
      phone_index: phoneIndex(keyring, p.phone),
      first_name_enc: p.firstName ? await encryptField(keyring, p.firstName, ctx('first_name')) : null,
      last_name_enc: p.lastName ? await encryptField(keyring, p.lastName, ctx('last_name')) : null,
      dob_enc: await encryptField(keyring, p.dateOfBirth, ctx('dob')),
      pin_hash: p.pin ? pinHash(keyring, id, p.pin) : null,
      phone_enc: await encryptField(keyring, p.phone, ctx('phone')),
      us_state: p.usState ?? null,
      time_zone: p.timeZone ?? null,
    })
    .execute();
  return id;
}

/** The practice's patients with this number, oldest first. */
export async function patientIdsByPhone(scope: PracticeScope, keyring: Keyring, phone: string): Promise<string[]> {
  const rows = await scope.db.selectFrom('patients').select('id').where('practice_id', '=', scope.practiceId).where('phone_index', '=', phoneIndex(keyring, phone)).orderBy('created_at').execute();
  return rows.map((r) => r.id);
}

export async function countPatientsByPhone(scope: PracticeScope, keyring: Keyring, phone: string): Promise<number> {
  const row = await scope.db
    .selectFrom('patients')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('practice_id', '=', scope.practiceId)
    .where('phone_index', '=', phoneIndex(keyring, phone))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The patient's first name, decrypted: only for the whisper to a provider about a verified caller. */
export async function firstNameOf(scope: PracticeScope, keyring: Keyring, patientId: string): Promise<string | null> {
  const practiceId = scope.practiceId;
  const row = await scope.db.selectFrom('patients').select('first_name_enc').where('id', '=', patientId).where('practice_id', '=', practiceId).executeTakeFirst();
  if (!row?.first_name_enc) return null;
  return decryptField(keyring, row.first_name_enc, { table: 'patients', field: 'first_name', patient: patientId, practice: practiceId });
}

/** The patient's phone number, decrypted: only to place a drop the patient consented to. */
export async function phoneOf(scope: PracticeScope, keyring: Keyring, patientId: string): Promise<string | null> {
  const practiceId = scope.practiceId;
  const row = await scope.db.selectFrom('patients').select('phone_enc').where('id', '=', patientId).where('practice_id', '=', practiceId).executeTakeFirst();
  if (!row?.phone_enc) return null;
  return decryptField(keyring, row.phone_enc, { table: 'patients', field: 'phone', patient: patientId, practice: practiceId });
}
