import type { AppContext } from '../app-context.js';
import { systemScope } from '../tenancy/system-scope.js';
import { AuditAction } from '../audit/events.js';
import { TwilioRestError } from '../adapters/twilio-rest.js';
import type { Practice } from '../practices/store.js';
import { phoneOf } from '../patients/store.js';
import { acquireSlot, reserveSlot, TWILIO_SMS_PER_SECOND, twilioSmsRateKey } from './rate-limit.js';
import { campaignOrigin, dropJobId, isPersonalSkip, loadFacts, matrixVerdict, messageFor, type DropJobData } from './campaigns.js';
import { matrixFor } from '../outreach/matrix-store.js';
import { decide } from './eligibility.js';
import { claimDropSent, lockPatientForDrop, phoneIndexOf, rescheduleDrop, setProviderRef, unclaimDrop, type CampaignRow, type DropRow } from './campaign-store.js';
import { claimSend, closeUnsent, failSend, lastSmsTo, planSend, setSendRef, unclaimSend } from '../outreach/sends-store.js';
import { opensConversation, smsLength, withOptOut } from '../outreach/sms-text.js';

/**
 * One SMS of an SMS campaign (issue 15, item 2), run by the drop worker for a campaign whose
 * channel is `sms`: the campaign's per-recipient row is its drop row (planned, paced, paused and
 * cancelled as drops are); the message itself is a row of the send ledger (outreach_sends,
 * origin `campaign:<id>`, idempotency key `drop:<dropId>`), which the status callbacks move.
 *
 * Checked again at send time, in order: the practice's Messaging Service, the template rendered
 * for this recipient, the communication matrix (`<type> × sms`), then under the patient's lock:
 * opt-out (one list for every channel), a current SMS consent grant, recipient-local hours and
 * state rules, caps across channels and the SMS cap. Claimed before Twilio is asked (at most once).
 * The audit names the consent grant, the matrix cell and version; ids only, never the number or text.
 */

export type SmsJobDeps = Pick<AppContext, 'db' | 'audit' | 'clock' | 'config' | 'twilio' | 'redis' | 'keyring' | 'queues'>;
export type SmsJobResult = 'skipped' | 'refused' | 'deferred' | 'failed' | 'sent' | 'raced';

/** A final word on the campaign's row for this SMS (the caller closes it, audits it and completes the campaign). */
export type FinishRow = (status: 'failed' | 'skipped', reason: string, from: ReadonlyArray<'queued' | 'sent'>, matrixCell?: string) => Promise<void>;

const statusCallbackOf = (deps: Pick<AppContext, 'config'>): string => `${deps.config.publicBaseUrl}/twilio/sms/status`;

export async function processSmsJob(
  deps: SmsJobDeps,
  drop: DropRow,
  campaign: CampaignRow,
  practice: Practice,
  data: DropJobData,
  lastAttempt: boolean,
  finishRow: FinishRow,
): Promise<SmsJobResult> {
  const scope = systemScope(deps, practice.id);
  const now = deps.clock();
  // The recipient's own message: their appointment (the linked one, else their next) fills the personal placeholders.
  // The ledger row names the appointment the message spoke of, else the one the recipient list named (a reply "C" confirms it).
  const message = await messageFor(deps, scope, campaign, practice, { patientId: drop.patient_id, appointmentId: drop.appointment_id });
  const messageType = message.ok ? message.messageType : 'unknown';
  const recipientIndex = await phoneIndexOf(scope, drop.patient_id);
  const send = await planSend(
    scope,
    { patientId: drop.patient_id, channel: 'sms', messageType, origin: campaignOrigin(campaign.id), idempotencyKey: `drop:${drop.id}`, recipientIndex, appointmentId: (message.ok ? message.appointmentId : null) ?? drop.appointment_id },
    now,
  );
  if (send.status !== 'planned') return 'raced';
  const notSent = async (status: 'refused' | 'skipped' | 'failed', reason: string, extra: { matrixCell?: string; matrixVersion?: number } = {}): Promise<void> => {
    if (!(await closeUnsent(scope, send.id, status, reason, now, extra))) return;
    await deps.audit({
      action: AuditAction.SmsNotSent,
      actor: 'system:sms',
      practiceId: practice.id,
      subjectId: send.id,
      details: { campaignId: campaign.id, dropId: drop.id, status, reason, ...extra },
    });
  };

  if (!practice.messagingServiceSid) {
    await notSent('refused', 'no_messaging_service');
    await finishRow('failed', 'no_messaging_service', ['queued']);
    return 'refused';
  }
  if (!message.ok && isPersonalSkip(message.reason)) {
    // Never a blank, never a campaign-wide or another patient's time: no message for this recipient.
    await notSent('skipped', message.reason);
    await finishRow('skipped', message.reason, ['queued']);
    return 'skipped';
  }
  if (!message.ok) {
    await notSent('failed', message.reason);
    await finishRow('failed', message.reason, ['queued']);
    return 'failed';
  }
  const matrix = await matrixVerdict(scope, message, 'sms', matrixFor);
  if (!matrix.decision.ok) {
    await notSent('refused', `matrix_${matrix.decision.reason}`, { matrixCell: matrix.decision.cell, matrixVersion: matrix.version });
    await finishRow('skipped', `matrix_${matrix.decision.reason}`, ['queued'], matrix.decision.cell);
    return 'refused';
  }
  const allowedBy = matrix.decision.allowed.cell;

  let consentId: string | null = null;
  const verdict = await deps.db.transaction().execute(async (trx) => {
    await lockPatientForDrop(trx, drop.patient_id);
    const [facts] = await loadFacts(systemScope({ db: trx }, practice.id), practice, [drop.patient_id], now, 'sms');
    if (!facts) return { kind: 'exclude' as const, reason: 'unknown_patient' as const };
    const decision = decide(facts, now, practice.holidays, practice.timeZone, 'sms');
    if (decision.kind !== 'send') return decision;
    consentId = facts.consentId;
    if (!(await claimDropSent(trx, drop.id, data.version, drop.attempts + 1, now, message.appointmentId))) return { kind: 'raced' as const };
    return decision;
  });
  switch (verdict.kind) {
    case 'raced':
      return 'raced';
    case 'exclude':
      await notSent('skipped', verdict.reason);
      await finishRow('skipped', verdict.reason, ['queued']);
      return 'skipped';
    case 'defer': {
      // The ledger row stays planned; the next version of the job finds it by its key.
      const at = await reserveSlot(deps.redis, `rate:campaign:${campaign.id}`, campaign.rate_per_minute / 60, verdict.until.getTime(), now.getTime());
      const next = data.version + 1;
      if (await rescheduleDrop(deps.db, drop.id, data.version, new Date(at), now)) {
        await deps.queues.drops.add('drop', { dropId: drop.id, version: next } satisfies DropJobData, { jobId: dropJobId(drop.id, next), delay: Math.max(0, at - now.getTime()) });
        await deps.audit({ action: AuditAction.DropScheduled, actor: 'system:sms', practiceId: practice.id, subjectId: drop.id, details: { campaignId: campaign.id, reason: verdict.reason, at: new Date(at).toISOString() } });
      }
      return 'deferred';
    }
    case 'send':
      break;
    default:
      return verdict satisfies never;
  }

  const to = await phoneOf(scope, deps.keyring, drop.patient_id);
  if (!to) {
    await notSent('failed', 'no_phone');
    await finishRow('failed', 'no_phone', ['sent']);
    return 'failed';
  }
  // The first message of a conversation with this number carries the opt-out sentence.
  const last = send.recipient_index ? await lastSmsTo(scope, send.recipient_index, send.id) : null;
  const first = opensConversation(last, now);
  const body = withOptOut(message.text, first);
  const length = smsLength(body);
  if (!(await claimSend(scope, send.id, { consentId, matrixCell: allowedBy, matrixVersion: matrix.version, segments: length.segments, optOutAppended: first }, now))) return 'raced';
  const trace = { campaignId: campaign.id, dropId: drop.id, consentId, matrixCell: allowedBy, matrixVersion: matrix.version, segments: length.segments, encoding: length.encoding, optOutAppended: first, attempt: drop.attempts + 1 };
  try {
    await acquireSlot(deps.redis, twilioSmsRateKey(deps.config.twilio.accountSid), TWILIO_SMS_PER_SECOND);
    const { sid } = await deps.twilio.sendSms({ to, messagingServiceSid: practice.messagingServiceSid, body, statusCallback: statusCallbackOf(deps) });
    await setSendRef(scope, send.id, sid, deps.clock());
    await setProviderRef(deps.db, drop.id, sid, deps.clock());
    await deps.audit({ action: AuditAction.SmsSent, actor: 'system:sms', practiceId: practice.id, subjectId: send.id, details: { ...trace, providerRef: sid } });
    return 'sent';
  } catch (err) {
    const retryable = err instanceof TwilioRestError ? err.retryable : true;
    const code = err instanceof TwilioRestError && err.twilioCode !== null ? String(err.twilioCode) : null;
    await deps.audit({ action: AuditAction.SmsSent, actor: 'system:sms', practiceId: practice.id, subjectId: send.id, details: { ...trace, error: code ? `twilio_${code}` : 'error', retryable, lastAttempt } });
    if (retryable && !lastAttempt) {
      // Not taken: both rows back to where they were; BullMQ retries the job (same version) with backoff.
      await unclaimSend(scope, send.id, deps.clock());
      await unclaimDrop(deps.db, drop.id, deps.clock());
      throw err;
    }
    const reason = retryable ? 'provider_error_retries_exhausted' : code ? `provider_refused_${code}` : 'provider_refused';
    await failSend(scope, send.id, reason, code, deps.clock());
    await finishRow('failed', reason, ['sent']);
    return 'failed';
  }
}
