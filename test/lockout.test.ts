import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_MS, MAX_FAILURES, WINDOW_MS, clearFailures, isLockedOut, recordFailure } from '../src/verification/lockout.js';

/**
 * Against the real Redis, in a key prefix of this file's own. ioredis prefixes command keys but
 * not SCAN/KEYS patterns, so cleanup matches the full prefix and strips it before DEL.
 */
const PREFIX = `test-lockout-${randomBytes(6).toString('hex')}:`;
const MINUTE = 60_000;
const T0 = new Date('2026-06-15T12:00:00Z');
const later = (ms: number): Date => new Date(T0.getTime() + ms);

let redis: Redis;

/** A fresh blind index per test, so tests cannot see each other's counts. */
const index = (): string => randomBytes(16).toString('hex');

async function fail(phoneIndex: string, times: number, now: Date = T0): Promise<boolean[]> {
  const out: boolean[] = [];
  for (let i = 0; i < times; i += 1) out.push(await recordFailure(redis, phoneIndex, now));
  return out;
}

async function keysUnderPrefix(): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

beforeAll(async () => {
  redis = new Redis({ host: '127.0.0.1', port: 6379, keyPrefix: PREFIX, lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
});

afterAll(async () => {
  const keys = await keysUnderPrefix();
  if (keys.length > 0) await redis.del(...keys.map((k) => k.slice(PREFIX.length)));
  expect(await keysUnderPrefix()).toEqual([]);
  await redis.quit();
});

describe('verification lockout', () => {
  it(`${MAX_FAILURES - 1} failures do not lock; the ${MAX_FAILURES}th does`, async () => {
    const idx = index();
    expect(await fail(idx, MAX_FAILURES - 1)).toEqual([false, false, false, false]);
    expect(await isLockedOut(redis, idx, T0)).toBe(false);
    expect(await recordFailure(redis, idx, later(MINUTE))).toBe(true);
    expect(await isLockedOut(redis, idx, later(MINUTE))).toBe(true);
  });

  it('failures older than the window do not count', async () => {
    const idx = index();
    await fail(idx, MAX_FAILURES - 1, T0);
    expect(await recordFailure(redis, idx, later(WINDOW_MS + MINUTE))).toBe(false);
    expect(await isLockedOut(redis, idx, later(WINDOW_MS + MINUTE))).toBe(false);
  });

  it('failures inside the window do count', async () => {
    const idx = index();
    await fail(idx, MAX_FAILURES - 1, T0);
    expect(await recordFailure(redis, idx, later(WINDOW_MS - MINUTE))).toBe(true);
  });

  it('the lock holds for its duration, then expires', async () => {
    const idx = index();
    await fail(idx, MAX_FAILURES, T0);
    // The stored value is the unlock time in ms; the key also expires on its own.
    expect(await redis.get(`verify-lock:${idx}`)).toBe(String(T0.getTime() + LOCK_MS));
    const ttl = await redis.pttl(`verify-lock:${idx}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(LOCK_MS);
    expect(await isLockedOut(redis, idx, later(LOCK_MS - MINUTE))).toBe(true);
    expect(await isLockedOut(redis, idx, later(LOCK_MS + MINUTE))).toBe(false);
  });

  it('clearFailures resets the count', async () => {
    const idx = index();
    await fail(idx, MAX_FAILURES - 1);
    await clearFailures(redis, idx);
    expect(await fail(idx, MAX_FAILURES - 1)).toEqual([false, false, false, false]);
    expect(await isLockedOut(redis, idx, T0)).toBe(false);
    expect(await recordFailure(redis, idx, T0)).toBe(true);
  });

  it('two blind indexes are independent', async () => {
    const a = index();
    const b = index();
    await fail(b, MAX_FAILURES - 1);
    expect(await fail(a, MAX_FAILURES)).toEqual([false, false, false, false, true]);
    expect(await isLockedOut(redis, a, T0)).toBe(true);
    expect(await isLockedOut(redis, b, T0)).toBe(false);
    expect(await recordFailure(redis, b, T0)).toBe(true);
  });

  it('keys carry the blind index, under this file’s prefix', async () => {
    const idx = index();
    await fail(idx, 1);
    const keys = await keysUnderPrefix();
    expect(keys).toContain(`${PREFIX}verify-fail:${idx}`);
    expect(keys.every((k) => k.startsWith(PREFIX))).toBe(true);
  });
});
