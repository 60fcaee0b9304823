/** What `withDeadline` resolves to when the work has not settled in time. */
export const TIMED_OUT = Symbol('timed out');

/**
 * The work's result, or TIMED_OUT once `ms` have passed without it; a rejection before then
 * rejects the same way. The timer is always cleared. The work is not cancelled: it runs on, and
 * a rejection after the deadline is handled (ignored) rather than left unhandled. `unref` lets
 * the process exit while only this timer is waiting.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, opts: { unref?: boolean } = {}): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
    if (opts.unref === true) timer.unref();
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
