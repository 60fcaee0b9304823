import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ACCESS_NUMBER_POLICY,
  LOCK_MS,
  LOCK_POLICIES,
  MAX_FAILURES,
  WINDOW_MS,
  clearLock,
  lockDurationMs,
  lockedUntil,
  releaseTry,
  reserveTry,
  scopeKeys,
  settleFailure,
  settleSuccess,
  type LockScope,
  type ReservedTry,
  type StartedLock,
} from '../src/verification/lockout.js';

/**
 * Against the real Redis, in a key prefix of this file's own. ioredis prefixes command keys (and
 * the KEYS of EVAL) but not SCAN/KEYS patterns, so cleanup matches the full prefix and strips it.
 */
const PREFIX = `test-lockout-${randomBytes(6).toString('hex')}:`;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T0 = new Date('2026-06-15T12:00:00Z');
const later = (ms: number): Date => new Date(T0.getTime() + ms);
const PRACTICE = randomUUID();

let redis: Redis;

type NumberScope = Extract<LockScope, { kind: 'number' }>;
type Candidate = Extract<LockScope, { kind: 'patient' | 'provider' }>;

/** A fresh number (blind index) per test, so tests cannot see each other's counts. */
const aNumber = (): NumberScope => ({ kind: 'number', practiceId: PRACTICE, phoneIndex: randomBytes(32).toString('hex') });
const aPatient = (): Candidate => ({ kind: 'patient', id: randomUUID() });

async function reserve(n: NumberScope, candidates: Candidate[] = [], now: Date = T0): Promise<ReservedTry | null> {
  const r = await reserveTry(redis, n, candidates, now);
  return r.ok ? r.reserved : null;
}

/** One wrong try, reserved then settled; the lockouts it started, or null when refused. */
async function wrong(n: NumberScope, candidates: Candidate[] = [], now: Date = T0): Promise<StartedLock[] | null> {
  const r = await reserve(n, candidates, now);
  return r ? settleFailure(redis, r, now) : null;
}

async function wrongTimes(n: NumberScope, times: number, candidates: Candidate[] = [], now: Date = T0): Promise<Array<StartedLock[] | null>> {
  const out: Array<StartedLock[] | null> = [];
  for (let i = 0; i < times; i += 1) out.push(await wrong(n, candidates, now));
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

describe('verification lockout: the number', () => {
  it(`${MAX_FAILURES - 1} failures do not lock; the ${MAX_FAILURES}th does, and the next try is refused`, async () => {
    const n = aNumber();
    expect(await wrongTimes(n, MAX_FAILURES - 1)).toEqual([[], [], [], []]);
    expect(await lockedUntil(redis, n, T0)).toBeNull();
    const started = await wrong(n, [], later(MINUTE));
    expect(started).toEqual([{ scope: n, until: later(MINUTE + LOCK_MS), earlier: 0 }]);
    expect(await lockedUntil(redis, n, later(MINUTE))).toEqual(later(MINUTE + LOCK_MS));
    expect(await reserve(n, [], later(2 * MINUTE))).toBeNull();
  });

  it('failures older than the window do not count', async () => {
    const n = aNumber();
    await wrongTimes(n, MAX_FAILURES - 1, [], T0);
    expect(await wrong(n, [], later(WINDOW_MS + MINUTE))).toEqual([]);
    expect(await lockedUntil(redis, n, later(WINDOW_MS + MINUTE))).toBeNull();
  });

  it('the lock holds for its duration, then expires', async () => {
    const n = aNumber();
    await wrongTimes(n, MAX_FAILURES, [], T0);
    // The stored value is the unlock time in ms; the key also expires on its own.
    expect(await redis.get(scopeKeys(n).lock)).toBe(String(T0.getTime() + LOCK_MS));
    const ttl = await redis.pttl(scopeKeys(n).lock);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(LOCK_MS);
    expect(await reserve(n, [], later(LOCK_MS - MINUTE))).toBeNull();
    expect(await reserve(n, [], later(LOCK_MS + MINUTE))).not.toBeNull();
  });

  it('a success resets the number’s count', async () => {
    const n = aNumber();
    await wrongTimes(n, MAX_FAILURES - 1);
    const right = await reserve(n);
    if (!right) throw new Error('refused');
    await settleSuccess(redis, right);
    expect(await wrongTimes(n, MAX_FAILURES - 1)).toEqual([[], [], [], []]);
    expect(await wrong(n)).toHaveLength(1);
  });

  it('30 tries at once: exactly the limit are let through to be compared', async () => {
    const n = aNumber();
    const all = await Promise.all(Array.from({ length: 30 }, () => reserve(n)));
    const granted = all.filter((r): r is ReservedTry => r !== null);
    expect(granted).toHaveLength(MAX_FAILURES);
    // All wrong: exactly one of them starts the lockout.
    const started = (await Promise.all(granted.map((r) => settleFailure(redis, r, T0)))).flat();
    expect(started).toHaveLength(1);
    expect(await reserve(n)).toBeNull();
  });

  it('tries still being compared refuse further tries, but only failures start a lockout', async () => {
    const n = aNumber();
    const p = aPatient();
    const pending = await Promise.all(Array.from({ length: MAX_FAILURES }, () => reserve(n, [p])));
    expect(await reserve(n, [p])).toBeNull();
    const [right, ...wrongs] = pending;
    if (!right) throw new Error('refused');
    for (const r of wrongs) expect(await settleFailure(redis, r ?? right, T0)).toEqual([]);
    // The reserved try that turns out right is not a failure: no lockout, and the count is reset.
    await settleSuccess(redis, right);
    expect(await lockedUntil(redis, n, T0)).toBeNull();
    expect(await reserve(n, [p])).not.toBeNull();
  });

  it('only repeated lockouts grow the lockout: 15 min, then 30, then 60; back to 15 once forgotten', async () => {
    const policy = LOCK_POLICIES.number;
    expect([0, 1, 2, 10].map((e) => lockDurationMs(policy, e))).toEqual([LOCK_MS, 2 * LOCK_MS, 4 * LOCK_MS, policy.maxLockMs]);
    const n = aNumber();
    let at = T0;
    const lengths: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const started = (await wrongTimes(n, MAX_FAILURES, [], at)).flat().filter((s) => s !== null);
      const lock = started[0];
      if (!lock) throw new Error('no lockout');
      lengths.push(lock.until.getTime() - at.getTime());
      at = new Date(lock.until.getTime() + MINUTE);
    }
    expect(lengths).toEqual([LOCK_MS, 2 * LOCK_MS, 4 * LOCK_MS]);
    const forgotten = new Date(at.getTime() + policy.memoryMs);
    const again = (await wrongTimes(n, MAX_FAILURES, [], forgotten)).flat();
    expect(again.map((s) => s && s.until.getTime() - forgotten.getTime())).toEqual([LOCK_MS]);
  });

  it('clearing opens the number with a fresh count; its history stays', async () => {
    const n = aNumber();
    await wrongTimes(n, MAX_FAILURES);
    await clearLock(redis, n);
    expect(await lockedUntil(redis, n, T0)).toBeNull();
    expect(await wrongTimes(n, MAX_FAILURES - 1)).toEqual([[], [], [], []]);
    const [lock] = (await wrong(n)) ?? [];
    expect(lock?.earlier).toBe(1);
    expect(lock?.until).toEqual(later(2 * LOCK_MS));
  });

  it('two numbers, and one number at two practices, are independent', async () => {
    const a = aNumber();
    const b = aNumber();
    const aElsewhere: NumberScope = { ...a, practiceId: randomUUID() };
    await wrongTimes(b, MAX_FAILURES - 1);
    await wrongTimes(a, MAX_FAILURES);
    expect(await reserve(a)).toBeNull();
    expect(await reserve(aElsewhere)).not.toBeNull();
    expect(await wrong(b)).toHaveLength(1);
  });

  it('keys carry the practice id and the blind index, under this file’s prefix', async () => {
    const n = aNumber();
    await wrong(n);
    const keys = await keysUnderPrefix();
    expect(keys).toContain(`${PREFIX}verify-fail:${PRACTICE}:${n.phoneIndex}`);
    expect(keys.every((k) => k.startsWith(PREFIX))).toBe(true);
  });
});

describe('verification lockout: the patient, across numbers', () => {
  const limit = LOCK_POLICIES.patient.limit;

  it(`${limit} failures from several numbers lock the patient for an hour, from any number`, async () => {
    const p = aPatient();
    const numbers = [aNumber(), aNumber(), aNumber()];
    const started: StartedLock[] = [];
    for (let i = 0; i < limit; i += 1) {
      // Never more than 4 from one number: the numbers stay open, the patient does not.
      const n = numbers[i % numbers.length] ?? aNumber();
      started.push(...((await wrong(n, [p], later(i * 4 * MINUTE))) ?? []));
    }
    expect(started).toEqual([{ scope: p, until: later((limit - 1) * 4 * MINUTE + HOUR), earlier: 0 }]);
    // A fresh number whose only candidate is the locked patient: refused, nothing counted.
    const fresh = aNumber();
    expect(await reserve(fresh, [p], later(limit * 4 * MINUTE))).toBeNull();
    expect(await redis.exists(scopeKeys(fresh).tries)).toBe(0);
  });

  it('a number shared with a locked patient is still open for the other patient, who alone is compared', async () => {
    const locked = aPatient();
    const other = aPatient();
    for (let i = 0; i < limit; i += 1) await wrong(aNumber(), [locked]);
    const r = await reserve(aNumber(), [locked, other]);
    expect(r?.candidates).toEqual([other]);
  });

  it('a right try gives back only its own try to the patient', async () => {
    const p = aPatient();
    for (let i = 0; i < limit - 1; i += 1) await wrong(aNumber(), [p]);
    const right = await reserve(aNumber(), [p]);
    if (!right) throw new Error('refused');
    await settleSuccess(redis, right);
    expect(await redis.zcard(scopeKeys(p).tries)).toBe(limit - 1);
    expect(await wrong(aNumber(), [p])).toEqual([{ scope: p, until: later(HOUR), earlier: 0 }]);
  });
});

describe('verification lockout: a try that could not be compared', () => {
  it('is given back everywhere: released tries never refuse nor lock, and leave nothing pending', async () => {
    const n = aNumber();
    const p = aPatient();
    for (let i = 0; i < LOCK_POLICIES.patient.limit + 1; i += 1) {
      const r = await reserve(n, [p]);
      if (!r) throw new Error(`refused at try ${i + 1}`);
      await releaseTry(redis, r);
    }
    for (const scope of [n, p]) {
      expect(await redis.zcard(scopeKeys(scope).tries)).toBe(0);
      expect(await redis.zcard(scopeKeys(scope).pending)).toBe(0);
    }
    // The full count is still there for real failures.
    expect(await wrongTimes(n, MAX_FAILURES - 1, [p])).toEqual([[], [], [], []]);
  });
});

describe('verification lockout: the provider access line stays short', () => {
  const aProvider = (): Candidate => ({ kind: 'provider', id: randomUUID() });
  const onAccess = (n: NumberScope): NumberScope => ({ ...n, access: true });

  /** Locks `scope` through `n` once per round, each round after the last lockout ended; the lengths. */
  async function lockRounds(rounds: number, n: () => NumberScope, candidates: Candidate[], failures: number, which: LockScope['kind']): Promise<number[]> {
    let at = T0;
    const lengths: number[] = [];
    for (let i = 0; i < rounds; i += 1) {
      const tries: Array<StartedLock[] | null> = [];
      for (let t = 0; t < failures; t += 1) tries.push(await wrong(n(), candidates, at));
      const started = tries.flat().filter((s): s is StartedLock => s !== null && s.scope.kind === which);
      const lock = started[0];
      if (!lock) throw new Error(`no ${which} lockout in round ${i + 1}`);
      lengths.push(lock.until.getTime() - at.getTime());
      at = new Date(lock.until.getTime() + MINUTE);
    }
    return lengths;
  }

  it('a provider locks for 15 minutes, doubling to at most an hour however often it repeats', async () => {
    const policy = LOCK_POLICIES.provider;
    expect([0, 1, 2, 3, 30].map((e) => lockDurationMs(policy, e))).toEqual([15 * MINUTE, 30 * MINUTE, HOUR, HOUR, HOUR]);
    const p = aProvider();
    // A fresh number per failure: only the provider's own count reaches its limit.
    expect(await lockRounds(5, () => onAccess(aNumber()), [p], policy.limit, 'provider')).toEqual([15 * MINUTE, 30 * MINUTE, HOUR, HOUR, HOUR]);
  });

  it('a number on the access line locks for 15 minutes, doubling to at most an hour (the patient line: 4 hours)', async () => {
    expect([0, 1, 2, 3, 30].map((e) => lockDurationMs(ACCESS_NUMBER_POLICY, e))).toEqual([LOCK_MS, 2 * LOCK_MS, HOUR, HOUR, HOUR]);
    const n = onAccess(aNumber());
    expect(await lockRounds(5, () => n, [], MAX_FAILURES, 'number')).toEqual([LOCK_MS, 2 * LOCK_MS, HOUR, HOUR, HOUR]);
    const patientLine = aNumber();
    expect(await lockRounds(5, () => patientLine, [], MAX_FAILURES, 'number')).toEqual([LOCK_MS, 2 * LOCK_MS, 4 * LOCK_MS, 8 * LOCK_MS, 4 * HOUR]);
  });

  it('the access line counts a number apart from the patient line: a spoofed number locked on one line is open on the other', async () => {
    const n = aNumber();
    await wrongTimes(n, MAX_FAILURES);
    expect(await reserve(n)).toBeNull();
    expect(await reserve(onAccess(n))).not.toBeNull();
    const m = aNumber();
    await wrongTimes(onAccess(m), MAX_FAILURES);
    expect(await reserve(onAccess(m))).toBeNull();
    expect(await reserve(m)).not.toBeNull();
    expect(scopeKeys(onAccess(m)).lock).toBe(`verify-lock:access:${PRACTICE}:${m.phoneIndex}`);
  });
});
