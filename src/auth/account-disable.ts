import type { Redis } from 'ioredis';
import type { Db } from '../adapters/postgres.js';
import { AuditAction, type AuditEvent } from '../audit/events.js';
import { destroyUserSessions } from './sessions.js';
import { findUserByEmail, setAccountDisabled } from './users-store.js';

/**
 * The operator's account-level disable (`npm run users:disable`): one practice's admin disables
 * only their membership (other practices may rely on the account); this ends the account itself,
 * everywhere. Every session of the person ends, and each practice they belong to gets its own
 * audit row (so each practice's log shows it). Sign-in, invitations and reset links already
 * refuse an account whose status is not active.
 */

export type AccountDisableResult = { result: 'not_found' } | { result: 'already_disabled'; userId: string } | { result: 'disabled'; userId: string; practiceIds: string[]; sessionsEnded: number };

export async function disableAccountEverywhere(
  ctx: { db: Db; redis: Redis; audit: (event: AuditEvent) => Promise<unknown>; now: Date },
  input: { email: string; actor: string },
): Promise<AccountDisableResult> {
  const user = await findUserByEmail(ctx.db, input.email);
  if (!user) return { result: 'not_found' };
  const practiceIds = await setAccountDisabled(ctx.db, user.id, ctx.now);
  if (practiceIds === null) return { result: 'already_disabled', userId: user.id };
  const sessionsEnded = await destroyUserSessions(ctx.redis, user.id);
  const details = { scope: 'account', sessionsEnded, via: 'cli' };
  if (practiceIds.length === 0) await ctx.audit({ action: AuditAction.UserDisabled, actor: input.actor, practiceId: null, subjectId: user.id, details });
  for (const practiceId of practiceIds) await ctx.audit({ action: AuditAction.UserDisabled, actor: input.actor, practiceId, subjectId: user.id, details });
  return { result: 'disabled', userId: user.id, practiceIds, sessionsEnded };
}
