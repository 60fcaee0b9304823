/**
 * Polls `fn` (sync or async) until it returns something truthy (returned), or throws after `ms` naming `what`.
 * `onPoll` runs between polls (e.g. to move a waiting job along).
 */
export async function until<T>(what: string, fn: () => T | null | undefined | false | Promise<T | null | undefined | false>, ms = 20_000, onPoll?: () => Promise<void>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
    await onPoll?.();
  }
}
