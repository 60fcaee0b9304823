import { systemScope } from '../tenancy/system-scope.js';
import { z } from 'zod';
import { inTransaction, type Db } from '../adapters/postgres.js';
import { E164Schema, TimeZoneSchema } from './settings.js';
import { getPractice, type Practice } from './store.js';

/**
 * A practice moving in, and the operator's hold over it: create, list, suspend, reactivate.
 * The platform's own queries (no practice scope: the operator's `PlatformScope.db`, or a CLI's).
 *
 * What a new practice starts with, so that its first call is answered well:
 * - hours Monday–Friday 08:00–17:00, the six federal holidays closed, English and Spanish,
 *   voicemail kept 90 days, transcription off (the column defaults, migrations 0002 and 0004);
 * - its first number, when given, as a `main` line running the `after-hours` flow;
 * - escalation: until the practice has a provider, an urgent call rings the practice's fallback
 *   number (src/oncall/escalation.ts `buildPlan` with no policy). No policy is made here (a policy
 *   names providers, which a new practice does not have yet): adding the first provider makes the
 *   default one (src/oncall/default-policy.ts), unless the admin has made a policy already.
 */

export const SLUG_PATTERN = /^[a-z0-9][a-z0-9-]{1,39}$/;

export const PracticeCreateSchema = z.strictObject({
  slug: z.string().regex(SLUG_PATTERN, { error: 'expected 2–40 lower-case letters, digits or dashes, such as riverside-peds' }),
  name: z.string().trim().min(1).max(120),
  timeZone: TimeZoneSchema,
  /** The practice's first number: a `main` line running the after-hours flow. */
  number: E164Schema.optional(),
  /** Where the fail-safe and, until a policy exists, urgent calls go. */
  fallbackNumber: E164Schema.optional(),
});
export type PracticeCreate = z.output<typeof PracticeCreateSchema>;

export type CreateOutcome = { ok: true; practice: Practice } | { ok: false; reason: 'slug_taken' | 'number_taken' };

const UNIQUE_VIOLATION = '23505';

function uniqueViolation(err: unknown): string | null {
  const e = err as { code?: unknown; constraint?: unknown };
  return e.code === UNIQUE_VIOLATION ? String(e.constraint ?? '') : null;
}

/**
 * Creates a practice with the defaults above; a slug or number another practice has is refused,
 * nothing written. Inside a caller's transaction (the demo seed) a refusal has aborted that
 * transaction too: the caller must give up, not go on.
 */
export async function createPracticeWithDefaults(db: Db, input: PracticeCreate): Promise<CreateOutcome> {
  try {
    const id = await inTransaction(db, async (trx) => {
      const row = await trx
        .insertInto('practices')
        .values({ slug: input.slug, name: input.name, time_zone: input.timeZone, fallback_number: input.fallbackNumber ?? null, access_number: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      if (input.number !== undefined) await trx.insertInto('practice_numbers').values({ e164: input.number, practice_id: row.id }).execute();
      return row.id;
    });
    const practice = await getPractice(systemScope({ db }, id));
    if (!practice) throw new Error('practice vanished after it was created');
    return { ok: true, practice };
  } catch (err) {
    const constraint = uniqueViolation(err);
    if (constraint === null) throw err;
    return { ok: false, reason: constraint.startsWith('practice_numbers') ? 'number_taken' : 'slug_taken' };
  }
}

/** A practice in the operator's list: who it is and whether it is active; never patient data. */
export interface PracticeSummary {
  id: string;
  slug: string;
  name: string;
  timeZone: string;
  status: 'active' | 'suspended';
  suspendedAt: string | null;
  numbers: number;
  createdAt: string;
}

export async function listPracticeSummaries(db: Db): Promise<PracticeSummary[]> {
  const rows = await db
    .selectFrom('practices')
    .leftJoin('practice_numbers', 'practice_numbers.practice_id', 'practices.id')
    .select((eb) => ['practices.id', 'slug', 'name', 'time_zone', 'suspended_at', 'practices.created_at', eb.fn.count<string>('practice_numbers.e164').as('numbers')])
    .groupBy('practices.id')
    .orderBy('slug')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    slug: r.slug,
    name: r.name,
    timeZone: r.time_zone,
    status: r.suspended_at === null ? 'active' : 'suspended',
    suspendedAt: r.suspended_at?.toISOString() ?? null,
    numbers: Number(r.numbers),
    createdAt: r.created_at.toISOString(),
  }));
}

export type SuspensionChange = 'changed' | 'unchanged' | 'not_found';

/** Suspends (at `now`) or reactivates a practice; `unchanged` when it already was. */
export async function setPracticeSuspended(db: Db, practiceId: string, suspended: boolean, now: Date): Promise<SuspensionChange> {
  const result = await db
    .updateTable('practices')
    .set({ suspended_at: suspended ? now : null, updated_at: now })
    .where('id', '=', practiceId)
    .where('suspended_at', suspended ? 'is' : 'is not', null)
    .executeTakeFirst();
  if (result.numUpdatedRows > 0n) return 'changed';
  return (await getPractice(systemScope({ db }, practiceId))) ? 'unchanged' : 'not_found';
}
