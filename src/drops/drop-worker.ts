import type { AppContext } from '../app-context.js';
import { systemScope } from '../tenancy/system-scope.js';
import { AuditAction } from '../audit/events.js';
import type { DropStatus } from '../adapters/db-schema.js';
import { getPractice } from '../practices/store.js';
import { phoneOf } from '../patients/store.js';
import { hasVendorBaa } from '../consent/store.js';
import { reserveSlot } from './rate-limit.js';
import { matrixFor } from '../outreach/matrix-store.js';
import { completeIfDone, matrixVerdict, messageFor, dropJobId, loadFacts, isPersonalSkip, type DropJobData, type FinishDeps } from './campaigns.js';
import { decide } from './eligibility.js';
import { createDropProvider, type DropProviderDeps } from './providers/index.js';
import { DropProviderError } from './types.js';
import { processSmsJob } from './sms-worker.js';
import { claimDropSent, finishDropRow, loadCampaign, loadDrop, lockPatientForDrop, rescheduleDrop, setProviderRef, staleSentDrops, unclaimDrop } from './campaign-store.js';

/**
 * The drop worker: re-reads the drop, its campaign and every fact, re-checks every rule
 * (consent, opt-out, hours, holidays, caps) immediately before sending, then places the drop
 * once. Jobs carry ids only.
 *
 * At most once: the drop is claimed ('sent') in the same transaction that checked the caps,
 * under a per-patient lock, before the provider is asked. A crash after the claim can lose a
 * drop (the sweep records it as failed) but never sends it twice; two campaigns cannot both
 * pass the daily cap for one patient.
 *
 * The worker and the sweep cross practices (the `ahl_system` role): they find a drop by its id,
 * and act for its practice through a system scope for that practice.
 */

/** A drop still 'sent' after this long without a final word from the provider is closed as failed. */
export const SENT_TIMEOUT_MS = 24 * 3_600_000;

/** What closing a drop touches: the drops (by id, any practice), the audit log, the time. */
export type DropFinishDeps = Pick<AppContext, 'db'> & FinishDeps;
/** Everything a drop job touches: the database, the pace (Redis), the queue, the blind index, the provider's adapter. */
export type DropJobDeps = DropFinishDeps & DropProviderDeps & Pick<AppContext, 'queues' | 'keyring'>;
// An SMS campaign's row goes to ./sms-worker.ts with the same deps.

export type DropJobResult = 'stale' | 'done' | 'gone' | 'paused' | 'cancelled' | 'skipped' | 'refused' | 'deferred' | 'failed' | 'sent' | 'raced' | 'retry';

export async function finishDrop(
  services: DropFinishDeps,
  dropId: string,
  status: Extract<DropStatus, 'delivered' | 'failed' | 'skipped' | 'cancelled'>,
  reason: string | null,
  from: readonly DropStatus[],
  extra: { providerRef?: string; callSid?: string; matrixCell?: string } = {},
): Promise<boolean> {
  const now = services.clock();
  const row = await finishDropRow(services.db, dropId, status, reason, from, now, extra.providerRef);
  if (!row) return false;
  await services.audit({
    action: AuditAction.DropFinal,
    actor: 'system:rvm',
    practiceId: row.practice_id,
    callSid: extra.callSid ?? null,
    subjectId: dropId,
    details: { campaignId: row.campaign_id, status, reason, attempts: row.attempts, ...(extra.matrixCell ? { matrixCell: extra.matrixCell } : {}) },
  });
  await completeIfDone(services, systemScope(services, row.practice_id), row.campaign_id);
  return true;
}

/** A provider's final word on a sent drop (vendor webhook, or Twilio's status callback). */
export async function recordDropOutcome(
  services: DropFinishDeps,
  dropId: string,
  outcome: { status: 'delivered' | 'failed'; reason: string; providerRef?: string; callSid?: string },
): Promise<boolean> {
  return finishDrop(services, dropId, outcome.status, outcome.reason, ['sent'], {
    ...(outcome.providerRef ? { providerRef: outcome.providerRef } : {}),
    ...(outcome.callSid ? { callSid: outcome.callSid } : {}),
  });
}

async function reschedule(
  services: Pick<AppContext, 'db' | 'redis' | 'queues' | 'audit'>,
  drop: { id: string; practice_id: string; campaign_id: string },
  ratePerMinute: number,
  version: number,
  until: Date,
  now: Date,
  reason: string,
): Promise<void> {
  const dropId = drop.id;
  const campaignId = drop.campaign_id;
  // Deferred drops of a campaign keep the campaign's pace: each takes the next free slot at or after `until`.
  const at = await reserveSlot(services.redis, `rate:campaign:${campaignId}`, ratePerMinute / 60, until.getTime(), now.getTime());
  const next = version + 1;
  if (!(await rescheduleDrop(services.db, dropId, version, new Date(at), now))) return;
  await services.queues.drops.add('drop', { dropId, version: next } satisfies DropJobData, { jobId: dropJobId(dropId, next), delay: Math.max(0, at - now.getTime()) });
  await services.audit({ action: AuditAction.DropScheduled, actor: 'system:rvm', practiceId: drop.practice_id, subjectId: dropId, details: { campaignId, reason, at: new Date(at).toISOString() } });
}

/**
 * One drop job. `lastAttempt`: BullMQ will not retry this job again, so a retryable provider
 * error becomes the drop's final failure instead of another try.
 */
export async function processDropJob(services: DropJobDeps, data: DropJobData, lastAttempt: boolean): Promise<DropJobResult> {
  const drop = await loadDrop(services.db, data.dropId);
  if (!drop || drop.schedule_version !== data.version) return 'stale';
  if (drop.status !== 'queued') return 'done';
  const campaign = await loadCampaign(services.db, drop.campaign_id);
  const practice = await getPractice(systemScope(services, drop.practice_id));
  if (!campaign || !practice) return 'gone';
  const scope = systemScope(services, practice.id);
  if (campaign.state === 'paused' || campaign.state === 'draft') return 'paused'; // resume plans a new version
  if (campaign.state !== 'running') {
    await finishDrop(services, drop.id, 'cancelled', 'campaign_cancelled', ['queued']);
    return 'cancelled';
  }
  if (!(await hasVendorBaa(scope, campaign.provider))) {
    await finishDrop(services, drop.id, 'failed', 'no_vendor_baa', ['queued']);
    return 'failed';
  }
  if (campaign.channel === 'sms') {
    return processSmsJob(services, drop, campaign, practice, data, lastAttempt, async (status, reason, from, matrixCell) => {
      await finishDrop(services, drop.id, status, reason, from, matrixCell ? { matrixCell } : {});
    });
  }
  // The recipient's own message: their appointment as of now (the linked one, else their next).
  const message = await messageFor(services, scope, campaign, practice, { patientId: drop.patient_id, appointmentId: drop.appointment_id });
  if (!message.ok && isPersonalSkip(message.reason)) {
    // Never a blank, never a campaign-wide or another patient's time: no message for this recipient.
    await finishDrop(services, drop.id, 'skipped', message.reason, ['queued']);
    return 'skipped';
  }
  if (!message.ok) {
    await finishDrop(services, drop.id, 'failed', message.reason, ['queued']);
    return 'failed';
  }
  // The communication matrix as of now (this instance's copy, at most 30 s old and dropped on a
  // save here): a cell closed since the campaign started stops this drop.
  const matrix = await matrixVerdict(scope, message, 'rvm', matrixFor);
  if (!matrix.decision.ok) {
    await finishDrop(services, drop.id, 'skipped', `matrix_${matrix.decision.reason}`, ['queued'], { matrixCell: matrix.decision.cell });
    return 'skipped';
  }
  const allowedBy = matrix.decision.allowed.cell;
  const now = services.clock();

  // Check and claim under the patient's lock: every rule, as of now, then 'sent'.
  let consentId: string | null = null;
  const verdict = await services.db.transaction().execute(async (trx) => {
    await lockPatientForDrop(trx, drop.patient_id);
    // The facts are read in the transaction that holds the lock: a scope over it, for this practice.
    const [facts] = await loadFacts(systemScope({ db: trx }, practice.id), practice, [drop.patient_id], now);
    if (!facts) return { kind: 'exclude' as const, reason: 'unknown_patient' as const };
    const decision = decide(facts, now, practice.holidays, practice.timeZone);
    if (decision.kind !== 'send') return decision;
    consentId = facts.consentId;
    return (await claimDropSent(trx, drop.id, data.version, drop.attempts + 1, now, message.appointmentId)) ? decision : { kind: 'raced' as const };
  });
  switch (verdict.kind) {
    case 'raced':
      return 'raced';
    case 'exclude':
      await finishDrop(services, drop.id, 'skipped', verdict.reason, ['queued']);
      return 'skipped';
    case 'defer':
      await reschedule(services, drop, campaign.rate_per_minute, data.version, verdict.until, now, verdict.reason);
      return 'deferred';
    case 'send':
      break;
    default:
      return verdict satisfies never;
  }

  const to = await phoneOf(systemScope(services, practice.id), services.keyring, drop.patient_id);
  if (!to) {
    await finishDrop(services, drop.id, 'failed', 'no_phone', ['sent']);
    return 'failed';
  }
  try {
    const provider = createDropProvider(services, campaign.provider);
    const { providerRef } = await provider.send({
      dropId: drop.id,
      to,
      callerId: message.callerId,
      text: message.text,
      ...(message.audioUrl ? { audioUrl: message.audioUrl } : {}),
      humanAnswer: campaign.human_answer,
    });
    await setProviderRef(services.db, drop.id, providerRef, services.clock());
    await services.audit({
      action: AuditAction.DropSent,
      actor: 'system:rvm',
      practiceId: practice.id,
      subjectId: drop.id,
      // The trace of why it could go (issue 15, item 6): the consent grant and the matrix cell and version that allowed it.
      details: {
        campaignId: campaign.id,
        provider: campaign.provider,
        providerRef,
        attempt: drop.attempts + 1,
        consentId,
        matrixCell: allowedBy,
        matrixVersion: matrix.version,
        // The appointment the message spoke of, by id only (never its time).
        ...(message.appointmentId ? { appointmentId: message.appointmentId } : {}),
      },
    });
    return 'sent';
  } catch (err) {
    const retryable = err instanceof DropProviderError ? err.retryable : true;
    const reason = err instanceof DropProviderError ? err.message.slice(0, 80) : 'error';
    await services.audit({
      action: AuditAction.DropSent,
      actor: 'system:rvm',
      practiceId: practice.id,
      subjectId: drop.id,
      details: { campaignId: campaign.id, provider: campaign.provider, attempt: drop.attempts + 1, error: reason, retryable, lastAttempt },
    });
    if (retryable && !lastAttempt) {
      // Not placed: back to the queue, same version; BullMQ retries the job with backoff.
      await unclaimDrop(services.db, drop.id, services.clock());
      throw err;
    }
    await finishDrop(services, drop.id, 'failed', retryable ? 'provider_error_retries_exhausted' : 'provider_refused', ['sent']);
    return 'failed';
  }
}

/** Closes drops that never got a final word: 'sent' for longer than SENT_TIMEOUT_MS. */
export async function sweepSentDrops(services: DropFinishDeps): Promise<{ closed: number }> {
  const cutoff = new Date(services.clock().getTime() - SENT_TIMEOUT_MS);
  let closed = 0;
  for (const id of await staleSentDrops(services.db, cutoff)) if (await finishDrop(services, id, 'failed', 'no_final_status', ['sent'])) closed += 1;
  return { closed };
}
