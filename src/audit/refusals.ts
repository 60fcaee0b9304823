import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import { logger } from '../log/logger.js';
import { AuditAction, type AuditEvent, type DetailValue } from './events.js';
import type { AuditWriter } from './store.js';

/**
 * Refused requests (bad API keys, bad Twilio signatures, foreign accounts, unknown paths, rate
 * limits) are counted per source per minute in Redis instead of one audit row each: a flood of
 * 3,000 bad requests must not become 3,000 rows in a log that is never pruned.
 *
 * Within one source's minute the first AUDIT_REFUSALS_IN_FULL_PER_MINUTE refusals that carry
 * details (not the rate limiter's 429s, which are only counted) are written as their own rows,
 * as before; every refusal is counted. When the minute has closed, one `http.refusals_summary`
 * row records the source, the minute, the total and the count of each kind, if anything in it
 * was not written in full. The summary is written by the next refusal after the minute (any
 * source) or by the maintenance sweep (every minute), whichever comes first; a claim in Redis
 * makes it exactly one row.
 *
 * A source is the client's IP address (not PHI); kinds are coded names, never a path or a number.
 */

export type RefusalDeps = { redis: Redis; audit: AuditWriter; clock: () => Date; config: Pick<Config, 'auditRefusalsInFullPerMinute'> };

export interface Refusal {
  /** The client's address (./http/rate-limit.ts requestSource). */
  source: string;
  /** A coded kind for the counts, e.g. `api.auth_rejected:missing_key` or `rate_limited:api_source`. */
  kind: string;
  /** The row to write while the minute's in-full budget lasts; none: counted only. */
  event?: AuditEvent;
}

const MINUTE_MS = 60_000;
/** Sorted set of open buckets (member: bucket key, score: minute). */
const OPEN_KEY = 'refusals:open';
/** Buckets outlive their minute by this much, should no one ever summarise them. */
const BUCKET_TTL_S = 6 * 3600;
const KIND = /^[a-z][a-z0-9_.:-]{0,80}$/;
/** Summaries written per sweep (the rest wait for the next). */
const FLUSH_BATCH = 50;

const bucketKey = (minute: number, source: string): string => `refusals:${minute}:${Buffer.from(source).toString('base64url')}`;

/** Counts a refusal and writes its row while the source's minute still has in-full budget; then summarises closed minutes. */
export async function recordRefusal(deps: RefusalDeps, refusal: Refusal): Promise<void> {
  const now = deps.clock();
  const minute = Math.floor(now.getTime() / MINUTE_MS);
  const key = bucketKey(minute, refusal.source);
  const kind = KIND.test(refusal.kind) ? refusal.kind : 'other';
  let inFull = refusal.event !== undefined;
  try {
    const multi = deps.redis
      .multi()
      .hsetnx(key, 'source', refusal.source.slice(0, 64))
      .hincrby(key, 'n', 1)
      .hincrby(key, `k:${kind}`, 1);
    if (inFull) multi.hincrby(key, 'full', 1);
    const results = await multi.expire(key, BUCKET_TTL_S).zadd(OPEN_KEY, 'NX', minute, key).exec();
    if (inFull) {
      const full = Number(results?.[3]?.[1] ?? 0);
      inFull = full <= deps.config.auditRefusalsInFullPerMinute;
    }
  } catch (err) {
    // Redis unreachable: nothing can be counted, so the refusal is written as it is (if it has a row).
    logger.warn('refusal counting failed; auditing in full', { err });
  }
  if (inFull && refusal.event) await deps.audit(refusal.event);
  await flushRefusalSummaries(deps, now).catch((err: unknown) => logger.error('refusal summary failed', { err }));
}

/** Writes one summary row for each source's minute that has closed (before `now`'s minute). Returns how many. */
export async function flushRefusalSummaries(deps: RefusalDeps, now: Date = deps.clock()): Promise<number> {
  const current = Math.floor(now.getTime() / MINUTE_MS);
  const due = await deps.redis.zrangebyscore(OPEN_KEY, '-inf', current - 1, 'LIMIT', 0, FLUSH_BATCH);
  let written = 0;
  for (const key of due) {
    // The claim: only the process whose ZREM removed the bucket summarises it.
    if ((await deps.redis.zrem(OPEN_KEY, key)) !== 1) continue;
    const minute = Number(key.split(':')[1]);
    try {
      const bucket = await deps.redis.hgetall(key);
      const event = summaryEvent(bucket, minute, deps.config.auditRefusalsInFullPerMinute);
      if (event) {
        await deps.audit(event);
        written += 1;
      }
      await deps.redis.del(key);
    } catch (err) {
      // Not written: open again for the next sweep.
      await deps.redis.zadd(OPEN_KEY, minute, key).catch(() => undefined);
      throw err;
    }
  }
  return written;
}

/** Pure: the summary row for one source's minute, or null when every refusal in it was written in full. */
export function summaryEvent(bucket: Record<string, string>, minute: number, inFullLimit: number): AuditEvent | null {
  const total = Number(bucket.n ?? 0);
  const auditedInFull = Math.min(Number(bucket.full ?? 0), inFullLimit);
  if (!(total > auditedInFull)) return null;
  const counts: Record<string, DetailValue> = {};
  for (const [field, value] of Object.entries(bucket)) {
    if (field.startsWith('k:')) counts[field.slice(2)] = Number(value);
  }
  return {
    action: AuditAction.HttpRefusalsSummary,
    actor: 'system:edge',
    details: {
      source: bucket.source ?? 'unknown',
      minute: new Date(minute * MINUTE_MS).toISOString(),
      refused: total,
      auditedInFull,
      counts,
    },
  };
}
