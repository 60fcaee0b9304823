import { addLocalDays, isoDate, localParts, utcMidnight, weekdayOf, zonedToUtc } from '../time/zoned.js';
import { clockToMinutes, type Holidays, type NamedHoliday, type WeeklyHours } from './settings.js';

/**
 * Is the practice open right now? Pure: the caller passes `now` and the practice's time zone.
 * Everything is decided on the practice's local wall clock (local date, local weekday, local minutes),
 * read by `localParts` (src/time/zoned.ts); the US holiday rules are here.
 */

export type HoursStatus = 'open' | 'closed' | 'holiday';

// ---------------------------------------------------------------------------
// US holidays
// ---------------------------------------------------------------------------

/** Adds `value` to a bounded cache (past `max` entries the oldest is forgotten) and returns it. */
function remember<V>(cache: Map<string, V>, max: number, key: string, value: V): V {
  if (cache.size >= max) cache.delete(cache.keys().next().value as string);
  cache.set(key, value);
  return value;
}

/** A UTC-midnight Date for a calendar day; month is 1-based. Safe for years 0–99, unlike Date.UTC. */
function utcDay(year: number, month: number, day: number): Date {
  return new Date(utcMidnight(year, month, day));
}

function isoOf(d: Date): string {
  return isoDate(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate());
}

/** Day of the week, 0 = Sunday … 6 = Saturday. */
const MONDAY = 1;
const THURSDAY = 4;
const FRIDAY = 5;
const SATURDAY = 6;
const SUNDAY = 0;

/** The nth (1-based) given weekday of a month. */
function nthWeekday(year: number, month: number, weekday: number, n: number): Date {
  const first = utcDay(year, month, 1);
  const offset = (weekday - first.getUTCDay() + 7) % 7;
  return utcDay(year, month, 1 + offset + (n - 1) * 7);
}

/** The last given weekday of a month. */
function lastWeekday(year: number, month: number, weekday: number): Date {
  const last = utcDay(year, month + 1, 0);
  const offset = (last.getUTCDay() - weekday + 7) % 7;
  return utcDay(year, month, last.getUTCDate() - offset);
}

function addDays(d: Date, days: number): Date {
  return utcDay(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate() + days);
}

/** Federal rule: a Saturday holiday is observed the Friday before, a Sunday one the Monday after. */
function observed(d: Date): Date {
  const dow = d.getUTCDay();
  if (dow === SATURDAY) return addDays(d, -1);
  if (dow === SUNDAY) return addDays(d, 1);
  return d;
}

const FIXED_DATES: Readonly<Partial<Record<NamedHoliday, readonly [month: number, day: number]>>> = {
  new_years_day: [1, 1],
  juneteenth: [6, 19],
  independence_day: [7, 4],
  veterans_day: [11, 11],
  christmas_eve: [12, 24],
  christmas_day: [12, 25],
  new_years_eve: [12, 31],
};

/** The date a floating holiday falls on in `year`, or undefined for a fixed-date holiday. */
function floatingDate(name: NamedHoliday, year: number): Date | undefined {
  switch (name) {
    case 'mlk_day':
      return nthWeekday(year, 1, MONDAY, 3);
    case 'presidents_day':
      return nthWeekday(year, 2, MONDAY, 3);
    case 'memorial_day':
      return lastWeekday(year, 5, MONDAY);
    case 'labor_day':
      return nthWeekday(year, 9, MONDAY, 1);
    case 'columbus_day':
      return nthWeekday(year, 10, MONDAY, 2);
    case 'thanksgiving':
      return nthWeekday(year, 11, THURSDAY, 4);
    case 'day_after_thanksgiving':
      return addDays(nthWeekday(year, 11, THURSDAY, 4), FRIDAY - THURSDAY);
    case 'new_years_day':
    case 'juneteenth':
    case 'independence_day':
    case 'veterans_day':
    case 'christmas_eve':
    case 'christmas_day':
    case 'new_years_eve':
      return undefined;
    default:
      return name satisfies never;
  }
}

/**
 * Every date in calendar `year` on which one of `named` falls: floating holidays on their day, fixed-date
 * holidays on the date itself and on the federal observed day. Observed days may cross the year
 * boundary (New Year's Day 2028, a Saturday, is observed Friday 2027-12-31), so neighbouring years are
 * checked too. Where two holidays share a date, the one actually on that date names it.
 */
export function holidayDates(year: number, named: readonly NamedHoliday[]): Map<string, NamedHoliday> {
  return new Map(cachedHolidayDates(year, named));
}

/** (holiday list, year) pairs remembered at once: a few per practice and year in use. */
const MAX_HOLIDAY_YEARS = 256;
/** Keyed by year and the JSON of the list (unambiguous whatever the names hold); values are never handed out. */
const holidayCache = new Map<string, ReadonlyMap<string, NamedHoliday>>();

function cachedHolidayDates(year: number, named: readonly NamedHoliday[]): ReadonlyMap<string, NamedHoliday> {
  if (!Number.isInteger(year) || year < 1 || year > 9998) throw new RangeError('year must be an integer 1–9998');
  const key = `${year}:${JSON.stringify(named)}`;
  // Computed before it is cached: a list that throws is never remembered.
  return holidayCache.get(key) ?? remember(holidayCache, MAX_HOLIDAY_YEARS, key, computeHolidayDates(year, named));
}

function computeHolidayDates(year: number, named: readonly NamedHoliday[]): Map<string, NamedHoliday> {
  const actual = new Map<string, NamedHoliday>();
  const observedOnly = new Map<string, NamedHoliday>();
  const prefix = isoDate(year, 1, 1).slice(0, 5);

  for (const name of named) {
    const floating = floatingDate(name, year);
    if (floating) {
      actual.set(isoOf(floating), name);
      continue;
    }
    const fixed = FIXED_DATES[name];
    if (!fixed) continue;
    const [month, day] = fixed;
    for (const y of [year - 1, year, year + 1]) {
      const date = utcDay(y, month, day);
      const iso = isoOf(date);
      if (iso.startsWith(prefix)) actual.set(iso, name);
      const obs = isoOf(observed(date));
      if (obs !== iso && obs.startsWith(prefix) && !observedOnly.has(obs)) observedOnly.set(obs, name);
    }
  }

  const result = new Map(actual);
  for (const [date, name] of observedOnly) if (!result.has(date)) result.set(date, name);
  return new Map([...result].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

const LOCAL_DATE = /^(\d{4})-\d{2}-\d{2}$/;

/** Whether the local date `YYYY-MM-DD` is one of the practice's explicit dates or named holidays. */
export function isHoliday(localDate: string, holidays: Holidays): boolean {
  const m = LOCAL_DATE.exec(localDate);
  if (!m) throw new RangeError('expected a local date YYYY-MM-DD');
  if (holidays.dates.includes(localDate)) return true;
  if (holidays.named.length === 0) return false;
  return cachedHolidayDates(Number(m[1]), holidays.named).has(localDate);
}

// ---------------------------------------------------------------------------
// Open or closed
// ---------------------------------------------------------------------------

/**
 * The practice's status at `now` on its own wall clock. A holiday wins over opening hours; otherwise it
 * is open when the local minutes fall in some [open, close) interval of the local weekday.
 */
export function hoursStatus(now: Date, timeZone: string, hours: WeeklyHours, holidays: Holidays): HoursStatus {
  const local = localParts(now, timeZone);
  if (isHoliday(local.date, holidays)) return 'holiday';
  const open = hours[local.weekday].some(
    (interval) => clockToMinutes(interval.open) <= local.minutes && local.minutes < clockToMinutes(interval.close),
  );
  return open ? 'open' : 'closed';
}

/** How far ahead `nextOpening` looks: a practice closed longer than this has no next opening. */
const OPENING_SEARCH_DAYS = 31;

/**
 * When the practice is next open, from `now`: `now` itself while it is open, else the start of the
 * next open interval on a day that is not a holiday, on the practice's wall clock. Null when it is
 * not open within `OPENING_SEARCH_DAYS` (no hours at all). Pure.
 */
export function nextOpening(now: Date, timeZone: string, hours: WeeklyHours, holidays: Holidays): Date | null {
  if (hoursStatus(now, timeZone, hours, holidays) === 'open') return now;
  const today = localParts(now, timeZone).date;
  for (let d = 0; d <= OPENING_SEARCH_DAYS; d++) {
    const date = addLocalDays(today, d);
    if (isHoliday(date, holidays)) continue;
    for (const interval of hours[weekdayOf(date)]) {
      const opens = zonedToUtc(date, interval.open, timeZone);
      if (opens.getTime() > now.getTime()) return opens;
    }
  }
  return null;
}
