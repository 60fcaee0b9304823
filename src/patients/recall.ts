import { sql } from 'kysely';
import { z } from 'zod';
import type { PracticeScope } from '../tenancy/scope.js';
import { RecallDueSchema } from './identifiers.js';

/**
 * Patients due for recall (issue 15, item 5): the sequences' "recall" audience and
 * `GET /api/patients/recall-due`. A practice's active, unmerged patients whose recall date
 * (migration 0035, imported with the patient as CSV column `recall_due`) falls in a window of
 * days, both ends included, paged by id (keyset: `after` is the last id of the previous page).
 * Ids and dates only: nothing is decrypted, and neither ever goes into a log line or a job payload.
 */

export const RECALL_PAGE_DEFAULT = 500;
export const RECALL_PAGE_MAX = 5000;

export interface RecallWindow {
  /** First day of the window (YYYY-MM-DD), included. */
  from: string;
  /** Last day of the window (YYYY-MM-DD), included. */
  to: string;
  /** Page size: RECALL_PAGE_DEFAULT unless said, at most RECALL_PAGE_MAX. */
  limit?: number;
  /** The last id of the previous page: this page starts after it. */
  after?: string;
}

export interface RecallDue {
  id: string;
  recallDue: string;
}

const UUID = z.uuid();

function checkWindow(w: RecallWindow): number {
  const limit = w.limit ?? RECALL_PAGE_DEFAULT;
  if (!RecallDueSchema.safeParse(w.from).success) throw new RangeError('from: expected YYYY-MM-DD');
  if (!RecallDueSchema.safeParse(w.to).success) throw new RangeError('to: expected YYYY-MM-DD');
  if (!Number.isInteger(limit) || limit < 1 || limit > RECALL_PAGE_MAX) throw new RangeError(`limit: expected 1 to ${RECALL_PAGE_MAX}`);
  if (w.after !== undefined && !UUID.safeParse(w.after).success) throw new RangeError('after: expected a UUID');
  return limit;
}

/** One page of the patients due in the window, with their recall dates, in id order. */
export async function recallDuePage(scope: PracticeScope, w: RecallWindow): Promise<RecallDue[]> {
  const limit = checkWindow(w);
  if (w.from > w.to) return [];
  let q = scope.db
    .selectFrom('patients')
    .select(['id', sql<string>`to_char(recall_due, 'YYYY-MM-DD')`.as('recall_due')])
    .where('practice_id', '=', scope.practiceId)
    .where('active', '=', true)
    .where('merged_into', 'is', null)
    .where(sql<boolean>`recall_due BETWEEN ${w.from}::date AND ${w.to}::date`);
  if (w.after !== undefined) q = q.where('id', '>', w.after);
  const rows = await q.orderBy('id').limit(limit).execute();
  return rows.map((r) => ({ id: r.id, recallDue: r.recall_due }));
}

/**
 * The ids of one page of the practice's active, unmerged patients whose recall date is in
 * [from, to], in id order; fewer than `limit` means the last page. The sequences' recall
 * audience calls it (keep this signature).
 */
export async function patientsDueForRecall(scope: PracticeScope, w: RecallWindow): Promise<string[]> {
  return (await recallDuePage(scope, w)).map((r) => r.id);
}

/** The query of `GET /api/patients/recall-due`: 400 naming the field for any other. */
export const RecallDueQuery = z
  .strictObject({
    from: RecallDueSchema,
    to: RecallDueSchema,
    limit: z.coerce.number().int().min(1).max(RECALL_PAGE_MAX).default(RECALL_PAGE_DEFAULT),
    after: z.uuid({ message: 'expected a UUID' }).optional(),
  })
  .refine((v) => v.from <= v.to, { path: ['to'], message: 'expected a day on or after from' });
