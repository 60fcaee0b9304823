/** Aborted on SIGINT/SIGTERM: a load run in progress stops, and no new one starts. */
export const benchAbort = new AbortController();

export function throwIfAborted(): void {
  if (benchAbort.signal.aborted) throw new Error('interrupted');
}
