import type { AppContext } from '../app-context.js';
import { AuditAction } from '../audit/events.js';
import { resolvePlan } from '../oncall/escalation.js';
import { adminUserContacts } from '../notify/admin-users.js';
import { notifyStaff, practiceSender, reachableContacts, type StaffContact } from '../notify/staff-sender.js';
import { getProvider, listPracticeAdmins } from '../oncall/store.js';
import { systemScope } from '../tenancy/system-scope.js';
import { logger } from '../log/logger.js';
import { claimAlerts, overdueUnalerted, releaseAlerts } from './store.js';

/**
 * Overdue callback tasks alert someone, once per task (`alerted_at`): urgent ones the first of
 * the on-call chain now (else the providers who are practice admins), routine ones those
 * providers (by SMS); both also the practice's admin accounts (by SMS to the phone on their
 * account, else by e-mail). No PHI: the practice's name, how many are overdue and a console
 * link by task id.
 * The tasks are claimed (marked alerted) before anything is sent and only the ones this sweep
 * marked are alerted, so two sweeps at once never alert a task twice. A practice whose alert
 * cannot go out (nobody to tell that the service can reach, no send accepted at all) keeps its tasks unalerted
 * (the claim given back) and is tried again at the next sweep; once one recipient has it, the
 * alert counts as sent (a failed second recipient is logged, not re-sent to the first).
 */

export const TASK_SWEEP_EVERY_MS = 5 * 60_000;

export type OverdueDeps = Pick<AppContext, 'db' | 'twilio' | 'audit' | 'clock' | 'config' | 'keyring'>;

/** Pure: the alert's text. Counts and an id link, nothing about a patient. */
export function overdueAlertText(practiceName: string, urgency: 'urgent' | 'routine', count: number, link: string): string {
  const what = count === 1 ? `1 ${urgency} callback is overdue` : `${count} ${urgency} callbacks are overdue`;
  return `${practiceName}: ${what}. ${link}`;
}

export function consoleTaskLink(publicBaseUrl: string, taskId: string): string {
  return `${publicBaseUrl}/console/tasks/${taskId}`;
}

/** Pure: contacts without a second one for the same channel and address (a provider admin who is also an admin account with that phone). */
function distinctContacts(contacts: readonly StaffContact[]): StaffContact[] {
  const seen = new Set<string>();
  return contacts.filter((c) => {
    const k = `${c.channel}|${c.to}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * Who an alert goes to: the first of the on-call chain now for an urgent one (else the providers
 * who are practice admins), those providers for a routine one (by SMS); and, either way, the
 * practice's admin accounts (by SMS to the phone on their account, else by e-mail).
 */
async function recipientsFor(deps: Pick<AppContext, 'db' | 'clock' | 'keyring'>, practiceId: string, urgency: 'urgent' | 'routine'): Promise<StaffContact[]> {
  const sms = (p: { id: string; smsPhone: string | null; phone: string }): StaffContact => ({ key: `provider:${p.id}`, channel: 'sms', to: p.smsPhone ?? p.phone });
  const accounts = await adminUserContacts(deps, practiceId);
  if (urgency === 'urgent') {
    const scope = systemScope(deps, practiceId);
    const first = (await resolvePlan(scope, null, deps.clock())).targets.find((t) => t.providerId !== null);
    const p = first?.providerId ? await getProvider(scope, first.providerId) : null;
    if (p) return distinctContacts([sms(p), ...accounts]);
  }
  return distinctContacts([...(await listPracticeAdmins(deps.db, practiceId)).map(sms), ...accounts]);
}

/** The maintenance sweep: every practice's overdue unalerted tasks (the most overdue `perPractice` of each practice and urgency), alerted by urgency. */
export async function sweepOverdueTasks(deps: OverdueDeps, opts: { perPractice?: number } = {}): Promise<{ alerted: number; practices: number }> {
  const now = deps.clock();
  const due = await overdueUnalerted(deps.db, now, opts.perPractice);
  const groups = new Map<string, { practiceId: string; urgency: 'urgent' | 'routine'; ids: string[] }>();
  for (const t of due) {
    const key = `${t.practice_id}|${t.urgency}`;
    const g = groups.get(key) ?? { practiceId: t.practice_id, urgency: t.urgency, ids: [] };
    g.ids.push(t.id);
    groups.set(key, g);
  }
  let alerted = 0;
  const practices = new Set<string>();
  for (const g of groups.values()) {
    try {
      const sent = await alertGroup(deps, g, now);
      if (sent > 0) {
        alerted += sent;
        practices.add(g.practiceId);
      }
    } catch (err) {
      // The others still go; this practice's tasks stay unalerted for the next sweep.
      logger.error('overdue task alert failed', { err, practiceId: g.practiceId });
    }
  }
  return { alerted, practices: practices.size };
}

/** Alerts one practice's overdue tasks of one urgency: the number of tasks this sweep alerted. */
async function alertGroup(deps: OverdueDeps, g: { practiceId: string; urgency: 'urgent' | 'routine'; ids: string[] }, now: Date): Promise<number> {
  const scope = systemScope(deps, g.practiceId);
  const { practice, from } = await practiceSender(scope);
  if (!practice) return 0;
  // Only those the service can reach now (an SMS needs a practice number, an e-mail SMTP).
  const to = reachableContacts(deps, await recipientsFor(deps, g.practiceId, g.urgency), from);
  if (to.length === 0) return 0;
  // Claimed first: another sweep running now gets none of these.
  const claimed = new Set(await claimAlerts(deps.db, g.ids, now));
  const ids = g.ids.filter((id) => claimed.has(id));
  const first = ids[0];
  if (!first) return 0;
  // One link: the most overdue task; the console lists the rest.
  const text = overdueAlertText(practice.greetingName, g.urgency, ids.length, consoleTaskLink(deps.config.publicBaseUrl, first));
  // The communication matrix is asked per channel (staff_page × sms, × email) inside notifyStaff.
  const { reached, channels, failure, refused, matrix } = await notifyStaff(deps, { what: 'overdue task alert', scope, from, subject: text, text }, to);
  const sent = reached.length;
  if (sent === 0) {
    // Nobody was told (every send failed, or the matrix refused every channel): the claim is
    // given back, the next sweep tries again.
    await releaseAlerts(deps.db, ids, now);
    if (failure !== null) throw failure;
    return 0;
  }
  await deps.audit({
    action: AuditAction.TaskOverdueAlerted,
    actor: 'system:tasks',
    practiceId: g.practiceId,
    subjectId: first,
    details: { urgency: g.urgency, tasks: ids.length, marked: ids.length, recipients: to.map((r) => r.key), reached, sent, channels, refused, matrixCells: matrix.cells, matrixVersion: matrix.version },
  });
  return ids.length;
}
