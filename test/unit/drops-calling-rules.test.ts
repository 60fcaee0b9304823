import { describe, expect, it } from 'vitest';
import type { Holidays } from '../../src/practices/settings.js';
import {
  DAILY_CAP,
  WEEKLY_CAP,
  callingRuleFor,
  callingWindowFor,
  callingWindowOn,
  checkDropAt,
  dropLimitsFor,
  mayDropAt,
  nextWindowOpening,
  parseCallingRules,
  type DropLimits,
  type MayDropInput,
} from '../../src/drops/calling-rules.js';
import shippedRules from '../../src/drops/data/calling-rules.json' with { type: 'json' };

const NY = 'America/New_York';
const LA = 'America/Los_Angeles';
const HONOLULU = 'Pacific/Honolulu';
const NO_HOLIDAYS: Holidays = { dates: [], named: [] };
const THANKSGIVING: Holidays = { dates: [], named: ['thanksgiving'] };

const at = (iso: string): Date => new Date(iso);

function input(now: string, over: Partial<MayDropInput> = {}): MayDropInput {
  return { now: at(now), timeZone: NY, usState: null, holidays: NO_HOLIDAYS, recentDrops: [], ...over };
}

function refused(verdict: ReturnType<typeof mayDropAt>): { reason: string; retryAt: string | null } {
  if (verdict.ok) throw new Error('expected a refusal');
  return { reason: verdict.reason, retryAt: verdict.retryAt === null ? null : verdict.retryAt.toISOString() };
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

describe('calling-rules data', () => {
  it('has the default 08:00–21:00 every day and no 24-hour cap', () => {
    const rule = callingRuleFor(null);
    expect(Object.values(rule.windows)).toEqual(Array(7).fill({ start: '08:00', end: '21:00' }));
    expect(rule.maxCallsPer24h).toBeNull();
    expect(rule.sources[0]).toMatch(/64\.1200\(c\)\(1\)/);
  });

  it.each(['FL', 'OK', 'MD'])('has %s at 08:00–20:00 and 3 calls in 24 hours, with sources', (state) => {
    const rule = callingRuleFor(state);
    expect(Object.values(rule.windows)).toEqual(Array(7).fill({ start: '08:00', end: '20:00' }));
    expect(rule.maxCallsPer24h).toBe(3);
    expect(rule.sources).toHaveLength(2);
  });

  it('falls back to the default for an unknown or null state and matches codes case-insensitively', () => {
    expect(callingWindowFor('ZZ')).toBe(callingWindowFor(null));
    expect(callingWindowFor('NY')).toBe(callingWindowFor(null));
    expect(callingWindowFor('fl')).toBe(callingWindowFor('FL'));
    expect(callingWindowFor('FL').mon).toEqual({ start: '08:00', end: '20:00' });
  });

  it('exports the healthcare caps', () => {
    expect(DAILY_CAP).toBe(1);
    expect(WEEKLY_CAP).toBe(3);
    expect(dropLimitsFor('FL')).toMatchObject({ dailyCap: 1, weeklyCap: 3, maxCallsPer24h: 3 });
  });

  it('refuses a bad data file, naming the state and field', () => {
    const badClock = clone(shippedRules);
    badClock.states.FL.window.end = '25:00';
    expect(() => parseCallingRules(badClock)).toThrow(/state FL, field window\.end/);

    const backwards = clone(shippedRules);
    backwards.states.MD.window = { start: '20:00', end: '08:00' };
    expect(() => parseCallingRules(backwards)).toThrow(/state MD, field window\.end: end must be after start/);

    const noSources: Record<string, unknown> = clone(shippedRules);
    delete (noSources.states as Record<string, Record<string, unknown>>).OK?.sources;
    expect(() => parseCallingRules(noSources)).toThrow(/state OK, field sources/);

    const badCap = clone(shippedRules);
    badCap.states.OK.maxCallsPer24h = 0;
    expect(() => parseCallingRules(badCap)).toThrow(/state OK, field maxCallsPer24h/);

    const badDay = { ...clone(shippedRules), states: { TX: { byWeekday: { sunday: null }, sources: 'x' } } };
    expect(() => parseCallingRules(badDay)).toThrow(/state TX, field byWeekday/);

    const lowerCase = { ...clone(shippedRules), states: { tx: { maxCallsPer24h: 2, sources: 'x' } } };
    expect(() => parseCallingRules(lowerCase)).toThrow(/state tx/);

    const empty = { ...clone(shippedRules), states: { TX: { sources: 'x' } } };
    expect(() => parseCallingRules(empty)).toThrow(/state TX: a state entry needs/);

    const noDefault: Record<string, unknown> = { ...clone(shippedRules), default: { sources: 'x' } };
    expect(() => parseCallingRules(noDefault)).toThrow(/default, field window/);
  });

  it('supports per-weekday windows and never lets a state loosen the default', () => {
    const rules = parseCallingRules({
      ...clone(shippedRules),
      states: {
        TX: { byWeekday: { sat: { start: '09:00', end: '22:00' }, sun: null }, sources: 'test' },
        AK: { window: { start: '07:00', end: '22:00' }, sources: 'test' },
      },
    });
    const tx = rules.states.get('TX');
    expect(tx?.windows.mon).toEqual({ start: '08:00', end: '21:00' });
    expect(tx?.windows.sat).toEqual({ start: '09:00', end: '21:00' });
    expect(tx?.windows.sun).toBeNull();
    expect(tx?.maxCallsPer24h).toBeNull();
    expect(rules.states.get('AK')?.windows.wed).toEqual({ start: '08:00', end: '21:00' });
  });
});

describe('calling window', () => {
  it('allows a drop inside the window', () => {
    expect(mayDropAt(input('2026-06-16T18:00:00Z'))).toEqual({ ok: true }); // Tue 14:00 EDT
    expect(mayDropAt(input('2026-06-16T12:00:00Z'))).toEqual({ ok: true }); // 08:00 EDT, start inclusive
  });

  it('refuses 07:59 with retryAt 08:00 the same day', () => {
    expect(refused(mayDropAt(input('2026-06-16T11:59:00Z')))).toEqual({ reason: 'outside_hours', retryAt: '2026-06-16T12:00:00.000Z' });
  });

  it('refuses 21:00 (end exclusive) with retryAt 08:00 the next day', () => {
    expect(mayDropAt(input('2026-06-17T00:59:59Z'))).toEqual({ ok: true }); // 20:59:59 EDT
    expect(refused(mayDropAt(input('2026-06-17T01:00:00Z')))).toEqual({ reason: 'outside_hours', retryAt: '2026-06-17T12:00:00.000Z' });
  });

  it('closes at 20:00 in Florida', () => {
    expect(mayDropAt(input('2026-06-16T23:59:00Z', { usState: 'FL' }))).toEqual({ ok: true }); // 19:59 EDT
    expect(refused(mayDropAt(input('2026-06-17T00:00:00Z', { usState: 'FL' })))).toEqual({
      reason: 'outside_hours',
      retryAt: '2026-06-17T12:00:00.000Z',
    });
    expect(mayDropAt(input('2026-06-17T00:00:00Z', { usState: 'NY' }))).toEqual({ ok: true });
    expect(mayDropAt(input('2026-06-17T00:00:00Z', { usState: 'OK', timeZone: 'America/Chicago' }))).toEqual({ ok: true }); // 19:00 CDT
    expect(refused(mayDropAt(input('2026-06-17T01:00:00Z', { usState: 'OK', timeZone: 'America/Chicago' }))).reason).toBe('outside_hours');
  });

  it('works when the local evening is already the next day in UTC (Los Angeles)', () => {
    expect(mayDropAt(input('2026-01-15T04:30:00Z', { timeZone: LA }))).toEqual({ ok: true }); // Wed 20:30 PST
    expect(refused(mayDropAt(input('2026-01-15T05:00:00Z', { timeZone: LA })))).toEqual({
      reason: 'outside_hours',
      retryAt: '2026-01-15T16:00:00.000Z', // Thu 08:00 PST
    });
  });

  it('opens at the right instant on DST days in New York', () => {
    // Spring forward 2026-03-08: 08:00 EDT = 12:00Z (not 13:00Z, as the previous day's offset would give).
    expect(refused(mayDropAt(input('2026-03-08T11:59:00Z')))).toEqual({ reason: 'outside_hours', retryAt: '2026-03-08T12:00:00.000Z' });
    expect(refused(mayDropAt(input('2026-03-08T02:00:00Z')))).toEqual({ reason: 'outside_hours', retryAt: '2026-03-08T12:00:00.000Z' });
    expect(mayDropAt(input('2026-03-08T12:00:00Z'))).toEqual({ ok: true });
    // Fall back 2026-11-01: 08:00 EST = 13:00Z (not 12:00Z).
    expect(refused(mayDropAt(input('2026-11-01T12:30:00Z')))).toEqual({ reason: 'outside_hours', retryAt: '2026-11-01T13:00:00.000Z' });
    expect(refused(mayDropAt(input('2026-11-01T01:00:00Z')))).toEqual({ reason: 'outside_hours', retryAt: '2026-11-01T13:00:00.000Z' });
    expect(mayDropAt(input('2026-11-01T13:00:00Z'))).toEqual({ ok: true });
    // …and closes at 21:00 EST = 02:00Z the next UTC day.
    expect(mayDropAt(input('2026-11-02T01:59:00Z'))).toEqual({ ok: true });
    expect(refused(mayDropAt(input('2026-11-02T02:00:00Z'))).reason).toBe('outside_hours');
  });

  it('does not crash on a zone that skipped a whole day (Samoa, 2011-12-30)', () => {
    // Thu 2011-12-29 21:30 in Apia (UTC−10); the next local day was Sat 2011-12-31 (UTC+14).
    expect(refused(mayDropAt(input('2011-12-30T07:30:00Z', { timeZone: 'Pacific/Apia' })))).toEqual({
      reason: 'outside_hours',
      retryAt: '2011-12-30T18:00:00.000Z', // 2011-12-31 08:00 +14
    });
  });

  it('does not crash when a window ends inside a DST gap', () => {
    const limits: DropLimits = { ...dropLimitsFor(null), windows: { ...dropLimitsFor(null).windows, sun: { start: '01:00', end: '02:30' } } };
    // 2026-03-08: 02:30 does not exist, so the window ends at 03:00 EDT = 07:00Z.
    expect(checkDropAt(input('2026-03-08T06:59:00Z'), limits)).toEqual({ ok: true });
    expect(refused(checkDropAt(input('2026-03-08T07:00:00Z'), limits))).toEqual({ reason: 'outside_hours', retryAt: '2026-03-09T12:00:00.000Z' });
  });

  it('gives window instants and the next opening', () => {
    expect(callingWindowOn('2026-03-08', NY, null)).toEqual({ start: at('2026-03-08T12:00:00Z'), end: at('2026-03-09T01:00:00Z') });
    expect(callingWindowOn('2026-11-01', NY, 'FL')).toEqual({ start: at('2026-11-01T13:00:00Z'), end: at('2026-11-02T01:00:00Z') });
    expect(nextWindowOpening(at('2026-06-16T11:59:00Z'), NY, null)).toEqual(at('2026-06-16T12:00:00Z'));
    expect(nextWindowOpening(at('2026-06-16T12:00:00Z'), NY, null)).toEqual(at('2026-06-17T12:00:00Z'));
  });

  it('uses per-weekday windows and gives null when nothing opens within the horizon', () => {
    const weekdaysOnly: DropLimits = { ...dropLimitsFor(null), windows: { ...dropLimitsFor(null).windows, sat: null, sun: null } };
    // Fri 2026-06-19 21:00 EDT → Mon 08:00 EDT.
    expect(refused(checkDropAt(input('2026-06-20T01:00:00Z'), weekdaysOnly))).toEqual({ reason: 'outside_hours', retryAt: '2026-06-22T12:00:00.000Z' });
    const never: DropLimits = { ...dropLimitsFor(null), windows: { mon: null, tue: null, wed: null, thu: null, fri: null, sat: null, sun: null } };
    expect(refused(checkDropAt(input('2026-06-16T18:00:00Z'), never))).toEqual({ reason: 'outside_hours', retryAt: null });
  });
});

describe('holidays', () => {
  it('refuses a drop on the practice holiday with retryAt 08:00 the next day', () => {
    // Thanksgiving 2026-11-26, 10:00 EST.
    expect(refused(mayDropAt(input('2026-11-26T15:00:00Z', { holidays: THANKSGIVING })))).toEqual({
      reason: 'holiday',
      retryAt: '2026-11-27T13:00:00.000Z',
    });
    expect(mayDropAt(input('2026-11-26T15:00:00Z'))).toEqual({ ok: true });
  });

  it('checks the holiday before the window', () => {
    expect(refused(mayDropAt(input('2026-11-26T10:00:00Z', { holidays: THANKSGIVING }))).reason).toBe('holiday'); // 05:00 EST
  });

  it('skips a holiday weekend: Thanksgiving, the day after and a weekend without windows', () => {
    const limits: DropLimits = { ...dropLimitsFor(null), windows: { ...dropLimitsFor(null).windows, sat: null, sun: null } };
    const holidays: Holidays = { dates: [], named: ['thanksgiving', 'day_after_thanksgiving'] };
    expect(refused(checkDropAt(input('2026-11-26T15:00:00Z', { holidays }), limits))).toEqual({
      reason: 'holiday',
      retryAt: '2026-11-30T13:00:00.000Z', // Mon 08:00 EST
    });
  });

  it('judges the holiday on the practice date, not the recipient date (Honolulu patient, New York practice)', () => {
    // Wed 2026-11-25 20:00 HST is already Thanksgiving 01:00 EST in New York.
    const hawaii = { timeZone: HONOLULU, holidays: THANKSGIVING, practiceTimeZone: NY };
    expect(refused(mayDropAt(input('2026-11-26T06:00:00Z', hawaii)))).toEqual({
      reason: 'holiday',
      retryAt: '2026-11-27T05:00:00.000Z', // midnight in New York = 19:00 HST, inside the Honolulu window
    });
    // Thu 19:30 HST is Thanksgiving in Honolulu but Friday 00:30 in New York.
    expect(mayDropAt(input('2026-11-27T05:30:00Z', hawaii))).toEqual({ ok: true });
    // Without the practice zone, the recipient's zone decides.
    expect(mayDropAt(input('2026-11-26T06:00:00Z', { ...hawaii, practiceTimeZone: undefined }))).toEqual({ ok: true });
    expect(refused(mayDropAt(input('2026-11-27T05:30:00Z', { timeZone: HONOLULU, holidays: THANKSGIVING })))).toEqual({
      reason: 'holiday',
      retryAt: '2026-11-27T18:00:00.000Z', // Fri 08:00 HST
    });
  });

  it('searches 14 days ahead and gives null beyond', () => {
    const july = (days: number): Holidays => ({ dates: Array.from({ length: days }, (_, i) => `2026-07-${String(i + 1).padStart(2, '0')}`), named: [] });
    // Wed 2026-07-01 11:00 EDT; the horizon ends 2026-07-15T15:00Z.
    expect(refused(mayDropAt(input('2026-07-01T15:00:00Z', { holidays: july(14) })))).toEqual({ reason: 'holiday', retryAt: '2026-07-15T12:00:00.000Z' });
    expect(refused(mayDropAt(input('2026-07-01T15:00:00Z', { holidays: july(15) })))).toEqual({ reason: 'holiday', retryAt: null });
    expect(refused(mayDropAt(input('2026-07-01T15:00:00Z', { holidays: july(20) })))).toEqual({ reason: 'holiday', retryAt: null });
  });
});

describe('frequency caps', () => {
  it('allows one drop per recipient-local day: a drop earlier today defers to 08:00 tomorrow', () => {
    const recentDrops = [at('2026-06-16T13:00:00Z')]; // 09:00 EDT
    expect(refused(mayDropAt(input('2026-06-16T19:00:00Z', { recentDrops })))).toEqual({
      reason: 'daily_cap',
      retryAt: '2026-06-17T12:00:00.000Z',
    });
    expect(mayDropAt(input('2026-06-17T12:00:00Z', { recentDrops }))).toEqual({ ok: true });
  });

  it('counts calendar days in the recipient zone, not UTC', () => {
    // Same Los Angeles day (Wed), different UTC days.
    expect(refused(mayDropAt(input('2026-01-15T04:30:00Z', { timeZone: LA, recentDrops: [at('2026-01-14T18:00:00Z')] })))).toEqual({
      reason: 'daily_cap',
      retryAt: '2026-01-15T16:00:00.000Z',
    });
    // Same UTC day, different Los Angeles days (Tue 23:30, Wed 09:00).
    expect(mayDropAt(input('2026-01-14T17:00:00Z', { timeZone: LA, recentDrops: [at('2026-01-14T07:30:00Z')] }))).toEqual({ ok: true });
  });

  it('allows three drops in any rolling 7 days; retryAt is when the oldest falls out', () => {
    const recentDrops = [at('2026-06-08T14:00:00Z'), at('2026-06-10T18:30:00Z'), at('2026-06-12T13:00:00Z')]; // Mon 10:00, Wed, Fri
    expect(refused(mayDropAt(input('2026-06-14T16:00:00Z', { recentDrops })))).toEqual({
      reason: 'weekly_cap',
      retryAt: '2026-06-15T14:00:00.000Z', // Mon 10:00 EDT, exactly 7 days after the oldest
    });
    expect(mayDropAt(input('2026-06-14T16:00:00Z', { recentDrops: recentDrops.slice(1) }))).toEqual({ ok: true });
    // A drop exactly 7 days ago no longer counts.
    expect(mayDropAt(input('2026-06-15T14:00:00Z', { recentDrops }))).toEqual({ ok: true });
  });

  it('waits for enough drops to fall out when there are more than the cap', () => {
    const recentDrops = [at('2026-06-08T14:00:00Z'), at('2026-06-09T14:00:00Z'), at('2026-06-10T18:30:00Z'), at('2026-06-12T13:00:00Z')];
    expect(refused(mayDropAt(input('2026-06-14T16:00:00Z', { recentDrops })))).toEqual({
      reason: 'weekly_cap',
      retryAt: '2026-06-16T14:00:00.000Z', // the second oldest + 7 days
    });
  });

  it('puts a weekly-cap retryAt inside the window when the oldest drop falls out at night', () => {
    const recentDrops = [at('2026-06-08T10:30:00Z'), at('2026-06-10T18:30:00Z'), at('2026-06-12T13:00:00Z')]; // oldest Mon 06:30 EDT
    expect(refused(mayDropAt(input('2026-06-14T16:00:00Z', { recentDrops })))).toEqual({
      reason: 'weekly_cap',
      retryAt: '2026-06-15T12:00:00.000Z', // Mon 08:00 EDT
    });
  });

  it('measures the week in elapsed time across a DST change', () => {
    const recentDrops = [at('2026-03-02T15:00:00Z'), at('2026-03-04T15:00:00Z'), at('2026-03-06T15:00:00Z')]; // 10:00 EST
    expect(refused(mayDropAt(input('2026-03-08T16:00:00Z', { recentDrops })))).toEqual({
      reason: 'weekly_cap',
      retryAt: '2026-03-09T15:00:00.000Z', // 11:00 EDT: 168 hours later
    });
  });

  it('defers past a holiday when a weekly cap expires on it', () => {
    const recentDrops = [at('2026-11-19T15:00:00Z'), at('2026-11-20T15:00:00Z'), at('2026-11-23T15:00:00Z')];
    expect(refused(mayDropAt(input('2026-11-25T15:00:00Z', { recentDrops, holidays: THANKSGIVING })))).toEqual({
      reason: 'weekly_cap',
      retryAt: '2026-11-27T13:00:00.000Z', // not Thanksgiving 10:00, when the oldest expires
    });
  });

  describe('state 24-hour cap', () => {
    // With the healthcare daily cap at 1 the state's 3-in-24-hours cap cannot bind on its own,
    // so its logic is checked with looser healthcare caps.
    const loose: DropLimits = { ...dropLimitsFor('FL'), dailyCap: 10, weeklyCap: 10 };
    const threeIn24h = [at('2026-06-15T23:00:00Z'), at('2026-06-16T13:00:00Z'), at('2026-06-16T16:00:00Z')]; // Mon 19:00, Tue 09:00, 12:00 EDT

    it('refuses a 4th drop within 24 hours in Florida, retrying when the oldest falls out', () => {
      expect(refused(checkDropAt(input('2026-06-16T19:00:00Z', { recentDrops: threeIn24h }), loose))).toEqual({
        reason: 'state_24h_cap',
        retryAt: '2026-06-16T23:00:00.000Z', // Tue 19:00 EDT, inside the 20:00 close
      });
      expect(checkDropAt(input('2026-06-16T19:00:00Z', { recentDrops: threeIn24h.slice(1) }), loose)).toEqual({ ok: true });
      expect(checkDropAt(input('2026-06-16T19:00:00Z', { recentDrops: threeIn24h }), { ...loose, maxCallsPer24h: null })).toEqual({ ok: true });
    });

    it('retries at the next opening when the oldest falls out after the Florida close', () => {
      const recentDrops = [at('2026-06-16T00:30:00Z'), ...threeIn24h.slice(1)]; // Mon 20:30 EDT
      expect(refused(checkDropAt(input('2026-06-16T19:00:00Z', { recentDrops }), loose))).toEqual({
        reason: 'state_24h_cap',
        retryAt: '2026-06-17T12:00:00.000Z',
      });
    });

    it('comes before the daily and weekly caps, and retryAt satisfies them all', () => {
      expect(refused(mayDropAt(input('2026-06-16T19:00:00Z', { usState: 'FL', recentDrops: threeIn24h })))).toEqual({
        reason: 'state_24h_cap',
        retryAt: '2026-06-22T23:00:00.000Z', // the weekly cap: 7 days after Mon 19:00 EDT
      });
      expect(refused(mayDropAt(input('2026-06-16T19:00:00Z', { usState: 'NY', recentDrops: threeIn24h }))).reason).toBe('daily_cap');
    });
  });
});

describe('input checks', () => {
  it('refuses invalid instants and unknown zones', () => {
    expect(() => mayDropAt(input('not a date'))).toThrow(RangeError);
    expect(() => mayDropAt(input('2026-06-16T18:00:00Z', { recentDrops: [at('nope')] }))).toThrow(/recentDrops/);
    expect(() => mayDropAt(input('2026-06-16T18:00:00Z', { timeZone: 'Mars/Olympus' }))).toThrow(RangeError);
    expect(() => checkDropAt(input('2026-06-16T18:00:00Z'), { ...dropLimitsFor(null), dailyCap: 0 })).toThrow(RangeError);
  });
});
