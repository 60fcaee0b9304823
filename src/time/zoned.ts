import { WEEKDAYS, type Weekday } from '../practices/settings.js';

/**
 * The time module. Wall-clock arithmetic in IANA time zones with nothing but Intl: the instant at
 * which a zone's clock reads a given local date and time (`zonedToUtc`), the local date, weekday and
 * minutes of an instant (`localParts`), and calendar-day arithmetic on local dates. Pure (the
 * formatters are cached per zone). Practice hours, on-call schedules and the drops' calling rules
 * all read time through here.
 */

const MS_PER_SECOND = 1000;
const MS_PER_DAY = 86_400_000;

const LOCAL_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/** Hand-off style clock times: 00:00–23:59 (no `24:00`, which is not a moment of its own date). */
const CLOCK = /^([01]\d|2[0-3]):([0-5]\d)$/;

const DATE_MESSAGE = 'expected a calendar date YYYY-MM-DD';
const CLOCK_MESSAGE = 'expected a time HH:MM between 00:00 and 23:59';

// ---------------------------------------------------------------------------
// Local dates
// ---------------------------------------------------------------------------

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** A local date `YYYY-MM-DD` from its parts; month is 1-based. */
export function isoDate(year: number, month: number, day: number): string {
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
}

/** Milliseconds of UTC midnight of a proleptic-Gregorian day; month is 1-based. Safe for years 0–99. */
export function utcMidnight(year: number, month: number, day: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  return d.getTime();
}

/** Days since 1970-01-01 of a local date `YYYY-MM-DD` (years 0001–9999). Throws RangeError otherwise. */
function dayNumber(localDate: string): number {
  const m = LOCAL_DATE.exec(localDate);
  if (!m) throw new RangeError(DATE_MESSAGE);
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > 31) throw new RangeError(DATE_MESSAGE);
  const ms = utcMidnight(year, month, day);
  // A day past the month's end (02-30) rolls over; refuse it rather than repair it.
  if (new Date(ms).getUTCDate() !== day) throw new RangeError(DATE_MESSAGE);
  return ms / MS_PER_DAY;
}

function localDateOfDayNumber(n: number): string {
  const d = new Date(n * MS_PER_DAY);
  const year = d.getUTCFullYear();
  if (!(year >= 1 && year <= 9999)) throw new RangeError('date out of range (years 0001–9999)');
  return `${pad(year, 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`;
}

/** The local date `n` calendar days after (or, for negative `n`, before) `localDate`. */
export function addLocalDays(localDate: string, n: number): string {
  if (!Number.isSafeInteger(n)) throw new RangeError('n must be an integer');
  return localDateOfDayNumber(dayNumber(localDate) + n);
}

/** Whole calendar days from local date `from` to local date `to` (negative when `to` is earlier). */
export function daysBetween(from: string, to: string): number {
  return dayNumber(to) - dayNumber(from);
}

/** The day of the week of a local date. */
export function weekdayOf(localDate: string): Weekday {
  // 1970-01-01 was a Thursday, index 3 in WEEKDAYS (which starts on Monday).
  const index = (((dayNumber(localDate) + 3) % 7) + 7) % 7;
  const weekday = WEEKDAYS[index];
  if (weekday === undefined) throw new Error('unreachable: weekday index out of range');
  return weekday;
}

// ---------------------------------------------------------------------------
// Zone offsets
// ---------------------------------------------------------------------------

/** One formatter per zone (keyed case-insensitively, as Intl matches names), to the second. */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  const key = timeZone.toLowerCase();
  let formatter = formatters.get(key);
  if (!formatter) {
    // Throws RangeError for an unknown zone, before anything is cached.
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      era: 'short',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(key, formatter);
  }
  return formatter;
}

/** The wall clock of `timeZone` at instant `ms` (whole seconds), read as if it were UTC, in ms. */
function wallClockMs(ms: number, timeZone: string): number {
  const parts: Partial<Record<Intl.DateTimeFormatPartTypes, string>> = {};
  for (const part of formatterFor(timeZone).formatToParts(ms)) parts[part.type] = part.value;
  const yearOfEra = Number(parts.year);
  const year = parts.era === 'BC' || parts.era === 'B' ? 1 - yearOfEra : yearOfEra;
  const month = Number(parts.month);
  const day = Number(parts.day);
  // Some engines print midnight as hour 24 of the same (new) day despite hourCycle h23.
  const hour = Number(parts.hour) % 24;
  const minute = Number(parts.minute);
  const second = Number(parts.second);
  if (![year, month, day, hour, minute, second].every(Number.isInteger)) {
    throw new Error('unexpected Intl.DateTimeFormat output');
  }
  return utcMidnight(year, month, day) + ((hour * 60 + minute) * 60 + second) * MS_PER_SECOND;
}

/** The zone's UTC offset in ms at instant `ms` (truncated to the second, as zone rules are). */
function offsetAt(ms: number, timeZone: string): number {
  const whole = Math.floor(ms / MS_PER_SECOND) * MS_PER_SECOND;
  return wallClockMs(whole, timeZone) - whole;
}

// ---------------------------------------------------------------------------
// Wall clock → instant
// ---------------------------------------------------------------------------

/**
 * The instant at which the wall clock in `timeZone` reads `localDate` `clock` (`HH:MM`, 00:00–23:59).
 *
 * - An ambiguous wall time (the repeated hour when clocks go back) maps to its FIRST occurrence:
 *   01:30 on 2026-11-01 in America/New_York is 01:30 EDT, 05:30Z.
 * - A wall time that does not exist (skipped when clocks go forward), by `gap`:
 *   - `'end'` (the default): the first instant the clock reads at or past it, the end of the gap:
 *     02:30 on 2026-03-08 in America/New_York is 03:00 EDT, 07:00Z. Right for windows ("not before
 *     08:00", "not after 21:00"), which must not open or stay open later than their wall times.
 *   - `'forward'`: read with the offset in force before the gap, so it moves forward by the gap's
 *     length (RFC 5545 §3.3.5; zoneinfo-based libraries and Temporal's 'compatible' do the same):
 *     02:30 is 03:30 EDT, 07:30Z. Right for events such as on-call hand-offs, which calendar apps
 *     reading the same rule place there. A wall time at the gap's start (02:00) is 03:00 EDT either way.
 *
 * Offsets are found by probing Intl a day either side, so any zone Intl knows works, including
 * half-hour shifts (Australia/Lord_Howe) and zones that skip a whole day. Throws RangeError on a
 * malformed date or time or an unknown zone.
 */
export function zonedToUtc(localDate: string, clock: string, timeZone: string, gap: 'end' | 'forward' = 'end'): Date {
  const c = CLOCK.exec(clock);
  if (!c) throw new RangeError(CLOCK_MESSAGE);
  const wall = dayNumber(localDate) * MS_PER_DAY + (Number(c[1]) * 60 + Number(c[2])) * 60 * MS_PER_SECOND;

  // Every offset in force within a day of the wall time; real transitions are weeks apart.
  const offsets = [...new Set([wall - MS_PER_DAY, wall, wall + MS_PER_DAY].map((ms) => offsetAt(ms, timeZone)))];
  const matches = offsets.map((offset) => wall - offset).filter((ms) => wallClockMs(ms, timeZone) === wall);
  if (matches.length > 0) return new Date(Math.min(...matches));

  // A gap: the clock jumps from before `wall` to after it. Find the first second whose wall clock is
  // at or past `wall` — the instant of the jump. Before it the clock reads earlier than `wall`, from it
  // on later, so the predicate is monotonic over [wall − max offset, wall − min offset]. 'forward'
  // then reads `wall` with the offset in force just before the jump: later by the gap's length.
  let lo = (wall - Math.max(...offsets)) / MS_PER_SECOND;
  let hi = (wall - Math.min(...offsets)) / MS_PER_SECOND;
  if (wallClockMs(hi * MS_PER_SECOND, timeZone) < wall) throw new Error('zone offset probing failed');
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (wallClockMs(mid * MS_PER_SECOND, timeZone) >= wall) hi = mid;
    else lo = mid + 1;
  }
  return new Date(gap === 'forward' ? wall - offsetAt((hi - 1) * MS_PER_SECOND, timeZone) : hi * MS_PER_SECOND);
}

// ---------------------------------------------------------------------------
// Instant → local wall clock
// ---------------------------------------------------------------------------

export interface LocalParts {
  /** Local calendar date, `YYYY-MM-DD`. */
  date: string;
  weekday: Weekday;
  /** Whole minutes since local midnight, 0–1439. */
  minutes: number;
}

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
    if (zones.size >= MAX_ZONES) zones.delete(zones.keys().next().value as string);
    entry = { formatter, second: Number.NaN, parts: null };
    zones.set(key, entry);
  }
  return entry;
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
