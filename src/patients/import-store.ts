import { sql } from 'kysely';
import { z } from 'zod';
import type { Db } from '../adapters/postgres.js';
import type { ImportKind, ImportStatus } from '../adapters/db-schema.js';
import type { PracticeScope } from '../tenancy/scope.js';
import type { ImportEntry, ImportReport } from './csv-import.js';

/**
 * The `imports` table (migration 0017): one row per CSV import received by the API, its status,
 * progress and counts, and its report's entries in `import_entries`. Nothing of the file is kept
 * here: the upload itself is in storage, envelope-encrypted (./import-requests.ts), until the
 * import finishes; the report names rows, columns and reasons, never a value.
 */

/** Why an import failed (or its last attempt did): the codes a row's `failure` may hold. */
export const IMPORT_FAILURES = {
  /** The stored upload is gone, or could not be decrypted under its context. */
  upload_unreadable: 'the stored upload could not be read',
  /** PostgreSQL refused a row (a constraint, a value out of range). */
  database_refused: 'the database refused a row',
  /** Anything else: the last attempt failed. */
  import_error: 'the import failed',
  /** Never run: the job could not be queued. */
  queue_unavailable: 'the import could not be queued',
  /** Queued or running for longer than an import can take: given up by the sweep. */
  abandoned: 'the import was abandoned (it never finished)',
} as const;
export type ImportFailure = keyof typeof IMPORT_FAILURES;

/** One import as listed. */
export interface ImportSummary {
  id: string;
  kind: ImportKind;
  dryRun: boolean;
  status: ImportStatus;
  /** Rows read so far (progress), the report's row count once done. */
  rowsRead: number;
  /** Plaintext bytes uploaded. */
  uploadBytes: number | null;
  committed: boolean;
  created: number;
  updated: number;
  duplicate: number;
  invalid: number;
  failure: ImportFailure | null;
  createdBy: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** One import in full: the summary, what went wrong in a sentence, and the report (a page of its entries) once done. */
export interface ImportDetail extends ImportSummary {
  /** The first invalid row of an import that wrote nothing, or why it failed; null otherwise. */
  message: string | null;
  report: (ImportReport & { entriesTotal: number; limit: number; offset: number }) | null;
}

export const ImportListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  offset: z.coerce.number().int().min(0).max(100_000).default(0),
});
export type ImportListQuery = z.infer<typeof ImportListQuery>;

/** The page of report entries an import is read with. */
export const ImportEntriesQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(200),
  offset: z.coerce.number().int().min(0).max(100_000).default(0),
});
export type ImportEntriesQuery = z.infer<typeof ImportEntriesQuery>;

const SUMMARY_COLUMNS = [
  'id',
  'kind',
  'dry_run',
  'status',
  'rows_read',
  'upload_bytes',
  'committed',
  'created_count',
  'updated_count',
  'duplicate_count',
  'invalid_count',
  'entries_truncated',
  'failure',
  'created_by',
  'created_at',
  'started_at',
  'finished_at',
] as const;

interface SummaryRow {
  id: string;
  kind: ImportKind;
  dry_run: boolean;
  status: ImportStatus;
  rows_read: number;
  upload_bytes: number | null;
  committed: boolean;
  created_count: number;
  updated_count: number;
  duplicate_count: number;
  invalid_count: number;
  entries_truncated: boolean;
  failure: string | null;
  created_by: string;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

function isFailure(code: string | null): code is ImportFailure {
  return code !== null && Object.prototype.hasOwnProperty.call(IMPORT_FAILURES, code);
}

function toSummary(r: SummaryRow): ImportSummary {
  return {
    id: r.id,
    kind: r.kind,
    dryRun: r.dry_run,
    status: r.status,
    rowsRead: r.rows_read,
    uploadBytes: r.upload_bytes,
    committed: r.committed,
    created: r.created_count,
    updated: r.updated_count,
    duplicate: r.duplicate_count,
    invalid: r.invalid_count,
    failure: isFailure(r.failure) ? r.failure : null,
    createdBy: r.created_by,
    createdAt: r.created_at.toISOString(),
    startedAt: r.started_at?.toISOString() ?? null,
    finishedAt: r.finished_at?.toISOString() ?? null,
  };
}

// ---------------------------------------------------------------------------
// The request's side (a practice scope)

/** The import's row, before its upload is stored (`upload_bytes` NULL until it is). */
export async function recordImport(scope: PracticeScope, i: { id: string; kind: ImportKind; dryRun: boolean; uploadKey: string; createdBy: string }): Promise<void> {
  await scope.db
    .insertInto('imports')
    .values({ id: i.id, practice_id: scope.practiceId, kind: i.kind, dry_run: i.dryRun, upload_key: i.uploadKey, upload_bytes: null, failure: null, created_by: i.createdBy, started_at: null, finished_at: null })
    .execute();
}

/** The upload is stored: `bytes` of it. */
export async function markReceived(scope: PracticeScope, id: string, bytes: number): Promise<void> {
  await scope.db.updateTable('imports').set({ upload_bytes: bytes, updated_at: new Date() }).where('practice_id', '=', scope.practiceId).where('id', '=', id).execute();
}

/** An upload that never arrived whole (cut off, too large): the import was never one. */
export async function forgetImport(scope: PracticeScope, id: string): Promise<void> {
  await scope.db.deleteFrom('imports').where('practice_id', '=', scope.practiceId).where('id', '=', id).where('status', '=', 'queued').execute();
}

/** Redis could not take the job: the import failed before it was queued (its upload already deleted). */
export async function markNotQueued(scope: PracticeScope, id: string): Promise<void> {
  const at = new Date();
  await scope.db
    .updateTable('imports')
    .set({ status: 'failed', failure: 'queue_unavailable', upload_key: null, finished_at: at, updated_at: at })
    .where('practice_id', '=', scope.practiceId)
    .where('id', '=', id)
    .execute();
}

export async function listImports(scope: PracticeScope, q: ImportListQuery): Promise<ImportSummary[]> {
  const rows = await scope.db.selectFrom('imports').select(SUMMARY_COLUMNS).where('practice_id', '=', scope.practiceId).orderBy('created_at', 'desc').orderBy('id').limit(q.limit).offset(q.offset).execute();
  return rows.map(toSummary);
}

function messageOf(row: SummaryRow, firstInvalid: ImportEntry | undefined): string | null {
  if (row.status === 'failed') return `${isFailure(row.failure) ? IMPORT_FAILURES[row.failure] : IMPORT_FAILURES.import_error}; nothing was imported`;
  if (row.status === 'done' && !row.dry_run && !row.committed && firstInvalid) return `row ${firstInvalid.row}: ${firstInvalid.field}: ${firstInvalid.reason}; nothing was imported`;
  return null;
}

function toEntry(e: { row_number: number; outcome: 'invalid' | 'duplicate'; field: string; reason: string; existing_id: string | null }): ImportEntry {
  return { row: e.row_number, outcome: e.outcome, field: e.field, reason: e.reason, ...(e.existing_id ? { existingId: e.existing_id } : {}) };
}

/** An import with a page of its report's entries; null when the practice has no such import. */
export async function readImport(scope: PracticeScope, id: string, page: ImportEntriesQuery): Promise<ImportDetail | null> {
  const row = await scope.db.selectFrom('imports').select(SUMMARY_COLUMNS).where('practice_id', '=', scope.practiceId).where('id', '=', id).executeTakeFirst();
  if (!row) return null;
  const entries = scope.db.selectFrom('import_entries').select(['row_number', 'outcome', 'field', 'reason', 'existing_id']).where('practice_id', '=', scope.practiceId).where('import_id', '=', id);
  const [pageRows, total, firstInvalid] = await Promise.all([
    entries.orderBy('position').limit(page.limit).offset(page.offset).execute(),
    scope.db.selectFrom('import_entries').select((eb) => eb.fn.countAll<string>().as('n')).where('practice_id', '=', scope.practiceId).where('import_id', '=', id).executeTakeFirstOrThrow(),
    entries.where('outcome', '=', 'invalid').orderBy('position').limit(1).executeTakeFirst(),
  ]);
  const summary = toSummary(row);
  const report: ImportDetail['report'] =
    row.status === 'done'
      ? {
          kind: row.kind,
          dryRun: row.dry_run,
          committed: row.committed,
          rows: row.rows_read,
          created: row.created_count,
          updated: row.updated_count,
          duplicate: row.duplicate_count,
          invalid: row.invalid_count,
          entries: pageRows.map(toEntry),
          entriesTruncated: row.entries_truncated,
          entriesTotal: Number(total.n),
          limit: page.limit,
          offset: page.offset,
        }
      : null;
  return { ...summary, message: messageOf(row, firstInvalid ? toEntry(firstInvalid) : undefined), report };
}

// ---------------------------------------------------------------------------
// The worker's side (the system role: the job names the practice and the import)

export interface ImportJobRow {
  id: string;
  practice_id: string;
  kind: ImportKind;
  dry_run: boolean;
  status: ImportStatus;
  upload_key: string | null;
  upload_bytes: number | null;
  created_by: string;
}

export async function importForJob(db: Db, practiceId: string, id: string): Promise<ImportJobRow | undefined> {
  return db
    .selectFrom('imports')
    .select(['id', 'practice_id', 'kind', 'dry_run', 'status', 'upload_key', 'upload_bytes', 'created_by'])
    .where('practice_id', '=', practiceId)
    .where('id', '=', id)
    .executeTakeFirst();
}

/**
 * How long a running import may go without a write (progress is written every second while it
 * reads) before another run may take it over: its process is taken to be gone (a stalled job).
 */
export const IMPORT_LEASE_MS = 15 * 60_000;

/**
 * An attempt claims the import, exclusively: queued (new, or a failed attempt's retry) becomes
 * running, as does a running one left with no write for `IMPORT_LEASE_MS`. False: another run
 * has it (BullMQ re-running a job still at work) or it has finished; that run does nothing.
 */
export async function claimImport(db: Db, id: string, at: Date): Promise<boolean> {
  const res = await db
    .updateTable('imports')
    .set((eb) => ({ status: 'running', attempts: eb('attempts', '+', 1), rows_read: 0, started_at: at, updated_at: at }))
    .where('id', '=', id)
    .where((eb) => eb.or([eb('status', '=', 'queued'), eb.and([eb('status', '=', 'running'), eb('updated_at', '<', new Date(at.getTime() - IMPORT_LEASE_MS))])]))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** Progress, as the attempt reads (never backwards: a late write of an earlier count is ignored). */
export async function noteProgress(db: Db, id: string, rowsRead: number): Promise<void> {
  await db
    .updateTable('imports')
    .set({ rows_read: sql<number>`GREATEST(rows_read, ${rowsRead})`, updated_at: new Date() })
    .where('id', '=', id)
    .where('status', '=', 'running')
    .execute();
}

/**
 * The import's report, written: counts on the row, entries beside it, status done. Inside the
 * import's transaction when it commits (so `done` and the rows commit together), alone otherwise.
 */
export async function recordReport(db: Db, i: { id: string; practiceId: string }, report: ImportReport, at: Date): Promise<void> {
  await db.deleteFrom('import_entries').where('import_id', '=', i.id).execute();
  if (report.entries.length) {
    await db
      .insertInto('import_entries')
      .values(
        report.entries.map((e, position) => ({
          import_id: i.id,
          practice_id: i.practiceId,
          position,
          row_number: e.row,
          outcome: e.outcome,
          field: e.field.slice(0, 80),
          reason: e.reason.slice(0, 500),
          existing_id: e.existingId ?? null,
        })),
      )
      .execute();
  }
  await db
    .updateTable('imports')
    .set({
      status: 'done',
      rows_read: report.rows,
      committed: report.committed,
      created_count: report.created,
      updated_count: report.updated,
      duplicate_count: report.duplicate,
      invalid_count: report.invalid,
      entries_truncated: report.entriesTruncated,
      failure: null,
      finished_at: at,
      updated_at: at,
    })
    .where('id', '=', i.id)
    .execute();
}

/** A failed attempt: `failed` for good, or back to `queued` when BullMQ will try again. */
export async function recordFailure(db: Db, id: string, failure: ImportFailure, final: boolean, at: Date): Promise<void> {
  await db
    .updateTable('imports')
    .set(final ? { status: 'failed', failure, finished_at: at, updated_at: at } : { status: 'queued', failure, updated_at: at })
    .where('id', '=', id)
    .where('status', 'in', ['queued', 'running'])
    .execute();
}

/** The stored upload is deleted: the row forgets its key. */
export async function markUploadDeleted(db: Db, id: string): Promise<void> {
  await db.updateTable('imports').set({ upload_key: null, updated_at: new Date() }).where('id', '=', id).execute();
}

/** For the sweep: finished imports whose upload is still stored, and unfinished ones created before `staleBefore`. */
export async function importsToSweep(db: Db, staleBefore: Date, limit = 500): Promise<Array<{ id: string; practice_id: string; status: ImportStatus; upload_key: string | null; created_at: Date }>> {
  return db
    .selectFrom('imports')
    .select(['id', 'practice_id', 'status', 'upload_key', 'created_at'])
    .where((eb) => eb.or([eb.and([eb('status', 'in', ['done', 'failed']), eb('upload_key', 'is not', null)]), eb.and([eb('status', 'in', ['queued', 'running']), eb('created_at', '<', staleBefore)])]))
    .orderBy('created_at')
    .limit(limit)
    .execute();
}
