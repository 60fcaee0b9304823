import { describe, expect, it } from 'vitest';
import {
  MAX_SHIFTS_WINDOW_DAYS,
  resolveOverlaps,
  rotationShiftAt,
  shifts,
  whoIsOnCall,
  type TimelineEntry,
} from '../../src/oncall/schedule.js';
import {
  OverrideInputSchema,
  RotationSchema,
  ScheduleSchema,
  type Override,
  type Rotation,
  type Schedule,
} from '../../src/oncall/schedule-schema.js';
import { addLocalDays, daysBetween, weekdayOf, zonedToUtc } from '../../src/time/zoned.js';

const NY = 'America/New_York';
const LONDON = 'Europe/London';
const SYDNEY = 'Australia/Sydney';
const LORD_HOWE = 'Australia/Lord_Howe';

const A = '11111111-1111-4111-8111-111111111111';
const B = '22222222-2222-4222-8222-222222222222';
const C = '33333333-3333-4333-8333-333333333333';
const D = '44444444-4444-4444-8444-444444444444';

const HOUR = 3_600_000;
const at = (iso: string): Date => new Date(iso);
const iso = (d: Date): string => d.toISOString();
const hours = (s: { start: Date; end: Date }): number => (s.end.getTime() - s.start.getTime()) / HOUR;

function daily(startDate: string, handoffTime = '08:00', members = [A, B, C]): Rotation {
  return { members, length: 'daily', handoffTime, startDate };
}

function override(id: string, providerId: string, start: string, end: string, createdAt: string): Override {
  return { id, providerId, start: at(start), end: at(end), createdAt: at(createdAt) };
}

function schedule(rotation: Rotation, overrides: Override[] = [], timeZone = NY): Schedule {
  return { id: 'sched-1', name: 'Demo Family Medicine', timeZone, rotation, overrides };
}

/** Compact timeline for assertions: `start end provider source`. */
function describeTimeline(entries: TimelineEntry[]): string[] {
  const name = new Map([
    [A, 'A'],
    [B, 'B'],
    [C, 'C'],
    [D, 'D'],
  ]);
  return entries.map((e) => `${iso(e.start)} ${iso(e.end)} ${name.get(e.providerId) ?? '?'} ${e.sourceId}`);
}

// ---------------------------------------------------------------------------
// zoned-time
// ---------------------------------------------------------------------------

describe('zonedToUtc', () => {
  it('applies the offset in force on that date', () => {
    expect(iso(zonedToUtc('2026-01-15', '08:00', NY))).toBe('2026-01-15T13:00:00.000Z');
    expect(iso(zonedToUtc('2026-06-15', '08:00', NY))).toBe('2026-06-15T12:00:00.000Z');
    expect(iso(zonedToUtc('2026-06-15', '08:00', 'UTC'))).toBe('2026-06-15T08:00:00.000Z');
  });

  it('by default maps a wall time in the spring-forward gap to the first instant after the gap', () => {
    expect(iso(zonedToUtc('2026-03-08', '01:59', NY))).toBe('2026-03-08T06:59:00.000Z');
    expect(iso(zonedToUtc('2026-03-08', '02:00', NY))).toBe('2026-03-08T07:00:00.000Z');
    expect(iso(zonedToUtc('2026-03-08', '02:30', NY))).toBe('2026-03-08T07:00:00.000Z');
    expect(iso(zonedToUtc('2026-03-08', '02:59', NY))).toBe('2026-03-08T07:00:00.000Z');
    expect(iso(zonedToUtc('2026-03-08', '03:00', NY))).toBe('2026-03-08T07:00:00.000Z');
    expect(iso(zonedToUtc('2026-03-08', '03:01', NY))).toBe('2026-03-08T07:01:00.000Z');
  });

  it('maps an ambiguous fall-back wall time to its first occurrence', () => {
    expect(iso(zonedToUtc('2026-11-01', '00:59', NY))).toBe('2026-11-01T04:59:00.000Z');
    expect(iso(zonedToUtc('2026-11-01', '01:00', NY))).toBe('2026-11-01T05:00:00.000Z');
    expect(iso(zonedToUtc('2026-11-01', '01:30', NY))).toBe('2026-11-01T05:30:00.000Z');
    expect(iso(zonedToUtc('2026-11-01', '01:59', NY))).toBe('2026-11-01T05:59:00.000Z');
    expect(iso(zonedToUtc('2026-11-01', '02:00', NY))).toBe('2026-11-01T07:00:00.000Z');
  });

  it('handles Europe/London (BST from 2026-03-29, GMT from 2026-10-25)', () => {
    expect(iso(zonedToUtc('2026-03-29', '00:30', LONDON))).toBe('2026-03-29T00:30:00.000Z');
    expect(iso(zonedToUtc('2026-03-29', '01:30', LONDON))).toBe('2026-03-29T01:00:00.000Z'); // gap
    expect(iso(zonedToUtc('2026-03-29', '02:30', LONDON))).toBe('2026-03-29T01:30:00.000Z');
    expect(iso(zonedToUtc('2026-10-25', '01:30', LONDON))).toBe('2026-10-25T00:30:00.000Z'); // first (BST)
    expect(iso(zonedToUtc('2026-10-25', '02:30', LONDON))).toBe('2026-10-25T02:30:00.000Z');
  });

  it('handles Australia/Sydney, where the UTC date is the day before', () => {
    // DST ends 2026-04-05 03:00 AEDT → 02:00 AEST; 02:30 happens twice, first at +11.
    expect(iso(zonedToUtc('2026-04-05', '02:30', SYDNEY))).toBe('2026-04-04T15:30:00.000Z');
    expect(iso(zonedToUtc('2026-04-05', '08:00', SYDNEY))).toBe('2026-04-04T22:00:00.000Z');
    // DST starts 2026-10-04 02:00 AEST → 03:00 AEDT; 02:30 does not exist.
    expect(iso(zonedToUtc('2026-10-04', '02:30', SYDNEY))).toBe('2026-10-03T16:00:00.000Z');
    expect(iso(zonedToUtc('2026-10-04', '08:00', SYDNEY))).toBe('2026-10-03T21:00:00.000Z');
  });

  it("'forward' moves a wall time in a gap forward by the gap's length (RFC 5545), for hand-offs", () => {
    const forward = (date: string, clock: string, zone: string): string => iso(zonedToUtc(date, clock, zone, 'forward'));
    expect(forward('2026-03-08', '01:59', NY)).toBe('2026-03-08T06:59:00.000Z');
    expect(forward('2026-03-08', '02:00', NY)).toBe('2026-03-08T07:00:00.000Z');
    // 02:30 EST does not exist; read with the offset before the gap (−5) it is 07:30Z, 03:30 EDT.
    expect(forward('2026-03-08', '02:30', NY)).toBe('2026-03-08T07:30:00.000Z');
    expect(forward('2026-03-08', '02:59', NY)).toBe('2026-03-08T07:59:00.000Z');
    expect(forward('2026-03-08', '03:00', NY)).toBe('2026-03-08T07:00:00.000Z');
    expect(forward('2026-03-29', '01:30', LONDON)).toBe('2026-03-29T01:30:00.000Z'); // 02:30 BST
    expect(forward('2026-10-04', '02:30', SYDNEY)).toBe('2026-10-03T16:30:00.000Z'); // 03:30 AEDT
    expect(forward('2026-10-04', '02:15', LORD_HOWE)).toBe('2026-10-03T15:45:00.000Z'); // 02:45 +11: half an hour on
    // Apia went from 2011-12-29 23:59:59 −10 straight to 2011-12-31 00:00 +14: a whole day on.
    expect(forward('2011-12-30', '12:00', 'Pacific/Apia')).toBe('2011-12-30T22:00:00.000Z');
    // Times that exist are the same either way, the repeated hour included.
    expect(forward('2026-11-01', '01:30', NY)).toBe('2026-11-01T05:30:00.000Z');
    expect(forward('2026-06-15', '08:00', NY)).toBe('2026-06-15T12:00:00.000Z');
  });

  it('handles a half-hour DST shift (Australia/Lord_Howe)', () => {
    // 2026-10-04 02:00 +10:30 → 02:30 +11: 02:15 does not exist.
    expect(iso(zonedToUtc('2026-10-04', '02:15', LORD_HOWE))).toBe('2026-10-03T15:30:00.000Z');
    // 2026-04-05 02:00 +11 → 01:30 +10:30: 01:45 happens twice, first at +11.
    expect(iso(zonedToUtc('2026-04-05', '01:45', LORD_HOWE))).toBe('2026-04-04T14:45:00.000Z');
  });

  it('refuses malformed dates, times and zones', () => {
    expect(() => zonedToUtc('2026-02-30', '08:00', NY)).toThrow(RangeError);
    expect(() => zonedToUtc('2026-3-8', '08:00', NY)).toThrow(RangeError);
    expect(() => zonedToUtc('2026-03-08', '24:00', NY)).toThrow(RangeError);
    expect(() => zonedToUtc('2026-03-08', '8:00', NY)).toThrow(RangeError);
    expect(() => zonedToUtc('2026-03-08', '08:00', 'Mars/Olympus_Mons')).toThrow(RangeError);
  });
});

describe('local date helpers', () => {
  it('adds calendar days across months, leap days and years', () => {
    expect(addLocalDays('2028-02-28', 1)).toBe('2028-02-29');
    expect(addLocalDays('2026-02-28', 1)).toBe('2026-03-01');
    expect(addLocalDays('2026-12-31', 1)).toBe('2027-01-01');
    expect(addLocalDays('2026-03-01', -1)).toBe('2026-02-28');
    expect(addLocalDays('2026-03-08', 0)).toBe('2026-03-08');
    expect(() => addLocalDays('2026-03-08', 1.5)).toThrow(RangeError);
    expect(() => addLocalDays('9999-12-31', 1)).toThrow(RangeError);
  });

  it('counts days between dates and names the weekday', () => {
    expect(daysBetween('2026-03-01', '2026-03-08')).toBe(7);
    expect(daysBetween('2026-03-08', '2026-03-01')).toBe(-7);
    expect(['2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05', '2026-03-06', '2026-03-07', '2026-03-08'].map(weekdayOf)).toEqual(
      ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
    );
    expect(weekdayOf('1969-12-31')).toBe('wed');
  });
});

// ---------------------------------------------------------------------------
// Rotation
// ---------------------------------------------------------------------------

describe('rotationShiftAt: daily hand-off at 08:00 New York', () => {
  it('keeps the hand-off at 08:00 local across spring-forward: 13:00Z before, 12:00Z after, a 23 h shift', () => {
    const rotation = daily('2026-03-06');
    const s0 = rotationShiftAt(rotation, NY, at('2026-03-06T13:00:00Z'));
    const s1 = rotationShiftAt(rotation, NY, at('2026-03-07T20:00:00Z'));
    const s2 = rotationShiftAt(rotation, NY, at('2026-03-08T12:00:00Z'));
    expect(s0).toEqual({ providerId: A, start: at('2026-03-06T13:00:00Z'), end: at('2026-03-07T13:00:00Z'), index: 0 });
    expect(s1).toEqual({ providerId: B, start: at('2026-03-07T13:00:00Z'), end: at('2026-03-08T12:00:00Z'), index: 1 });
    expect(s2).toEqual({ providerId: C, start: at('2026-03-08T12:00:00Z'), end: at('2026-03-09T12:00:00Z'), index: 2 });
    expect(s1 && hours(s1)).toBe(23);
    expect(s2 && hours(s2)).toBe(24);
  });

  it('keeps the hand-off at 08:00 local across fall-back: 12:00Z before, 13:00Z after, a 25 h shift', () => {
    const rotation = daily('2026-10-30');
    const s = rotationShiftAt(rotation, NY, at('2026-11-01T12:30:00Z')); // 07:30 EST Sunday: still Saturday's shift
    expect(s).toEqual({ providerId: B, start: at('2026-10-31T12:00:00Z'), end: at('2026-11-01T13:00:00Z'), index: 1 });
    expect(s && hours(s)).toBe(25);
    const next = rotationShiftAt(rotation, NY, at('2026-11-01T13:00:00Z'));
    expect(next).toEqual({ providerId: C, start: at('2026-11-01T13:00:00Z'), end: at('2026-11-02T13:00:00Z'), index: 2 });
  });

  it('starts a shift at its hand-off (inclusive) and ends it at the next (exclusive)', () => {
    const rotation = daily('2026-03-06');
    expect(rotationShiftAt(rotation, NY, at('2026-03-08T11:59:59.999Z'))?.providerId).toBe(B);
    expect(rotationShiftAt(rotation, NY, at('2026-03-08T12:00:00.000Z'))?.providerId).toBe(C);
  });

  it('has no shift before the first hand-off, not even earlier on startDate', () => {
    const rotation = daily('2026-03-06');
    expect(rotationShiftAt(rotation, NY, at('2026-03-06T12:59:59.999Z'))).toBeNull();
    expect(rotationShiftAt(rotation, NY, at('2026-03-01T00:00:00Z'))).toBeNull();
    expect(rotationShiftAt(rotation, NY, at('2026-03-06T13:00:00Z'))?.index).toBe(0);
  });

  it('cycles members far from startDate without walking every shift', () => {
    const rotation = daily('2026-03-06');
    // 1000 days after 2026-03-06 is 2028-11-30 (EST, 13:00Z).
    const s = rotationShiftAt(rotation, NY, at('2028-11-30T13:00:00Z'));
    expect(s?.index).toBe(1000);
    expect(s?.providerId).toBe([A, B, C][1000 % 3]);
    expect(s?.start).toEqual(at('2028-11-30T13:00:00Z'));
  });

  it("hands off later by the gap's length when the hand-off time does not exist that day (02:30 → 03:30, RFC 5545)", () => {
    const rotation = daily('2026-03-07', '02:30');
    const s = rotationShiftAt(rotation, NY, at('2026-03-08T07:29:59Z'));
    expect(s).toEqual({ providerId: A, start: at('2026-03-07T07:30:00Z'), end: at('2026-03-08T07:30:00Z'), index: 0 });
    expect(rotationShiftAt(rotation, NY, at('2026-03-08T07:30:00Z'))).toEqual({ providerId: B, start: at('2026-03-08T07:30:00Z'), end: at('2026-03-09T06:30:00Z'), index: 1 });
  });

  it('follows Europe/London and Australia/Sydney wall clocks', () => {
    // London springs forward 2026-03-29: 08:00 GMT then 08:00 BST.
    const london = rotationShiftAt(daily('2026-03-28'), LONDON, at('2026-03-28T12:00:00Z'));
    expect(london).toMatchObject({ start: at('2026-03-28T08:00:00Z'), end: at('2026-03-29T07:00:00Z') });
    expect(london && hours(london)).toBe(23);
    // Sydney falls back 2026-04-05: 08:00 AEDT (+11) then 08:00 AEST (+10).
    const sydney = rotationShiftAt(daily('2026-04-04'), SYDNEY, at('2026-04-04T12:00:00Z'));
    expect(sydney).toMatchObject({ start: at('2026-04-03T21:00:00Z'), end: at('2026-04-04T22:00:00Z') });
    expect(sydney && hours(sydney)).toBe(25);
  });
});

describe('rotationShiftAt: weekly hand-off Monday 09:00 New York', () => {
  const weekly = (startDate: string): Rotation => ({
    members: [A, B, C],
    length: 'weekly',
    handoffTime: '09:00',
    handoffWeekday: 'mon',
    startDate,
  });

  it('hands off every Monday at 09:00 local; the week across spring-forward is 167 h', () => {
    const rotation = weekly('2026-03-02'); // a Monday
    const s0 = rotationShiftAt(rotation, NY, at('2026-03-05T00:00:00Z'));
    const s1 = rotationShiftAt(rotation, NY, at('2026-03-09T13:00:00Z'));
    expect(s0).toEqual({ providerId: A, start: at('2026-03-02T14:00:00Z'), end: at('2026-03-09T13:00:00Z'), index: 0 });
    expect(s0 && hours(s0)).toBe(167);
    expect(s1).toEqual({ providerId: B, start: at('2026-03-09T13:00:00Z'), end: at('2026-03-16T13:00:00Z'), index: 1 });
    expect(rotationShiftAt(rotation, NY, at('2026-03-09T12:59:59.999Z'))?.providerId).toBe(A);
    expect(rotationShiftAt(rotation, NY, at('2026-03-23T13:00:00Z'))?.providerId).toBe(A);
  });

  it('runs a short first shift when startDate is not the hand-off weekday', () => {
    const rotation = weekly('2026-03-04'); // a Wednesday
    expect(rotationShiftAt(rotation, NY, at('2026-03-04T13:59:59Z'))).toBeNull();
    expect(rotationShiftAt(rotation, NY, at('2026-03-04T14:00:00Z'))).toEqual({
      providerId: A,
      start: at('2026-03-04T14:00:00Z'),
      end: at('2026-03-09T13:00:00Z'),
      index: 0,
    });
    expect(rotationShiftAt(rotation, NY, at('2026-03-10T00:00:00Z'))).toEqual({
      providerId: B,
      start: at('2026-03-09T13:00:00Z'),
      end: at('2026-03-16T13:00:00Z'),
      index: 1,
    });
  });

  it('refuses a weekly rotation without a hand-off weekday', () => {
    const rotation: Rotation = { members: [A], length: 'weekly', handoffTime: '09:00', startDate: '2026-03-02' };
    expect(() => rotationShiftAt(rotation, NY, at('2026-03-05T00:00:00Z'))).toThrow(/handoffWeekday/);
  });
});

// ---------------------------------------------------------------------------
// Who is on call
// ---------------------------------------------------------------------------

describe('whoIsOnCall', () => {
  const rotation = daily('2026-03-06');

  it('is nobody before the first hand-off', () => {
    expect(whoIsOnCall(schedule(rotation), at('2026-03-06T12:59:59.999Z'))).toEqual({ layer: 'none', providerId: null });
  });

  it('is the rotation member, start inclusive, end exclusive', () => {
    expect(whoIsOnCall(schedule(rotation), at('2026-03-07T13:00:00Z'))).toEqual({
      layer: 'rotation',
      providerId: B,
      shiftStart: at('2026-03-07T13:00:00Z'),
      shiftEnd: at('2026-03-08T12:00:00Z'),
    });
    expect(whoIsOnCall(schedule(rotation), at('2026-03-07T12:59:59.999Z'))).toMatchObject({ providerId: A });
  });

  it('lets an override win over the rotation, for exactly its own interval', () => {
    const o = override('ov-1', D, '2026-03-07T20:00:00Z', '2026-03-08T02:00:00Z', '2026-03-01T00:00:00Z');
    const s = schedule(rotation, [o]);
    expect(whoIsOnCall(s, at('2026-03-07T19:59:59.999Z'))).toMatchObject({ layer: 'rotation', providerId: B });
    expect(whoIsOnCall(s, at('2026-03-07T20:00:00Z'))).toEqual({
      layer: 'override',
      providerId: D,
      overrideId: 'ov-1',
      shiftStart: at('2026-03-07T20:00:00Z'),
      shiftEnd: at('2026-03-08T02:00:00Z'),
    });
    expect(whoIsOnCall(s, at('2026-03-08T02:00:00Z'))).toMatchObject({ layer: 'rotation', providerId: B });
  });

  it('applies an override even before the rotation starts', () => {
    const o = override('ov-1', D, '2026-03-01T00:00:00Z', '2026-03-02T00:00:00Z', '2026-02-01T00:00:00Z');
    expect(whoIsOnCall(schedule(rotation, [o]), at('2026-03-01T12:00:00Z'))).toMatchObject({ layer: 'override', providerId: D });
  });

  it('picks the latest-created of overlapping overrides, whatever their order', () => {
    const older = override('ov-z', C, '2026-03-07T18:00:00Z', '2026-03-08T00:00:00Z', '2026-03-01T00:00:00Z');
    const newer = override('ov-a', D, '2026-03-07T20:00:00Z', '2026-03-07T22:00:00Z', '2026-03-02T00:00:00Z');
    for (const overrides of [
      [older, newer],
      [newer, older],
    ]) {
      const s = schedule(rotation, overrides);
      expect(whoIsOnCall(s, at('2026-03-07T21:00:00Z'))).toMatchObject({ providerId: D, overrideId: 'ov-a' });
      expect(whoIsOnCall(s, at('2026-03-07T19:00:00Z'))).toMatchObject({ providerId: C, overrideId: 'ov-z' });
      expect(whoIsOnCall(s, at('2026-03-07T22:00:00Z'))).toMatchObject({ providerId: C, overrideId: 'ov-z' });
    }
  });

  it('breaks a created-at tie by the larger id', () => {
    const x = override('ov-1', C, '2026-03-07T18:00:00Z', '2026-03-08T00:00:00Z', '2026-03-01T00:00:00Z');
    const y = override('ov-2', D, '2026-03-07T18:00:00Z', '2026-03-08T00:00:00Z', '2026-03-01T00:00:00Z');
    expect(whoIsOnCall(schedule(rotation, [x, y]), at('2026-03-07T21:00:00Z'))).toMatchObject({ overrideId: 'ov-2' });
    expect(whoIsOnCall(schedule(rotation, [y, x]), at('2026-03-07T21:00:00Z'))).toMatchObject({ overrideId: 'ov-2' });
  });

  it('refuses an invalid instant', () => {
    expect(() => whoIsOnCall(schedule(rotation), new Date(Number.NaN))).toThrow(RangeError);
  });
});

describe('resolveOverlaps', () => {
  it('says where each override is in effect and which shadows which', () => {
    const older = override('ov-old', C, '2026-03-07T18:00:00Z', '2026-03-08T00:00:00Z', '2026-03-01T00:00:00Z');
    const newer = override('ov-new', D, '2026-03-07T20:00:00Z', '2026-03-07T22:00:00Z', '2026-03-02T00:00:00Z');
    const apart = override('ov-apart', A, '2026-03-08T00:00:00Z', '2026-03-08T01:00:00Z', '2026-03-03T00:00:00Z');
    const { winners, shadowed } = resolveOverlaps([newer, apart, older]);
    expect(winners).toEqual([
      { id: 'ov-old', providerId: C, start: at('2026-03-07T18:00:00Z'), end: at('2026-03-07T20:00:00Z') },
      { id: 'ov-new', providerId: D, start: at('2026-03-07T20:00:00Z'), end: at('2026-03-07T22:00:00Z') },
      { id: 'ov-old', providerId: C, start: at('2026-03-07T22:00:00Z'), end: at('2026-03-08T00:00:00Z') },
      { id: 'ov-apart', providerId: A, start: at('2026-03-08T00:00:00Z'), end: at('2026-03-08T01:00:00Z') },
    ]);
    // Touching end-to-start is not an overlap.
    expect(shadowed).toEqual([{ id: 'ov-old', by: 'ov-new' }]);
  });

  it('reports a fully shadowed override and keeps only the winner', () => {
    const inner = override('ov-inner', C, '2026-03-07T20:00:00Z', '2026-03-07T21:00:00Z', '2026-03-01T00:00:00Z');
    const outer = override('ov-outer', D, '2026-03-07T19:00:00Z', '2026-03-07T23:00:00Z', '2026-03-02T00:00:00Z');
    const { winners, shadowed } = resolveOverlaps([inner, outer]);
    expect(winners).toEqual([{ id: 'ov-outer', providerId: D, start: outer.start, end: outer.end }]);
    expect(shadowed).toEqual([{ id: 'ov-inner', by: 'ov-outer' }]);
  });
});

// ---------------------------------------------------------------------------
// Timeline
// ---------------------------------------------------------------------------

describe('shifts', () => {
  const rotation = daily('2026-03-06');

  it('splits a shift around an override and clips to the window', () => {
    const o = override('ov-1', D, '2026-03-07T20:00:00Z', '2026-03-08T02:00:00Z', '2026-03-01T00:00:00Z');
    const timeline = shifts(schedule(rotation, [o]), at('2026-03-07T00:00:00Z'), at('2026-03-08T18:00:00Z'));
    expect(describeTimeline(timeline)).toEqual([
      '2026-03-07T00:00:00.000Z 2026-03-07T13:00:00.000Z A rotation',
      '2026-03-07T13:00:00.000Z 2026-03-07T20:00:00.000Z B rotation',
      '2026-03-07T20:00:00.000Z 2026-03-08T02:00:00.000Z D ov-1',
      '2026-03-08T02:00:00.000Z 2026-03-08T12:00:00.000Z B rotation',
      '2026-03-08T12:00:00.000Z 2026-03-08T18:00:00.000Z C rotation',
    ]);
    expect(timeline[2]?.layer).toBe('override');
    expect(timeline[0]?.layer).toBe('rotation');
  });

  it('clips an override that sticks out of the window', () => {
    const o = override('ov-1', D, '2026-03-07T10:00:00Z', '2026-03-07T14:00:00Z', '2026-03-01T00:00:00Z');
    const timeline = shifts(schedule(rotation, [o]), at('2026-03-07T12:00:00Z'), at('2026-03-07T15:00:00Z'));
    expect(describeTimeline(timeline)).toEqual([
      '2026-03-07T12:00:00.000Z 2026-03-07T14:00:00.000Z D ov-1',
      '2026-03-07T14:00:00.000Z 2026-03-07T15:00:00.000Z B rotation',
    ]);
  });

  it('uses the effective pieces of overlapping overrides and leaves time before startDate empty', () => {
    const older = override('ov-old', C, '2026-03-06T10:00:00Z', '2026-03-06T16:00:00Z', '2026-03-01T00:00:00Z');
    const newer = override('ov-new', D, '2026-03-06T11:00:00Z', '2026-03-06T12:00:00Z', '2026-03-02T00:00:00Z');
    const timeline = shifts(schedule(rotation, [newer, older]), at('2026-03-06T00:00:00Z'), at('2026-03-06T18:00:00Z'));
    expect(describeTimeline(timeline)).toEqual([
      '2026-03-06T10:00:00.000Z 2026-03-06T11:00:00.000Z C ov-old',
      '2026-03-06T11:00:00.000Z 2026-03-06T12:00:00.000Z D ov-new',
      '2026-03-06T12:00:00.000Z 2026-03-06T16:00:00.000Z C ov-old',
      '2026-03-06T16:00:00.000Z 2026-03-06T18:00:00.000Z A rotation',
    ]);
  });

  it('agrees with whoIsOnCall at every half hour, and pieces never overlap', () => {
    const overrides = [
      override('ov-1', D, '2026-03-07T20:00:00Z', '2026-03-08T02:00:00Z', '2026-03-01T00:00:00Z'),
      override('ov-2', A, '2026-03-08T01:00:00Z', '2026-03-08T14:00:00Z', '2026-03-01T00:00:01Z'),
      override('ov-3', C, '2026-03-10T00:00:00Z', '2026-03-10T00:30:00Z', '2026-02-01T00:00:00Z'),
    ];
    const s = schedule(rotation, overrides);
    const from = at('2026-03-05T00:00:00Z');
    const to = at('2026-03-12T00:00:00Z');
    const timeline = shifts(s, from, to);
    for (let i = 1; i < timeline.length; i++) {
      expect(timeline[i - 1]?.end.getTime()).toBeLessThanOrEqual(timeline[i]?.start.getTime() ?? Number.NaN);
    }
    for (let t = from.getTime(); t < to.getTime(); t += HOUR / 2) {
      const expected = whoIsOnCall(s, new Date(t));
      const entry = timeline.find((e) => e.start.getTime() <= t && t < e.end.getTime());
      expect(entry?.providerId ?? null).toBe(expected.providerId);
      expect(entry?.layer ?? 'none').toBe(expected.layer);
    }
  });

  it('follows the 23 h and 25 h days of a daily rotation', () => {
    const fall = shifts(schedule(daily('2026-10-30')), at('2026-10-31T12:00:00Z'), at('2026-11-02T13:00:00Z'));
    expect(fall.map(hours)).toEqual([25, 24]);
    const spring = shifts(schedule(rotation), at('2026-03-07T13:00:00Z'), at('2026-03-09T12:00:00Z'));
    expect(spring.map(hours)).toEqual([23, 24]);
  });

  it('bounds the work: refuses windows over 366 days and backwards windows', () => {
    const s = schedule(rotation);
    const from = at('2026-03-06T13:00:00Z');
    const max = new Date(from.getTime() + MAX_SHIFTS_WINDOW_DAYS * 24 * HOUR);
    expect(MAX_SHIFTS_WINDOW_DAYS).toBe(366);
    expect(shifts(s, from, max)).toHaveLength(366);
    expect(() => shifts(s, from, new Date(max.getTime() + 1))).toThrow(RangeError);
    expect(() => shifts(s, from, new Date(from.getTime() - 1))).toThrow(RangeError);
    expect(shifts(s, from, from)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------

describe('RotationSchema', () => {
  const messages = (input: unknown): string[] => RotationSchema.safeParse(input).error?.issues.map((i) => i.message) ?? [];

  it('accepts a daily and a weekly rotation', () => {
    expect(RotationSchema.parse(daily('2026-03-06'))).toEqual(daily('2026-03-06'));
    const weekly = { members: [A], length: 'weekly', handoffTime: '09:00', handoffWeekday: 'mon', startDate: '2026-03-02' };
    expect(RotationSchema.parse(weekly)).toEqual(weekly);
  });

  it('requires handoffWeekday for weekly rotations and refuses it for daily ones', () => {
    expect(messages({ members: [A], length: 'weekly', handoffTime: '09:00', startDate: '2026-03-02' })).toEqual([
      'handoffWeekday: required when length is weekly',
    ]);
    expect(messages({ ...daily('2026-03-02'), handoffWeekday: 'mon' })).toEqual([
      'handoffWeekday: only allowed when length is weekly',
    ]);
  });

  it('names the field in every message and does not echo the input', () => {
    expect(messages({ ...daily('2026-03-06'), members: [] })).toEqual(['members: at least one provider is required']);
    expect(messages({ ...daily('2026-03-06'), members: [A, A] })).toEqual(['members: a provider may appear only once']);
    expect(messages({ ...daily('2026-03-06'), members: ['dr-smith'] })).toEqual(['members: expected a provider id (uuid)']);
    const many = Array.from({ length: 51 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    expect(messages({ ...daily('2026-03-06'), members: many })).toEqual(['members: at most 50 providers']);
    expect(messages({ ...daily('2026-03-06'), handoffTime: '24:00' })).toEqual([
      'handoffTime: expected a time HH:MM between 00:00 and 23:59',
    ]);
    expect(messages({ ...daily('2026-02-30') })).toEqual(['startDate: expected a calendar date YYYY-MM-DD']);
    expect(messages({ ...daily('2026-03-06'), length: 'hourly' })).toEqual(['length: expected daily or weekly']);
    expect(messages({ ...daily('2026-03-06'), secret: 'x' })).toEqual(['rotation: unknown field']);
  });
});

describe('OverrideInputSchema', () => {
  const messages = (input: unknown): string[] =>
    OverrideInputSchema.safeParse(input).error?.issues.map((i) => i.message) ?? [];

  it('parses ISO instants with an offset into Dates', () => {
    expect(OverrideInputSchema.parse({ providerId: A, start: '2026-03-07T15:00:00-05:00', end: '2026-03-08T02:00:00Z' })).toEqual({
      providerId: A,
      start: at('2026-03-07T20:00:00Z'),
      end: at('2026-03-08T02:00:00Z'),
    });
  });

  it('refuses local times without an offset, end not after start, and more than 31 days', () => {
    expect(messages({ providerId: A, start: '2026-03-07T15:00:00', end: '2026-03-08T02:00:00Z' })).toEqual([
      'start: expected an ISO 8601 date-time with offset, such as 2026-03-08T13:00:00Z',
    ]);
    expect(messages({ providerId: A, start: '2026-03-08T02:00:00Z', end: '2026-03-08T02:00:00Z' })).toEqual([
      'end: must be after start',
    ]);
    expect(OverrideInputSchema.safeParse({ providerId: A, start: '2026-03-01T00:00:00Z', end: '2026-04-01T00:00:00Z' }).success).toBe(true);
    expect(messages({ providerId: A, start: '2026-03-01T00:00:00Z', end: '2026-04-01T00:00:01Z' })).toEqual([
      'end: at most 31 days after start',
    ]);
  });
});

describe('ScheduleSchema', () => {
  it('accepts a stored schedule and refuses an unknown time zone by field name', () => {
    const o = override('ov-1', D, '2026-03-07T20:00:00Z', '2026-03-08T02:00:00Z', '2026-03-01T00:00:00Z');
    expect(ScheduleSchema.parse(schedule(daily('2026-03-06'), [o]))).toEqual(schedule(daily('2026-03-06'), [o]));
    const bad = ScheduleSchema.safeParse({ ...schedule(daily('2026-03-06')), timeZone: 'Mars/Olympus_Mons' });
    expect(bad.error?.issues.map((i) => i.message)).toEqual(['timeZone: expected an IANA time zone such as America/New_York']);
  });
});
