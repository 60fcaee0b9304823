import type { Readable } from 'node:stream';
import { parse, CsvError } from 'csv-parse';
import { sql } from 'kysely';
import type { z } from 'zod';
import type { Db } from '../adapters/postgres.js';
import type { PracticeScope } from '../tenancy/scope.js';

/**
 * The streamed skeleton both CSV imports share (patients, appointments): parse with csv-parse,
 * check the header, validate each row with zod, hand rows on in batches, build the report. Rows
 * are pulled one at a time (`for await` keeps csv-parse's backpressure), so a file of any length
 * holds at most one batch in memory. Pure of the database: the caller's `onBatch` does the I/O.
 *
 * Row numbers count the header as row 1 (the first data row is row 2), as a spreadsheet shows them.
 * The report names rows and columns only: never a value, since the values are PHI.
 */

export const IMPORT_BATCH = 500;
/** Entries (invalid and duplicate rows) listed in a report; beyond, only counted. */
export const MAX_REPORT_ENTRIES = 1000;
/** One row of a CSV file, as csv-parse may read it. */
const MAX_RECORD_BYTES = 16 * 1024;

export interface ImportEntry {
  row: number;
  outcome: 'invalid' | 'duplicate';
  /** The column at fault (`row` when the line itself could not be read, `header` for the header). */
  field: string;
  reason: string;
  /** For a duplicate of a stored record: its id. */
  existingId?: string;
}

export interface ImportReport {
  kind: 'patients' | 'appointments';
  dryRun: boolean;
  /** Whether the rows were written (never when a row was invalid). */
  committed: boolean;
  rows: number;
  created: number;
  updated: number;
  duplicate: number;
  invalid: number;
  entries: ImportEntry[];
  entriesTruncated: boolean;
}

export class ImportReportBuilder {
  readonly report: ImportReport;
  constructor(kind: ImportReport['kind'], dryRun: boolean) {
    this.report = { kind, dryRun, committed: false, rows: 0, created: 0, updated: 0, duplicate: 0, invalid: 0, entries: [], entriesTruncated: false };
  }
  private add(e: ImportEntry): void {
    if (this.report.entries.length < MAX_REPORT_ENTRIES) this.report.entries.push(e);
    else this.report.entriesTruncated = true;
  }
  invalid(row: number, problems: ReadonlyArray<{ field: string; reason: string }>): void {
    this.report.invalid += 1;
    for (const p of problems) this.add({ row, outcome: 'invalid', field: p.field, reason: p.reason });
  }
  /** The report with its entries in row order (rows checked against the database are reported a batch later). */
  finish(committed: boolean): ImportReport {
    this.report.entries.sort((a, b) => a.row - b.row);
    this.report.committed = committed;
    return this.report;
  }
  duplicate(row: number, field: string, reason: string, existingId?: string): void {
    this.report.duplicate += 1;
    this.add({ row, outcome: 'duplicate', field, reason, ...(existingId ? { existingId } : {}) });
  }
}

/** A refusal of the whole file (header, unreadable CSV): the report says where. */
export class ImportFileError extends Error {
  constructor(readonly entry: ImportEntry) {
    super(`${entry.field}: ${entry.reason}`);
    this.name = 'ImportFileError';
  }
}

export interface ValidRow<T> {
  row: number;
  data: T;
}

export interface CsvShape<T> {
  /** Every column the file may have; `required` ones must be in the header. */
  columns: readonly string[];
  required: readonly string[];
  /** One row as an object of its columns (empty cells absent). */
  schema: z.ZodType<T>;
}

function checkHeader(header: readonly string[], shape: CsvShape<unknown>): string[] {
  const names = header.map((h) => h.trim().toLowerCase());
  names.forEach((name, i) => {
    // The position, not the name: a header cell may hold anything.
    if (!shape.columns.includes(name)) throw new ImportFileError({ row: 1, outcome: 'invalid', field: 'header', reason: `column ${i + 1} is not one of ${shape.columns.join(', ')}` });
    if (names.indexOf(name) !== i) throw new ImportFileError({ row: 1, outcome: 'invalid', field: 'header', reason: `column ${name} appears twice` });
  });
  for (const r of shape.required) if (!names.includes(r)) throw new ImportFileError({ row: 1, outcome: 'invalid', field: 'header', reason: `missing column ${r}` });
  return names;
}

/**
 * Streams `source` through csv-parse and the row schema, calling `onBatch` with each batch of
 * valid rows (IMPORT_BATCH at most) in file order; invalid rows go to the report.
 */
export async function streamRows<T>(source: Readable, shape: CsvShape<T>, report: ImportReportBuilder, onBatch: (rows: ValidRow<T>[]) => Promise<void>): Promise<void> {
  const parser = source.pipe(parse({ bom: true, trim: true, skip_empty_lines: true, max_record_size: MAX_RECORD_BYTES }));
  // A source that fails (a body cut off, too long) fails the parse.
  source.once('error', (err) => parser.destroy(err));
  let header: string[] | null = null;
  let rowNumber = 1;
  let batch: ValidRow<T>[] = [];
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      if (!header) {
        header = checkHeader(record, shape as CsvShape<unknown>);
        continue;
      }
      rowNumber += 1;
      report.report.rows += 1;
      const object: Record<string, string> = {};
      header.forEach((name, i) => {
        const cell = record[i];
        if (cell !== undefined && cell !== '') object[name] = cell;
      });
      const parsed = shape.schema.safeParse(object);
      if (!parsed.success) {
        report.invalid(rowNumber, parsed.error.issues.map((i) => ({ field: String(i.path[0] ?? 'row'), reason: i.message })));
        continue;
      }
      batch.push({ row: rowNumber, data: parsed.data });
      if (batch.length >= IMPORT_BATCH) {
        await onBatch(batch);
        batch = [];
      }
    }
  } catch (err) {
    if (err instanceof CsvError) throw new ImportFileError({ row: rowNumber + 1, outcome: 'invalid', field: 'row', reason: `the row could not be read as CSV (${err.code})` });
    throw err;
  }
  if (!header) throw new ImportFileError({ row: 1, outcome: 'invalid', field: 'header', reason: 'the file is empty' });
  if (batch.length) await onBatch(batch);
}

/**
 * How long an import's transaction may sit idle between statements: while a batch is sealed (500
 * rows, a few thousand Encryption SDK messages: seconds, more on a busy machine) it sends nothing.
 * The pools' 10 s guard against a stalled client would end a healthy import on a loaded machine;
 * the import reads from a file or from storage, never from a client that could stall.
 */
export const IMPORT_IDLE_IN_TRANSACTION_MS = 120_000;

/** Aborts an import's transaction so that nothing is written; the report is still answered. */
class RollBack extends Error {}

/**
 * Runs one CSV import to its report: a dry run reads and checks on `scope.db` and writes nothing;
 * otherwise everything is written in one transaction, rolled back whole if any row was invalid
 * (nothing half-imported). A file that cannot be read as CSV is reported on its row.
 * `onCommit` runs inside that transaction, last, with the finished report: what it writes (the
 * import job's record of its outcome) commits with the rows or not at all.
 */
export async function runImport(
  scope: PracticeScope,
  report: ImportReportBuilder,
  dryRun: boolean,
  run: (db: Db, write: boolean) => Promise<void>,
  onCommit?: (db: Db, report: ImportReport) => Promise<void>,
): Promise<ImportReport> {
  try {
    if (dryRun) await run(scope.db, false);
    else
      await scope.db.transaction().execute(async (trx) => {
        await sql`SELECT set_config('idle_in_transaction_session_timeout', ${String(IMPORT_IDLE_IN_TRANSACTION_MS)}, true)`.execute(trx);
        await run(trx, true);
        if (report.report.invalid > 0) throw new RollBack();
        await onCommit?.(trx, report.finish(true));
      });
  } catch (err) {
    if (err instanceof ImportFileError) {
      report.invalid(err.entry.row, [{ field: err.entry.field, reason: err.entry.reason }]);
      return report.finish(false);
    }
    if (!(err instanceof RollBack)) throw err;
  }
  return report.finish(!dryRun && report.report.invalid === 0);
}
