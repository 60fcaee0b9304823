/**
 * Runs `work` again, after a short doubling pause, when it fails: for a write that must land now
 * because repeating what led to it is worse (an SMS already sent). Through a brief database
 * fault (a connection cut, a failover) a later try gets a fresh connection. The last failure is
 * thrown as is.
 */
export async function retryBriefly<T>(work: () => Promise<T>, opts: { attempts?: number; firstDelayMs?: number } = {}): Promise<T> {
  const attempts = opts.attempts ?? 5;
  let delay = opts.firstDelayMs ?? 200;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (err) {
      if (attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay *= 2;
    }
  }
}
