import { decryptField, encryptField, type Keyring } from '../adapters/keyring.js';
import type { Db } from '../adapters/postgres.js';

/**
 * A person's own phone (`users.phone_enc`): where a call back through the practice line rings a
 * staff member or an admin (a provider's rings their provider phone). Sealed with ids only in the
 * context; `users` belongs to no practice, so this runs on the system pool, as the rest of auth/.
 */

function context(userId: string): Record<string, string> {
  return { table: 'users', field: 'phone', id: userId };
}

/** Sets (or, with null, clears) the person's phone. False: no such person. */
export async function setUserPhone(db: Db, k: Keyring, userId: string, e164: string | null, now: Date): Promise<boolean> {
  const sealed = e164 === null ? null : await encryptField(k, e164, context(userId), 'unsigned');
  const res = await db.updateTable('users').set({ phone_enc: sealed, updated_at: now }).where('id', '=', userId).executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** The person's phone, opened; null when none is set. */
export async function userPhone(db: Db, k: Keyring, userId: string): Promise<string | null> {
  const row = await db.selectFrom('users').select('phone_enc').where('id', '=', userId).executeTakeFirst();
  return row?.phone_enc ? decryptField(k, row.phone_enc, context(userId)) : null;
}
