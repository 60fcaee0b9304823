import type { Services } from '../services.js';
import { AuditAction } from '../audit/events.js';
import { getPractice, listPracticeNumbers } from '../practices/store.js';
import { resolvePlan } from '../oncall/escalation.js';
import { listPracticeAdmins } from '../oncall/store.js';

/**
 * A new voicemail is announced without PHI: the practice, "new urgent voicemail", a reference
 * code and the access number. Urgent ones go by SMS to whoever is first in the on-call chain now
 * (or the practice's admins); routine ones wait in the practice inbox (the API list). An urgent
 * voicemail left after the chain was exhausted is already covered by that call's page.
 */

interface VoicemailRow {
  id: string;
  practice_id: string;
  call_sid: string;
  urgency: 'urgent' | 'routine';
  reference_code: string;
}

function spoken(e164: string | undefined): string {
  const m = e164 ? /^\+1(\d{3})(\d{3})(\d{4})$/.exec(e164) : null;
  return m ? `${m[1]}-${m[2]}-${m[3]}` : (e164 ?? '');
}

/** Pure: the SMS text. */
export function voicemailNoticeText(practiceName: string, referenceCode: string, accessNumber: string | undefined): string {
  return `${practiceName}: new urgent voicemail. Ref ${referenceCode}.${accessNumber ? ` Call ${spoken(accessNumber)} to listen.` : ''}`;
}

export async function notifyNewVoicemail(services: Services, v: VoicemailRow): Promise<void> {
  // Claim the notification first, so a retried job never sends it twice.
  const claimed = await services.db
    .updateTable('voicemails')
    .set({ notified_at: services.clock() })
    .where('id', '=', v.id)
    .where('notified_at', 'is', null)
    .executeTakeFirst();
  if (Number(claimed.numUpdatedRows) === 0) return;

  let channel: 'sms' | 'inbox' | 'page' = 'inbox';
  let recipients = 0;
  if (v.urgency === 'urgent') {
    const page = await services.db.selectFrom('pages').select('id').where('call_sid', '=', v.call_sid).executeTakeFirst();
    if (page) {
      channel = 'page';
    } else {
      const [practice, numbers] = await Promise.all([getPractice(services.db, v.practice_id), listPracticeNumbers(services.db, v.practice_id)]);
      const access = numbers[0]?.e164;
      const plan = await resolvePlan(services.db, v.practice_id, null, services.clock());
      const first = plan.targets[0];
      const to = first ? [first.number] : (await listPracticeAdmins(services.db, v.practice_id)).map((a) => a.smsPhone ?? a.phone);
      if (practice && access) {
        for (const number of to) {
          await services.twilio.sendSms({ to: number, from: access, body: voicemailNoticeText(practice.greetingName, v.reference_code, access) });
          recipients += 1;
        }
        channel = 'sms';
      }
    }
  }
  await services.audit({
    action: AuditAction.VoicemailNotified,
    actor: 'system:voicemail',
    practiceId: v.practice_id,
    callSid: v.call_sid,
    subjectId: v.id,
    details: { channel, recipients, urgency: v.urgency },
  });
}
