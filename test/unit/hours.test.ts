import { describe, it, expect, vi } from 'vitest';
import { holidayDates, hoursStatus, isHoliday } from '../../src/practices/hours.js';
import { localParts } from '../../src/time/zoned.js';
import {
  DEFAULT_HOLIDAYS,
  DEFAULT_WEEKLY_HOURS,
  NAMED_HOLIDAYS,
  WeeklyHoursSchema,
  type Holidays,
  type NamedHoliday,
} from '../../src/practices/settings.js';

const NY = 'America/New_York';
const LA = 'America/Los_Angeles';
const HONOLULU = 'Pacific/Honolulu';
const SYDNEY = 'Australia/Sydney';
const NO_HOLIDAYS: Holidays = { dates: [], named: [] };

const at = (iso: string): Date => new Date(iso);
const hhmm = (minutes: number): string =>
  `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
const local = (iso: string, zone: string): string => {
  const p = localParts(at(iso), zone);
  return `${p.date} ${p.weekday} ${hhmm(p.minutes)}`;
};

describe('localParts', () => {
  it('gives the local date, weekday and minutes since local midnight', () => {
    expect(localParts(at('2026-06-15T12:30:45Z'), NY)).toEqual({ date: '2026-06-15', weekday: 'mon', minutes: 8 * 60 + 30 });
    expect(localParts(at('2026-06-15T12:30:45Z'), 'UTC')).toEqual({ date: '2026-06-15', weekday: 'mon', minutes: 12 * 60 + 30 });
  });

  it('maps every weekday', () => {
    const days = Array.from({ length: 7 }, (_, i) => localParts(at(`2026-06-${15 + i}T16:00:00Z`), NY).weekday);
    expect(days).toEqual(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);
  });

  it('reads midnight as 00:00 of the new day, even from an engine that prints hour 24', () => {
    expect(localParts(at('2026-06-15T04:00:00Z'), NY)).toEqual({ date: '2026-06-15', weekday: 'mon', minutes: 0 });
    const real = Intl.DateTimeFormat.prototype.formatToParts;
    const spy = vi.spyOn(Intl.DateTimeFormat.prototype, 'formatToParts').mockImplementation(function (
      this: Intl.DateTimeFormat,
      date?: Date | number,
    ) {
      return real.call(this, date).map((p) => (p.type === 'hour' ? { ...p, value: '24' } : p));
    });
    try {
      expect(localParts(at('2026-06-15T04:05:00Z'), NY)).toEqual({ date: '2026-06-15', weekday: 'mon', minutes: 5 });
    } finally {
      spy.mockRestore();
    }
  });

  it('refuses an unknown time zone and an invalid Date', () => {
    expect(() => localParts(at('2026-06-15T12:00:00Z'), 'Mars/Olympus_Mons')).toThrow(RangeError);
    expect(() => localParts(new Date(Number.NaN), NY)).toThrow(RangeError);
  });

  it('treats zone names case-insensitively, as Intl does', () => {
    expect(localParts(at('2026-06-15T12:30:00Z'), 'america/new_york')).toEqual(localParts(at('2026-06-15T12:30:00Z'), NY));
  });
});

describe('hoursStatus: open and closed', () => {
  const hours = DEFAULT_WEEKLY_HOURS;
  // Wednesday 2026-06-17, New York on EDT (UTC−4).
  it.each([
    ['07:59', '2026-06-17T11:59:00Z', 'closed'],
    ['08:00 (opening)', '2026-06-17T12:00:00Z', 'open'],
    ['12:00', '2026-06-17T16:00:00Z', 'open'],
    ['16:59', '2026-06-17T20:59:00Z', 'open'],
    ['16:59:59.999', '2026-06-17T20:59:59.999Z', 'open'],
    ['17:00 (closing)', '2026-06-17T21:00:00Z', 'closed'],
    ['23:00', '2026-06-18T03:00:00Z', 'closed'],
  ] as const)('Wednesday %s local is %s', (_label, iso, expected) => {
    expect(hoursStatus(at(iso), NY, hours, NO_HOLIDAYS)).toBe(expected);
  });

  it('is closed all weekend with the default hours', () => {
    expect(hoursStatus(at('2026-06-20T14:00:00Z'), NY, hours, NO_HOLIDAYS)).toBe('closed'); // Sat 10:00
    expect(hoursStatus(at('2026-06-21T14:00:00Z'), NY, hours, NO_HOLIDAYS)).toBe('closed'); // Sun 10:00
  });

  it('opens on a weekend day when that day has hours', () => {
    const withSaturday = WeeklyHoursSchema.parse({ ...DEFAULT_WEEKLY_HOURS, sat: [{ open: '09:00', close: '12:00' }] });
    expect(hoursStatus(at('2026-06-20T14:00:00Z'), NY, withSaturday, NO_HOLIDAYS)).toBe('open'); // Sat 10:00
    expect(hoursStatus(at('2026-06-20T16:00:00Z'), NY, withSaturday, NO_HOLIDAYS)).toBe('closed'); // Sat 12:00
  });

  it('is closed all day on an empty day, even when other days are open', () => {
    const noTuesday = WeeklyHoursSchema.parse({ ...DEFAULT_WEEKLY_HOURS, tue: [] });
    for (const hour of ['04', '12', '16', '20', '23']) {
      expect(hoursStatus(at(`2026-06-16T${hour}:00:00Z`), NY, noTuesday, NO_HOLIDAYS)).toBe('closed');
    }
    expect(hoursStatus(at('2026-06-17T16:00:00Z'), NY, noTuesday, NO_HOLIDAYS)).toBe('open'); // Wed noon
  });

  it('handles split shifts (closed over lunch)', () => {
    const split = WeeklyHoursSchema.parse({
      mon: [
        { open: '08:00', close: '12:00' },
        { open: '13:00', close: '17:00' },
      ],
    });
    expect(hoursStatus(at('2026-06-15T15:59:00Z'), NY, split, NO_HOLIDAYS)).toBe('open'); // 11:59
    expect(hoursStatus(at('2026-06-15T16:00:00Z'), NY, split, NO_HOLIDAYS)).toBe('closed'); // 12:00
    expect(hoursStatus(at('2026-06-15T16:59:00Z'), NY, split, NO_HOLIDAYS)).toBe('closed'); // 12:59
    expect(hoursStatus(at('2026-06-15T17:00:00Z'), NY, split, NO_HOLIDAYS)).toBe('open'); // 13:00
  });
});

describe('hoursStatus: time zones and DST', () => {
  it('spring forward in New York (2026-03-08): 02:00 EST jumps to 03:00 EDT', () => {
    expect(local('2026-03-08T06:59:00Z', NY)).toBe('2026-03-08 sun 01:59');
    expect(local('2026-03-08T07:00:00Z', NY)).toBe('2026-03-08 sun 03:00');
    expect(local('2026-03-08T07:30:00Z', NY)).toBe('2026-03-08 sun 03:30');
    // The Monday after: 08:00 EDT is 12:00Z, not 13:00Z as it was a week earlier.
    expect(hoursStatus(at('2026-03-02T12:59:00Z'), NY, DEFAULT_WEEKLY_HOURS, NO_HOLIDAYS)).toBe('closed'); // 07:59 EST
    expect(hoursStatus(at('2026-03-02T13:00:00Z'), NY, DEFAULT_WEEKLY_HOURS, NO_HOLIDAYS)).toBe('open'); // 08:00 EST
    expect(hoursStatus(at('2026-03-09T11:59:00Z'), NY, DEFAULT_WEEKLY_HOURS, NO_HOLIDAYS)).toBe('closed'); // 07:59 EDT
    expect(hoursStatus(at('2026-03-09T12:00:00Z'), NY, DEFAULT_WEEKLY_HOURS, NO_HOLIDAYS)).toBe('open'); // 08:00 EDT
    expect(hoursStatus(at('2026-03-09T20:59:00Z'), NY, DEFAULT_WEEKLY_HOURS, NO_HOLIDAYS)).toBe('open'); // 16:59 EDT
    expect(hoursStatus(at('2026-03-09T21:00:00Z'), NY, DEFAULT_WEEKLY_HOURS, NO_HOLIDAYS)).toBe('closed'); // 17:00 EDT
  });

  it('spring forward: an interval inside the skipped hour is never open', () => {
    const skipped = WeeklyHoursSchema.parse({ sun: [{ open: '02:00', close: '03:00' }] });
    for (const iso of ['2026-03-08T06:59:00Z', '2026-03-08T07:00:00Z', '2026-03-08T07:30:00Z']) {
      expect(hoursStatus(at(iso), NY, skipped, NO_HOLIDAYS)).toBe('closed');
    }
  });

  it('fall back in New York (2026-11-01): 01:00–02:00 local happens twice', () => {
    expect(local('2026-11-01T05:30:00Z', NY)).toBe('2026-11-01 sun 01:30'); // EDT
    expect(local('2026-11-01T05:59:00Z', NY)).toBe('2026-11-01 sun 01:59'); // EDT
    expect(local('2026-11-01T06:00:00Z', NY)).toBe('2026-11-01 sun 01:00'); // EST
    expect(local('2026-11-01T06:30:00Z', NY)).toBe('2026-11-01 sun 01:30'); // EST
    expect(local('2026-11-01T07:00:00Z', NY)).toBe('2026-11-01 sun 02:00'); // EST
    const repeated = WeeklyHoursSchema.parse({ sun: [{ open: '01:00', close: '02:00' }] });
    expect(hoursStatus(at('2026-11-01T05:30:00Z'), NY, repeated, NO_HOLIDAYS)).toBe('open');
    expect(hoursStatus(at('2026-11-01T06:30:00Z'), NY, repeated, NO_HOLIDAYS)).toBe('open');
    expect(hoursStatus(at('2026-11-01T07:00:00Z'), NY, repeated, NO_HOLIDAYS)).toBe('closed');
    // The Monday after: 08:00 EST is 13:00Z.
    expect(hoursStatus(at('2026-11-02T12:59:00Z'), NY, DEFAULT_WEEKLY_HOURS, NO_HOLIDAYS)).toBe('closed'); // 07:59 EST
    expect(hoursStatus(at('2026-11-02T13:00:00Z'), NY, DEFAULT_WEEKLY_HOURS, NO_HOLIDAYS)).toBe('open'); // 08:00 EST
  });

  it('one instant: Monday 08:30 in New York (open) is Monday 05:30 in Los Angeles (closed)', () => {
    const now = at('2026-06-15T12:30:00Z');
    expect(local(now.toISOString(), NY)).toBe('2026-06-15 mon 08:30');
    expect(local(now.toISOString(), LA)).toBe('2026-06-15 mon 05:30');
    expect(hoursStatus(now, NY, DEFAULT_WEEKLY_HOURS, NO_HOLIDAYS)).toBe('open');
    expect(hoursStatus(now, LA, DEFAULT_WEEKLY_HOURS, NO_HOLIDAYS)).toBe('closed');
  });

  it('Pacific/Honolulu has no DST: 08:00 local is 18:00Z in winter and summer alike', () => {
    for (const day of ['2026-01-12', '2026-03-09', '2026-07-13', '2026-11-02']) {
      expect(hoursStatus(at(`${day}T17:59:00Z`), HONOLULU, DEFAULT_WEEKLY_HOURS, NO_HOLIDAYS)).toBe('closed');
      expect(hoursStatus(at(`${day}T18:00:00Z`), HONOLULU, DEFAULT_WEEKLY_HOURS, NO_HOLIDAYS)).toBe('open');
    }
  });

  it('Australia/Sydney: southern-hemisphere DST, and a local Monday that is still Sunday in UTC', () => {
    // January is summer (AEDT, UTC+11): Monday 08:00 local is Sunday 21:00Z.
    expect(local('2026-01-11T21:00:00Z', SYDNEY)).toBe('2026-01-12 mon 08:00');
    expect(hoursStatus(at('2026-01-11T20:59:00Z'), SYDNEY, DEFAULT_WEEKLY_HOURS, NO_HOLIDAYS)).toBe('closed');
    expect(hoursStatus(at('2026-01-11T21:00:00Z'), SYDNEY, DEFAULT_WEEKLY_HOURS, NO_HOLIDAYS)).toBe('open');
    // July is winter (AEST, UTC+10): Monday 08:00 local is Sunday 22:00Z.
    expect(hoursStatus(at('2026-07-12T21:00:00Z'), SYDNEY, DEFAULT_WEEKLY_HOURS, NO_HOLIDAYS)).toBe('closed');
    expect(hoursStatus(at('2026-07-12T22:00:00Z'), SYDNEY, DEFAULT_WEEKLY_HOURS, NO_HOLIDAYS)).toBe('open');
    // DST ends 2026-04-05 03:00 AEDT → 02:00 AEST; starts 2026-10-04 02:00 AEST → 03:00 AEDT.
    expect(local('2026-04-04T15:59:00Z', SYDNEY)).toBe('2026-04-05 sun 02:59');
    expect(local('2026-04-04T16:00:00Z', SYDNEY)).toBe('2026-04-05 sun 02:00');
    expect(local('2026-10-03T15:59:00Z', SYDNEY)).toBe('2026-10-04 sun 01:59');
    expect(local('2026-10-03T16:00:00Z', SYDNEY)).toBe('2026-10-04 sun 03:00');
  });
});

describe('hoursStatus: near midnight', () => {
  it('23:59 local belongs to the old day, 00:00 local to the next', () => {
    expect(local('2026-06-15T03:59:00Z', NY)).toBe('2026-06-14 sun 23:59');
    expect(local('2026-06-15T04:00:00Z', NY)).toBe('2026-06-15 mon 00:00');
    const lateSunday = WeeklyHoursSchema.parse({ sun: [{ open: '22:00', close: '24:00' }] });
    expect(hoursStatus(at('2026-06-15T03:59:00Z'), NY, lateSunday, NO_HOLIDAYS)).toBe('open');
    expect(hoursStatus(at('2026-06-15T04:00:00Z'), NY, lateSunday, NO_HOLIDAYS)).toBe('closed');
    const earlyMonday = WeeklyHoursSchema.parse({ mon: [{ open: '00:00', close: '01:00' }] });
    expect(hoursStatus(at('2026-06-15T03:59:00Z'), NY, earlyMonday, NO_HOLIDAYS)).toBe('closed');
    expect(hoursStatus(at('2026-06-15T04:00:00Z'), NY, earlyMonday, NO_HOLIDAYS)).toBe('open');
  });

  it('an explicit holiday date starts at local midnight, not UTC midnight', () => {
    const holidays: Holidays = { dates: ['2026-06-15'], named: [] };
    expect(hoursStatus(at('2026-06-15T00:30:00Z'), NY, DEFAULT_WEEKLY_HOURS, holidays)).toBe('closed'); // Sun 20:30
    expect(hoursStatus(at('2026-06-15T03:59:00Z'), NY, DEFAULT_WEEKLY_HOURS, holidays)).toBe('closed'); // Sun 23:59
    expect(hoursStatus(at('2026-06-15T04:00:00Z'), NY, DEFAULT_WEEKLY_HOURS, holidays)).toBe('holiday'); // Mon 00:00
    expect(hoursStatus(at('2026-06-16T03:59:00Z'), NY, DEFAULT_WEEKLY_HOURS, holidays)).toBe('holiday'); // Mon 23:59
    expect(hoursStatus(at('2026-06-16T04:00:00Z'), NY, DEFAULT_WEEKLY_HOURS, holidays)).toBe('closed'); // Tue 00:00
  });

  it('the local date decides a named holiday: 2026-11-27T03:00Z is still Thanksgiving (22:00) in New York', () => {
    const thanksgiving: Holidays = { dates: [], named: ['thanksgiving'] };
    expect(local('2026-11-27T03:00:00Z', NY)).toBe('2026-11-26 thu 22:00');
    expect(hoursStatus(at('2026-11-27T03:00:00Z'), NY, DEFAULT_WEEKLY_HOURS, thanksgiving)).toBe('holiday');
    expect(hoursStatus(at('2026-11-27T04:59:00Z'), NY, DEFAULT_WEEKLY_HOURS, thanksgiving)).toBe('holiday'); // 23:59
    expect(hoursStatus(at('2026-11-27T05:00:00Z'), NY, DEFAULT_WEEKLY_HOURS, thanksgiving)).toBe('closed'); // Fri 00:00
    expect(hoursStatus(at('2026-11-27T14:00:00Z'), NY, DEFAULT_WEEKLY_HOURS, thanksgiving)).toBe('open'); // Fri 09:00
    // …and Christmas in UTC (02:00Z on the 25th) is still Christmas Eve evening in New York.
    const christmas: Holidays = { dates: [], named: ['christmas_day'] };
    expect(hoursStatus(at('2026-12-25T02:00:00Z'), NY, DEFAULT_WEEKLY_HOURS, christmas)).toBe('closed');
    expect(hoursStatus(at('2026-12-25T05:00:00Z'), NY, DEFAULT_WEEKLY_HOURS, christmas)).toBe('holiday');
  });
});

describe('hoursStatus: holidays', () => {
  it('a holiday wins over opening hours', () => {
    const tenAmThanksgiving = at('2026-11-26T15:00:00Z');
    expect(hoursStatus(tenAmThanksgiving, NY, DEFAULT_WEEKLY_HOURS, NO_HOLIDAYS)).toBe('open');
    expect(hoursStatus(tenAmThanksgiving, NY, DEFAULT_WEEKLY_HOURS, DEFAULT_HOLIDAYS)).toBe('holiday');
  });

  it('a holiday is reported even outside opening hours and on weekends', () => {
    expect(hoursStatus(at('2026-07-04T16:00:00Z'), NY, DEFAULT_WEEKLY_HOURS, DEFAULT_HOLIDAYS)).toBe('holiday'); // Sat
    expect(hoursStatus(at('2026-11-27T02:00:00Z'), NY, DEFAULT_WEEKLY_HOURS, DEFAULT_HOLIDAYS)).toBe('holiday'); // Thu 21:00
  });

  it('the observed day closes the practice: Independence Day 2027 (Sunday) → Monday 2027-07-05', () => {
    const mondayTenAm = at('2027-07-05T14:00:00Z');
    expect(hoursStatus(mondayTenAm, NY, DEFAULT_WEEKLY_HOURS, DEFAULT_HOLIDAYS)).toBe('holiday');
    expect(hoursStatus(mondayTenAm, NY, DEFAULT_WEEKLY_HOURS, NO_HOLIDAYS)).toBe('open');
  });

  it("New Year's Day 2028 (Saturday) closes Friday 2027-12-31", () => {
    const fridayTenAm = at('2027-12-31T15:00:00Z');
    expect(hoursStatus(fridayTenAm, NY, DEFAULT_WEEKLY_HOURS, DEFAULT_HOLIDAYS)).toBe('holiday');
    expect(hoursStatus(fridayTenAm, NY, DEFAULT_WEEKLY_HOURS, { dates: [], named: ['christmas_day'] })).toBe('open');
  });

  it('a holiday not on the practice list does not close it', () => {
    // Columbus Day 2026 is Monday 2026-10-12; not in the defaults.
    expect(hoursStatus(at('2026-10-12T14:00:00Z'), NY, DEFAULT_WEEKLY_HOURS, DEFAULT_HOLIDAYS)).toBe('open');
    expect(hoursStatus(at('2026-10-12T14:00:00Z'), NY, DEFAULT_WEEKLY_HOURS, { dates: [], named: ['columbus_day'] })).toBe(
      'holiday',
    );
  });
});

describe('holidayDates', () => {
  const dates = (year: number, name: NamedHoliday): string[] => [...holidayDates(year, [name]).keys()];

  // Each named holiday in 2026 and 2027: the date itself, plus the observed weekday where it moves.
  it.each([
    ['new_years_day', 2026, ['2026-01-01']],
    ['new_years_day', 2027, ['2027-01-01', '2027-12-31']], // 2028-01-01 is a Saturday
    ['mlk_day', 2026, ['2026-01-19']],
    ['mlk_day', 2027, ['2027-01-18']],
    ['presidents_day', 2026, ['2026-02-16']],
    ['presidents_day', 2027, ['2027-02-15']],
    ['memorial_day', 2026, ['2026-05-25']],
    ['memorial_day', 2027, ['2027-05-31']],
    ['juneteenth', 2026, ['2026-06-19']],
    ['juneteenth', 2027, ['2027-06-18', '2027-06-19']], // Saturday → Friday
    ['independence_day', 2026, ['2026-07-03', '2026-07-04']], // Saturday → Friday
    ['independence_day', 2027, ['2027-07-04', '2027-07-05']], // Sunday → Monday
    ['labor_day', 2026, ['2026-09-07']],
    ['labor_day', 2027, ['2027-09-06']],
    ['columbus_day', 2026, ['2026-10-12']],
    ['columbus_day', 2027, ['2027-10-11']],
    ['veterans_day', 2026, ['2026-11-11']],
    ['veterans_day', 2027, ['2027-11-11']],
    ['thanksgiving', 2026, ['2026-11-26']],
    ['thanksgiving', 2027, ['2027-11-25']],
    ['day_after_thanksgiving', 2026, ['2026-11-27']],
    ['day_after_thanksgiving', 2027, ['2027-11-26']],
    ['christmas_eve', 2026, ['2026-12-24']],
    ['christmas_eve', 2027, ['2027-12-24']],
    ['christmas_day', 2026, ['2026-12-25']],
    ['christmas_day', 2027, ['2027-12-24', '2027-12-25']], // Saturday → Friday
    ['new_years_eve', 2026, ['2026-12-31']],
    ['new_years_eve', 2027, ['2027-12-31']],
  ] as const)('%s %i → %j', (name, year, expected) => {
    expect(dates(year, name)).toEqual(expected);
  });

  it('Thanksgiving is the 4th Thursday, not the last, in a November with five Thursdays (2029)', () => {
    expect(dates(2029, 'thanksgiving')).toEqual(['2029-11-22']);
    expect(dates(2029, 'day_after_thanksgiving')).toEqual(['2029-11-23']);
  });

  it('covers every named holiday in the table above', () => {
    const all = holidayDates(2027, NAMED_HOLIDAYS);
    expect(new Set(all.values())).toEqual(new Set(NAMED_HOLIDAYS));
  });

  it('keeps observed days that cross the year boundary in the right year', () => {
    // 2022-01-01 was a Saturday: observed 2021-12-31, which belongs to 2021, not 2022.
    expect(dates(2021, 'new_years_day')).toEqual(['2021-01-01', '2021-12-31']);
    expect(dates(2022, 'new_years_day')).toEqual(['2022-01-01']);
    // 2023-01-01 was a Sunday: observed Monday 2023-01-02.
    expect(dates(2023, 'new_years_day')).toEqual(['2023-01-01', '2023-01-02']);
    // New Year's Eve 2023 was a Sunday: observed Monday 2024-01-01, which belongs to 2024.
    expect(dates(2023, 'new_years_eve')).toEqual(['2023-12-31']);
    expect(dates(2024, 'new_years_eve')).toEqual(['2024-01-01', '2024-12-31']);
  });

  it('gives a shared date to the holiday actually on it', () => {
    const both = holidayDates(2027, ['christmas_day', 'christmas_eve']);
    expect(both.get('2027-12-24')).toBe('christmas_eve');
    expect(both.get('2027-12-25')).toBe('christmas_day');
    const newYear = holidayDates(2027, ['new_years_day', 'new_years_eve']);
    expect(newYear.get('2027-12-31')).toBe('new_years_eve');
  });

  it('includes only the holidays asked for', () => {
    expect(holidayDates(2026, []).size).toBe(0);
    expect([...holidayDates(2026, DEFAULT_HOLIDAYS.named).entries()]).toEqual([
      ['2026-01-01', 'new_years_day'],
      ['2026-05-25', 'memorial_day'],
      ['2026-07-03', 'independence_day'],
      ['2026-07-04', 'independence_day'],
      ['2026-09-07', 'labor_day'],
      ['2026-11-26', 'thanksgiving'],
      ['2026-12-25', 'christmas_day'],
    ]);
  });

  it('refuses a nonsense year', () => {
    expect(() => holidayDates(2026.5, ['thanksgiving'])).toThrow(RangeError);
    expect(() => holidayDates(Number.NaN, ['thanksgiving'])).toThrow(RangeError);
  });
});

describe('isHoliday', () => {
  it('matches explicit dates exactly', () => {
    const h: Holidays = { dates: ['2026-12-26', '2027-03-15'], named: [] };
    expect(isHoliday('2026-12-26', h)).toBe(true);
    expect(isHoliday('2027-03-15', h)).toBe(true);
    expect(isHoliday('2026-12-27', h)).toBe(false);
    expect(isHoliday('2027-03-14', h)).toBe(false);
  });

  it('matches named holidays and their observed days', () => {
    expect(isHoliday('2026-11-26', DEFAULT_HOLIDAYS)).toBe(true);
    expect(isHoliday('2027-07-05', DEFAULT_HOLIDAYS)).toBe(true);
    expect(isHoliday('2027-12-31', DEFAULT_HOLIDAYS)).toBe(true);
    expect(isHoliday('2026-11-27', DEFAULT_HOLIDAYS)).toBe(false);
    expect(isHoliday('2026-11-26', NO_HOLIDAYS)).toBe(false);
  });

  it('refuses a malformed date', () => {
    expect(() => isHoliday('11/26/2026', DEFAULT_HOLIDAYS)).toThrow(RangeError);
  });
});
