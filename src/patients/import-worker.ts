import { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import type { AppContext } from '../app-context.js';
import { decryptingStream, EnvelopeContextMismatch } from '../adapters/envelope.js';
import { StorageNotFoundError } from '../adapters/storage.js';
import { AuditAction } from '../audit/events.js';
import { systemScope } from '../tenancy/system-scope.js';
import type { ImportReport } from './csv-import.js';
import { importPatients } from './patient-import.js';
import { importAppointments } from './appointment-import.js';
import { importUploadContext, type ImportJobData } from './import-requests.js';
import { claimImport, importForJob, importsToSweep, markUploadDeleted, noteProgress, recordFailure, recordReport, type ImportFailure, type ImportJobRow } from './import-store.js';

/**
 * The `imports` queue's worker: one CSV import received by the API (./import-requests.ts), run
 * with the practice's system scope (the job carries the practice and import ids the request
 * recorded). It decrypts the stored upload as a stream and runs the same importer the CLI runs:
 * a dry run reads and reports; otherwise one transaction, so a failure or an invalid row leaves
 * nothing written, and the report (status `done`) commits with the rows. Progress (rows read) is
 * written as it goes. The upload is deleted once the import has finished, either way; the sweep
 * below deletes what a crash left and gives up imports that never finished.
 */

export type ImportWorkerDeps = Pick<AppContext, 'db' | 'keyring' | 'storage' | 'audit' | 'clock'>;

/** How often, at most, an attempt writes its progress. */
const PROGRESS_EVERY_MS = 1_000;
/** Unfinished this long after they were received: given up by the sweep (an import of 100,000 rows takes minutes). */
export const IMPORT_STALE_MS = 24 * 3600_000;
export const IMPORT_SWEEP_EVERY_MS = 15 * 60_000;

const ACTOR = 'system:imports';

/** The stored upload, decrypted, as a stream that starts reading only when the importer reads it (so its errors reach the importer). */
function uploadSource(deps: Pick<AppContext, 'keyring' | 'storage'>, row: Pick<ImportJobRow, 'id' | 'practice_id'>, key: string): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    const raw = await deps.storage.get(key);
    const plain = pipeline(raw, decryptingStream(deps.keyring, importUploadContext(row.practice_id, row.id)), () => undefined);
    for await (const chunk of plain) yield chunk as Buffer;
  }
  return Readable.from(chunks(), { objectMode: false });
}

/** Progress writes, at most one in flight and one a second, outside the import's transaction (so they are seen while it runs). */
function progressWriter(deps: Pick<AppContext, 'db'>, id: string): { note: (rowsRead: number) => void; settle: () => Promise<void> } {
  let pending: Promise<void> = Promise.resolve();
  let busy = false;
  let last = Number.NEGATIVE_INFINITY;
  return {
    note: (rowsRead) => {
      const now = performance.now();
      if (busy || now - last < PROGRESS_EVERY_MS) return;
      busy = true;
      last = now;
      pending = noteProgress(deps.db, id, rowsRead)
        .catch(() => undefined)
        .finally(() => {
          busy = false;
        });
    },
    settle: () => pending,
  };
}

/** Pure: what an attempt's error means: its code, and whether trying again could help. */
export function importFailureOf(err: unknown): { failure: ImportFailure; permanent: boolean } {
  if (err instanceof StorageNotFoundError || err instanceof EnvelopeContextMismatch) return { failure: 'upload_unreadable', permanent: true };
  const code = (err as { code?: unknown } | null)?.code;
  // PostgreSQL's data exceptions (22) and integrity violations (23): the same file fails the same way.
  if (typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code)) return { failure: 'database_refused', permanent: true };
  return { failure: 'import_error', permanent: false };
}

/** A failed attempt that BullMQ will retry: the error it records names the code only (its message could quote a value). */
export class ImportAttemptFailed extends Error {
  constructor(readonly failure: ImportFailure) {
    super(`import attempt failed: ${failure}`);
    this.name = 'ImportAttemptFailed';
  }
}

export type ImportJobOutcome = { status: 'done'; report: ImportReport } | { status: 'failed'; failure: ImportFailure } | { status: 'skipped' };

async function deleteUpload(deps: Pick<AppContext, 'db' | 'storage'>, id: string, key: string | null): Promise<void> {
  if (!key) return;
  // Left for the sweep if storage fails now: the row keeps the key until it is gone.
  try {
    await deps.storage.delete(key);
    await markUploadDeleted(deps.db, id);
  } catch {
    /* the sweep tries again */
  }
}

async function finishFailed(deps: ImportWorkerDeps, row: ImportJobRow, failure: ImportFailure): Promise<ImportJobOutcome> {
  await recordFailure(deps.db, row.id, failure, true, deps.clock());
  await deleteUpload(deps, row.id, row.upload_key);
  await deps.audit({ action: AuditAction.ImportFinished, actor: ACTOR, practiceId: row.practice_id, subjectId: row.id, details: { kind: row.kind, dryRun: row.dry_run, status: 'failed', failure } });
  return { status: 'failed', failure };
}

/**
 * Runs one import job. `lastAttempt`: BullMQ will not try again should this attempt fail, so a
 * failure is recorded for good. A job whose import has finished already does nothing.
 */
export async function processImportJob(deps: ImportWorkerDeps, data: ImportJobData, lastAttempt: boolean): Promise<ImportJobOutcome> {
  const row = await importForJob(deps.db, data.practiceId, data.importId);
  if (!row || row.status === 'done' || row.status === 'failed') return { status: 'skipped' };
  if (!row.upload_key) return finishFailed(deps, row, 'upload_unreadable');
  // Claimed exclusively: a second run of the same job (a stalled job re-run) imports nothing twice and audits nothing.
  if (!(await claimImport(deps.db, row.id, deps.clock()))) return { status: 'skipped' };
  const ids = { id: row.id, practiceId: row.practice_id };
  const progress = progressWriter(deps, row.id);
  const importer = row.kind === 'patients' ? importPatients : importAppointments;
  let report: ImportReport;
  try {
    report = await importer(systemScope(deps, row.practice_id), deps.keyring, uploadSource(deps, row, row.upload_key), {
      dryRun: row.dry_run,
      onBatch: progress.note,
      // `done` commits with the rows, or neither does.
      onCommit: async (trx, finished) => {
        await progress.settle();
        await recordReport(trx, ids, finished, deps.clock());
      },
    });
    await progress.settle();
    if (!report.committed) await recordReport(deps.db, ids, report, deps.clock());
  } catch (err) {
    await progress.settle();
    const { failure, permanent } = importFailureOf(err);
    if (permanent || lastAttempt) return finishFailed(deps, row, failure);
    await recordFailure(deps.db, row.id, failure, false, deps.clock());
    throw new ImportAttemptFailed(failure);
  }
  await deleteUpload(deps, row.id, row.upload_key);
  await deps.audit({
    action: AuditAction.ImportFinished,
    actor: ACTOR,
    practiceId: row.practice_id,
    subjectId: row.id,
    details: { kind: row.kind, dryRun: report.dryRun, status: 'done', committed: report.committed, rows: report.rows, created: report.created, updated: report.updated, duplicate: report.duplicate, invalid: report.invalid },
  });
  return { status: 'done', report };
}

/**
 * The maintenance sweep: finished imports whose upload is still stored (a failed delete) have it
 * deleted; imports unfinished a day after they were received (a job lost, a process killed during
 * the upload) are failed as `abandoned`, and their upload, if any arrived, deleted.
 */
export async function sweepImports(deps: Pick<AppContext, 'db' | 'storage' | 'audit' | 'clock'>): Promise<{ deleted: number; abandoned: number }> {
  const now = deps.clock();
  let deleted = 0;
  let abandoned = 0;
  for (const r of await importsToSweep(deps.db, new Date(now.getTime() - IMPORT_STALE_MS))) {
    if (r.status === 'queued' || r.status === 'running') {
      await recordFailure(deps.db, r.id, 'abandoned', true, now);
      await deps.audit({ action: AuditAction.ImportFinished, actor: ACTOR, practiceId: r.practice_id, subjectId: r.id, details: { status: 'failed', failure: 'abandoned' } });
      abandoned += 1;
    }
    if (r.upload_key) {
      await deps.storage.delete(r.upload_key);
      await markUploadDeleted(deps.db, r.id);
      deleted += 1;
    }
  }
  return { deleted, abandoned };
}
