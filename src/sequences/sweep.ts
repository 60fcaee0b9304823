import type { PracticeScope } from '../tenancy/scope.js';
import { systemScope } from '../tenancy/system-scope.js';
import { AuditAction } from '../audit/events.js';
import type { SequenceChannel } from '../adapters/db-schema.js';
import { getPractice } from '../practices/store.js';
import { optedOutAmong } from '../consent/store.js';
import type { EmailMessageType } from '../outreach/email-templates.js';
import { sendEmailNotice } from '../outreach/email-notice.js';
import { closeUnsent, markSent, planSend } from '../outreach/sends-store.js';
import { planCampaign } from '../drops/campaigns.js';
import { insertDrops, loadCampaign } from '../drops/campaign-store.js';
import { decideStep, dueAt, type StepFacts } from './conditions.js';
import { claimDueRecipients, dropFor, hasActiveRecipients, markSequenceCompleted, recipientById, recipientFacts, recordStep, reopenCampaign, sequenceOf, stepsOf, type StepRow } from './store.js';
import { sequenceOrigin, type SequenceDeps } from './sequences.js';

/**
 * The sequences' sweep (the maintenance task `sequence-steps`): claims recipients of running
 * sequences whose next step is due, in bounded batches (`FOR UPDATE SKIP LOCKED`), decides each
 * step from the database's facts (./conditions.ts) and sends it through its channel: a drop of
 * the step's campaign (planned at once; the dispatcher queues it) or a notice e-mail with its
 * ledger row. Background work: it acts through a system scope for each recipient's practice.
 */

export const SEQUENCE_SWEEP_EVERY_MS = 30_000;
const SWEEP_BATCH = 500;
const SWEEP_MAX_BATCHES = 10;
/** How long a claimed recipient is this sweep's: then due again if the step was never recorded. */
const CLAIM_LEASE_MS = 5 * 60_000;

/** The sweep: every due recipient of a running sequence has its step decided and, if it goes, sent. How many steps ran. */
export async function runDueSteps(services: SequenceDeps): Promise<{ steps: number }> {
  let steps = 0;
  for (let b = 0; b < SWEEP_MAX_BATCHES; b++) {
    const now = services.clock();
    // Claimed with a lease: another instance's sweep leaves these alone while this one works.
    const claimed = await claimDueRecipients(services.db, now, new Date(now.getTime() + CLAIM_LEASE_MS), SWEEP_BATCH);
    if (claimed.length === 0) break;
    const touched = new Map<string, { practiceId: string; campaigns: Set<string> }>();
    for (const r of claimed) {
      const scope = systemScope(services, r.practice_id);
      const campaign = await runStep(services, scope, r.id, now);
      const entry = touched.get(r.sequence_id) ?? { practiceId: r.practice_id, campaigns: new Set<string>() };
      if (campaign) entry.campaigns.add(campaign);
      touched.set(r.sequence_id, entry);
      steps++;
    }
    for (const [sequenceId, { practiceId, campaigns }] of touched) {
      const scope = systemScope(services, practiceId);
      const practice = await getPractice(scope);
      for (const campaignId of campaigns) {
        const campaign = await loadCampaign(services.db, campaignId);
        if (!campaign || !practice) continue;
        if (await reopenCampaign(scope, campaignId, now)) {
          await services.audit({ action: AuditAction.CampaignStateChanged, actor: 'system:sequence', practiceId, subjectId: campaignId, details: { state: 'running', reopenedBy: sequenceId } });
        }
        await planCampaign(services, scope, { ...campaign, channel: campaign.channel }, practice);
      }
      if (!(await hasActiveRecipients(scope, sequenceId)) && (await markSequenceCompleted(scope, sequenceId, now))) {
        await services.audit({ action: AuditAction.SequenceStateChanged, actor: 'system:sequence', practiceId, subjectId: sequenceId, details: { state: 'completed' } });
      }
    }
    if (claimed.length < SWEEP_BATCH) break;
  }
  return { steps };
}

/** One recipient's due step: decided from the database's facts, then sent, skipped or stopped. The step's campaign when a drop was added to it. */
async function runStep(services: SequenceDeps, scope: PracticeScope, recipientId: string, now: Date): Promise<string | null> {
  const r = await recipientById(scope, recipientId);
  // Claimed by this sweep (its lease): re-read, and left alone if it stopped meanwhile.
  if (!r || r.stopped_reason) return null;
  const steps = await stepsOf(scope, r.sequence_id);
  const sequence = await sequenceOf(scope, r.sequence_id);
  const step = steps[r.current_step];
  if (!step || !sequence) {
    await recordStep(scope, { id: r.id, position: r.current_step }, null, { stop: 'completed' }, now);
    return null;
  }
  const facts = await recipientFacts(scope, r);
  const optedOut = new Set<SequenceChannel>();
  if (facts.phoneIndex && (await optedOutAmong(scope, [facts.phoneIndex])).has(facts.phoneIndex)) {
    optedOut.add('sms');
    optedOut.add('rvm');
  }
  const prevStep: StepRow | undefined = steps[r.current_step - 1];
  const previous: StepFacts['previous'] =
    prevStep && facts.previous
      ? {
          channel: prevStep.channel,
          sent: facts.previous.outcome === 'sent',
          delivered: facts.previous.dropStatus === 'delivered' || facts.previous.sendStatus === 'delivered',
          replied: facts.previous.repliedAt !== null,
        }
      : null;
  const decision = decideStep(step, { appointmentConfirmed: facts.appointmentStatus === 'confirmed', optedOut, previous });
  const next = steps[r.current_step + 1];
  const after = next ? { dueAt: dueAt(now, next.wait_hours) } : { stop: 'completed' as const };
  const audit = (details: Record<string, unknown>): Promise<void> =>
    services.audit({ action: AuditAction.SequenceStep, actor: 'system:sequence', practiceId: scope.practiceId, subjectId: r.id, details: { sequenceId: r.sequence_id, position: step.position, channel: step.channel, ...details } });
  switch (decision.kind) {
    case 'stop':
      await recordStep(scope, { id: r.id, position: step.position }, { outcome: 'skipped', reason: decision.reason }, { stop: decision.reason }, now);
      await audit({ outcome: 'stopped', reason: decision.reason });
      return null;
    case 'skip':
      await recordStep(scope, { id: r.id, position: step.position }, { outcome: 'skipped', reason: decision.reason }, after, now);
      await audit({ outcome: 'skipped', reason: decision.reason });
      return null;
    case 'send':
      break;
    default:
      return decision satisfies never;
  }
  if (step.channel === 'email') {
    const sendKey = `seq-${r.id}-${step.position}`;
    const send = await planSend(scope, { patientId: r.patient_id, channel: 'email', messageType: sequence.message_type, origin: sequenceOrigin(r.sequence_id, step.position), idempotencyKey: sendKey, recipientIndex: null }, now);
    const result = await sendEmailNotice(services, scope, { patientId: r.patient_id, messageType: sequence.message_type as EmailMessageType, templateId: step.template_id, origin: 'sequence', sendKey });
    if (result.kind === 'sent') await markSent(scope, send.id, now);
    else await closeUnsent(scope, send.id, 'skipped', result.reason, now, result.cell ? { matrixCell: result.cell } : {});
    await recordStep(scope, { id: r.id, position: step.position }, { outcome: result.kind === 'sent' ? 'sent' : 'skipped', reason: result.kind === 'sent' ? null : result.reason, sendId: send.id }, after, now);
    await audit({ outcome: result.kind, sendId: send.id });
    return null;
  }
  if (!step.campaign_id) return null;
  // The drop takes the provider its campaign was created with (an rvm step's vendor, or Twilio for SMS).
  const campaign = await loadCampaign(services.db, step.campaign_id);
  if (!campaign) return null;
  await insertDrops(scope, { id: campaign.id, provider: campaign.provider }, [{ patientId: r.patient_id, appointmentId: r.appointment_id }]);
  const dropId = await dropFor(scope, step.campaign_id, r.patient_id);
  await recordStep(scope, { id: r.id, position: step.position }, { outcome: 'sent', reason: null, dropId }, after, now);
  await audit({ outcome: 'handed_to_campaign', campaignId: step.campaign_id, dropId });
  return step.campaign_id;
}

