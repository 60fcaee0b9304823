import { describe, expect, it } from 'vitest';
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

  it('never takes longer than the budget, even when the drain and the close both hang', async () => {
    const started = Date.now();
    let closeCalled = false;
    const result = await shutdownWithin(600, {
      drain: never,
      close: () => {
        closeCalled = true;
        return never();
      },
    });
    const took = Date.now() - started;
    expect(result.clean).toBe(false);
    expect(closeCalled).toBe(true);
    expect(took).toBeLessThan(800);
    expect(took).toBeGreaterThanOrEqual(550);
  });

  it('gives the drain the budget less a reserve for the close, and the close what remains', async () => {
    let drainTimeout = -1;
    const started = Date.now();
    const result = await shutdownWithin(
      1_000,
      {
        drain: async (ms) => {
          drainTimeout = ms;
          await after(100);
        },
        close: never,
      },
      { closeReserveMs: 300 },
    );
    expect(drainTimeout).toBe(700);
    expect(result.drainedMs).toBeGreaterThanOrEqual(90);
    expect(result.clean).toBe(false);
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(950);
    expect(took).toBeLessThan(1_200);
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
