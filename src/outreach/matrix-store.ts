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

/** How long the send paths reuse a practice's matrix in this instance (see `matrixFor`). */
export const MATRIX_CACHE_TTL_MS = 30_000;

const cachedMatrices = new Map<string, { until: number; value: CurrentMatrix }>();
/** Bumped by every save in this instance: a read that began before a save does not refill the cache. */
const matrixGenerations = new Map<string, number>();

/**
 * The practice's current matrix for the send paths (each page round, each drop send): read as
 * `currentMatrix` does, then reused in this instance for `MATRIX_CACHE_TTL_MS`, and dropped at
 * once when `saveMatrix` runs here. Another instance's save is seen within the TTL. The API reads
 * `currentMatrix`, never this. `nowMs`: a monotonic clock in milliseconds (tests pass their own).
 */
export async function matrixFor(scope: PracticeScope, nowMs: number = performance.now()): Promise<CurrentMatrix> {
  const hit = cachedMatrices.get(scope.practiceId);
  if (hit && hit.until > nowMs) return hit.value;
  const generation = matrixGenerations.get(scope.practiceId) ?? 0;
  const value = await currentMatrix(scope);
  if ((matrixGenerations.get(scope.practiceId) ?? 0) === generation) cachedMatrices.set(scope.practiceId, { until: nowMs + MATRIX_CACHE_TTL_MS, value });
  return value;
}

/** Forgets the practice's cached matrix in this instance (a save, or a test that wrote the table itself). */
export function forgetCachedMatrix(practiceId: string): void {
  matrixGenerations.set(practiceId, (matrixGenerations.get(practiceId) ?? 0) + 1);
  cachedMatrices.delete(practiceId);
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
  forgetCachedMatrix(scope.practiceId);
  await audit({ action: AuditAction.AdminMatrixUpdated, actor, practiceId: scope.practiceId, subjectId: scope.practiceId, details: { version: saved.version, changed } });
  return saved;
}
