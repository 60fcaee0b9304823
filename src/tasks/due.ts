import { nextOpening } from '../practices/hours.js';
import type { Holidays, WeeklyHours } from '../practices/settings.js';

/**
 * When a callback is due. Pure: the caller passes `now` (the task's creation) and the practice's
 * hours. Urgent: 30 minutes after the message. Routine: the practice's next opening (now, if it is
 * open) plus the practice's `routineCallbackHours`; a practice with no opening hours at all gets
 * a day, so a routine task is never due never.
 */

export const URGENT_CALLBACK_MINUTES = 30;
/** Without any opening within the search window: due a day after the message. */
export const NO_HOURS_FALLBACK_MS = 24 * 3_600_000;

export interface DuePractice {
  timeZone: string;
  weeklyHours: WeeklyHours;
  holidays: Holidays;
  routineCallbackHours: number;
}

export function dueAt(urgency: 'urgent' | 'routine', now: Date, practice: DuePractice): Date {
  if (urgency === 'urgent') return new Date(now.getTime() + URGENT_CALLBACK_MINUTES * 60_000);
  const opens = nextOpening(now, practice.timeZone, practice.weeklyHours, practice.holidays);
  if (!opens) return new Date(now.getTime() + NO_HOURS_FALLBACK_MS);
  return new Date(opens.getTime() + practice.routineCallbackHours * 3_600_000);
}
