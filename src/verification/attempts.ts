import type { AppContext } from '../app-context.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { AuditAction, type AuditEvent } from '../audit/events.js';
import { clearLock, lockedUntil, releaseTry, reserveTry, settleFailure, settleSuccess, type LockScope, type StartedLock } from './lockout.js';
import { logger } from '../log/logger.js';
import { notifyAccessLockout } from './lockout-notice.js';
import { getLockout, insertLockout, markLockoutCleared, type Lockout, type LockoutLine } from './lockout-store.js';

/**
 * One verification try with its lockout around it: reserved before the entry is compared (see
 * ./lockout.ts), settled after, and any lockout it starts recorded and audited. Used by the
 * patient line (date of birth / PIN) and the provider access line (PIN) alike.
 */

export type Candidate = Extract<LockScope, { kind: 'patient' | 'provider' }>;

export interface TryContext {
  practiceId: string;
  /** The caller number's blind index. */
  phoneIndex: string;
  line: LockoutLine;
  callSid: string;
  now: Date;
}

export type TryResult<T> = { kind: 'refused' } | { kind: 'match'; value: T } | { kind: 'no_match'; lockedNow: boolean };

/** A try on the call path: lockouts in Redis, started ones recorded (db) and audited, an access-line lockout's SMS. */
export type GuardedTryDeps = Pick<AppContext, 'db' | 'redis' | 'audit' | 'metrics' | 'twilio'>;

/**
 * Reserves the try for the number and the candidates, compares (only against the candidates
 * still open), and settles: a match gives the try back and resets the number's count; anything
 * else stays counted. `compare` returns the match, or null; if it throws, the try is given back
 * (never counted) and the error rethrown.
 */
export async function guardedTry<T>(services: GuardedTryDeps, ctx: TryContext, candidates: readonly Candidate[], compare: (open: Candidate[]) => Promise<T | null>): Promise<TryResult<T>> {
  // The access line counts the number apart from the patient line, and locks it for less (./lockout.ts).
  const number = { kind: 'number', practiceId: ctx.practiceId, phoneIndex: ctx.phoneIndex, ...(ctx.line === 'access' ? { access: true as const } : {}) } as const;
  const reservation = await reserveTry(services.redis, number, candidates, ctx.now);
  if (!reservation.ok) return { kind: 'refused' };
  const { reserved } = reservation;
  let value: T | null;
  try {
    value = await compare(reserved.candidates);
  } catch (err) {
    // Our failure (KMS, keyring, database), not a wrong entry: the try is given back, or it
    // would stay pending for the scope's whole window and count towards a lockout nobody
    // recorded. The caller still hears the fail-safe answer.
    await releaseTry(services.redis, reserved).catch(() => undefined);
    throw err;
  }
  if (value !== null) {
    await settleSuccess(services.redis, reserved);
    return { kind: 'match', value };
  }
  const started = await settleFailure(services.redis, reserved, ctx.now);
  if (started.length > 0) {
    await recordStartedLockouts(services, ctx, started);
    // A provider kept from the urgent voicemails: the admins hear of it at once, in the background
    // (the provider's call is not held up by Twilio's REST API). A number that is no provider's
    // locks silently (recorded and audited all the same), so strangers cannot flood the admins.
    if (ctx.line === 'access' && candidates.length > 0) {
      void notifyAccessLockout(services, ctx.practiceId).catch((err: unknown) => logger.warn('access-line lockout notice failed', { err, practiceId: ctx.practiceId }));
    }
  }
  return { kind: 'no_match', lockedNow: started.length > 0 };
}

/**
 * THE place a lockout starts (after Redis has set it): each is recorded for the practice's
 * morning report and audited. Counted in the metrics here too.
 */
async function recordStartedLockouts(services: Pick<AppContext, 'db' | 'audit' | 'metrics'>, ctx: TryContext, started: readonly StartedLock[]): Promise<void> {
  const events: AuditEvent[] = [];
  for (const s of started) {
    services.metrics.countLockout(ctx.line === 'patient' ? 'caller' : 'access_line');
    const id = await insertLockout(services.db, { practiceId: ctx.practiceId, scope: s.scope, line: ctx.line, earlier: s.earlier, startedAt: ctx.now, lockedUntil: s.until });
    events.push({
      action: AuditAction.VerificationLockedOut,
      actor: 'system',
      practiceId: ctx.practiceId,
      callSid: ctx.callSid,
      subjectId: id,
      details: {
        scope: s.scope.kind,
        line: ctx.line,
        earlier: s.earlier,
        lockedUntil: s.until.toISOString(),
        ...(s.scope.kind === 'patient' ? { patientId: s.scope.id } : {}),
        ...(s.scope.kind === 'provider' ? { providerId: s.scope.id } : {}),
      },
    });
  }
  await services.audit(events);
}

export type ClearResult = { result: 'cleared'; lockout: Lockout } | { result: 'not_found' } | { result: 'not_current'; lockout: Lockout };

/**
 * Staff clear a lockout in force: the scope is open again (with a fresh count), the row says
 * who cleared it, and the audit log too. A lockout already over or cleared is left alone (its
 * scope may be under a newer lockout, which has a row of its own).
 */
export async function clearLockout(
  services: Pick<AppContext, 'redis' | 'audit'>,
  practice: PracticeScope,
  input: { id: string; by: string; now: Date },
): Promise<ClearResult> {
  const found = await getLockout(practice, input.id);
  if (!found) return { result: 'not_found' };
  const { lockout, scope } = found;
  if (lockout.clearedAt !== null || new Date(lockout.lockedUntil) <= input.now) return { result: 'not_current', lockout };
  // Redis first: if the row cannot be marked after, the lockout still shows and may be cleared again.
  const until = await lockedUntil(services.redis, scope, input.now);
  await clearLock(services.redis, scope);
  if (!(await markLockoutCleared(practice, input.id, input.by, input.now))) {
    const again = await getLockout(practice, input.id);
    return again ? { result: 'not_current', lockout: again.lockout } : { result: 'not_found' };
  }
  await services.audit({
    action: AuditAction.VerificationLockoutCleared,
    actor: input.by,
    practiceId: practice.practiceId,
    subjectId: input.id,
    details: { scope: scope.kind, wasLocked: until !== null },
  });
  return { result: 'cleared', lockout: { ...lockout, clearedAt: input.now.toISOString(), clearedBy: input.by } };
}
