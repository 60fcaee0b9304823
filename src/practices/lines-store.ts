import { inTransaction, type Db } from '../adapters/postgres.js';

/**
 * A practice's numbers as lines (./lines.ts): the queries. A line's kind is not stored on its
 * own: it is what the number already does — the practice's access number (`practices.access_number`,
 * answered at /twilio/voice/access), a number running the drop-callback flow, or any other
 * number (a `main` line, running its flow). One fact in one place, so the kind and the routing
 * cannot disagree.
 */

export interface StoredLine {
  practiceId: string;
  e164: string;
  flowId: string;
  /** The number is its practice's access line. */
  isAccess: boolean;
}

/** Every line of one practice, or of every practice (`numbers:check` without `--practice`). */
export async function listLines(db: Db, practiceId?: string): Promise<StoredLine[]> {
  let q = db
    .selectFrom('practice_numbers')
    .innerJoin('practices', 'practices.id', 'practice_numbers.practice_id')
    .select(['practice_numbers.practice_id', 'practice_numbers.e164', 'practice_numbers.flow_id', 'practices.access_number'])
    .orderBy('practice_numbers.practice_id')
    .orderBy('practice_numbers.e164');
  if (practiceId !== undefined) q = q.where('practice_numbers.practice_id', '=', practiceId);
  const rows = await q.execute();
  return rows.map((r) => ({ practiceId: r.practice_id, e164: r.e164, flowId: r.flow_id, isAccess: r.access_number === r.e164 }));
}

export type AssignOutcome = { result: 'created' | 'updated'; line: StoredLine } | { result: 'taken' } | { result: 'no_practice' };

/**
 * Makes a number a line of a practice, in one transaction: the number is the practice's (or
 * becomes it), runs `flowId`, and is (or stops being) its access line. Refuses a number another
 * practice has. The number's row is locked, so two connects of one number cannot interleave.
 */
export async function assignLine(db: Db, input: { practiceId: string; e164: string; flowId: string; access: boolean }): Promise<AssignOutcome> {
  return inTransaction(db, async (trx) => {
    const practice = await trx.selectFrom('practices').select(['id', 'access_number']).where('id', '=', input.practiceId).forUpdate().executeTakeFirst();
    if (!practice) return { result: 'no_practice' } as const;
    const existing = await trx.selectFrom('practice_numbers').select(['practice_id']).where('e164', '=', input.e164).forUpdate().executeTakeFirst();
    if (existing && existing.practice_id !== input.practiceId) return { result: 'taken' } as const;
    if (existing) {
      await trx.updateTable('practice_numbers').set({ flow_id: input.flowId }).where('e164', '=', input.e164).execute();
    } else {
      await trx.insertInto('practice_numbers').values({ e164: input.e164, practice_id: input.practiceId, flow_id: input.flowId }).execute();
    }
    const wasAccess = practice.access_number === input.e164;
    if (input.access !== wasAccess) {
      await trx
        .updateTable('practices')
        .set({ access_number: input.access ? input.e164 : null, updated_at: new Date() })
        .where('id', '=', input.practiceId)
        .execute();
    }
    const line: StoredLine = { practiceId: input.practiceId, e164: input.e164, flowId: input.flowId, isAccess: input.access };
    return { result: existing ? 'updated' : 'created', line } as const;
  });
}

/** The flow a practice's number runs now, or null when it is not the practice's. */
export async function lineFlow(db: Db, practiceId: string, e164: string): Promise<string | null> {
  const row = await db.selectFrom('practice_numbers').select('flow_id').where('e164', '=', e164).where('practice_id', '=', practiceId).executeTakeFirst();
  return row?.flow_id ?? null;
}
