import { WEEKDAYS } from '../practices/settings.js';
import type { Override, Rotation, Schedule } from './schedule-schema.js';
import { addLocalDays, daysBetween, localParts, weekdayOf, zonedToUtc } from '../time/zoned.js';

/**
 * Who is on call, decided purely from the schedule, an instant and the schedule's time zone
 * (GoAlert's model: a rotation, with overrides on top).
 *
 * Rotation shifts run from one hand-off to the next. Hand-offs happen at the same local wall time in
 * the schedule's zone, so a daily shift that spans a DST change lasts 23 or 25 hours. All intervals
 * are half-open: a shift or override covers its start and not its end.
 */

const MS_PER_DAY = 86_400_000;
/** The widest window `shifts` will expand. */
export const MAX_SHIFTS_WINDOW_DAYS = 366;

export interface RotationShift {
  providerId: string;
  start: Date;
  end: Date;
  /** 0 for the shift starting at the first hand-off; the member is `members[index % members.length]`. */
  index: number;
}

export type OnCall =
  | {
      layer: 'override';
      providerId: string;
      overrideId: string;
      /** The override's own start and end. */
      shiftStart: Date;
      shiftEnd: Date;
    }
  | {
      layer: 'rotation';
      providerId: string;
      /** The rotation shift's own start and end (overrides may cut into it; see `shifts`). */
      shiftStart: Date;
      shiftEnd: Date;
    }
  | { layer: 'none'; providerId: null };

export interface EffectiveOverride {
  /** The override's id. */
  id: string;
  providerId: string;
  /** Where this override is in effect; a piece of the override's interval. */
  start: Date;
  end: Date;
}

export interface OverlapResolution {
  /** The pieces of time each override is in effect, sorted by start, never overlapping. */
  winners: EffectiveOverride[];
  /** One entry per overlapping pair: override `id` loses the overlap to override `by`. */
  shadowed: Array<{ id: string; by: string }>;
}

export interface TimelineEntry {
  providerId: string;
  start: Date;
  end: Date;
  layer: 'override' | 'rotation';
  /** The override's id, or `'rotation'`. */
  sourceId: string;
}

function assertValidDate(d: Date, name: string): void {
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new RangeError(`${name} is an invalid Date`);
}

// ---------------------------------------------------------------------------
// Rotation
// ---------------------------------------------------------------------------

/** Days from startDate to the second hand-off: 1 for daily; for weekly, to the next hand-off weekday. */
function firstShiftDays(rotation: Rotation): number {
  switch (rotation.length) {
    case 'daily':
      return 1;
    case 'weekly': {
      if (rotation.handoffWeekday === undefined) throw new RangeError('handoffWeekday: required when length is weekly');
      const days = (WEEKDAYS.indexOf(rotation.handoffWeekday) - WEEKDAYS.indexOf(weekdayOf(rotation.startDate)) + 7) % 7;
      return days === 0 ? 7 : days;
    }
    default:
      return rotation.length satisfies never;
  }
}

function shiftDays(rotation: Rotation): number {
  return rotation.length === 'daily' ? 1 : 7;
}

/** A rotation with its time zone, answering "when is hand-off k" and "roughly which shift is at T". */
class RotationClock {
  private readonly firstDays: number;
  private readonly stepDays: number;

  constructor(
    private readonly rotation: Rotation,
    private readonly timeZone: string,
  ) {
    if (rotation.members.length === 0) throw new RangeError('members: at least one provider is required');
    this.firstDays = firstShiftDays(rotation);
    this.stepDays = shiftDays(rotation);
  }

  /** The instant of hand-off `k` (k ≥ 0), which starts shift k: on its local date at handoffTime. */
  handoff(k: number): number {
    const days = k === 0 ? 0 : this.firstDays + (k - 1) * this.stepDays;
    return zonedToUtc(addLocalDays(this.rotation.startDate, days), this.rotation.handoffTime, this.timeZone, 'forward').getTime();
  }

  member(k: number): string {
    const id = this.rotation.members[k % this.rotation.members.length];
    if (id === undefined) throw new Error('unreachable: member index out of range');
    return id;
  }

  /** The index of the shift containing `at` (at ≥ hand-off 0), from the local date, then checked exactly. */
  indexAt(at: number): number {
    const days = daysBetween(this.rotation.startDate, localParts(new Date(at), this.timeZone).date);
    const estimate = days < this.firstDays ? 0 : 1 + Math.floor((days - this.firstDays) / this.stepDays);
    // The estimate is the shift handed off on `at`'s local date, one too many when `at` is earlier that
    // day. Start one below it and walk up to the last hand-off at or before `at`; the downward walk only
    // guards against zones whose clocks do something stranger.
    let k = Math.max(0, estimate - 1);
    while (k > 0 && this.handoff(k) > at) k--;
    while (this.handoff(k + 1) <= at) k++;
    return k;
  }
}

/**
 * The rotation shift covering `at`, or null before the first hand-off. Shift k starts at hand-off k
 * and ends at hand-off k+1; hand-off 0 is startDate at handoffTime. Daily hand-offs follow on each
 * later date; weekly ones on each `handoffWeekday` after startDate (so when startDate is not that
 * weekday, the first shift is shorter than a week). A hand-off time that falls in a DST gap moves
 * forward by the gap's length (RFC 5545): 02:30 on a spring-forward day is 03:30.
 */
export function rotationShiftAt(rotation: Rotation, timeZone: string, at: Date): RotationShift | null {
  assertValidDate(at, 'at');
  const clock = new RotationClock(rotation, timeZone);
  const t = at.getTime();
  if (t < clock.handoff(0)) return null;
  const index = clock.indexAt(t);
  return {
    providerId: clock.member(index),
    start: new Date(clock.handoff(index)),
    end: new Date(clock.handoff(index + 1)),
    index,
  };
}

// ---------------------------------------------------------------------------
// Overrides
// ---------------------------------------------------------------------------

/** Whether override `a` takes precedence over `b`: created later, then (for determinism) larger id. */
function outranks(a: Override, b: Override): boolean {
  const ac = a.createdAt.getTime();
  const bc = b.createdAt.getTime();
  return ac !== bc ? ac > bc : a.id > b.id;
}

function assertValidOverride(o: Override): void {
  assertValidDate(o.start, 'override start');
  assertValidDate(o.end, 'override end');
  assertValidDate(o.createdAt, 'override createdAt');
}

/**
 * Which override is in effect when. Where overrides overlap, the latest-created wins (then the larger
 * id). An override with end ≤ start covers nothing.
 */
export function resolveOverlaps(overrides: readonly Override[]): OverlapResolution {
  overrides.forEach(assertValidOverride);
  const live = overrides.filter((o) => o.end.getTime() > o.start.getTime());
  const byStart = [...live].sort((a, b) => a.start.getTime() - b.start.getTime());

  // Shadowing: every pair that overlaps for a positive length.
  const pairs = new Map<string, { id: string; by: string }>();
  for (let i = 0; i < byStart.length; i++) {
    const a = byStart[i];
    if (a === undefined) continue;
    for (let j = i + 1; j < byStart.length; j++) {
      const b = byStart[j];
      if (b === undefined || b.start.getTime() >= a.end.getTime()) break;
      if (a.id === b.id) continue;
      const [loser, winner] = outranks(a, b) ? [b, a] : [a, b];
      pairs.set(`${loser.id}\u0000${winner.id}`, { id: loser.id, by: winner.id });
    }
  }
  const shadowed = [...pairs.values()].sort((x, y) => compareStrings(x.id, y.id) || compareStrings(x.by, y.by));

  // Winners: sweep the elementary intervals between consecutive start/end points.
  const points = [...new Set(live.flatMap((o) => [o.start.getTime(), o.end.getTime()]))].sort((a, b) => a - b);
  const winners: EffectiveOverride[] = [];
  let active: Override[] = [];
  let next = 0;
  for (let p = 0; p + 1 < points.length; p++) {
    const from = points[p];
    const to = points[p + 1];
    if (from === undefined || to === undefined) continue;
    active = active.filter((o) => o.end.getTime() > from);
    for (let o = byStart[next]; o !== undefined && o.start.getTime() <= from; o = byStart[++next]) active.push(o);
    let best: Override | undefined;
    for (const o of active) if (best === undefined || outranks(o, best)) best = o;
    if (best === undefined) continue;
    const last = winners[winners.length - 1];
    if (last !== undefined && last.id === best.id && last.end.getTime() === from) {
      last.end = new Date(to);
    } else {
      winners.push({ id: best.id, providerId: best.providerId, start: new Date(from), end: new Date(to) });
    }
  }
  return { winners, shadowed };
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Who is on call
// ---------------------------------------------------------------------------

/** Who is on call at `at`: an override covering `at` wins over the rotation. */
export function whoIsOnCall(schedule: Schedule, at: Date): OnCall {
  assertValidDate(at, 'at');
  const t = at.getTime();
  let best: Override | undefined;
  for (const o of schedule.overrides) {
    assertValidOverride(o);
    if (o.start.getTime() <= t && t < o.end.getTime() && (best === undefined || outranks(o, best))) best = o;
  }
  if (best !== undefined) {
    return {
      layer: 'override',
      providerId: best.providerId,
      overrideId: best.id,
      shiftStart: best.start,
      shiftEnd: best.end,
    };
  }
  const shift = rotationShiftAt(schedule.rotation, schedule.timeZone, at);
  if (shift === null) return { layer: 'none', providerId: null };
  return { layer: 'rotation', providerId: shift.providerId, shiftStart: shift.start, shiftEnd: shift.end };
}

/**
 * The effective on-call timeline in [from, to): rotation shifts with the overrides' effective pieces
 * cut out of them and put in their place, clipped to the window, sorted by start, never overlapping.
 * Time before the first hand-off with no override has no entry. Refuses windows longer than
 * MAX_SHIFTS_WINDOW_DAYS with a RangeError.
 */
export function shifts(schedule: Schedule, from: Date, to: Date): TimelineEntry[] {
  assertValidDate(from, 'from');
  assertValidDate(to, 'to');
  const lo = from.getTime();
  const hi = to.getTime();
  if (hi < lo) throw new RangeError('to must not be before from');
  if (hi - lo > MAX_SHIFTS_WINDOW_DAYS * MS_PER_DAY) {
    throw new RangeError(`window longer than ${MAX_SHIFTS_WINDOW_DAYS} days`);
  }
  if (hi === lo) return [];

  // Overrides: only those touching the window can matter inside it.
  const relevant = schedule.overrides.filter((o) => o.start.getTime() < hi && o.end.getTime() > lo);
  const { winners } = resolveOverlaps(relevant);

  const entries: TimelineEntry[] = [];
  const push = (entry: TimelineEntry): void => {
    const start = Math.max(entry.start.getTime(), lo);
    const end = Math.min(entry.end.getTime(), hi);
    if (start < end) entries.push({ ...entry, start: new Date(start), end: new Date(end) });
  };

  // Rotation shifts overlapping the window, minus the override pieces.
  const clock = new RotationClock(schedule.rotation, schedule.timeZone);
  const first = clock.handoff(0);
  let k = lo < first ? 0 : clock.indexAt(lo);
  let start = clock.handoff(k);
  while (start < hi) {
    const end = clock.handoff(k + 1);
    const providerId = clock.member(k);
    let cursor = start;
    for (const w of winners) {
      const ws = w.start.getTime();
      const we = w.end.getTime();
      if (we <= cursor) continue;
      if (ws >= end) break;
      if (ws > cursor) push({ providerId, start: new Date(cursor), end: new Date(ws), layer: 'rotation', sourceId: 'rotation' });
      cursor = Math.max(cursor, we);
      if (cursor >= end) break;
    }
    if (cursor < end) push({ providerId, start: new Date(cursor), end: new Date(end), layer: 'rotation', sourceId: 'rotation' });
    k++;
    start = end;
  }

  for (const w of winners) push({ providerId: w.providerId, start: w.start, end: w.end, layer: 'override', sourceId: w.id });

  return entries.sort((a, b) => a.start.getTime() - b.start.getTime());
}
