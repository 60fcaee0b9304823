import type { AppContext } from '../app-context.js';
import type { CallReason } from '../adapters/db-schema.js';
import { AuditAction } from '../audit/events.js';
import type { PracticeScope } from '../tenancy/scope.js';
import type { OutreachSendRow } from './sends-store.js';

/**
 * Replies to outreach (issue 15, item 5). An inbound SMS from a number this practice sent an
 * outreach SMS to within REPLY_WINDOW_MS is a reply to the latest such message (the send ledger
 * row, found by the number's blind index): the row is marked `replied_at` (audited
 * `outreach.replied`, ids only) by the text's job, after Twilio was answered (a confirming "C"
 * marks it at once). STOP, START and HELP are keywords, not replies: the opt-out stops sequences. A "C" or "CONFIRM" answering an
 * appointment reminder or confirmation (or a recall naming a booked recall visit) confirms the appointment it spoke of (the row's
 * `appointment_id`, else the patient's next booked appointment): audited `appointment.confirmed`
 * with its source. Any other reply is a patient's text whose task has the source
 * `outreach_reply` (src/texts/patient-texts.ts). Sequences read `replied_at` and the status.
 * Nothing here reads or writes a number or a text: ids, types and times only.
 */

/** How long after an outreach SMS an inbound text from that number counts as its reply. */
export const REPLY_WINDOW_MS = 14 * 24 * 60 * 60 * 1000;

/** A reply that confirms (compared with `keywordOf`'s trimmed, lower-cased form). */
export const CONFIRM_WORDS: ReadonlySet<string> = new Set(['c', 'confirm']);

/** The message types a confirmation answers. */
export const CONFIRMABLE_TYPES: ReadonlySet<string> = new Set(['appointment_reminder', 'appointment_confirmation']);

/**
 * Whether a reply "C" to this message may confirm an appointment: an appointment reminder or
 * confirmation, or a recall that named the patient's booked recall visit (the ledger row's
 * `appointment_id`: a sequence's or campaign's recipient listed with it). A recall naming none
 * asked the patient to book: a "C" to it is a text like any other.
 */
export function isConfirmable(target: Pick<OutreachSendRow, 'message_type' | 'appointment_id'>): boolean {
  return CONFIRMABLE_TYPES.has(target.message_type) || (target.message_type === 'recall' && target.appointment_id !== null);
}

/** The answer to a confirmation: no day, no time, nothing about the patient. */
export const CONFIRMED_REPLY = 'Thank you, your appointment is confirmed.';

/** Where a confirmation came from (the audit's `source`). */
export type ConfirmSource = 'sms_reply' | 'voice_keypress';

/** The latest outreach SMS this practice sent the number with this blind index within the window, or undefined. */
export async function latestOutreachSms(scope: PracticeScope, recipientIndex: string, now: Date): Promise<OutreachSendRow | undefined> {
  return scope.db
    .selectFrom('outreach_sends')
    .selectAll()
    .where('practice_id', '=', scope.practiceId)
    .where('channel', '=', 'sms')
    .where('recipient_index', '=', recipientIndex)
    .where('status', 'in', ['queued', 'sent', 'delivered', 'undelivered'])
    .where('sent_at', '>=', new Date(now.getTime() - REPLY_WINDOW_MS))
    .where('sent_at', '<=', now)
    .orderBy('sent_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/**
 * The ledger row marked replied (the first reply's time; audited once) and returned. Run by the
 * job of a patient's text (src/texts/patient-texts.ts), after Twilio was answered, and by a "C"
 * that confirmed an appointment.
 */
export async function markOutreachReplied(deps: Pick<AppContext, 'audit'>, scope: PracticeScope, send: OutreachSendRow, now: Date): Promise<OutreachSendRow> {
  if (send.replied_at) return send;
  const marked = await scope.db
    .updateTable('outreach_sends')
    .set({ replied_at: now, updated_at: now })
    .where('id', '=', send.id)
    .where('practice_id', '=', scope.practiceId)
    .where('replied_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
  // Another reply marked it first (at the same moment): that one's time stands, audited once.
  if (!marked) return (await scope.db.selectFrom('outreach_sends').selectAll().where('practice_id', '=', scope.practiceId).where('id', '=', send.id).executeTakeFirst()) ?? send;
  await deps.audit({
    action: AuditAction.OutreachReplied,
    actor: 'twilio',
    practiceId: scope.practiceId,
    subjectId: send.id,
    details: { patientId: send.patient_id, origin: send.origin, messageType: send.message_type, channel: send.channel },
  });
  return marked;
}

/** What a confirmation answers: the patient, the message's type and the appointment it spoke of (a ledger row, or a drop). */
export type ConfirmTarget = Pick<OutreachSendRow, 'patient_id' | 'appointment_id' | 'message_type'>;

/** The appointment an outreach message spoke of: its linked one (still to come, booked or confirmed), else the patient's next booked one. */
async function appointmentOfSend(scope: PracticeScope, send: Pick<ConfirmTarget, 'patient_id' | 'appointment_id'>, now: Date): Promise<{ id: string; status: string } | undefined> {
  let query = scope.db
    .selectFrom('appointments')
    .select(['id', 'status'])
    .where('practice_id', '=', scope.practiceId)
    .where('patient_id', '=', send.patient_id)
    .where('starts_at', '>', now);
  query = send.appointment_id ? query.where('id', '=', send.appointment_id).where('status', 'in', ['booked', 'confirmed']) : query.where('status', '=', 'booked');
  return query.orderBy('starts_at', 'asc').limit(1).executeTakeFirst();
}

/** Whether a confirmation of this message would change something: an appointment message whose appointment is still booked (a voice prompt offers it only then). */
export async function hasAppointmentToConfirm(scope: PracticeScope, target: ConfirmTarget, now: Date): Promise<boolean> {
  if (!isConfirmable(target)) return false;
  return (await appointmentOfSend(scope, target, now))?.status === 'booked';
}

/**
 * Confirms the appointment an appointment message (reminder or confirmation) spoke of; audited
 * `appointment.confirmed` when its status changed. The appointment's id (`changed` false when it
 * was confirmed already), or null when there is nothing to confirm (another message type, no
 * appointment to come, or one cancelled): the caller then treats the reply as any other.
 */
export async function confirmAppointmentOf(
  deps: Pick<AppContext, 'audit'>,
  scope: PracticeScope,
  send: ConfirmTarget,
  source: ConfirmSource,
  actor: string,
  now: Date,
  extra: Record<string, string> = {},
): Promise<{ appointmentId: string; changed: boolean } | null> {
  if (!isConfirmable(send)) return null;
  const appointment = await appointmentOfSend(scope, send, now);
  if (!appointment) return null;
  const updated = await scope.db
    .updateTable('appointments')
    .set({ status: 'confirmed', updated_at: now })
    .where('id', '=', appointment.id)
    .where('practice_id', '=', scope.practiceId)
    .where('status', '=', 'booked')
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) === 0) {
    // Confirmed already (by an earlier reply, or staff): nothing changes; anything else has nothing to confirm.
    const current = await scope.db.selectFrom('appointments').select('status').where('id', '=', appointment.id).where('practice_id', '=', scope.practiceId).executeTakeFirst();
    return current?.status === 'confirmed' ? { appointmentId: appointment.id, changed: false } : null;
  }
  await deps.audit({
    action: AuditAction.AppointmentConfirmed,
    actor,
    practiceId: scope.practiceId,
    subjectId: appointment.id,
    details: { source, patientId: send.patient_id, ...extra },
  });
  return { appointmentId: appointment.id, changed: true };
}

/** The task reason of a reply to a message of this type: an appointment message's reply is about the appointment. */
export function replyReason(messageType: string): CallReason {
  if (messageType === 'appointment_reminder' || messageType === 'appointment_confirmation') return 'appointment';
  if (messageType === 'billing_callback') return 'billing';
  return 'other';
}
