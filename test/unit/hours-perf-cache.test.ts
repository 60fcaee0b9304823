import { describe, it, expect } from 'vitest';
import { holidayDates, hoursStatus, isHoliday } from '../../src/practices/hours.js';
import { localParts, type LocalParts } from '../../src/time/zoned.js';
import { DEFAULT_HOLIDAYS, DEFAULT_WEEKLY_HOURS, NAMED_HOLIDAYS, type NamedHoliday } from '../../src/practices/settings.js';

/**
 * hours.ts remembers formatters, the last answer per zone and second, and holiday dates per (list, year).
 * None of that may show: answers equal an uncached computation, and callers get objects of their own.
 */

const NY = 'America/New_York';
const WEEKDAYS: Record<string, LocalParts['weekday']> = {
  Mon: 'mon',
  Tue: 'tue',
  Wed: 'wed',
  Thu: 'thu',
  Fri: 'fri',
  Sat: 'sat',
  Sun: 'sun',
};

/** The same answer from a formatter built for this one call: no cache involved. */
function uncachedLocalParts(now: Date, timeZone: string): LocalParts {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    })
      .formatToParts(now)
      .map((p) => [p.type, p.value]),
  ) as Record<string, string>;
  return {
    date: `${parts['year']}-${parts['month']}-${parts['day']}`,
    weekday: WEEKDAYS[parts['weekday'] ?? ''] ?? 'mon',
    minutes: (Number(parts['hour']) % 24) * 60 + Number(parts['minute']),
  };
}

describe('localParts with remembered answers', () => {
  it('agrees with an uncached formatter instant by instant across DST changes, in call order', () => {
    const around = [
      ['2026-03-08T07:00:00.000Z', NY], // spring forward
      ['2026-11-01T06:00:00.000Z', NY], // fall back
      ['2026-04-04T16:00:00.000Z', 'Australia/Sydney'],
      ['2026-10-03T16:00:00.000Z', 'Australia/Sydney'],
      ['2026-04-04T15:30:00.000Z', 'Australia/Lord_Howe'], // half-hour DST
      ['2026-06-15T04:00:00.000Z', NY], // local midnight
    ] as const;
    const offsetsMs = [-60_001, -60_000, -1_001, -1_000, -999, -1, 0, 1, 999, 1_000, 1_001, 59_999, 60_000];
    for (const [iso, zone] of around) {
      const base = Date.parse(iso);
      // Forwards, backwards and repeated, so each answer follows another from the same or a nearby second.
      const sequence = [...offsetsMs, ...[...offsetsMs].reverse(), ...offsetsMs.map((o) => o + 500)];
      for (const offset of sequence) {
        const now = new Date(base + offset);
        expect(localParts(now, zone), `${now.toISOString()} ${zone}`).toEqual(uncachedLocalParts(now, zone));
      }
    }
  });

  it('keeps local minutes right in a zone whose offset has seconds (Monrovia 1960, UTC−0:44:30)', () => {
    // 00:00:29Z is 23:15:59 local and 00:00:31Z is 23:16:01: one UTC minute, two local minutes.
    const zone = 'Africa/Monrovia';
    const first = new Date('1960-01-01T00:00:29Z');
    const second = new Date('1960-01-01T00:00:31Z');
    expect(uncachedLocalParts(first, zone).minutes).not.toBe(uncachedLocalParts(second, zone).minutes);
    expect(localParts(first, zone)).toEqual(uncachedLocalParts(first, zone));
    expect(localParts(second, zone)).toEqual(uncachedLocalParts(second, zone));
  });

  it('keeps zones apart, whatever the order of the calls', () => {
    const now = new Date('2026-06-15T12:30:00Z');
    for (const zone of [NY, 'America/Los_Angeles', NY, 'america/new_york', 'UTC', 'America/Los_Angeles']) {
      expect(localParts(now, zone)).toEqual(uncachedLocalParts(now, zone));
    }
  });

  it('gives every caller its own object', () => {
    const now = new Date('2026-06-15T12:30:00Z');
    const first = localParts(now, NY);
    first.minutes = -1;
    first.date = 'changed';
    expect(localParts(now, NY)).toEqual({ date: '2026-06-15', weekday: 'mon', minutes: 8 * 60 + 30 });
  });

  it('stays right for zones used after many others (the formatter cache is bounded)', () => {
    const now = new Date('2026-01-15T12:00:00Z');
    const zones = Intl.supportedValuesOf('timeZone').slice(0, 150);
    for (const zone of [...zones, ...zones.slice(0, 10)]) {
      expect(localParts(now, zone), zone).toEqual(uncachedLocalParts(now, zone));
    }
  });
});

describe('holiday dates with remembered years', () => {
  it('hands out a new Map each time: changing one changes nothing else', () => {
    const first = holidayDates(2026, DEFAULT_HOLIDAYS.named);
    first.set('2026-03-17', 'thanksgiving');
    first.delete('2026-11-26');
    expect(holidayDates(2026, DEFAULT_HOLIDAYS.named).has('2026-03-17')).toBe(false);
    expect(holidayDates(2026, DEFAULT_HOLIDAYS.named).get('2026-11-26')).toBe('thanksgiving');
    expect(isHoliday('2026-03-17', DEFAULT_HOLIDAYS)).toBe(false);
    expect(isHoliday('2026-11-26', DEFAULT_HOLIDAYS)).toBe(true);
    expect(hoursStatus(new Date('2026-03-17T14:00:00Z'), NY, DEFAULT_WEEKLY_HOURS, DEFAULT_HOLIDAYS)).toBe('open');
  });

  it('answers the same the first time and every later time, for each list and year', () => {
    const lists: NamedHoliday[][] = [[...NAMED_HOLIDAYS], [...DEFAULT_HOLIDAYS.named], ['christmas_eve', 'christmas_day'], ['christmas_day', 'christmas_eve'], []];
    for (let year = 2020; year <= 2032; year += 1) {
      for (const list of lists) {
        const first = [...holidayDates(year, list)];
        expect([...holidayDates(year, list)]).toEqual(first);
        expect([...holidayDates(year, [...list])]).toEqual(first);
      }
    }
  });

  it('tells lists apart exactly: one odd name is not two remembered names', () => {
    expect(holidayDates(2026, ['mlk_day', 'labor_day']).size).toBe(2);
    for (const name of ['mlk_day,labor_day', 'mlk_day|labor_day', 'mlk_day\u0000labor_day', 'mlk_day","labor_day']) {
      const odd = [name] as unknown as NamedHoliday[];
      expect(() => holidayDates(2026, odd)).toThrow();
      expect(() => isHoliday('2026-01-19', { dates: [], named: odd })).toThrow();
    }
  });

  it('still refuses a nonsense year once other years are remembered', () => {
    holidayDates(2026, ['thanksgiving']);
    expect(() => holidayDates(2026.5, ['thanksgiving'])).toThrow(RangeError);
    expect(() => isHoliday('0000-01-01', DEFAULT_HOLIDAYS)).toThrow(RangeError);
  });
});
