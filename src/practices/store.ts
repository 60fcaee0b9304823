import type { Db } from '../adapters/postgres.js';

export interface Practice {
  id: string;
  slug: string;
  name: string;
  timeZone: string;
  fallbackNumber: string | null;
}

const columns = ['practices.id', 'slug', 'name', 'time_zone', 'fallback_number'] as const;

function toPractice(row: { id: string; slug: string; name: string; time_zone: string; fallback_number: string | null }): Practice {
  return { id: row.id, slug: row.slug, name: row.name, timeZone: row.time_zone, fallbackNumber: row.fallback_number };
}

export async function findPracticeByNumber(db: Db, e164: string): Promise<Practice | null> {
  const row = await db
    .selectFrom('practice_numbers')
    .innerJoin('practices', 'practices.id', 'practice_numbers.practice_id')
    .select(columns)
    .where('practice_numbers.e164', '=', e164)
    .executeTakeFirst();
  return row ? toPractice(row) : null;
}

export async function getPractice(db: Db, id: string): Promise<Practice | null> {
  const row = await db.selectFrom('practices').select(columns).where('practices.id', '=', id).executeTakeFirst();
  return row ? toPractice(row) : null;
}

/** Accepts a practice's id (uuid) or slug. */
export async function resolvePractice(db: Db, idOrSlug: string): Promise<Practice | null> {
  const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(idOrSlug);
  const row = await db
    .selectFrom('practices')
    .select(columns)
    .where(isUuid ? 'practices.id' : 'slug', '=', idOrSlug)
    .executeTakeFirst();
  return row ? toPractice(row) : null;
}

export async function listPracticeNumbers(db: Db, practiceId: string): Promise<string[]> {
  const rows = await db.selectFrom('practice_numbers').select('e164').where('practice_id', '=', practiceId).orderBy('e164').execute();
  return rows.map((r) => r.e164);
}

export async function createPractice(
  db: Db,
  input: { slug: string; name: string; timeZone: string; fallbackNumber?: string | null; numbers: string[] },
): Promise<Practice> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto('practices')
      .values({ slug: input.slug, name: input.name, time_zone: input.timeZone, fallback_number: input.fallbackNumber ?? null })
      .returning(['id', 'slug', 'name', 'time_zone', 'fallback_number'])
      .executeTakeFirstOrThrow();
    if (input.numbers.length > 0) {
      await trx
        .insertInto('practice_numbers')
        .values(input.numbers.map((e164) => ({ e164, practice_id: row.id })))
        .execute();
    }
    return toPractice(row);
  });
}
