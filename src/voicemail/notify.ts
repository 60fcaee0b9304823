import type { AppContext } from '../app-context.js';
import { systemScope } from '../tenancy/system-scope.js';
import { AuditAction } from '../audit/events.js';
import { logger } from '../log/logger.js';
import { practiceSender, sendStaffSms, staffCell } from '../notify/staff-sender.js';
import { resolvePlan } from '../oncall/escalation.js';
import { spokenNumber } from '../oncall/paging.js';
import { getProvider, listPracticeAdmins } from '../oncall/store.js';
import { findPageByCall } from '../oncall/paging-store.js';
import { markNotified, notifiedRecipients, recordNotification } from './store.js';

/**
 * A new voicemail is announced without PHI: the practice, "new urgent voicemail", a reference
 * code and the provider access line. Urgent ones go by SMS to whoever is first in the on-call
 * chain now (or the practice's admins); routine ones wait in the practice inbox (the API list).
 * An urgent voicemail left after the chain was exhausted is already covered by that call's page.
 *
 * At least once, per recipient: a recipient is recorded (voicemail_notifications) only after
 * Twilio accepted their SMS, and `notified_at` only once everyone has been told. A failed send
 * throws, so the job retries and tells only those not told yet. A retry may repeat an SMS whose
 * acceptance was lost on the way back; it never drops one.
 *
 * The access line: the practice's `accessNumber` setting. Without one the SMS says "call the
 * provider access line" with no number (the patient line or the fallback number would be the
 * wrong place to listen). It is sent from the access line when that is one of the practice's
 * numbers, else from the practice's lowest-sorted number: the same numbers as a page
 * (`pageNumbers`).
 */

interface VoicemailRow {
  id: string;
  practice_id: string;
  call_sid: string;
  urgency: 'urgent' | 'routine';
  reference_code: string;
}

/** Pure: the SMS text. */
export function voicemailNoticeText(practiceName: string, referenceCode: string, accessNumber: string | null): string {
  const listen = accessNumber ? `Call ${spokenNumber(accessNumber)} to listen.` : 'Call the provider access line to listen.';
  return `${practiceName}: new urgent voicemail. Ref ${referenceCode}. ${listen}`;
}

interface Recipient {
  /** `provider:<id>`: the key of voicemail_notifications. */
  key: string;
  to: string;
}

/** The first of the on-call chain now, or else the practice's admins; their SMS number. */
async function recipientsFor(services: Pick<AppContext, 'db' | 'clock'>, practiceId: string): Promise<Recipient[]> {
  const scope = systemScope(services, practiceId);
  const plan = await resolvePlan(scope, null, services.clock());
  const first = plan.targets.find((t) => t.providerId !== null);
  if (first?.providerId) {
    const p = await getProvider(scope, first.providerId);
    if (p) return [{ key: `provider:${p.id}`, to: p.smsPhone ?? p.phone }];
  }
  return (await listPracticeAdmins(services.db, practiceId)).map((a) => ({ key: `provider:${a.id}`, to: a.smsPhone ?? a.phone }));
}

/** What announcing a voicemail uses: the practice's people and numbers, Twilio's SMS, the audit log. */
export type NotifyDeps = Pick<AppContext, 'db' | 'twilio' | 'audit' | 'clock'>;

export async function notifyNewVoicemail(services: NotifyDeps, v: VoicemailRow): Promise<void> {
  let channel: 'sms' | 'inbox' | 'page' = 'inbox';
  let recipients = 0;
  let matrixTrace: { matrixCell: string; matrixVersion: number } | Record<string, never> = {};
  if (v.urgency === 'urgent') {
    const page = await findPageByCall(services.db, v.call_sid);
    if (page) {
      channel = 'page';
    } else {
      // The voicemail job's: the practice comes from the row, on the system role (./worker.ts).
      const scope = systemScope(services, v.practice_id);
      const { practice, from } = await practiceSender(scope);
      const to = practice && from ? await recipientsFor(services, v.practice_id) : [];
      // The communication matrix's staff_page × sms (locked open: asked so the notice names its cell).
      const cell = await staffCell(scope, 'sms');
      matrixTrace = { matrixCell: cell.cell, matrixVersion: cell.version };
      if (!cell.allowed) logger.warn('voicemail notice: not sent, refused by the communication matrix', { practiceId: v.practice_id, voicemailId: v.id, cell: cell.cell });
      if (practice && from && to.length > 0 && cell.allowed) {
        const told = await notifiedRecipients(services.db, v.id);
        const body = voicemailNoticeText(practice.greetingName, v.reference_code, practice.accessNumber);
        let failure: unknown = null;
        for (const r of to) {
          if (told.has(r.key)) continue;
          try {
            const { sid } = await sendStaffSms(services, { to: r.to, from, body });
            await recordNotification(services.db, { voicemailId: v.id, recipient: r.key, messageSid: sid, at: services.clock() });
            told.add(r.key);
          } catch (err) {
            // Tell the others now; the job retries this one.
            failure ??= err;
          }
        }
        if (failure !== null) throw failure;
        recipients = to.filter((r) => told.has(r.key)).length;
        channel = 'sms';
      }
    }
  }
  if (!(await markNotified(services.db, v.id, services.clock()))) return;
  await services.audit({
    action: AuditAction.VoicemailNotified,
    actor: 'system:voicemail',
    practiceId: v.practice_id,
    callSid: v.call_sid,
    subjectId: v.id,
    details: { channel, recipients, urgency: v.urgency, ...matrixTrace },
  });
}
