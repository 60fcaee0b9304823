import { sql } from 'kysely';
import type { PracticeScope } from '../tenancy/scope.js';
import type { AuditWriter } from '../audit/store.js';
import { AuditAction } from '../audit/events.js';
import { inTransaction } from '../adapters/postgres.js';
import { CHANNELS, DEFAULT_MATRIX, MESSAGE_TYPES, cellName, fromStored, type CommunicationMatrix } from './matrix.js';

/**
 * The stored communication matrix of a practice: versioned (every change a new row, the current
 * one the highest version), under row-level security. A practice without a row has the
 * defaults, as version 0.
 */

export interface CurrentMatrix {
  /** 0: the defaults (the practice never changed its matrix). */
  version: number;
  matrix: CommunicationMatrix;
  isDefault: boolean;
  updatedAt: string | null;
  updatedBy: string | null;
}

/** The practice's current matrix (or the defaults); a stored row is read by `fromStored`. */
export async function currentMatrix(scope: PracticeScope): Promise<CurrentMatrix> {
  const row = await scope.db
    .selectFrom('communication_matrices')
    .select(['version', 'cells', 'created_by', 'created_at'])
    .where('practice_id', '=', scope.practiceId)
    .orderBy('version', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!row) return { version: 0, matrix: DEFAULT_MATRIX, isDefault: true, updatedAt: null, updatedBy: null };
  return { version: row.version, matrix: fromStored(row.cells), isDefault: false, updatedAt: row.created_at.toISOString(), updatedBy: row.created_by };
}

/** Pure: the cells whose value differs between two matrices (`recall × email`), for the audit event. */
export function changedCells(before: CommunicationMatrix, after: CommunicationMatrix): string[] {
  const changed: string[] = [];
  for (const type of MESSAGE_TYPES) {
    for (const channel of CHANNELS) {
      const a = before[type][channel];
      const b = after[type][channel];
      if (a.allowed !== b.allowed || a.detail !== b.detail) changed.push(cellName(type, channel));
    }
  }
  return changed;
}

/**
 * Stores `matrix` (already checked by `MatrixSchema`) as the practice's next version, audited
 * with the version and the cells that changed. Versions are taken under a per-practice advisory
 * lock, so two admins saving at once get consecutive versions.
 */
export async function saveMatrix(scope: PracticeScope, audit: AuditWriter, matrix: CommunicationMatrix, actor: string): Promise<CurrentMatrix> {
  const { saved, changed } = await inTransaction(scope.db, async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtext(${`communication_matrix:${scope.practiceId}`}))`.execute(trx);
    const before = await currentMatrix({ ...scope, db: trx });
    const version = before.version + 1;
    const row = await trx
      .insertInto('communication_matrices')
      .values({ practice_id: scope.practiceId, version, cells: JSON.stringify(matrix), created_by: actor })
      .returning(['version', 'created_at'])
      .executeTakeFirstOrThrow();
    return {
      saved: { version: row.version, matrix, isDefault: false, updatedAt: row.created_at.toISOString(), updatedBy: actor },
      changed: changedCells(before.matrix, matrix),
    };
  });
  await audit({ action: AuditAction.AdminMatrixUpdated, actor, practiceId: scope.practiceId, subjectId: scope.practiceId, details: { version: saved.version, changed } });
  return saved;
}
