import { inTransaction, type Db } from '../adapters/postgres.js';
import type { PracticeScope } from '../tenancy/scope.js';

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

export type AssignOutcome = { result: 'created' | 'updated'; line: StoredLine } | { result: 'taken' | 'not_registered' | 'no_practice' };

/**
 * Makes a number a line of the scope's practice, in one transaction: the number is the practice's
 * (or, with `claim`, becomes it), runs `flowId`, and is (or stops being) its access line. Runs in
 * the practice's scope, so it reads and writes only that practice's rows: a number of another
 * practice is invisible here and, claimed, runs into the number's key (`taken`), never over it.
 * Without `claim` a number the practice does not have is `not_registered`, whether another practice
 * has it or nobody does (a practice's admin learns nothing of other practices' numbers). The
 * practice's row and the number's are locked, so two connects of one number cannot interleave.
 */
export async function assignLine(scope: PracticeScope, input: { e164: string; flowId: string; access: boolean; claim: boolean }): Promise<AssignOutcome> {
  const { practiceId } = scope;
  return inTransaction(scope.db, async (trx) => {
    const practice = await trx.selectFrom('practices').select(['id', 'access_number']).where('id', '=', practiceId).forUpdate().executeTakeFirst();
    if (!practice) return { result: 'no_practice' } as const;
    const existing = await trx.selectFrom('practice_numbers').select(['practice_id']).where('e164', '=', input.e164).where('practice_id', '=', practiceId).forUpdate().executeTakeFirst();
    if (existing) {
      await trx.updateTable('practice_numbers').set({ flow_id: input.flowId }).where('e164', '=', input.e164).where('practice_id', '=', practiceId).execute();
    } else {
      if (!input.claim) return { result: 'not_registered' } as const;
      // Another practice's row is not visible from this scope, but its key is: the insert does nothing.
      const inserted = await trx
        .insertInto('practice_numbers')
        .values({ e164: input.e164, practice_id: practiceId, flow_id: input.flowId })
        .onConflict((oc) => oc.column('e164').doNothing())
        .returning('e164')
        .executeTakeFirst();
      if (!inserted) return { result: 'taken' } as const;
    }
    const wasAccess = practice.access_number === input.e164;
    if (input.access !== wasAccess) {
      await trx
        .updateTable('practices')
        .set({ access_number: input.access ? input.e164 : null, updated_at: new Date() })
        .where('id', '=', practiceId)
        .execute();
    }
    const line: StoredLine = { practiceId, e164: input.e164, flowId: input.flowId, isAccess: input.access };
    return { result: existing ? 'updated' : 'created', line } as const;
  });
}

/** The flow one of the practice's numbers runs now, or null when the number is not the practice's. */
export async function lineFlow(scope: PracticeScope, e164: string): Promise<string | null> {
  const row = await scope.db.selectFrom('practice_numbers').select('flow_id').where('e164', '=', e164).where('practice_id', '=', scope.practiceId).executeTakeFirst();
  return row?.flow_id ?? null;
}
