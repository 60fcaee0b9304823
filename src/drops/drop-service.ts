import { z } from 'zod';
import type { AppContext } from '../app-context.js';
import type { ScopeFor } from '../tenancy/scope.js';
import { AuditAction } from '../audit/events.js';
import { logger } from '../log/logger.js';
import { CallSidSchema } from '../calls/twilio-params.js';
import { campaignMessage } from './campaigns.js';
import { recordDropOutcome, type DropFinishDeps } from './drop-worker.js';
import { OPT_OUT_KEY } from './templates.js';
import { phoneOf } from '../patients/store.js';
import { recordOptOut } from '../consent/store.js';
import { dropAction, dropConfirmTwiml, dropOptedOutTwiml, dropHangupTwiml, dropOutcome, dropTwiml, FINAL_CALL_STATUSES, toAnsweredBy } from './drop-twiml.js';
import { confirmAppointmentOf, hasAppointmentToConfirm } from '../outreach/replies.js';
import { dropConfirmPath } from './providers/twilio-provider.js';
import { RvmWebhookSchema, verifyRvmSignature } from './providers/http-provider.js';
import { dropForAnswer, dropForStatus, dropProviderOf, setAnsweredBy } from './campaign-store.js';

/**
 * The edges of a drop after it was placed: Twilio's requests for the drop call (its TwiML once
 * the greeting ended, and its final status) and the vendor's signed status webhook. Each finds
 * its drop by id on the system role (the request names no practice, only a drop), then acts for
 * that drop's practice.
 */

const DropId = z.string().uuid();
export const AnswerParams = z.object({ CallSid: CallSidSchema, AnsweredBy: z.string().max(40).optional() });
export const StatusParams = z.object({ CallSid: CallSidSchema, CallStatus: z.string().max(20) });
export const ConfirmParams = z.object({ CallSid: CallSidSchema, Digits: z.string().max(20).optional() });

/** The TwiML of a Twilio drop call; plays nothing unless the drop is one we placed and still sending. */
/** `scopeFor` mints the request scope of the drop's practice, once the drop id has found it (the Twilio route's). */
export async function handleDropAnswer(services: DropFinishDeps & Pick<AppContext, 'config'>, scopeFor: ScopeFor, dropIdRaw: string | undefined, body: unknown): Promise<string> {
  const dropId = DropId.safeParse(dropIdRaw);
  const params = AnswerParams.safeParse(body);
  if (!dropId.success || !params.success) return dropHangupTwiml();
  const drop = await dropForAnswer(services.db, dropId.data);
  // Only the call we placed for this drop: the CallSid must be the one the provider returned
  // (or not yet stored, when Twilio is quicker than our write after createCall).
  if (!drop || drop.status !== 'sent' || (drop.provider_ref !== null && drop.provider_ref !== params.data.CallSid)) return dropHangupTwiml();
  // The recipient's own message: the appointment recorded when the drop was claimed.
  const scope = scopeFor(drop.practice_id);
  const message = await campaignMessage(services, scope, drop.campaign_id, { patientId: drop.patient_id, appointmentId: drop.appointment_id });
  if (!message.ok) return dropHangupTwiml();
  const answeredBy = toAnsweredBy(params.data.AnsweredBy);
  // A person hearing an appointment message is asked to press 1 to confirm it (its appointment still booked).
  const target = { patient_id: drop.patient_id, appointment_id: drop.appointment_id, message_type: message.messageType };
  const offer = answeredBy === 'human' && drop.human_answer === 'message' && drop.appointment_id !== null && (await hasAppointmentToConfirm(scope, target, services.clock()));
  const confirmAction = offer ? `${services.config.publicBaseUrl}${dropConfirmPath(drop.id)}` : undefined;
  const { twiml, played } = dropTwiml({ answeredBy, text: message.text, audioUrl: message.audioUrl, humanAnswer: drop.human_answer, confirmAction });
  await setAnsweredBy(services.db, drop.id, answeredBy, services.clock());
  await services.audit({
    action: AuditAction.DropAnswered,
    actor: 'twilio',
    practiceId: drop.practice_id,
    callSid: params.data.CallSid,
    subjectId: drop.id,
    details: { campaignId: drop.campaign_id, answeredBy, played, ...(offer ? { confirmOffered: true } : {}) },
  });
  return twiml;
}

/**
 * A key pressed at a drop call's confirmation prompt (`POST /twilio/rvm/confirm?d=`): 1 confirms
 * the appointment the message spoke of (the drop's), audited `appointment.confirmed` with source
 * `voice_keypress`, and says so; the opt-out key the message names puts the number on the
 * opt-out list (as on the drop callback line); any other key, or nothing left to confirm, a goodbye. Only the
 * call placed for this drop, while it is under way.
 */
export async function handleDropConfirm(services: DropFinishDeps & Pick<AppContext, 'config' | 'keyring'>, scopeFor: ScopeFor, dropIdRaw: string | undefined, body: unknown): Promise<string> {
  const dropId = DropId.safeParse(dropIdRaw);
  const params = ConfirmParams.safeParse(body);
  if (!dropId.success || !params.success) return dropHangupTwiml();
  const drop = await dropForAnswer(services.db, dropId.data);
  if (!drop || drop.status !== 'sent' || drop.provider_ref !== params.data.CallSid || drop.appointment_id === null) return dropHangupTwiml();
  const scope = scopeFor(drop.practice_id);
  if (params.data.Digits === OPT_OUT_KEY) {
    // The message's own opt-out instruction names this key: a person who presses it here is heard too.
    const phone = await phoneOf(scope, services.keyring, drop.patient_id);
    if (phone) await recordOptOut(services, scope, { phone, source: 'keypad', recordedBy: `call:${params.data.CallSid}` });
    return dropOptedOutTwiml();
  }
  if (params.data.Digits !== '1') return dropConfirmTwiml(false);
  const message = await campaignMessage(services, scope, drop.campaign_id, { patientId: drop.patient_id, appointmentId: drop.appointment_id });
  if (!message.ok) return dropConfirmTwiml(false);
  const confirmed = await confirmAppointmentOf(
    services,
    scope,
    { patient_id: drop.patient_id, appointment_id: drop.appointment_id, message_type: message.messageType },
    'voice_keypress',
    'twilio',
    services.clock(),
    { dropId: drop.id, campaignId: drop.campaign_id, callSid: params.data.CallSid },
  );
  return dropConfirmTwiml(confirmed !== null);
}

/** Twilio's final status of a drop call: the drop's final state. */
export async function handleDropStatus(services: DropFinishDeps, dropIdRaw: string | undefined, body: unknown): Promise<void> {
  const dropId = DropId.safeParse(dropIdRaw);
  const params = StatusParams.safeParse(body);
  if (!dropId.success || !params.success) return;
  const status = FINAL_CALL_STATUSES.find((s) => s === params.data.CallStatus);
  if (!status) return; // an intermediate status: nothing final yet
  const drop = await dropForStatus(services.db, dropId.data);
  if (!drop || (drop.provider_ref !== null && drop.provider_ref !== params.data.CallSid)) return;
  const played = drop.answered_by === null ? null : dropAction(toAnsweredBy(drop.answered_by), drop.human_answer);
  const outcome = dropOutcome(status, played);
  await recordDropOutcome(services, drop.id, { ...outcome, providerRef: params.data.CallSid, callSid: params.data.CallSid });
}

/** What a vendor webhook came to, in domain terms; the route (../http/drops-routes.ts) answers it in HTTP. */
export type VendorWebhookResult =
  | { result: 'not_configured' }
  | { result: 'unauthorized' }
  | { result: 'malformed'; message: string }
  | { result: 'unknown_drop' }
  | { result: 'recorded' | 'already_final' };

/** The vendor's status webhook: signature first (raw body), then the drop's final state. */
export async function handleVendorWebhook(services: DropFinishDeps & Pick<AppContext, 'config'>, rawBody: string, signature: string | undefined): Promise<VendorWebhookResult> {
  const secret = services.config.rvm.webhookSecret;
  if (!secret) return { result: 'not_configured' };
  const verdict = verifyRvmSignature(secret, signature, rawBody, Math.floor(Date.now() / 1000));
  if (!verdict.ok) {
    logger.warn('rvm webhook signature rejected', { reason: verdict.reason });
    await services.audit({ action: AuditAction.DropWebhookRejected, actor: 'rvm_http', details: { reason: verdict.reason } });
    return { result: 'unauthorized' };
  }
  let json: unknown;
  try {
    json = JSON.parse(rawBody);
  } catch {
    json = null;
  }
  const parsed = RvmWebhookSchema.safeParse(json);
  if (!parsed.success) {
    await services.audit({ action: AuditAction.DropWebhookRejected, actor: 'rvm_http', details: { reason: 'malformed', fields: parsed.error.issues.map((i) => i.path.join('.')).slice(0, 10) } });
    return { result: 'malformed', message: 'expected { id, foreign_id, status: delivered|failed, reason? }' };
  }
  const drop = await dropProviderOf(services.db, parsed.data.foreign_id);
  if (!drop || drop.provider !== 'rvm_http' || (drop.provider_ref !== null && drop.provider_ref !== parsed.data.id)) return { result: 'unknown_drop' };
  const changed = await recordDropOutcome(services, drop.id, {
    status: parsed.data.status,
    reason: parsed.data.reason ? parsed.data.reason.toLowerCase().replace(/[ -]+/g, '_') : parsed.data.status === 'delivered' ? 'delivered' : 'vendor_failed',
    providerRef: parsed.data.id,
  });
  return { result: changed ? 'recorded' : 'already_final' };
}
