import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * Verification lockout, shared by every instance through Redis. Every try (a patient's date of
 * birth or PIN, a provider's access-line PIN) is *reserved* before the entry is compared, by one
 * script that refuses at the limit and otherwise counts the try: concurrent calls cannot all
 * pass the check before any failure is counted. A try that turns out right is given back; a
 * wrong one stays counted and, at the limit, starts a lockout.
 *
 * Tries are counted in more than one scope at once:
 * - `number`: the caller's number at one practice (its blind index, never the number): a short
 *   burst limit, `MAX_FAILURES` in `WINDOW_MS`. A success from the number resets its count.
 * - `patient` / `provider`: every candidate the number could be (the practice's patients or
 *   providers registered with it), counted across numbers over a day: a slow attacker who waits
 *   out the number's window still meets a limit. A success gives back only its own try.
 * A lockout lasts its scope's base time, doubled for each earlier lockout of the same scope
 * within its memory (so only repeated lockouts grow it), up to a cap.
 *
 * The provider access line is where urgent voicemails are heard, so a lockout there (anyone can
 * spoof a provider's number) must stay short: the number is counted apart from the patient line
 * (`access: true`, keys of its own) and both it and the provider lock for 15 minutes, doubling
 * to at most an hour (`ACCESS_NUMBER_POLICY`, `LOCK_POLICIES.provider`). The practice's admins
 * are told at once (./lockout-notice.ts) and can clear it.
 */
export type LockScope = { kind: 'number'; practiceId: string; phoneIndex: string; access?: true } | { kind: 'patient'; id: string } | { kind: 'provider'; id: string };
export type LockScopeKind = LockScope['kind'];

export interface LockPolicy {
  /** Failed (or still pending) tries within `windowMs` that stop further tries. */
  limit: number;
  windowMs: number;
  /** The first lockout's length; each earlier lockout within `memoryMs` doubles it, up to `maxLockMs`. */
  lockMs: number;
  maxLockMs: number;
  memoryMs: number;
}

export const MAX_FAILURES = 5;
export const WINDOW_MS = 15 * 60_000;
export const LOCK_MS = 15 * 60_000;
const HOUR = 60 * 60_000;
const DAY = 24 * HOUR;

export const LOCK_POLICIES: Record<LockScopeKind, LockPolicy> = {
  number: { limit: MAX_FAILURES, windowMs: WINDOW_MS, lockMs: LOCK_MS, maxLockMs: 4 * HOUR, memoryMs: DAY },
  patient: { limit: 10, windowMs: DAY, lockMs: HOUR, maxLockMs: DAY, memoryMs: 7 * DAY },
  provider: { limit: 10, windowMs: DAY, lockMs: LOCK_MS, maxLockMs: HOUR, memoryMs: 7 * DAY },
};

/** A number on the provider access line: the patient line's burst limit, but never locked past an hour. */
export const ACCESS_NUMBER_POLICY: LockPolicy = { ...LOCK_POLICIES.number, maxLockMs: HOUR };

/** The policy a scope is counted and locked by. */
export function policyOf(s: LockScope): LockPolicy {
  return s.kind === 'number' && s.access ? ACCESS_NUMBER_POLICY : LOCK_POLICIES[s.kind];
}

/** Pure: how long a lockout lasts after `earlier` lockouts of the same scope within its memory. */
export function lockDurationMs(policy: LockPolicy, earlier: number): number {
  return Math.min(policy.lockMs * 2 ** Math.min(earlier, 30), policy.maxLockMs);
}

/** The Redis key names of a scope (`verify-fail:` holds a number's tries). Ids and blind indexes only. */
function scopeName(s: LockScope): string {
  if (s.kind === 'number') return s.access ? `access:${s.practiceId}:${s.phoneIndex}` : `${s.practiceId}:${s.phoneIndex}`;
  return `${s.kind}:${s.id}`;
}
export function scopeKeys(s: LockScope): { tries: string; pending: string; lock: string; history: string } {
  const name = scopeName(s);
  const tries = s.kind === 'number' ? `verify-fail:${name}` : `verify-subject-fail:${name}`;
  return { tries, pending: `verify-pending:${name}`, lock: `verify-lock:${name}`, history: `verify-history:${name}` };
}

/**
 * KEYS: per scope, tries, pending, lock. ARGV: now, member, then per scope limit and window.
 * The first scope is the number: refused there, nothing is counted. Of the rest (the
 * candidates), those locked or at their limit are left out; if all are, nothing is counted.
 * Returns 0 (refused) or 1 followed by a 0/1 flag per candidate (1: counted, may be compared).
 */
const RESERVE_SCRIPT = `
local now = tonumber(ARGV[1])
local member = ARGV[2]
local n = #KEYS / 3
local open = {}
for i = 1, n do
  local tries, pending, lock = KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i]
  local limit, window = tonumber(ARGV[1+2*i]), tonumber(ARGV[2+2*i])
  local untilMs = tonumber(redis.call('GET', lock) or '0')
  local ok = 1
  if untilMs > now then ok = 0 else
    redis.call('ZREMRANGEBYSCORE', tries, '-inf', now - window)
    redis.call('ZREMRANGEBYSCORE', pending, '-inf', now - window)
    if redis.call('ZCARD', tries) >= limit then ok = 0 end
  end
  open[i] = ok
end
if open[1] == 0 then return {0} end
local any = (n == 1)
for i = 2, n do if open[i] == 1 then any = true end end
if not any then return {0} end
local out = {1}
for i = 1, n do
  if open[i] == 1 then
    local tries, pending = KEYS[3*i-2], KEYS[3*i-1]
    local window = tonumber(ARGV[2+2*i])
    redis.call('ZADD', tries, now, member)
    redis.call('ZADD', pending, now, member)
    redis.call('PEXPIRE', tries, window)
    redis.call('PEXPIRE', pending, window)
  end
  if i > 1 then out[#out+1] = open[i] end
end
return out
`;

/**
 * KEYS: per scope, tries, pending, lock, history. ARGV: now, member, then per scope limit,
 * window, lockMs, maxLockMs, memoryMs. The try is no longer pending and stays counted; a scope
 * whose failures reach its limit (and is not locked yet) is locked. Returns per scope 0, or the
 * lock's end (ms) and how many lockouts it had before.
 */
const FAIL_SCRIPT = `
local now = tonumber(ARGV[1])
local member = ARGV[2]
local out = {}
for i = 1, #KEYS / 4 do
  local tries, pending, lock, history = KEYS[4*i-3], KEYS[4*i-2], KEYS[4*i-1], KEYS[4*i]
  local b = 2 + 5*(i-1)
  local limit, window = tonumber(ARGV[b+1]), tonumber(ARGV[b+2])
  local lockMs, maxLockMs, memoryMs = tonumber(ARGV[b+3]), tonumber(ARGV[b+4]), tonumber(ARGV[b+5])
  redis.call('ZREM', pending, member)
  redis.call('ZREMRANGEBYSCORE', tries, '-inf', now - window)
  redis.call('ZREMRANGEBYSCORE', pending, '-inf', now - window)
  local failed = redis.call('ZCARD', tries) - redis.call('ZCARD', pending)
  local untilMs = tonumber(redis.call('GET', lock) or '0')
  if failed >= limit and untilMs <= now then
    redis.call('ZREMRANGEBYSCORE', history, '-inf', now - memoryMs)
    local earlier = redis.call('ZCARD', history)
    local dur = lockMs
    for _ = 1, math.min(earlier, 30) do dur = dur * 2 end
    if dur > maxLockMs then dur = maxLockMs end
    redis.call('SET', lock, tostring(now + dur), 'PX', dur)
    redis.call('ZADD', history, now, member)
    redis.call('PEXPIRE', history, memoryMs)
    redis.call('DEL', tries)
    out[#out+1] = now + dur
    out[#out+1] = earlier
  else
    out[#out+1] = 0
    out[#out+1] = 0
  end
end
return out
`;

/**
 * KEYS: the number's tries and pending, then per candidate tries and pending. ARGV: member.
 * A success resets the number's count and gives back the try everywhere else.
 */
const SUCCESS_SCRIPT = `
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
for i = 2, #KEYS / 2 do
  redis.call('ZREM', KEYS[2*i-1], ARGV[1])
  redis.call('ZREM', KEYS[2*i], ARGV[1])
end
return 1
`;

/**
 * KEYS: per scope, tries and pending. ARGV: member. The comparison could not be made (it threw):
 * the try is given back in every scope, as if it had never been reserved.
 */
const RELEASE_SCRIPT = `
for i = 1, #KEYS / 2 do
  redis.call('ZREM', KEYS[2*i-1], ARGV[1])
  redis.call('ZREM', KEYS[2*i], ARGV[1])
end
return 1
`;

/** A try reserved in its scopes: compare the entry only against `candidates`, then settle it. */
export interface ReservedTry {
  member: string;
  at: number;
  number: Extract<LockScope, { kind: 'number' }>;
  /** The candidates counted (neither locked nor at their limit), in the order given. */
  candidates: Array<Extract<LockScope, { kind: 'patient' | 'provider' }>>;
}

export type Reservation = { ok: true; reserved: ReservedTry } | { ok: false };

/** A lockout that a failed try has just started. */
export interface StartedLock {
  scope: LockScope;
  until: Date;
  /** Lockouts of the same scope within its memory before this one (0: a first lockout). */
  earlier: number;
}

/**
 * Reserves one try for a caller number at a practice and the candidates it could be, before
 * anything is compared. Refused (nothing counted) when the number is locked or at its limit,
 * or when every candidate is.
 */
export async function reserveTry(
  redis: Redis,
  number: Extract<LockScope, { kind: 'number' }>,
  candidates: ReadonlyArray<Extract<LockScope, { kind: 'patient' | 'provider' }>>,
  now: Date,
): Promise<Reservation> {
  const at = now.getTime();
  const member = `${at}-${randomBytes(8).toString('hex')}`;
  const scopes: LockScope[] = [number, ...candidates];
  const keys = scopes.flatMap((s) => {
    const k = scopeKeys(s);
    return [k.tries, k.pending, k.lock];
  });
  const args = scopes.flatMap((s) => [String(policyOf(s).limit), String(policyOf(s).windowMs)]);
  const reply = (await redis.eval(RESERVE_SCRIPT, keys.length, ...keys, String(at), member, ...args)) as number[];
  if (reply[0] !== 1) return { ok: false };
  return { ok: true, reserved: { member, at, number, candidates: candidates.filter((_, i) => reply[i + 1] === 1) } };
}

/** The reserved try was wrong: it stays counted. Returns the lockouts it started (none, usually). */
export async function settleFailure(redis: Redis, reserved: ReservedTry, now: Date): Promise<StartedLock[]> {
  const scopes: LockScope[] = [reserved.number, ...reserved.candidates];
  const keys = scopes.flatMap((s) => {
    const k = scopeKeys(s);
    return [k.tries, k.pending, k.lock, k.history];
  });
  const args = scopes.flatMap((s) => {
    const p = policyOf(s);
    return [p.limit, p.windowMs, p.lockMs, p.maxLockMs, p.memoryMs].map(String);
  });
  const reply = (await redis.eval(FAIL_SCRIPT, keys.length, ...keys, String(now.getTime()), reserved.member, ...args)) as number[];
  const started: StartedLock[] = [];
  scopes.forEach((scope, i) => {
    const until = Number(reply[2 * i] ?? 0);
    if (until > 0) started.push({ scope, until: new Date(until), earlier: Number(reply[2 * i + 1] ?? 0) });
  });
  return started;
}

/** The reserved try was right: the number's count is reset, and the try given back to the candidates. */
export async function settleSuccess(redis: Redis, reserved: ReservedTry): Promise<void> {
  const keys = [reserved.number, ...reserved.candidates].flatMap((s) => {
    const k = scopeKeys(s);
    return [k.tries, k.pending];
  });
  await redis.eval(SUCCESS_SCRIPT, keys.length, ...keys, reserved.member);
}

/**
 * The reserved try was never compared (the comparison threw: a KMS or database failure): it is
 * given back everywhere, so a failure of ours cannot count against the caller or lock anyone out.
 */
export async function releaseTry(redis: Redis, reserved: ReservedTry): Promise<void> {
  const keys = [reserved.number, ...reserved.candidates].flatMap((s) => {
    const k = scopeKeys(s);
    return [k.tries, k.pending];
  });
  await redis.eval(RELEASE_SCRIPT, keys.length, ...keys, reserved.member);
}

/** When the scope's lockout ends, or null when it is not locked at `now`. */
export async function lockedUntil(redis: Redis, scope: LockScope, now: Date): Promise<Date | null> {
  const until = Number((await redis.get(scopeKeys(scope).lock)) ?? 0);
  return until > now.getTime() ? new Date(until) : null;
}

/**
 * Staff cleared a lockout: the scope is open again with a fresh count. Its history stays, so
 * an attack that goes on is not met by ever-short lockouts.
 */
export async function clearLock(redis: Redis, scope: LockScope): Promise<void> {
  const k = scopeKeys(scope);
  await redis.del(k.lock, k.tries, k.pending);
}
