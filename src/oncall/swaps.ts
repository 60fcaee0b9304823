import { z } from 'zod';
import { inTransaction } from '../adapters/postgres.js';
import type { SwapState } from '../adapters/db-schema.js';
import type { ApiRole } from '../auth/api-keys.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { checkInterval, isoInstantSchema, providerIdSchema } from './schedule-schema.js';
import { shifts, type TimelineEntry } from './schedule.js';
import { createOverride, loadSchedule, type OverrideRecord } from './store.js';

/**
 * Swap requests (issue 14): a provider (or staff acting for one) asks to hand a window of a
 * schedule to another provider; that provider (or an admin) accepts or declines; the requester
 * (or an admin) may cancel while it is pending. Accepting makes an override through the store's
 * `createOverride` (its checks) in the same transaction that marks the swap accepted, under a
 * row lock: a second accept finds it no longer pending.
 *
 * Who may do what is the pure `decideSwap`; the queries here are the swap part of the on-call
 * store (src/oncall/store.ts), every one naming the scope's practice.
 */

export type { SwapState };
export type SwapAction = 'accept' | 'decline' | 'cancel';

export const SWAP_LIST_LIMIT = 50;

export const SwapInputSchema = z
  .strictObject(
    {
      fromProviderId: providerIdSchema('fromProviderId'),
      toProviderId: providerIdSchema('toProviderId'),
      start: isoInstantSchema('start'),
      end: isoInstantSchema('end'),
    },
    { error: (issue) => (issue.code === 'unrecognized_keys' ? 'swap: unknown field' : 'swap: expected an object') },
  )
  .superRefine(checkInterval)
  .superRefine((s, ctx) => {
    if (typeof s.fromProviderId === 'string' && s.fromProviderId === s.toProviderId) {
      ctx.addIssue({ code: 'custom', message: 'toProviderId: must be another provider than fromProviderId', path: ['toProviderId'] });
    }
  });
export type SwapInput = z.output<typeof SwapInputSchema>;

export const SwapListQuery = z.strictObject({
  practiceId: z.uuid({ error: 'expected a practice id (uuid)' }).optional(),
  state: z.enum(['pending', 'accepted', 'declined', 'cancelled'], { error: 'expected pending, accepted, declined or cancelled' }).optional(),
});

export interface Swap {
  id: string;
  scheduleId: string;
  fromProviderId: string;
  toProviderId: string;
  start: Date;
  end: Date;
  state: SwapState;
  requestedBy: string;
  decidedBy: string | null;
  decidedAt: Date | null;
  overrideId: string | null;
  createdAt: Date;
}

/** Who acts on a swap: the audit actor name, the role, and the provider their account is (if any). */
export interface SwapActor {
  actor: string;
  role: ApiRole;
  providerId: string | null;
}

export type SwapVerdict = { ok: true; state: Exclude<SwapState, 'pending'> } | { ok: false; reason: 'forbidden' | 'conflict' };

const NEXT_STATE = { accept: 'accepted', decline: 'declined', cancel: 'cancelled' } as const satisfies Record<SwapAction, Exclude<SwapState, 'pending'>>;

/**
 * Pure: may `who` do `action` to `swap`, and the state it comes to. Accept and decline: an admin
 * or the provider asked to take the window. Cancel: an admin or whoever asked. Permission is
 * decided before state, so a stranger learns nothing of a decided swap's state.
 */
export function decideSwap(swap: Pick<Swap, 'state' | 'toProviderId' | 'requestedBy'>, action: SwapAction, who: SwapActor): SwapVerdict {
  let allowed: boolean;
  switch (action) {
    case 'accept':
    case 'decline':
      allowed = who.role === 'admin' || (who.role === 'provider' && who.providerId !== null && who.providerId === swap.toProviderId);
      break;
    case 'cancel':
      allowed = who.role === 'admin' || (who.role !== 'auditor' && who.actor === swap.requestedBy);
      break;
    default:
      return action satisfies never;
  }
  if (!allowed) return { ok: false, reason: 'forbidden' };
  if (swap.state !== 'pending') return { ok: false, reason: 'conflict' };
  return { ok: true, state: NEXT_STATE[action] };
}

/**
 * Pure: may `who` ask for this swap. Admins and staff ask for anyone; a provider only hands their
 * own shifts, and only as a signed-in person whose account is that provider.
 */
export function mayRequestSwap(input: Pick<SwapInput, 'fromProviderId'>, who: SwapActor): boolean {
  switch (who.role) {
    case 'admin':
    case 'staff':
      return true;
    case 'provider':
      return who.providerId !== null && who.providerId === input.fromProviderId;
    case 'auditor':
      return false;
    default:
      return who.role satisfies never;
  }
}

// ---------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------

const swapColumns = ['id', 'schedule_id', 'from_provider', 'to_provider', 'starts_at', 'ends_at', 'state', 'requested_by', 'decided_by', 'decided_at', 'override_id', 'created_at'] as const;

interface SwapRow {
  id: string;
  schedule_id: string;
  from_provider: string;
  to_provider: string;
  starts_at: Date;
  ends_at: Date;
  state: SwapState;
  requested_by: string;
  decided_by: string | null;
  decided_at: Date | null;
  override_id: string | null;
  created_at: Date;
}

function toSwap(r: SwapRow): Swap {
  return {
    id: r.id,
    scheduleId: r.schedule_id,
    fromProviderId: r.from_provider,
    toProviderId: r.to_provider,
    start: r.starts_at,
    end: r.ends_at,
    state: r.state,
    requestedBy: r.requested_by,
    decidedBy: r.decided_by,
    decidedAt: r.decided_at,
    overrideId: r.override_id,
    createdAt: r.created_at,
  };
}

/** The practice's provider whose account is `userId`, or null. */
export async function providerOfUser(scope: PracticeScope, userId: string): Promise<string | null> {
  const row = await scope.db.selectFrom('providers').select('id').where('practice_id', '=', scope.practiceId).where('user_id', '=', userId).executeTakeFirst();
  return row?.id ?? null;
}

export type SwapWrite<T> = { ok: true; value: T } | { ok: false; reason: 'not_found' | 'forbidden' | 'conflict' | 'passed' | 'moved' } | { ok: false; reason: 'invalid'; message: string };

/**
 * A pending swap on one of the practice's schedules. Both providers must be the practice's own and
 * active; the window must not have ended at `now`; and fromProviderId must be the one on call for
 * every part of [start, end) on that schedule, as the effective timeline (`shifts`, the same code
 * the shifts route and who-is-on-call use) has it. A swap hands one's own time; an arbitrary change
 * is an override (admins only).
 */
export async function requestSwap(scope: PracticeScope, scheduleId: string, input: SwapInput, requestedBy: string, now: Date): Promise<SwapWrite<Swap>> {
  const { db, practiceId } = scope;
  const schedule = await loadSchedule(scope, scheduleId, { from: input.start, to: input.end });
  if (!schedule) return { ok: false, reason: 'not_found' };
  const ids = [input.fromProviderId, input.toProviderId];
  const found = new Map((await db.selectFrom('providers').select(['id', 'active']).where('practice_id', '=', practiceId).where('id', 'in', ids).execute()).map((r) => [r.id, r.active]));
  for (const field of ['fromProviderId', 'toProviderId'] as const) {
    const active = found.get(input[field]);
    if (active === undefined) return { ok: false, reason: 'invalid', message: `${field}: no such provider in this practice` };
    if (!active) return { ok: false, reason: 'invalid', message: `${field}: that provider is inactive` };
  }
  if (input.end.getTime() <= now.getTime()) return { ok: false, reason: 'invalid', message: 'end: the window has passed' };
  if (!holdsWindow(shifts(schedule, input.start, input.end), input.fromProviderId, input.start, input.end)) {
    return { ok: false, reason: 'invalid', message: 'fromProviderId: that provider is not on call for the whole window on this schedule' };
  }
  const row = await db
    .insertInto('oncall_swaps')
    .values({
      practice_id: practiceId,
      schedule_id: scheduleId,
      from_provider: input.fromProviderId,
      to_provider: input.toProviderId,
      starts_at: input.start,
      ends_at: input.end,
      requested_by: requestedBy,
    })
    .returning(swapColumns)
    .executeTakeFirstOrThrow();
  return { ok: true, value: toSwap(row) };
}

/** Pure: do the timeline's entries give `providerId` every part of [start, end), with no gap? */
export function holdsWindow(timeline: readonly Pick<TimelineEntry, 'providerId' | 'start' | 'end'>[], providerId: string, start: Date, end: Date): boolean {
  let cursor = start.getTime();
  for (const e of timeline) {
    if (e.start.getTime() > cursor || e.providerId !== providerId) return false;
    cursor = Math.max(cursor, e.end.getTime());
  }
  return cursor >= end.getTime();
}

/** The swaps of one of the practice's schedules, newest first (at most SWAP_LIST_LIMIT); null if no such schedule. */
export async function listSwaps(scope: PracticeScope, scheduleId: string, opts: { state?: SwapState } = {}): Promise<Swap[] | null> {
  const { db, practiceId } = scope;
  const schedule = await db.selectFrom('oncall_schedules').select('id').where('practice_id', '=', practiceId).where('id', '=', scheduleId).executeTakeFirst();
  if (!schedule) return null;
  let q = db.selectFrom('oncall_swaps').select(swapColumns).where('practice_id', '=', practiceId).where('schedule_id', '=', scheduleId);
  if (opts.state) q = q.where('state', '=', opts.state);
  const rows = await q.orderBy('created_at', 'desc').orderBy('id').limit(SWAP_LIST_LIMIT).execute();
  return rows.map(toSwap);
}

export interface SwapDecided {
  swap: Swap;
  /** The override an accept made; null for a decline or a cancel. */
  override: OverrideRecord | null;
}

/**
 * Accepts, declines or cancels a swap of the practice, in one transaction with the swap's row
 * locked: the pure `decideSwap` says whether `who` may and whether it is still pending; an
 * accept of a window that has ended is `passed`, of one no longer the asker's (an override since) `moved`; an accept makes the override (createOverride's checks; a refusal rolls everything back).
 */
export async function decideSwapRequest(scope: PracticeScope, swapId: string, action: SwapAction, who: SwapActor, now: Date): Promise<SwapWrite<SwapDecided>> {
  const { practiceId } = scope;
  return inTransaction(scope.db, async (trx) => {
    const row = await trx.selectFrom('oncall_swaps').select(swapColumns).where('practice_id', '=', practiceId).where('id', '=', swapId).forUpdate().executeTakeFirst();
    if (!row) return { ok: false, reason: 'not_found' } as const;
    const swap = toSwap(row);
    const verdict = decideSwap(swap, action, who);
    if (!verdict.ok) return verdict;
    // An accept of a window that has ended would make an override of the past: refused (a decline or cancel still tidies it).
    if (action === 'accept' && swap.end.getTime() <= now.getTime()) return { ok: false, reason: 'passed' } as const;
    let override: OverrideRecord | null = null;
    if (action === 'accept') {
      const tx = { ...scope, db: trx } as PracticeScope;
      // The window must still be the asker's: an override made since the request (an admin's, another swap) is not undone by this one.
      const schedule = await loadSchedule(tx, swap.scheduleId, { from: swap.start, to: swap.end });
      if (schedule && !holdsWindow(shifts(schedule, swap.start, swap.end), swap.fromProviderId, swap.start, swap.end)) return { ok: false, reason: 'moved' } as const;
      const made = await createOverride(tx, swap.scheduleId, { providerId: swap.toProviderId, start: swap.start, end: swap.end });
      if (!made.ok) {
        // createOverride checks before it writes: the schedule gone (not_found) or the provider (invalid), nothing is written.
        return made.reason === 'not_found' ? ({ ok: false, reason: 'not_found' } as const) : made;
      }
      override = made.value;
    }
    const updated = await trx
      .updateTable('oncall_swaps')
      .set({ state: verdict.state, decided_by: who.actor, decided_at: now, override_id: override?.id ?? null })
      .where('practice_id', '=', practiceId)
      .where('id', '=', swapId)
      .where('state', '=', 'pending')
      .returning(swapColumns)
      .executeTakeFirstOrThrow();
    return { ok: true, value: { swap: toSwap(updated), override } } as const;
  });
}
