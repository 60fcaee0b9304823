/**
 * A week of on-call shifts as the calendar draws it: seven days (in the browser's time zone, the
 * one the dates are shown in), each with the shifts that touch it cut to that day, as times and
 * as a share of the day (for the bar). A shift across midnight appears on both days.
 */
export interface Shift {
  scheduleId: string;
  scheduleName: string;
  providerId: string;
  providerName: string | null;
  layer: 'rotation' | 'override';
  overrideId?: string;
  start: string;
  end: string;
}

export interface DaySegment {
  shift: Shift;
  /** Where it starts and ends within the day, as a fraction 0–1 of the day. */
  from: number;
  to: number;
  /** The wall-clock times shown: HH:MM, `24:00` for the end of the day. */
  startLabel: string;
  endLabel: string;
  /** Whether the shift began before this day, or goes on after it. */
  continuesBefore: boolean;
  continuesAfter: boolean;
}

export interface WeekDay {
  /** Local midnight that starts the day. */
  date: Date;
  segments: DaySegment[];
}

/** Local midnight of the Monday of the week holding `at`. */
export function weekStart(at: Date): Date {
  const d = new Date(at.getFullYear(), at.getMonth(), at.getDate());
  const back = (d.getDay() + 6) % 7;
  d.setDate(d.getDate() - back);
  return d;
}

/** Local midnight `days` days after `day` (daylight-saving days are 23 or 25 hours long). */
export function addDays(day: Date, days: number): Date {
  return new Date(day.getFullYear(), day.getMonth(), day.getDate() + days);
}

function clock(d: Date): string {
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

export function weekLayout(shifts: readonly Shift[], start: Date): WeekDay[] {
  const days: WeekDay[] = [];
  for (let i = 0; i < 7; i++) {
    const dayStart = addDays(start, i);
    const dayEnd = addDays(start, i + 1);
    const length = dayEnd.getTime() - dayStart.getTime();
    const segments = shifts
      .map((shift) => ({ shift, s: Date.parse(shift.start), e: Date.parse(shift.end) }))
      .filter(({ s, e }) => s < dayEnd.getTime() && e > dayStart.getTime())
      .sort((a, b) => a.s - b.s || a.shift.scheduleName.localeCompare(b.shift.scheduleName))
      .map(({ shift, s, e }): DaySegment => {
        const from = Math.max(s, dayStart.getTime());
        const to = Math.min(e, dayEnd.getTime());
        return {
          shift,
          from: (from - dayStart.getTime()) / length,
          to: (to - dayStart.getTime()) / length,
          startLabel: clock(new Date(from)),
          endLabel: to === dayEnd.getTime() ? '24:00' : clock(new Date(to)),
          continuesBefore: s < dayStart.getTime(),
          continuesAfter: e > dayEnd.getTime(),
        };
      });
    days.push({ date: dayStart, segments });
  }
  return days;
}
