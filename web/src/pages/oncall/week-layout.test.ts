import { describe, expect, it } from 'vitest';
import { weekLayout, weekStart, type Shift } from './week-layout';

// The layout works in the process's local time zone; the cases are written in local times.
function local(y: number, m: number, d: number, h = 0, min = 0): string {
  return new Date(y, m - 1, d, h, min).toISOString();
}

function shift(start: string, end: string, who = 'Dr. Adams', layer: Shift['layer'] = 'rotation'): Shift {
  return { scheduleId: 's1', scheduleName: 'Nights', providerId: 'p1', providerName: who, layer, start, end };
}

describe('week calendar layout', () => {
  it('starts the week on the Monday, at local midnight', () => {
    const start = weekStart(new Date(2026, 11, 3, 15, 30)); // Thursday 3 December 2026
    expect([start.getFullYear(), start.getMonth(), start.getDate(), start.getHours()]).toEqual([2026, 10, 30, 0]); // Monday 30 November
    expect(start.getDay()).toBe(1);
    expect(weekStart(new Date(2026, 11, 6, 23)).getDate()).toBe(30); // a Sunday belongs to the week before it
  });

  it('cuts a shift across midnight into both days, with the times on each side and its share of the day', () => {
    const start = weekStart(new Date(2026, 11, 1));
    const days = weekLayout([shift(local(2026, 12, 1, 18), local(2026, 12, 2, 8))], start);
    expect(days).toHaveLength(7);
    const tue = days[1]?.segments ?? [];
    const wed = days[2]?.segments ?? [];
    expect(tue).toHaveLength(1);
    expect(tue[0]).toMatchObject({ startLabel: '18:00', endLabel: '24:00', continuesBefore: false, continuesAfter: true, from: 0.75, to: 1 });
    expect(wed[0]).toMatchObject({ startLabel: '00:00', endLabel: '08:00', continuesBefore: true, continuesAfter: false, from: 0 });
    expect(wed[0]?.to).toBeCloseTo(8 / 24);
    expect(days.filter((d) => d.segments.length > 0)).toHaveLength(2);
  });

  it('keeps shifts outside the week out, and orders a day by start; an override shows as one', () => {
    const start = weekStart(new Date(2026, 11, 1));
    const days = weekLayout(
      [
        shift(local(2026, 11, 20), local(2026, 11, 21)),
        shift(local(2026, 12, 3, 12), local(2026, 12, 3, 20), 'Dr. Baker', 'override'),
        shift(local(2026, 12, 3, 0), local(2026, 12, 3, 12)),
        shift(local(2026, 12, 7, 0), local(2026, 12, 8)),
      ],
      start,
    );
    expect(days.flatMap((d) => d.segments)).toHaveLength(2);
    const thu = days[3]?.segments ?? [];
    expect(thu.map((s) => [s.shift.providerName, s.startLabel, s.endLabel, s.shift.layer])).toEqual([
      ['Dr. Adams', '00:00', '12:00', 'rotation'],
      ['Dr. Baker', '12:00', '20:00', 'override'],
    ]);
  });

  it('a week-long weekly rotation fills every day whole', () => {
    const start = weekStart(new Date(2026, 11, 1));
    const days = weekLayout([shift(local(2026, 11, 30), local(2026, 12, 7))], start);
    expect(days.map((d) => [d.segments[0]?.startLabel, d.segments[0]?.endLabel])).toEqual(Array.from({ length: 7 }, () => ['00:00', '24:00']));
  });
});
