import { isHoliday } from '../practices/hours.js';
import type { Holidays, WeeklyHours } from '../practices/settings.js';
import { addLocalDays, localParts, weekdayOf, zonedToUtc } from '../time/zoned.js';

/**
 * The closed period a morning report covers: from the practice's closing time on its previous
 * open day to its opening time on `date`, both on the practice's wall clock and turned into
 * instants by `zonedToUtc` (so a night across a DST change is as long as it really was). Pure.
 */

export interface ClosedPeriod {
  /** The local date the practice opens on: the report's date. */
  date: string;
  start: Date;
  end: Date;
}

/** How far back the previous open day is looked for (a long closure: the report covers it all). */
const LOOKBACK_DAYS = 31;

function firstOpening(date: string, timeZone: string, hours: WeeklyHours, holidays: Holidays): Date | null {
  if (isHoliday(date, holidays)) return null;
  const first = hours[weekdayOf(date)][0];
  return first ? zonedToUtc(date, first.open, timeZone) : null;
}

function lastClosing(date: string, timeZone: string, hours: WeeklyHours, holidays: Holidays): Date | null {
  if (isHoliday(date, holidays)) return null;
  const intervals = hours[weekdayOf(date)];
  const last = intervals[intervals.length - 1];
  return last ? zonedToUtc(date, last.close, timeZone) : null;
}

/**
 * The period ending at the opening on `date`; null when the practice does not open that day.
 * With no open day in the month before, the period starts `LOOKBACK_DAYS` before the opening.
 */
export function closedPeriodFor(date: string, timeZone: string, hours: WeeklyHours, holidays: Holidays): ClosedPeriod | null {
  const end = firstOpening(date, timeZone, hours, holidays);
  if (!end) return null;
  for (let d = 1; d <= LOOKBACK_DAYS; d++) {
    const start = lastClosing(addLocalDays(date, -d), timeZone, hours, holidays);
    if (start && start < end) return { date, start, end };
  }
  return { date, start: zonedToUtc(addLocalDays(date, -LOOKBACK_DAYS), '00:00', timeZone), end };
}

/** The most recent period that has ended by `now` (its opening at or before `now`); null: none in the lookback. */
export function latestClosedPeriod(now: Date, timeZone: string, hours: WeeklyHours, holidays: Holidays): ClosedPeriod | null {
  const today = localParts(now, timeZone).date;
  for (let d = 0; d <= LOOKBACK_DAYS; d++) {
    const p = closedPeriodFor(addLocalDays(today, -d), timeZone, hours, holidays);
    if (p && p.end.getTime() <= now.getTime()) return p;
  }
  return null;
}
