import { clockToMinutes, type Holidays, type NamedHoliday, type Weekday, type WeeklyHours } from './settings.js';

/**
 * Is the practice open right now? Pure: the caller passes `now` and the practice's time zone.
 * Everything is decided on the practice's local wall clock (local date, local weekday, local minutes).
 */

export type HoursStatus = 'open' | 'closed' | 'holiday';

export interface LocalParts {
  /** Local calendar date, `YYYY-MM-DD`. */
  date: string;
  weekday: Weekday;
  /** Whole minutes since local midnight, 0–1439. */
  minutes: number;
}

// ---------------------------------------------------------------------------
// Local wall clock
// ---------------------------------------------------------------------------

const WEEKDAY_BY_SHORT_NAME: Readonly<Record<string, Weekday>> = {
  Mon: 'mon',
  Tue: 'tue',
  Wed: 'wed',
  Thu: 'thu',
  Fri: 'fri',
  Sat: 'sat',
  Sun: 'sun',
};

/** Zones remembered at once; far more than a deployment uses, so eviction is only a bound. */
const MAX_ZONES = 64;

interface ZoneEntry {
  formatter: Intl.DateTimeFormat;
  /** The last instant asked for, as a whole epoch second, and its answer (see localParts). */
  second: number;
  parts: LocalParts | null;
}

/**
 * One formatter per zone; building one is far dearer than using it. Keyed case-insensitively because
 * Intl matches zone names that way. Bounded: past MAX_ZONES the oldest zone is forgotten.
 */
const zones = new Map<string, ZoneEntry>();

function zoneEntry(timeZone: string): ZoneEntry {
  const key = timeZone.toLowerCase();
  let entry = zones.get(key);
  if (!entry) {
    // Throws RangeError for an unknown zone, before anything is cached.
    const formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    entry = remember(zones, MAX_ZONES, key, { formatter, second: Number.NaN, parts: null });
  }
  return entry;
}

/** Adds `value` to a bounded cache (past `max` entries the oldest is forgotten) and returns it. */
function remember<V>(cache: Map<string, V>, max: number, key: string, value: V): V {
  if (cache.size >= max) cache.delete(cache.keys().next().value as string);
  cache.set(key, value);
  return value;
}

/**
 * The local date, weekday and minutes since local midnight of the instant `now` in `timeZone`.
 * The answer for the last whole second asked per zone is remembered: zone offsets and their
 * transitions (tzdata) are whole seconds, so every instant of one UTC second has the same local
 * minute, DST changes included. Callers get a fresh object each time.
 */
export function localParts(now: Date, timeZone: string): LocalParts {
  const ms = now.getTime();
  if (Number.isNaN(ms)) throw new RangeError('now is an invalid Date');
  const entry = zoneEntry(timeZone);
  const second = Math.floor(ms / 1000);
  if (entry.parts === null || entry.second !== second) {
    entry.parts = computeLocalParts(entry.formatter, now);
    entry.second = second;
  }
  return { ...entry.parts };
}

function computeLocalParts(formatter: Intl.DateTimeFormat, now: Date): LocalParts {
  const parts: Partial<Record<Intl.DateTimeFormatPartTypes, string>> = {};
  for (const part of formatter.formatToParts(now)) parts[part.type] = part.value;

  const weekday = WEEKDAY_BY_SHORT_NAME[parts.weekday ?? ''];
  const year = Number(parts.year);
  const month = Number(parts.month);
  const day = Number(parts.day);
  // Some engines print midnight as hour 24 of the same (new) day despite hourCycle h23.
  const hour = Number(parts.hour) % 24;
  const minute = Number(parts.minute);
  if (weekday === undefined || ![year, month, day, hour, minute].every(Number.isInteger)) {
    throw new Error('unexpected Intl.DateTimeFormat output');
  }
  return { date: isoDate(year, month, day), weekday, minutes: hour * 60 + minute };
}

// ---------------------------------------------------------------------------
// US holidays
// ---------------------------------------------------------------------------

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function isoDate(year: number, month: number, day: number): string {
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
}

/** A UTC-midnight Date for a calendar day; month is 1-based. Safe for years 0–99, unlike Date.UTC. */
function utcDay(year: number, month: number, day: number): Date {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  return d;
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
  const prefix = `${pad(year, 4)}-`;

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
