import type { AppContext } from '../app-context.js';
import { userPhone } from '../auth/user-phone.js';
import { logger } from '../log/logger.js';
import type { StaffContact } from './staff-sender.js';

/**
 * The practice's admin accounts (staff accounts with an active admin membership of the practice,
 * the account itself active) as staff notices reach them. Accounts belong to no practice, so
 * this reads the system pool, as the rest of auth/ does.
 */

export interface PracticeAdminUser {
  userId: string;
  email: string;
}

/** The active admin accounts of a practice, by id. */
export async function practiceAdminUsers(deps: Pick<AppContext, 'db'>, practiceId: string): Promise<PracticeAdminUser[]> {
  const rows = await deps.db
    .selectFrom('memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['u.id', 'u.email'])
    .where('m.practice_id', '=', practiceId)
    .where('m.role', '=', 'admin')
    .where('m.disabled_at', 'is', null)
    .where('u.status', '=', 'active')
    .orderBy('u.id')
    .execute();
  return rows.map((r) => ({ userId: r.id, email: r.email }));
}

/**
 * Each admin account as one contact: by SMS to the phone on their account (PUT /api/me/phone)
 * when they set one, else by e-mail. A phone that cannot be opened is logged by ids and the
 * e-mail used instead: the notice still reaches them.
 */
export async function adminUserContacts(deps: Pick<AppContext, 'db' | 'keyring'>, practiceId: string): Promise<StaffContact[]> {
  const out: StaffContact[] = [];
  for (const u of await practiceAdminUsers(deps, practiceId)) {
    let phone: string | null = null;
    try {
      phone = await userPhone(deps.db, deps.keyring, u.userId);
    } catch (err) {
      logger.error('admin contact: the phone on the account could not be opened; e-mail instead', { err, practiceId, userId: u.userId });
    }
    out.push(phone ? { key: `user:${u.userId}`, channel: 'sms', to: phone } : { key: `user:${u.userId}`, channel: 'email', to: u.email });
  }
  return out;
}
