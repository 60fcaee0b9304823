import { describe, expect, it, vi } from 'vitest';
import { shutdownWithin } from '../../src/http/server.js';

const never = (): Promise<void> => new Promise<void>(() => undefined);
const after = (ms: number): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe('shutdownWithin', () => {
  it('drains, then closes, and reports a clean stop', async () => {
    const order: string[] = [];
    const result = await shutdownWithin(1_000, {
      drain: async () => {
        order.push('drain');
      },
      close: async () => {
        order.push('close');
      },
    });
    expect(order).toEqual(['drain', 'close']);
    expect(result.clean).toBe(true);
  });

  // Fake timers (Date.now included): the budget is checked on the clock the code reads, not on
  // how fast a loaded machine happens to run the test.
  it('never takes longer than the budget, even when the drain and the close both hang', async () => {
    vi.useFakeTimers();
    try {
      let closeCalled = false;
      let settled = false;
      const pending = shutdownWithin(600, {
        drain: never,
        close: () => {
          closeCalled = true;
          return never();
        },
      }).finally(() => {
        settled = true;
      });
      await vi.advanceTimersByTimeAsync(599);
      expect(settled).toBe(false);
      expect(closeCalled).toBe(true);
      await vi.advanceTimersByTimeAsync(1);
      expect(settled).toBe(true);
      const result = await pending;
      expect(result.clean).toBe(false);
      expect(result.totalMs).toBe(600);
    } finally {
      vi.useRealTimers();
    }
  });

  it('gives the drain the budget less a reserve for the close, and the close what remains', async () => {
    vi.useFakeTimers();
    try {
      let drainTimeout = -1;
      let settled = false;
      const pending = shutdownWithin(
        1_000,
        {
          drain: async (ms) => {
            drainTimeout = ms;
            await after(100);
          },
          close: never,
        },
        { closeReserveMs: 300 },
      ).finally(() => {
        settled = true;
      });
      await vi.advanceTimersByTimeAsync(999);
      expect(settled).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      const result = await pending;
      expect(drainTimeout).toBe(700);
      expect(result.drainedMs).toBe(100);
      expect(result.clean).toBe(false);
      expect(result.totalMs).toBe(1_000);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a failing step still lets the next one run', async () => {
    let closed = false;
    const result = await shutdownWithin(500, {
      drain: () => Promise.reject(new Error('boom')),
      close: async () => {
        closed = true;
      },
    });
    expect(closed).toBe(true);
    expect(result.clean).toBe(true);
  });
});
