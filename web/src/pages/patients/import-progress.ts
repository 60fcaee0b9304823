import type { ImportDetail } from './api';

/**
 * The data rows of a CSV as the import will count them: records after the header, a quoted field
 * may hold line breaks (RFC 4180), blank lines are skipped. Read in the browser from the chosen
 * file, so that the progress bar knows its end before the service has read a row.
 */
export function countCsvRows(text: string): number {
  let records = 0;
  let inQuotes = false;
  let hasContent = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') inQuotes = !inQuotes;
    else if ((c === '\n' || c === '\r') && !inQuotes) {
      if (hasContent) records++;
      hasContent = false;
      continue;
    }
    hasContent = true;
  }
  if (hasContent) records++;
  return Math.max(0, records - 1);
}

export interface ImportProgress {
  /** 0–100 for the bar. */
  value: number;
  /** What the bar says, in words (also its accessible value text). */
  label: string;
  /** Whether polling can stop. */
  finished: boolean;
  /** Whether the bar moves without a known end (queued, or no row count to measure against). */
  indeterminate: boolean;
}

/** Where an import is, from its last poll and the rows the file holds (null when unknown). */
export function importProgress(detail: ImportDetail | undefined, expectedRows: number | null): ImportProgress {
  if (!detail || detail.status === 'queued') return { value: 0, label: 'Waiting to start', finished: false, indeterminate: true };
  if (detail.status === 'failed') return { value: 100, label: 'The import failed', finished: true, indeterminate: false };
  if (detail.status === 'done') {
    const rows = detail.report?.rows ?? detail.rowsRead;
    return { value: 100, label: `${rows} ${rows === 1 ? 'row' : 'rows'} read`, finished: true, indeterminate: false };
  }
  if (expectedRows === null || expectedRows <= 0) return { value: 0, label: `${detail.rowsRead} rows read`, finished: false, indeterminate: true };
  const read = Math.min(detail.rowsRead, expectedRows);
  // Never 100 while running: the last rows are still being written.
  const value = Math.min(99, Math.floor((read / expectedRows) * 100));
  return { value, label: `${read} of ${expectedRows} rows read`, finished: false, indeterminate: false };
}

/** What the finished import came to, in one sentence. */
export function importOutcome(detail: ImportDetail): string {
  if (detail.status === 'failed') return `The import failed${detail.message ? `: ${detail.message}.` : '.'} Nothing was imported.`;
  const counts = `${detail.created} new, ${detail.updated} updated, ${detail.duplicate} duplicate, ${detail.invalid} invalid`;
  if (detail.dryRun) return detail.invalid > 0 ? `Dry run: ${counts}. Fix the invalid rows before importing; nothing was written.` : `Dry run: ${counts}. Nothing was written yet.`;
  return detail.committed ? `Imported: ${counts}.` : `Nothing was imported: ${detail.message ?? counts}.`;
}
