import type { AppContext } from '../app-context.js';
import { AuditAction } from '../audit/events.js';
import { notifyStaff, practiceSender, type StaffContact } from '../notify/staff-sender.js';
import { practiceAdminUsers } from '../notify/admin-users.js';
import { listPracticeAdmins } from '../oncall/store.js';
import { getPractice } from '../practices/store.js';
import { systemScope } from '../tenancy/system-scope.js';
import { logger } from '../log/logger.js';
import { buildOvernightReport, type OvernightReport } from './overnight.js';
import { latestClosedPeriod } from './period.js';

/**
 * At each practice's opening time, the morning report's summary goes to the practice's admins:
 * by e-mail to the admin accounts (when SMTP is configured) and by SMS to the providers who are
 * practice admins (from a practice number), each channel as the practice's communication matrix
 * allows (`staff_page × email`, `staff_page × sms`). Counts and a console link only: no patient data.
 *
 * Once per practice and period: a row in `overnight_reports` (0026) is claimed before sending and
 * stamped `sent_at` after, so a second sweep (or a second instance) sends nothing. A claim left by
 * a sweep that stopped midway goes stale and is taken again; a send that reached nobody releases
 * its claim for the next sweep.
 */

export const MORNING_SWEEP_EVERY_MS = 5 * 60_000;
/** A period whose opening is further back than this is not reported any more (a new deployment, a long outage). */
export const SEND_WITHIN_MS = 6 * 3_600_000;
/** A claim older than this was left by a sweep that stopped; it is taken again. */
const STALE_CLAIM_MS = 15 * 60_000;

export type MorningDeps = Pick<AppContext, 'db' | 'twilio' | 'audit' | 'clock' | 'config'>;

export function overnightLink(publicBaseUrl: string, date: string): string {
  return `${publicBaseUrl}/console/overnight?date=${date}`;
}

/** The numbers the summary carries, flat: what the table keeps and the texts say. */
export function summaryCounts(r: OvernightReport): Record<string, number> {
  return {
    calls: r.calls.total.count,
    messages: r.calls.byOutcome['message']?.count ?? 0,
    urgentVoicemails: r.voicemails.urgent.count,
    routineVoicemails: r.voicemails.routine.count,
    unheardVoicemails: r.voicemails.unheard.count,
    tasksCreated: r.tasks.created.count,
    tasksOpen: r.tasks.open.count,
    tasksOverdue: r.tasks.overdue.count,
    urgentTasksClaimed: r.tasks.urgentClaimed.length,
    lockouts: r.lockouts.count,
    failedDeliveries: r.failedDeliveries.drops.count + r.failedDeliveries.pages.count + r.failedDeliveries.sms.count,
    failSafeAnswers: r.failSafeAnswers.count,
  };
}

/** Pure: the summary's text. The practice's name, counts and a link; nothing about a patient. */
export function summaryText(practiceName: string, date: string, c: Record<string, number>, link: string): string {
  const v = (k: string): number => c[k] ?? 0;
  return [
    `${practiceName}: overnight report for ${date}.`,
    `Calls ${v('calls')} (messages ${v('messages')}, fail-safe answers ${v('failSafeAnswers')}).`,
    `Voicemails: ${v('urgentVoicemails')} urgent, ${v('routineVoicemails')} routine, ${v('unheardVoicemails')} unheard.`,
    `Callbacks: ${v('tasksCreated')} new, ${v('tasksOpen')} open, ${v('tasksOverdue')} overdue.`,
    `Lockouts ${v('lockouts')}. Failed deliveries ${v('failedDeliveries')}.`,
    link,
  ].join(' ');
}

/** The maintenance sweep: every active practice whose latest closed period ended lately and is unreported. */
export async function sweepMorningReports(deps: MorningDeps): Promise<{ sent: number }> {
  const practices = await deps.db.selectFrom('practices').select('id').where('suspended_at', 'is', null).orderBy('id').execute();
  let sent = 0;
  for (const { id } of practices) {
    try {
      if (await sendMorningReport(deps, id)) sent++;
    } catch (err) {
      // The others still go; this one is tried again at the next sweep.
      logger.error('morning report failed', { err, practiceId: id });
    }
  }
  return { sent };
}

/** Sends one practice's summary for its latest closed period, once. True when it was sent now. */
export async function sendMorningReport(deps: MorningDeps, practiceId: string): Promise<boolean> {
  const now = deps.clock();
  const scope = systemScope(deps, practiceId);
  const practice = await getPractice(scope);
  if (!practice || practice.suspended) return false;
  const period = latestClosedPeriod(now, practice.timeZone, practice.weeklyHours, practice.holidays);
  if (!period || now.getTime() - period.end.getTime() > SEND_WITHIN_MS) return false;

  await deps.db
    .insertInto('overnight_reports')
    .values({ practice_id: practiceId, period_date: period.date, period_start: period.start, period_end: period.end })
    .onConflict((oc) => oc.columns(['practice_id', 'period_date']).doNothing())
    .execute();
  const claimed = await deps.db
    .updateTable('overnight_reports')
    .set({ claimed_at: now })
    .where('practice_id', '=', practiceId)
    .where('period_date', '=', period.date)
    .where('sent_at', 'is', null)
    .where((eb) => eb.or([eb('claimed_at', 'is', null), eb('claimed_at', '<', new Date(now.getTime() - STALE_CLAIM_MS))]))
    .executeTakeFirst();
  if (Number(claimed.numUpdatedRows) === 0) return false;

  const report = await buildOvernightReport(deps, scope, period, practice.timeZone, now);
  const counts = summaryCounts(report);
  const link = overnightLink(deps.config.publicBaseUrl, period.date);
  const text = summaryText(practice.greetingName, period.date, counts, link);

  // E-mail to the admin accounts, SMS to the providers who are practice admins (from a practice number).
  const { from } = await practiceSender(scope);
  const contacts: StaffContact[] = [
    ...(await practiceAdminUsers(deps, practiceId)).map((a): StaffContact => ({ key: `user:${a.userId}`, channel: 'email', to: a.email })),
    ...(await listPracticeAdmins(deps.db, practiceId)).map((p): StaffContact => ({ key: `provider:${p.id}`, channel: 'sms', to: p.smsPhone ?? p.phone })),
  ];
  const subject = `${practice.greetingName}: overnight report for ${period.date}`;
  const { tried, reached, channels, refused, matrix } = await notifyStaff(deps, { what: 'morning report', scope, from, subject, text }, contacts);
  if (tried.length > 0 && reached.length === 0) {
    // Nobody got it: released for the next sweep.
    await deps.db.updateTable('overnight_reports').set({ claimed_at: null }).where('practice_id', '=', practiceId).where('period_date', '=', period.date).execute();
    return false;
  }
  await deps.db
    .updateTable('overnight_reports')
    .set({ sent_at: now, counts: JSON.stringify(counts), recipients: reached.length })
    .where('practice_id', '=', practiceId)
    .where('period_date', '=', period.date)
    .execute();
  await deps.audit({
    action: AuditAction.ReportOvernightSent,
    actor: 'system:reports',
    practiceId,
    subjectId: null,
    details: { date: period.date, periodStart: period.start.toISOString(), periodEnd: period.end.toISOString(), counts, recipients: reached, channels, refused, matrixCells: matrix.cells, matrixVersion: matrix.version },
  });
  return true;
}
