import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TIMED_OUT, withDeadline } from '../../src/adapters/deadline.js';

/** A promise settled by hand. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('withDeadline', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  it('gives the work’s value when it settles first, and clears its timer', async () => {
    const work = deferred<string>();
    const result = withDeadline(work.promise, 1_000);
    expect(vi.getTimerCount()).toBe(1);
    work.resolve('twiml');
    await expect(result).resolves.toBe('twiml');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('gives the work’s rejection when it fails first, and clears its timer', async () => {
    const work = deferred<string>();
    const result = withDeadline(work.promise, 1_000);
    const boom = new Error('boom');
    work.reject(boom);
    await expect(result).rejects.toBe(boom);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('gives TIMED_OUT once the deadline passes, not before', async () => {
    const work = deferred<string>();
    let settled: unknown = 'pending';
    void withDeadline(work.promise, 1_000).then((v) => {
      settled = v;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(settled).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toBe(TIMED_OUT);
    // The work is not cancelled: it may still finish; that changes nothing.
    work.resolve('late');
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(TIMED_OUT);
  });

  it('leaves no unhandled rejection when the work fails after the deadline', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const work = deferred<string>();
      const result = withDeadline(work.promise, 10);
      await vi.advanceTimersByTimeAsync(10);
      await expect(result).resolves.toBe(TIMED_OUT);
      work.reject(new Error('late failure'));
      // Unhandled rejections are reported after the microtask queue drains: wait a real turn.
      await new Promise<void>((resolve) => setImmediate(resolve));
      await new Promise<void>((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('keeps the process alive while waiting unless asked to unref its timer', async () => {
    const spy = vi.spyOn(globalThis, 'setTimeout');
    const held = withDeadline(Promise.resolve(1), 1_000);
    const unrefd = withDeadline(Promise.resolve(2), 1_000, { unref: true });
    const timers = spy.mock.results.map((r) => r.value as NodeJS.Timeout);
    expect(timers.map((t) => t.hasRef())).toEqual([true, false]);
    await expect(held).resolves.toBe(1);
    await expect(unrefd).resolves.toBe(2);
  });
});
