import type { Redis } from 'ioredis';

/**
 * Verification lockout, shared by every instance through Redis: `MAX_FAILURES` failures for one
 * caller number within `WINDOW_MS` lock that number out of verification for `LOCK_MS`.
 * Keys carry the number's blind index only, never the number.
 */
export const MAX_FAILURES = 5;
export const WINDOW_MS = 15 * 60_000;
export const LOCK_MS = 15 * 60_000;

const failKey = (phoneIndex: string): string => `verify-fail:${phoneIndex}`;
const lockKey = (phoneIndex: string): string => `verify-lock:${phoneIndex}`;

export async function isLockedOut(redis: Redis, phoneIndex: string, now: Date): Promise<boolean> {
  const until = await redis.get(lockKey(phoneIndex));
  return until !== null && Number(until) > now.getTime();
}

/** Records one failure; returns true when this failure locks the number out. */
export async function recordFailure(redis: Redis, phoneIndex: string, now: Date): Promise<boolean> {
  const t = now.getTime();
  const key = failKey(phoneIndex);
  const results = await redis
    .multi()
    .zadd(key, t, `${t}-${Math.random().toString(36).slice(2)}`)
    .zremrangebyscore(key, '-inf', t - WINDOW_MS)
    .zcard(key)
    .pexpire(key, WINDOW_MS)
    .exec();
  const count = Number(results?.[2]?.[1] ?? 0);
  if (count >= MAX_FAILURES) {
    await redis.set(lockKey(phoneIndex), String(t + LOCK_MS), 'PX', LOCK_MS);
    await redis.del(key);
    return true;
  }
  return false;
}

export async function clearFailures(redis: Redis, phoneIndex: string): Promise<void> {
  await redis.del(failKey(phoneIndex));
}
