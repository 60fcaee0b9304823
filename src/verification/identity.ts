import { timingSafeEqual } from 'node:crypto';
import type { Db } from '../adapters/postgres.js';
import { decryptField, type Keyring } from '../adapters/keyring.js';
import { pinHash } from '../patients/store.js';
import type { Entry } from './entry.js';

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A patient the caller's number could be: the practice's patients registered with it (ids and ciphertext only). */
export interface PatientCandidate {
  id: string;
  dob_enc: Buffer;
  pin_hash: string | null;
}

/** The practice's active patients one of whose numbers is the caller ID, by its blind index (nothing is decrypted). */
export async function patientCandidates(db: Db, practiceId: string, callerIndex: string): Promise<PatientCandidate[]> {
  return db
    .selectFrom('patients as p')
    .innerJoin('patient_phones as n', 'n.patient_id', 'p.id')
    .select(['p.id', 'p.dob_enc', 'p.pin_hash'])
    .where('p.practice_id', '=', practiceId)
    .where('p.active', '=', true)
    .where('n.practice_id', '=', practiceId)
    .where('n.phone_index', '=', callerIndex)
    .orderBy('p.id')
    .limit(20)
    .execute();
}

/** The candidate whose date of birth or PIN is the entry; dates of birth are decrypted only here. */
export async function matchAmong(k: Keyring, practiceId: string, candidates: readonly PatientCandidate[], entry: Entry): Promise<string | null> {
  if (entry.kind === 'invalid') return null;
  for (const c of candidates) {
    if (entry.kind === 'pin') {
      if (c.pin_hash && sameHex(c.pin_hash, pinHash(k, c.id, entry.pin))) return c.id;
    } else {
      const dob = await decryptField(k, c.dob_enc, { table: 'patients', field: 'dob', patient: c.id, practice: practiceId });
      if (dob === entry.isoDate) return c.id;
    }
  }
  return null;
}
