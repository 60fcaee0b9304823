import { z } from 'zod';

/**
 * A practice's settings as the admin API accepts them and the database layer stores them.
 * Bad input is refused, never repaired; messages never echo the input back.
 */

// ---------------------------------------------------------------------------
// Time zone and phone number
// ---------------------------------------------------------------------------

const TIME_ZONE_MESSAGE = 'expected an IANA time zone such as America/New_York';
/** IANA names are letters, digits, `_`, `-`, `+` and `/`; this also refuses offsets like `+05:00`. */
const TIME_ZONE_SHAPE = /^[A-Za-z][A-Za-z0-9_+/-]{0,63}$/;

function isIanaTimeZone(value: string): boolean {
  if (!TIME_ZONE_SHAPE.test(value)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

export const TimeZoneSchema = z
  .string({ error: TIME_ZONE_MESSAGE })
  .refine(isIanaTimeZone, { error: TIME_ZONE_MESSAGE });

export const E164Schema = z
  .string({ error: 'expected an E.164 number such as +12025550100' })
  .regex(/^\+[1-9]\d{6,14}$/, { error: 'expected an E.164 number such as +12025550100' });

// ---------------------------------------------------------------------------
// Weekly opening hours
// ---------------------------------------------------------------------------

/** A practice's automatic logoff: 5 to 60 minutes of inactivity (default 15, the column's). */
export const IdleLogoffMinutesSchema = z.number().int().min(5).max(60);
export const DEFAULT_IDLE_LOGOFF_MINUTES = 15;

/** The patient portal's address: https, printable, no credentials or fragment (it goes into e-mails). */
export const PortalUrlSchema = z
  .string()
  .max(300)
  .regex(/^https:\/\/[^\s]+$/, { error: 'expected an https:// URL' })
  .refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'https:' && u.username === '' && u.password === '' && u.hash === '';
    } catch {
      return false;
    }
  }, { error: 'expected an https:// URL without credentials or #fragment' });

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** Wall-clock time `HH:MM`, 00:00–23:59, plus `24:00` for "until midnight". */
const CLOCK = /^(?:(?:[01]\d|2[0-3]):[0-5]\d|24:00)$/;
/** Enough for split shifts; bounds the work a request can ask for. */
const MAX_INTERVALS_PER_DAY = 24;

/** Minutes since midnight of an `HH:MM` clock time (`24:00` → 1440), or NaN when it is not one. */
function clockMinutesOrNaN(clock: string): number {
  return CLOCK.test(clock) ? Number(clock.slice(0, 2)) * 60 + Number(clock.slice(3, 5)) : Number.NaN;
}

/** Minutes since midnight of an `HH:MM` clock time (`24:00` → 1440). Throws on anything else. */
export function clockToMinutes(clock: string): number {
  const minutes = clockMinutesOrNaN(clock);
  if (Number.isNaN(minutes)) throw new RangeError('expected a time HH:MM between 00:00 and 24:00');
  return minutes;
}

export const ClockTimeSchema = z
  .string({ error: 'expected a time HH:MM between 00:00 and 24:00' })
  .regex(CLOCK, { error: 'expected a time HH:MM between 00:00 and 24:00' });

export const OpenIntervalSchema = z
  .strictObject({ open: ClockTimeSchema, close: ClockTimeSchema })
  // A malformed clock (NaN) is already reported by ClockTimeSchema; only compare well-formed ones.
  .refine((i) => !(clockMinutesOrNaN(i.open) >= clockMinutesOrNaN(i.close)), {
    error: 'close must be after open',
    path: ['close'],
  });
export type OpenInterval = z.infer<typeof OpenIntervalSchema>;

function daySchema(day: Weekday) {
  return z
    .array(OpenIntervalSchema)
    .max(MAX_INTERVALS_PER_DAY, { error: `${day}: at most ${MAX_INTERVALS_PER_DAY} intervals` })
    .superRefine((intervals, ctx) => {
      for (let i = 1; i < intervals.length; i++) {
        const prev = intervals[i - 1];
        const cur = intervals[i];
        if (prev === undefined || cur === undefined) continue;
        // Half-open intervals: 08:00–12:00 followed by 12:00–17:00 is allowed.
        if (clockMinutesOrNaN(cur.open) < clockMinutesOrNaN(prev.close)) {
          ctx.addIssue({
            code: 'custom',
            message: `${day}: intervals must be sorted and must not overlap`,
            path: [i],
          });
          return;
        }
      }
    })
    .default(() => []);
}

/** Opening hours per local weekday; an empty (or missing) day is closed all day. */
export const WeeklyHoursSchema = z.strictObject({
  mon: daySchema('mon'),
  tue: daySchema('tue'),
  wed: daySchema('wed'),
  thu: daySchema('thu'),
  fri: daySchema('fri'),
  sat: daySchema('sat'),
  sun: daySchema('sun'),
});
export type WeeklyHours = z.infer<typeof WeeklyHoursSchema>;

/** One day in a patch of the weekly hours: its intervals, or `null` (like `[]`) for closed all day. */
function dayPatchSchema(day: Weekday) {
  return WeeklyHoursSchema.shape[day].unwrap().nullable().optional();
}

/**
 * A change to the weekly hours, day by day: a day given replaces that day only (`null` or `[]`
 * closes it); days not given keep their hours. At least one day.
 */
export const WeeklyHoursPatchSchema = z
  .strictObject({
    mon: dayPatchSchema('mon'),
    tue: dayPatchSchema('tue'),
    wed: dayPatchSchema('wed'),
    thu: dayPatchSchema('thu'),
    fri: dayPatchSchema('fri'),
    sat: dayPatchSchema('sat'),
    sun: dayPatchSchema('sun'),
  })
  .refine((p) => Object.values(p).some((d) => d !== undefined), { error: 'name at least one day (mon … sun); days not named keep their hours' })
  .transform((p): Partial<WeeklyHours> => {
    const days: Partial<WeeklyHours> = {};
    for (const day of WEEKDAYS) {
      const value = p[day];
      if (value !== undefined) days[day] = value ?? [];
    }
    return days;
  });
export type WeeklyHoursPatch = z.output<typeof WeeklyHoursPatchSchema>;

// ---------------------------------------------------------------------------
// Holidays
// ---------------------------------------------------------------------------

export const NAMED_HOLIDAYS = [
  'new_years_day',
  'mlk_day',
  'presidents_day',
  'memorial_day',
  'juneteenth',
  'independence_day',
  'labor_day',
  'columbus_day',
  'veterans_day',
  'thanksgiving',
  'day_after_thanksgiving',
  'christmas_eve',
  'christmas_day',
  'new_years_eve',
] as const;
export type NamedHoliday = (typeof NAMED_HOLIDAYS)[number];

const MAX_HOLIDAY_DATES = 1000;

function isCalendarDate(value: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const daysInMonth = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
  return day <= daysInMonth;
}

export const LocalDateSchema = z
  .string({ error: 'expected a calendar date YYYY-MM-DD' })
  .refine(isCalendarDate, { error: 'expected a calendar date YYYY-MM-DD' });

export const NamedHolidaySchema = z.enum(NAMED_HOLIDAYS, {
  error: `expected one of ${NAMED_HOLIDAYS.join(', ')}`,
});

/** Days the practice is closed: explicit local dates plus US holidays by name (with observed days). */
export const HolidaysSchema = z.strictObject({
  dates: z.array(LocalDateSchema).max(MAX_HOLIDAY_DATES).default(() => []),
  named: z.array(NamedHolidaySchema).max(NAMED_HOLIDAYS.length * 2).default(() => []),
});
export type Holidays = z.infer<typeof HolidaysSchema>;

// ---------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

const WEEKDAY_8_TO_5 = (): OpenInterval[] => [{ open: '08:00', close: '17:00' }];

/** Mon–Fri 08:00–17:00, weekends closed. Frozen: copy before changing. */
export const DEFAULT_WEEKLY_HOURS: WeeklyHours = deepFreeze({
  mon: WEEKDAY_8_TO_5(),
  tue: WEEKDAY_8_TO_5(),
  wed: WEEKDAY_8_TO_5(),
  thu: WEEKDAY_8_TO_5(),
  fri: WEEKDAY_8_TO_5(),
  sat: [],
  sun: [],
});

/** The six holidays nearly every practice closes for. Frozen: copy before changing. */
export const DEFAULT_HOLIDAYS: Holidays = deepFreeze({
  dates: [],
  named: ['new_years_day', 'memorial_day', 'independence_day', 'labor_day', 'thanksgiving', 'christmas_day'],
});
