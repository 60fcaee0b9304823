import { describe, it, expect } from 'vitest';
import {
  DEFAULT_HOLIDAYS,
  DEFAULT_WEEKLY_HOURS,
  E164Schema,
  HolidaysSchema,
  NAMED_HOLIDAYS,
  TimeZoneSchema,
  WeeklyHoursSchema,
  clockToMinutes,
} from '../../src/practices/settings.js';

function messages(result: { success: boolean; error?: { issues: { message: string }[] } }): string[] {
  return result.error?.issues.map((i) => i.message) ?? [];
}

describe('TimeZoneSchema', () => {
  it.each(['America/New_York', 'America/Los_Angeles', 'Pacific/Honolulu', 'Australia/Sydney', 'UTC', 'Etc/GMT+5'])(
    'accepts %s',
    (zone) => {
      expect(TimeZoneSchema.parse(zone)).toBe(zone);
    },
  );

  it.each([
    ['unknown zone', 'Mars/Olympus_Mons'],
    ['abbreviation-ish nonsense', 'EST+5'],
    ['offset', '+05:00'],
    ['empty', ''],
    ['path traversal', '../etc/passwd'],
    ['too long', `America/${'A'.repeat(100)}`],
    ['not a string', 42],
    ['null', null],
  ])('refuses %s with a clear message', (_label, zone) => {
    const result = TimeZoneSchema.safeParse(zone);
    expect(result.success).toBe(false);
    expect(messages(result)).toEqual(['expected an IANA time zone such as America/New_York']);
  });
});

describe('E164Schema', () => {
  it.each(['+12025550100', '+442079460958', '+1234567'])('accepts %s', (n) => {
    expect(E164Schema.parse(n)).toBe(n);
  });

  it.each(['12025550100', '+02025550100', '+1 202 555 0100', '+1234567890123456', '+123456', '', 12025550100])(
    'refuses %s',
    (n) => {
      const result = E164Schema.safeParse(n);
      expect(result.success).toBe(false);
      expect(messages(result)).toEqual(['expected an E.164 number such as +12025550100']);
    },
  );
});

describe('clockToMinutes', () => {
  it('converts HH:MM, including 24:00', () => {
    expect(clockToMinutes('00:00')).toBe(0);
    expect(clockToMinutes('08:30')).toBe(510);
    expect(clockToMinutes('23:59')).toBe(1439);
    expect(clockToMinutes('24:00')).toBe(1440);
  });

  it.each(['25:00', '24:01', '8:00', '12:60', ''])('throws on %j', (c) => {
    expect(() => clockToMinutes(c)).toThrow(RangeError);
  });
});

describe('WeeklyHoursSchema', () => {
  it('defaults missing days to closed ([])', () => {
    const hours = WeeklyHoursSchema.parse({ mon: [{ open: '08:00', close: '17:00' }] });
    expect(hours).toEqual({ mon: [{ open: '08:00', close: '17:00' }], tue: [], wed: [], thu: [], fri: [], sat: [], sun: [] });
  });

  it('gives each parse its own default array', () => {
    const a = WeeklyHoursSchema.parse({});
    a.sat.push({ open: '09:00', close: '12:00' });
    expect(WeeklyHoursSchema.parse({}).sat).toEqual([]);
  });

  it('accepts split shifts, touching intervals, and a close of 24:00', () => {
    const day = [
      { open: '00:00', close: '08:00' },
      { open: '08:00', close: '12:00' },
      { open: '13:00', close: '24:00' },
    ];
    expect(WeeklyHoursSchema.parse({ tue: day }).tue).toEqual(day);
  });

  it('refuses overlapping intervals, naming the day', () => {
    const result = WeeklyHoursSchema.safeParse({
      wed: [
        { open: '08:00', close: '12:00' },
        { open: '11:00', close: '17:00' },
      ],
    });
    expect(result.success).toBe(false);
    expect(messages(result)).toEqual(['wed: intervals must be sorted and must not overlap']);
    expect(result.error?.issues[0]?.path).toEqual(['wed', 1]);
  });

  it('refuses unsorted intervals, naming the day', () => {
    const result = WeeklyHoursSchema.safeParse({
      sat: [
        { open: '13:00', close: '17:00' },
        { open: '08:00', close: '12:00' },
      ],
    });
    expect(messages(result)).toEqual(['sat: intervals must be sorted and must not overlap']);
  });

  it.each([
    ['25:00', { open: '08:00', close: '25:00' }],
    ['24:01', { open: '08:00', close: '24:01' }],
    ['single-digit hour', { open: '8:00', close: '17:00' }],
    ['60 minutes', { open: '08:60', close: '17:00' }],
    ['a number', { open: 800, close: '17:00' }],
  ])('refuses a malformed time (%s)', (_label, interval) => {
    const result = WeeklyHoursSchema.safeParse({ mon: [interval] });
    expect(result.success).toBe(false);
    expect(messages(result)).toContain('expected a time HH:MM between 00:00 and 24:00');
  });

  it.each([
    ['close before open', { open: '17:00', close: '08:00' }],
    ['close equal to open', { open: '08:00', close: '08:00' }],
    ['open at 24:00', { open: '24:00', close: '24:00' }],
  ])('refuses %s', (_label, interval) => {
    const result = WeeklyHoursSchema.safeParse({ fri: [interval] });
    expect(result.success).toBe(false);
    expect(messages(result)).toEqual(['close must be after open']);
  });

  it('refuses unknown keys rather than silently closing a misspelt day', () => {
    expect(WeeklyHoursSchema.safeParse({ monday: [{ open: '08:00', close: '17:00' }] }).success).toBe(false);
    expect(WeeklyHoursSchema.safeParse({ mon: [{ open: '08:00', close: '17:00', note: 'x' }] }).success).toBe(false);
  });

  it('refuses an absurd number of intervals', () => {
    const many = Array.from({ length: 25 }, (_, i) => ({
      open: `${String(i).padStart(2, '0')}:00`,
      close: `${String(i).padStart(2, '0')}:30`,
    }));
    expect(WeeklyHoursSchema.safeParse({ thu: many.slice(0, 24) }).success).toBe(true);
    expect(WeeklyHoursSchema.safeParse({ thu: many }).success).toBe(false);
  });
});

describe('HolidaysSchema', () => {
  it('defaults both lists to []', () => {
    expect(HolidaysSchema.parse({})).toEqual({ dates: [], named: [] });
  });

  it('accepts real dates, including 29 February of a leap year', () => {
    const input = { dates: ['2026-12-26', '2028-02-29', '2000-02-29'], named: ['thanksgiving'] };
    expect(HolidaysSchema.parse(input)).toEqual(input);
  });

  it.each(['2026-02-30', '2026-02-29', '1900-02-29', '2026-04-31', '2026-13-01', '2026-00-10', '2026-01-00', '2026-1-5', '26-01-05', '2026-01-05T00:00:00Z'])(
    'refuses %s',
    (date) => {
      const result = HolidaysSchema.safeParse({ dates: [date] });
      expect(result.success).toBe(false);
      expect(messages(result)).toEqual(['expected a calendar date YYYY-MM-DD']);
    },
  );

  it('refuses an unknown named holiday', () => {
    const result = HolidaysSchema.safeParse({ named: ['boxing_day'] });
    expect(result.success).toBe(false);
    expect(messages(result)[0]).toMatch(/^expected one of new_years_day, /);
  });

  it('accepts every named holiday', () => {
    expect(HolidaysSchema.parse({ named: [...NAMED_HOLIDAYS] }).named).toHaveLength(14);
  });
});

describe('defaults', () => {
  it('DEFAULT_WEEKLY_HOURS is Mon–Fri 08:00–17:00, weekends closed, and valid', () => {
    expect(WeeklyHoursSchema.parse(DEFAULT_WEEKLY_HOURS)).toEqual(DEFAULT_WEEKLY_HOURS);
    for (const day of ['mon', 'tue', 'wed', 'thu', 'fri'] as const) {
      expect(DEFAULT_WEEKLY_HOURS[day]).toEqual([{ open: '08:00', close: '17:00' }]);
    }
    expect(DEFAULT_WEEKLY_HOURS.sat).toEqual([]);
    expect(DEFAULT_WEEKLY_HOURS.sun).toEqual([]);
  });

  it('DEFAULT_HOLIDAYS names the six usual holidays and is valid', () => {
    expect(HolidaysSchema.parse(DEFAULT_HOLIDAYS)).toEqual(DEFAULT_HOLIDAYS);
    expect(DEFAULT_HOLIDAYS).toEqual({
      dates: [],
      named: ['new_years_day', 'memorial_day', 'independence_day', 'labor_day', 'thanksgiving', 'christmas_day'],
    });
  });

  it('defaults are frozen so no caller can change them for everyone', () => {
    expect(() => DEFAULT_WEEKLY_HOURS.sat.push({ open: '09:00', close: '12:00' })).toThrow(TypeError);
    expect(() => {
      const first = DEFAULT_WEEKLY_HOURS.mon[0];
      if (first) first.close = '23:00';
    }).toThrow(TypeError);
    expect(() => DEFAULT_HOLIDAYS.named.push('juneteenth')).toThrow(TypeError);
  });
});
