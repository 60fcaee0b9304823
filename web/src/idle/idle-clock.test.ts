import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startIdleClock, WARN_BEFORE_MS } from './idle-clock';

// The clock under fake timers: Date.now and setTimeout move only when the test says so.
describe('idle clock (warning a minute before idleDeadline, then logoff)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: new Date('2026-11-26T03:00:00Z') });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function start(windowMs: number) {
    const events: string[] = [];
    const clock = startIdleClock({
      expiresAt: Date.now() + windowMs,
      warnBeforeMs: WARN_BEFORE_MS,
      now: Date.now,
      onWarn: () => events.push('warn'),
      onActive: () => events.push('active'),
      onExpire: () => events.push('expire'),
    });
    return { clock, events };
  }

  it('warns once a minute before the end, and logs off at the end', () => {
    const { clock, events } = start(15 * 60_000);
    vi.advanceTimersByTime(14 * 60_000 - 1);
    expect(events).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(events).toEqual(['warn']);
    expect(clock.state).toBe('warning');
    vi.advanceTimersByTime(60_000 - 1);
    expect(events).toEqual(['warn']);
    vi.advanceTimersByTime(1);
    expect(events).toEqual(['warn', 'expire']);
    expect(clock.state).toBe('expired');
  });

  it('activity restarts the whole window (as the server restarts its own)', () => {
    const { clock, events } = start(5 * 60_000);
    vi.advanceTimersByTime(3 * 60_000);
    clock.touch();
    vi.advanceTimersByTime(4 * 60_000 - 1);
    expect(events).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(events).toEqual(['warn']);
  });

  it('"stay signed in" during the warning clears it; a new end from the server is followed', () => {
    const { clock, events } = start(5 * 60_000);
    vi.advanceTimersByTime(4 * 60_000 + 30_000);
    expect(events).toEqual(['warn']);
    clock.resetTo(Date.now() + 5 * 60_000);
    expect(events).toEqual(['warn', 'active']);
    expect(clock.state).toBe('active');
    vi.advanceTimersByTime(5 * 60_000);
    expect(events).toEqual(['warn', 'active', 'warn', 'expire']);
  });

  it('nothing brings an expired session back, and a stopped clock fires nothing', () => {
    const { clock, events } = start(90_000);
    vi.advanceTimersByTime(90_000);
    expect(events).toEqual(['warn', 'expire']);
    clock.touch();
    vi.advanceTimersByTime(10 * 60_000);
    expect(events).toEqual(['warn', 'expire']);

    const other = start(90_000);
    other.clock.stop();
    vi.advanceTimersByTime(10 * 60_000);
    expect(other.events).toEqual([]);
  });

  it('a session already inside its last minute warns at once; one already past logs off at once', () => {
    expect(start(30_000).events).toEqual(['warn']);
    expect(start(0).events).toEqual(['expire']);
  });
});
