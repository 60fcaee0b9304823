// Over 400 lines because the calling rules (windows, caps, holidays, and the deferral to the next allowed moment) are one pure decision with its data types: split, the deferral would re-derive what the checks already know.
import { z } from 'zod';
import { addLocalDays, localParts, weekdayOf, zonedToUtc } from '../time/zoned.js';
import { isHoliday } from '../practices/hours.js';
import { WEEKDAYS, type Holidays, type Weekday } from '../practices/settings.js';
import rawCallingRules from './data/calling-rules.json' with { type: 'json' };
import type { SkipReason } from './types.js';

/**
 * May a ringless-voicemail drop go out at `now`? Pure. Ringless voicemail is a prerecorded-voice call
 * (FCC 22-85), so it keeps to calling hours at the recipient's location (default 08:00–21:00, stricter
 * states in ./data/calling-rules.json), skips the practice's holidays, and keeps to the healthcare
 * exemption's frequency limits across every campaign (47 CFR 64.1200(a)(9)(iv): 1 a day, 3 a week).
 * See REFERENCE.md, "Calling rules for ringless voicemail and automated calls".
 */

/** Healthcare exemption: at most 1 message per recipient-local calendar day… */
export const DAILY_CAP = 1;
/** …and at most 3 in any rolling 7 days (7 × 24 hours). */
export const WEEKLY_CAP = 3;
/** How far ahead `retryAt` is searched; beyond it, `retryAt` is null. */
export const RETRY_HORIZON_DAYS = 14;

const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 24 * MS_PER_HOUR;
const STATE_CAP_SPAN_MS = MS_PER_DAY;
const WEEKLY_CAP_SPAN_MS = 7 * MS_PER_DAY;
/** Every step of the retry search moves forward; this only bounds pathological input. */
const MAX_SEARCH_STEPS = 1000;

// ---------------------------------------------------------------------------
// Rules as data
// ---------------------------------------------------------------------------

/** A recipient-local window `HH:MM`–`HH:MM`: start inclusive, end exclusive, within one local day. */
export interface ClockWindow {
  readonly start: string;
  readonly end: string;
}

/** The window on each local weekday; null: no drops that day. */
export type WeeklyCallingWindow = Readonly<Record<Weekday, ClockWindow | null>>;

/** The rule in force for one state: the default tightened by the state's own entry. */
export interface CallingRule {
  readonly windows: WeeklyCallingWindow;
  /** Most calls in any rolling 24 hours, or null for no state limit. */
  readonly maxCallsPer24h: number | null;
  /** Legal basis: the default's, then the state's. */
  readonly sources: readonly string[];
}

export interface CallingRules {
  readonly default: CallingRule;
  /** Keyed by two-letter upper-case state code. */
  readonly states: ReadonlyMap<string, CallingRule>;
}

const CLOCK_MESSAGE = 'expected a time HH:MM between 00:00 and 23:59';

const ClockSchema = z.string({ error: CLOCK_MESSAGE }).regex(/^(?:[01]\d|2[0-3]):[0-5]\d$/, { error: CLOCK_MESSAGE });

const WindowSchema = z
  .strictObject({ start: ClockSchema, end: ClockSchema })
  // Zero-padded HH:MM compares correctly as text.
  .refine((w) => w.start < w.end, { error: 'end must be after start (a window may not cross local midnight)', path: ['end'] });

const DayWindowSchema = WindowSchema.nullable().optional();

const ByWeekdaySchema = z.strictObject({
  mon: DayWindowSchema,
  tue: DayWindowSchema,
  wed: DayWindowSchema,
  thu: DayWindowSchema,
  fri: DayWindowSchema,
  sat: DayWindowSchema,
  sun: DayWindowSchema,
});

const CapSchema = z.int({ error: 'expected a whole number from 1 to 100' }).min(1).max(100);
const SourcesSchema = z.string({ error: 'expected a note on the legal basis' }).trim().min(1, { error: 'expected a note on the legal basis' }).max(2000);

const DefaultEntrySchema = z.strictObject({
  window: WindowSchema,
  byWeekday: ByWeekdaySchema.optional(),
  maxCallsPer24h: CapSchema.optional(),
  sources: SourcesSchema,
});

const StateEntrySchema = z
  .strictObject({
    window: WindowSchema.optional(),
    byWeekday: ByWeekdaySchema.optional(),
    maxCallsPer24h: CapSchema.optional(),
    sources: SourcesSchema,
  })
  .refine((e) => e.window !== undefined || e.byWeekday !== undefined || e.maxCallsPer24h !== undefined, {
    error: 'a state entry needs a window, byWeekday or maxCallsPer24h',
  });

const CallingRulesFileSchema = z.strictObject({
  $comment: z.string().optional(),
  default: DefaultEntrySchema,
  states: z.record(z.string().regex(/^[A-Z]{2}$/, { error: 'expected a two-letter upper-case state code' }), StateEntrySchema),
});

type DefaultEntry = z.infer<typeof DefaultEntrySchema>;
type StateEntry = z.infer<typeof StateEntrySchema>;

/** The entry's own window for a weekday: an override, else its every-day window, else undefined (silent). */
function entryWindow(entry: DefaultEntry | StateEntry, day: Weekday): ClockWindow | null | undefined {
  const override = entry.byWeekday?.[day];
  return override !== undefined ? override : entry.window;
}

function intersect(a: ClockWindow | null, b: ClockWindow | null): ClockWindow | null {
  if (a === null || b === null) return null;
  const start = a.start > b.start ? a.start : b.start;
  const end = a.end < b.end ? a.end : b.end;
  return start < end ? { start, end } : null;
}

function minCap(a: number | null, b: number | undefined): number | null {
  if (b === undefined) return a;
  return a === null ? b : Math.min(a, b);
}

function resolve(def: DefaultEntry, state: StateEntry | undefined): CallingRule {
  const windows = {} as Record<Weekday, ClockWindow | null>;
  for (const day of WEEKDAYS) {
    const base = entryWindow(def, day) ?? null;
    const own = state === undefined ? undefined : entryWindow(state, day);
    windows[day] = own === undefined ? base : intersect(base, own);
  }
  return Object.freeze({
    windows: Object.freeze(windows),
    maxCallsPer24h: minCap(def.maxCallsPer24h ?? null, state?.maxCallsPer24h),
    sources: Object.freeze(state === undefined ? [def.sources] : [def.sources, state.sources]),
  });
}

function describePath(path: readonly PropertyKey[]): string {
  const [top, ...rest] = path.map(String);
  if (top === 'states' && rest.length > 0) {
    const [state, ...field] = rest;
    return field.length > 0 ? `state ${state}, field ${field.join('.')}` : `state ${state}`;
  }
  if (top === 'default') return rest.length > 0 ? `default, field ${rest.join('.')}` : 'default';
  return top === undefined ? 'file' : `field ${[top, ...rest].join('.')}`;
}

/**
 * Checks and resolves the calling-rules data. Throws an Error naming the state (or `default`) and the
 * field of every problem; values are not echoed.
 */
export function parseCallingRules(raw: unknown): CallingRules {
  const parsed = CallingRulesFileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${describePath(issue.path)}: ${issue.message}`);
    throw new Error(`calling-rules.json is invalid: ${problems.join('; ')}`);
  }
  const { default: def, states } = parsed.data;
  const resolved = new Map<string, CallingRule>();
  for (const [code, entry] of Object.entries(states)) resolved.set(code, resolve(def, entry));
  return Object.freeze({ default: resolve(def, undefined), states: resolved });
}

/** Checked once at module load: a bad data file stops the service from starting. */
const RULES: CallingRules = parseCallingRules(rawCallingRules);

/** The rule for a recipient's state (matched case-insensitively); unknown or null: the default. */
export function callingRuleFor(usState: string | null): CallingRule {
  if (usState === null) return RULES.default;
  return RULES.states.get(usState.trim().toUpperCase()) ?? RULES.default;
}

/** Recipient-local calling window for each weekday in `usState`. */
export function callingWindowFor(usState: string | null): WeeklyCallingWindow {
  return callingRuleFor(usState).windows;
}

// ---------------------------------------------------------------------------
// Windows as instants
// ---------------------------------------------------------------------------

interface Span {
  readonly start: number;
  readonly end: number;
}

/**
 * Memo of window instants: zonedToUtc probes Intl several times, and a campaign asks about the same few
 * zones and dates for every recipient. Deterministic, so caching is invisible; bounded by clearing.
 */
const spanCache = new Map<string, Span | null>();
const SPAN_CACHE_LIMIT = 10_000;

/** The window on a recipient-local date as instants (DST-correct), or null when there is none. */
function windowSpan(localDate: string, timeZone: string, windows: WeeklyCallingWindow): Span | null {
  const w = windows[weekdayOf(localDate)];
  if (w === null) return null;
  const key = `${timeZone}|${localDate}|${w.start}|${w.end}`;
  const cached = spanCache.get(key);
  if (cached !== undefined) return cached;
  const start = zonedToUtc(localDate, w.start, timeZone).getTime();
  // A wall time skipped by a DST gap maps to the end of the gap, so an odd zone can shrink a window to nothing.
  const end = zonedToUtc(localDate, w.end, timeZone).getTime();
  const span = start < end ? { start, end } : null;
  if (spanCache.size >= SPAN_CACHE_LIMIT) spanCache.clear();
  spanCache.set(key, span);
  return span;
}

/** The calling window on recipient-local `localDate` (`YYYY-MM-DD`) as instants, or null when none. */
export function callingWindowOn(localDate: string, timeZone: string, usState: string | null): { start: Date; end: Date } | null {
  const span = windowSpan(localDate, timeZone, callingWindowFor(usState));
  return span === null ? null : { start: new Date(span.start), end: new Date(span.end) };
}

/** The first window opening strictly after `now`, within the retry horizon; null if none. */
export function nextWindowOpening(now: Date, timeZone: string, usState: string | null): Date | null {
  const t = now.getTime();
  const today = localParts(now, timeZone).date;
  const windows = callingWindowFor(usState);
  for (let k = 0; k <= RETRY_HORIZON_DAYS; k++) {
    const span = windowSpan(addLocalDays(today, k), timeZone, windows);
    if (span !== null && span.start > t) return new Date(span.start);
  }
  return null;
}

// ---------------------------------------------------------------------------
// The decision
// ---------------------------------------------------------------------------

export interface MayDropInput {
  now: Date;
  /** The recipient's zone: calling hours and calendar days for the daily cap. */
  timeZone: string;
  usState: string | null;
  /** The practice's closed days, judged on the practice's local date. */
  holidays: Holidays;
  /** Instants of this patient's previous sent drops, any campaign, any order. */
  recentDrops: readonly Date[];
  /** The practice's zone for holidays; defaults to `timeZone`. */
  practiceTimeZone?: string;
}

export type DropVerdict = { ok: true } | { ok: false; reason: DropTimingReason; retryAt: Date | null };

/** The reasons this module gives, in the order they are checked. */
export type DropTimingReason = Extract<SkipReason, 'holiday' | 'outside_hours' | 'state_24h_cap' | 'daily_cap' | 'weekly_cap'>;

/** Everything `checkDropAt` enforces; `dropLimitsFor` gives the real values. Tests may vary the caps. */
export interface DropLimits {
  windows: WeeklyCallingWindow;
  /** Most drops in any rolling 24 hours, or null for none (state rule). */
  maxCallsPer24h: number | null;
  /** Most drops per recipient-local calendar day. */
  dailyCap: number;
  /** Most drops in any rolling 7 days. */
  weeklyCap: number;
}

export function dropLimitsFor(usState: string | null): DropLimits {
  const rule = callingRuleFor(usState);
  return { windows: rule.windows, maxCallsPer24h: rule.maxCallsPer24h, dailyCap: DAILY_CAP, weeklyCap: WEEKLY_CAP };
}

/**
 * May a drop go out at `now`? If not, the first failing rule (holiday, outside_hours, state_24h_cap,
 * daily_cap, weekly_cap) and `retryAt`, the earliest instant at which every rule passes (null if none
 * within RETRY_HORIZON_DAYS).
 */
export function mayDropAt(input: MayDropInput): DropVerdict {
  return checkDropAt(input, dropLimitsFor(input.usState));
}

interface Context {
  timeZone: string;
  practiceTimeZone: string;
  holidays: Holidays;
  limits: DropLimits;
  /** Drop instants, ascending. */
  drops: number[];
  /** Recipient-local date of each drop, filled on demand. */
  dropDates: (string | undefined)[];
}

function checkCap(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a whole number of at least 1`);
}

/** `mayDropAt` with explicit limits (the state's windows and caps, and the healthcare caps). */
export function checkDropAt(input: Omit<MayDropInput, 'usState'>, limits: DropLimits): DropVerdict {
  const now = input.now.getTime();
  if (Number.isNaN(now)) throw new RangeError('now is an invalid Date');
  checkCap('dailyCap', limits.dailyCap);
  checkCap('weeklyCap', limits.weeklyCap);
  if (limits.maxCallsPer24h !== null) checkCap('maxCallsPer24h', limits.maxCallsPer24h);
  const drops = input.recentDrops.map((d) => d.getTime());
  if (drops.some(Number.isNaN)) throw new RangeError('recentDrops holds an invalid Date');
  drops.sort((a, b) => a - b);

  const ctx: Context = {
    timeZone: input.timeZone,
    practiceTimeZone: input.practiceTimeZone ?? input.timeZone,
    holidays: input.holidays,
    limits,
    drops,
    dropDates: new Array<string | undefined>(drops.length),
  };

  const reason = firstFailure(now, ctx);
  if (reason === null) return { ok: true };

  // Jump from rule to rule: each failing rule fails on all of [t, nextPass(t)), so no passing instant is
  // skipped, and the first instant where every rule passes is the exact earliest.
  const horizon = now + RETRY_HORIZON_DAYS * MS_PER_DAY;
  let t = now;
  let failing: DropTimingReason = reason;
  for (let step = 0; step < MAX_SEARCH_STEPS; step++) {
    const next = nextPass(failing, t, ctx);
    if (next === null || next > horizon) break;
    t = next;
    const f = firstFailure(t, ctx);
    if (f === null) return { ok: false, reason, retryAt: new Date(t) };
    failing = f;
  }
  return { ok: false, reason, retryAt: null };
}

function localDateAt(t: number, timeZone: string): string {
  return localParts(new Date(t), timeZone).date;
}

/** Drops still inside a rolling span ending at `t` (a drop at d counts until d + span). Ascending. */
function liveDrops(ctx: Context, t: number, span: number): number[] {
  return ctx.drops.filter((d) => d > t - span);
}

function dropsOnLocalDate(ctx: Context, localDate: string, near: number): number {
  let n = 0;
  ctx.drops.forEach((d, i) => {
    // Two instants on one local date are under 2 days apart, whatever the zone does.
    if (Math.abs(d - near) >= 2 * MS_PER_DAY) return;
    const date = (ctx.dropDates[i] ??= localDateAt(d, ctx.timeZone));
    if (date === localDate) n += 1;
  });
  return n;
}

function inWindow(t: number, localDate: string, ctx: Context): boolean {
  const span = windowSpan(localDate, ctx.timeZone, ctx.limits.windows);
  return span !== null && span.start <= t && t < span.end;
}

function firstFailure(t: number, ctx: Context): DropTimingReason | null {
  const { limits } = ctx;
  const localDate = localDateAt(t, ctx.timeZone);
  const practiceDate = ctx.practiceTimeZone === ctx.timeZone ? localDate : localDateAt(t, ctx.practiceTimeZone);
  if (isHoliday(practiceDate, ctx.holidays)) return 'holiday';
  if (!inWindow(t, localDate, ctx)) return 'outside_hours';
  if (limits.maxCallsPer24h !== null && liveDrops(ctx, t, STATE_CAP_SPAN_MS).length >= limits.maxCallsPer24h) return 'state_24h_cap';
  if (dropsOnLocalDate(ctx, localDate, t) >= limits.dailyCap) return 'daily_cap';
  if (liveDrops(ctx, t, WEEKLY_CAP_SPAN_MS).length >= limits.weeklyCap) return 'weekly_cap';
  return null;
}

/**
 * The first local midnight after `t` of a date, from tomorrow on, that `accept`s; null past the horizon.
 * `accept` also gets an instant within a day of that date.
 */
function nextMidnight(t: number, timeZone: string, accept: (localDate: string, near: number) => boolean): number | null {
  const today = localDateAt(t, timeZone);
  for (let k = 1; k <= RETRY_HORIZON_DAYS + 1; k++) {
    const date = addLocalDays(today, k);
    if (!accept(date, t + k * MS_PER_DAY)) continue;
    const midnight = zonedToUtc(date, '00:00', timeZone).getTime();
    if (midnight > t) return midnight;
  }
  return null;
}

/** When the oldest live drops have expired enough to leave room under `cap`. */
function capExpiry(ctx: Context, t: number, span: number, cap: number): number | null {
  const live = liveDrops(ctx, t, span);
  const oldestToExpire = live[live.length - cap];
  return oldestToExpire === undefined ? null : oldestToExpire + span;
}

/** The earliest instant after `t` at which rule `reason` (failing at `t`) passes; null if none soon. */
function nextPass(reason: DropTimingReason, t: number, ctx: Context): number | null {
  switch (reason) {
    case 'holiday':
      return nextMidnight(t, ctx.practiceTimeZone, (date) => !isHoliday(date, ctx.holidays));
    case 'outside_hours': {
      const today = localDateAt(t, ctx.timeZone);
      for (let k = 0; k <= RETRY_HORIZON_DAYS + 1; k++) {
        const span = windowSpan(addLocalDays(today, k), ctx.timeZone, ctx.limits.windows);
        if (span !== null && span.start > t) return span.start;
      }
      return null;
    }
    case 'state_24h_cap':
      return ctx.limits.maxCallsPer24h === null ? null : capExpiry(ctx, t, STATE_CAP_SPAN_MS, ctx.limits.maxCallsPer24h);
    case 'daily_cap':
      return nextMidnight(t, ctx.timeZone, (date, near) => dropsOnLocalDate(ctx, date, near) < ctx.limits.dailyCap);
    case 'weekly_cap':
      return capExpiry(ctx, t, WEEKLY_CAP_SPAN_MS, ctx.limits.weeklyCap);
    default:
      return reason satisfies never;
  }
}
