import type { AppContext } from '../app-context.js';
import { systemScope } from '../tenancy/system-scope.js';
import { logger } from '../log/logger.js';
import { practiceSender, sendStaffSms, staffCell } from '../notify/staff-sender.js';
import { listPracticeAdmins } from '../oncall/store.js';

/**
 * A lockout on the provider access line keeps a provider from the urgent voicemails, and caller
 * ID can be spoofed: the practice's admins are told at once by SMS, so someone can check with
 * the provider and clear it (`POST /api/lockouts/:id/clear`) instead of waiting it out. The text
 * names the practice only: not the provider, not the number. Sent from the same number as a
 * page (`pageNumbers`: the access line when it is the practice's, else its lowest-sorted number).
 *
 * Best effort, at most once per lockout: the lockout itself is already recorded and audited
 * (and in the morning report); a send that fails is logged, not retried.
 */

/** Pure: the SMS text. */
export function accessLockoutNoticeText(practiceName: string): string {
  return `${practiceName}: a provider was locked out of the access line. Clear it in the console or API (lockouts).`;
}

/** Sends the notice to each active admin of the practice; returns how many sends Twilio accepted. */
export async function notifyAccessLockout(services: Pick<AppContext, 'db' | 'twilio'>, practiceId: string): Promise<number> {
  // Sent in the background of an access-line call (a webhook path, on the system role).
  const scope = systemScope(services, practiceId);
  const [{ practice, from }, admins] = await Promise.all([practiceSender(scope), listPracticeAdmins(services.db, practiceId)]);
  if (!practice || !from || admins.length === 0) {
    logger.warn('access-line lockout: no admin could be told by SMS', { practiceId, admins: admins.length });
    return 0;
  }
  // The communication matrix's staff_page × sms (locked open, so this never holds the notice back).
  const cell = await staffCell(scope, 'sms');
  if (!cell.allowed) {
    logger.warn('access-line lockout notice: not sent, refused by the communication matrix', { practiceId, cell: cell.cell });
    return 0;
  }
  const body = accessLockoutNoticeText(practice.greetingName);
  let accepted = 0;
  for (const admin of admins) {
    try {
      await sendStaffSms(services, { to: admin.smsPhone ?? admin.phone, from, body });
      accepted += 1;
    } catch (err) {
      logger.warn('access-line lockout notice not sent', { err, practiceId, providerId: admin.id });
    }
  }
  return accepted;
}
