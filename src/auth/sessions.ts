import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';

/**
 * Server-side sessions in Redis. The cookie carries a random 256-bit id; Redis keeps only its
 * SHA-256 (`session:<hash>`), so a copy of Redis signs no one in. A person's sessions are also
 * listed under `user-sessions:<userId>` for "sign out everywhere" and disabling.
 *
 * Two stages: `password` (the password was right; the second factor, or its enrolment, is still
 * to come: nothing but the TOTP routes accepts it) and `full`. The id is replaced at each stage
 * change and at a change of practice (a new privilege, a new id). A session ends after
 * `idleMs` without a request (the practice's idle logoff) and 12 hours after sign-in in any
 * case; both are checked against the injected clock at each request.
 */

export const SESSION_ABSOLUTE_MS = 12 * 3_600_000;
/** Before a practice is chosen (the second factor still to come), the idle limit is the default. */
export const PENDING_IDLE_MS = 15 * 60_000;

const SessionRecord = z.object({
  userId: z.string().uuid(),
  practiceId: z.string().uuid().nullable(),
  stage: z.enum(['password', 'full']),
  csrf: z.string().min(32),
  createdAt: z.number().int(),
  lastSeenAt: z.number().int(),
  idleMs: z.number().int().positive(),
  /** How the person signed in: `password_totp` (or, later, single sign-on). */
  method: z.string().max(40),
});
export type SessionRecord = z.infer<typeof SessionRecord>;

const key = (hash: string): string => `session:${hash}`;
const userKey = (userId: string): string => `user-sessions:${userId}`;

export function sessionHash(id: string): string {
  return createHash('sha256').update(id, 'utf8').digest('hex');
}

/** Only what could be a session id is looked up. */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

async function write(redis: Redis, hash: string, record: SessionRecord): Promise<void> {
  const ttlS = Math.ceil(SESSION_ABSOLUTE_MS / 1000);
  await redis.multi().set(key(hash), JSON.stringify(record), 'EX', ttlS).sadd(userKey(record.userId), hash).expire(userKey(record.userId), ttlS).exec();
}

export async function createSession(redis: Redis, input: Omit<SessionRecord, 'csrf' | 'createdAt' | 'lastSeenAt'>, now: Date, createdAt: number = now.getTime()): Promise<{ id: string; record: SessionRecord }> {
  const id = randomBytes(32).toString('base64url');
  const record: SessionRecord = { ...input, csrf: randomBytes(32).toString('base64url'), createdAt, lastSeenAt: now.getTime() };
  await write(redis, sessionHash(id), record);
  return { id, record };
}

export type SessionLookup = { ok: true; hash: string; record: SessionRecord } | { ok: false; reason: 'unknown' } | { ok: false; reason: 'idle' | 'absolute'; userId: string };

/** The session an id names at `now`; one past its idle or absolute limit is ended here. */
export async function loadSession(redis: Redis, id: string, now: Date): Promise<SessionLookup> {
  if (!SESSION_ID_PATTERN.test(id)) return { ok: false, reason: 'unknown' };
  const hash = sessionHash(id);
  const text = await redis.get(key(hash));
  const parsed = text ? SessionRecord.safeParse(JSON.parse(text)) : null;
  if (!parsed?.success) return { ok: false, reason: 'unknown' };
  const record = parsed.data;
  const t = now.getTime();
  const reason = t - record.createdAt >= SESSION_ABSOLUTE_MS ? 'absolute' : t - record.lastSeenAt >= record.idleMs ? 'idle' : null;
  if (reason) {
    await destroySession(redis, hash, record.userId);
    return { ok: false, reason, userId: record.userId };
  }
  return { ok: true, hash, record };
}

/**
 * A request seen: the idle clock starts again (and the idle limit follows the practice's setting).
 * Written only while the key still exists (SET … XX): a request in flight while the session is
 * ended (sign-out, sign out everywhere, a new password, disabling) cannot write it back. Null:
 * the session ended meanwhile.
 */
export async function touchSession(redis: Redis, hash: string, record: SessionRecord, now: Date, idleMs: number = record.idleMs): Promise<SessionRecord | null> {
  const next = { ...record, lastSeenAt: now.getTime(), idleMs };
  const written = await redis.set(key(hash), JSON.stringify(next), 'EX', Math.ceil(SESSION_ABSOLUTE_MS / 1000), 'XX');
  return written === 'OK' ? next : null;
}

/** Ends the old id and issues a new one for the changed session (a new stage or practice); sign-in time kept. */
export async function rotateSession(redis: Redis, oldHash: string, record: SessionRecord, changes: Partial<Pick<SessionRecord, 'stage' | 'practiceId' | 'idleMs' | 'method'>>, now: Date): Promise<{ id: string; record: SessionRecord }> {
  await destroySession(redis, oldHash, record.userId);
  const { csrf: _csrf, createdAt, lastSeenAt: _seen, ...rest } = record;
  return createSession(redis, { ...rest, ...changes }, now, createdAt);
}

export async function destroySession(redis: Redis, hash: string, userId: string): Promise<void> {
  await redis.multi().del(key(hash)).srem(userKey(userId), hash).exec();
}

/**
 * Every session of a person (sign out everywhere, a new password), or, with `practiceId`, only
 * those acting for that practice (its admin's role change or disabling): how many were ended.
 * Repeated until nothing of them is left, so a session made meanwhile (a sign-in completing
 * while this runs) is ended too.
 */
export async function destroyUserSessions(redis: Redis, userId: string, practiceId?: string): Promise<number> {
  let ended = 0;
  for (let round = 0; round < 10; round += 1) {
    const hashes = await redis.smembers(userKey(userId));
    const doomed = practiceId === undefined ? hashes : await sessionsOfPractice(redis, hashes, practiceId);
    if (doomed.length === 0) break;
    const tx = redis.multi();
    for (const h of doomed) tx.del(key(h));
    tx.srem(userKey(userId), ...doomed);
    const results = await tx.exec();
    ended += (results ?? []).slice(0, doomed.length).filter(([err, n]) => err === null && n === 1).length;
    if (practiceId !== undefined) break;
  }
  return ended;
}

/** Which of these sessions act for `practiceId` (a listed one already gone counts: its entry is dropped). */
async function sessionsOfPractice(redis: Redis, hashes: string[], practiceId: string): Promise<string[]> {
  if (hashes.length === 0) return [];
  const texts = await redis.mget(...hashes.map(key));
  return hashes.filter((_h, i) => {
    const text = texts[i];
    if (!text) return true;
    const parsed = SessionRecord.safeParse(JSON.parse(text));
    return !parsed.success || parsed.data.practiceId === practiceId;
  });
}

/** The CSRF token a request sent, against the session's, in constant time. */
export function csrfMatches(record: SessionRecord, sent: string | undefined): boolean {
  if (!sent) return false;
  const a = Buffer.from(record.csrf, 'utf8');
  const b = Buffer.from(sent, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
