import type { PracticeScope } from '../tenancy/scope.js';
import { appointmentsByIds, nextAppointments, SPOKEN_STATUSES, type SpokenAppointment } from '../patients/appointments.js';
import { localParts } from '../time/zoned.js';
import { checkValue } from '../drops/templates.js';
import { isPersonalPlaceholder, type PersonalPlaceholder, type SkipReason, type TemplatePlaceholder } from '../drops/types.js';

/**
 * Personal placeholders (issue 15, item 4): a reminder speaks or writes each recipient's own
 * appointment, never a value set for a whole campaign. For each (patient, optional appointment id)
 * of a practice, its appointment: the one linked to the send, else the patient's next booked or
 * confirmed appointment after `now`; and from it the values {appointment_day} ("Friday, March 6"),
 * {appointment_time} ("2:30 PM"), both in the practice's time zone, and {appointment_location}
 * (the location's name, PHI-checked like every value). Nothing clinical is ever read: no provider,
 * no reason, no specialty.
 *
 * A linked appointment that was cancelled, is past, or is not the patient's gives no values (the
 * recipient is skipped `no_appointment`): never a blank, never another appointment's time, never
 * another patient's.
 *
 * `recipientParams` merges the practice's values, the campaign's and the recipient's into the map
 * `renderTemplate` takes: the one entry point for every channel (ringless voicemail here, SMS too).
 */

export interface Recipient {
  patientId: string;
  /** The appointment the send is about, when the recipient list named one. */
  appointmentId: string | null;
}

export type PersonalValues = { appointment_day: string; appointment_time: string; appointment_location?: string };

export type Personal =
  | {
      ok: true;
      appointmentId: string;
      values: PersonalValues;
      /** Why there is no {appointment_location}: none on record, or refused by the value or PHI check. */
      locationProblem?: 'no_location' | 'location_refused';
    }
  | { ok: false; reason: 'no_appointment' };

/** Batch size of the look-ups: a campaign may have 100,000 recipients. */
const CHUNK = 5_000;

const WEEKDAY_NAMES = { mon: 'Monday', tue: 'Tuesday', wed: 'Wednesday', thu: 'Thursday', fri: 'Friday', sat: 'Saturday', sun: 'Sunday' } as const;
const MONTH_NAMES = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'] as const;

/** Pure: "Friday, March 6" and "2:30 PM", the instant as the practice's clock and calendar show it. No year: a date with a year reads like a date of birth. */
export function spokenWhen(startsAt: Date, timeZone: string): { appointment_day: string; appointment_time: string } {
  const local = localParts(startsAt, timeZone);
  const [, month, day] = local.date.split('-').map(Number);
  const hour = Math.floor(local.minutes / 60);
  const minute = local.minutes % 60;
  return {
    appointment_day: `${WEEKDAY_NAMES[local.weekday]}, ${MONTH_NAMES[(month ?? 1) - 1] ?? ''} ${day ?? ''}`,
    appointment_time: `${hour % 12 === 0 ? 12 : hour % 12}:${String(minute).padStart(2, '0')} ${hour < 12 ? 'AM' : 'PM'}`,
  };
}

/** Pure: a recipient's values from the appointment found for them (or none). */
export function personalFrom(appointment: SpokenAppointment | undefined, recipient: Recipient, timeZone: string, now: Date): Personal {
  if (!appointment || appointment.patientId !== recipient.patientId) return { ok: false, reason: 'no_appointment' };
  if (!(SPOKEN_STATUSES as readonly string[]).includes(appointment.status) || appointment.startsAt.getTime() <= now.getTime()) return { ok: false, reason: 'no_appointment' };
  const values: PersonalValues = spokenWhen(appointment.startsAt, timeZone);
  if (appointment.locationName === null || appointment.locationName.trim() === '') return { ok: true, appointmentId: appointment.id, values, locationProblem: 'no_location' };
  const location = checkValue('appointment_location', appointment.locationName);
  if (!location.ok) return { ok: true, appointmentId: appointment.id, values, locationProblem: 'location_refused' };
  return { ok: true, appointmentId: appointment.id, values: { ...values, appointment_location: location.spoken } };
}

/**
 * Each recipient's personal values, in the order given, for recipients of the scope's practice.
 * Two statements per CHUNK recipients: the linked appointments by id, the others' next ones.
 */
export async function loadPersonal(scope: PracticeScope, practice: { timeZone: string }, recipients: readonly Recipient[], now: Date): Promise<Personal[]> {
  const out: Personal[] = [];
  for (let i = 0; i < recipients.length; i += CHUNK) {
    const part = recipients.slice(i, i + CHUNK);
    const linkedIds = [...new Set(part.flatMap((r) => (r.appointmentId ? [r.appointmentId] : [])))];
    const unlinked = [...new Set(part.flatMap((r) => (r.appointmentId ? [] : [r.patientId])))];
    const [linked, next] = await Promise.all([appointmentsByIds(scope, linkedIds), nextAppointments(scope, unlinked, now)]);
    const byId = new Map(linked.map((a) => [a.id, a]));
    const byPatient = new Map(next.map((a) => [a.patientId, a]));
    for (const r of part) out.push(personalFrom(r.appointmentId ? byId.get(r.appointmentId) : byPatient.get(r.patientId), r, practice.timeZone, now));
  }
  return out;
}

/** Pure: why a recipient cannot get a message that uses these personal placeholders, or null when they can. */
export function personalMiss(uses: readonly PersonalPlaceholder[], personal: Personal): Extract<SkipReason, 'no_appointment' | 'no_location' | 'location_refused'> | null {
  if (uses.length === 0) return null;
  if (!personal.ok) return personal.reason;
  if (uses.includes('appointment_location') && personal.locationProblem) return personal.locationProblem;
  return null;
}

export type TemplateParams = Partial<Record<TemplatePlaceholder, string>>;

/**
 * Pure: the parameter map of one recipient's message, for `renderTemplate` (any channel). The
 * practice's name and callback number are always the practice's own; the campaign's values fill
 * the rest, except the personal placeholders, which come from the recipient alone (a campaign-wide
 * value stored before they were personal is ignored, never spoken to everyone).
 */
export function recipientParams(practice: { name: string; callbackNumber: string }, campaign: TemplateParams, personal?: PersonalValues): TemplateParams {
  const shared = Object.fromEntries(Object.entries(campaign).filter(([name]) => !isPersonalPlaceholder(name))) as TemplateParams;
  return { ...shared, practice_name: practice.name, callback_number: practice.callbackNumber, ...(personal ?? {}) };
}
