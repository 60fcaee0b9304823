import { describe, expect, it } from 'vitest';
import type { ImportDetail } from './api';
import { countCsvRows, importOutcome, importProgress } from './import-progress';

function detail(over: Partial<ImportDetail>): ImportDetail {
  return {
    id: 'i1',
    kind: 'patients',
    dryRun: true,
    status: 'running',
    rowsRead: 0,
    uploadBytes: null,
    committed: false,
    created: 0,
    updated: 0,
    duplicate: 0,
    invalid: 0,
    failure: null,
    createdBy: 'user:u1',
    createdAt: '2026-01-01T00:00:00.000Z',
    startedAt: null,
    finishedAt: null,
    message: null,
    report: null,
    ...over,
  };
}

describe('CSV rows counted in the browser', () => {
  it('counts records after the header; a quoted field may hold a line break; blank lines and CRLF are fine', () => {
    expect(countCsvRows('mrn,first_name\nR-1,Dana\nR-2,Eli\n')).toBe(2);
    expect(countCsvRows('mrn,first_name\r\nR-1,Dana\r\n\r\nR-2,Eli')).toBe(2);
    expect(countCsvRows('mrn,location\nR-1,"Main\nsecond floor"\nR-2,x\n')).toBe(2);
    expect(countCsvRows('mrn,first_name\n')).toBe(0);
    expect(countCsvRows('')).toBe(0);
  });
});

describe('import progress bar', () => {
  it('waits (moving, no end) while queued, then measures rows read against the file, never 100 while running', () => {
    expect(importProgress(undefined, 10)).toMatchObject({ indeterminate: true, finished: false, label: 'Waiting to start' });
    expect(importProgress(detail({ status: 'queued' }), 10)).toMatchObject({ indeterminate: true, value: 0 });
    expect(importProgress(detail({ rowsRead: 4 }), 10)).toEqual({ value: 40, label: '4 of 10 rows read', finished: false, indeterminate: false });
    expect(importProgress(detail({ rowsRead: 10 }), 10)).toMatchObject({ value: 99, finished: false });
    expect(importProgress(detail({ rowsRead: 12 }), 10)).toMatchObject({ value: 99, label: '10 of 10 rows read' });
    expect(importProgress(detail({ rowsRead: 3 }), null)).toMatchObject({ indeterminate: true, label: '3 rows read' });
  });

  it('ends at 100 with the report’s row count when done, or the failure', () => {
    const done = detail({
      status: 'done',
      rowsRead: 2,
      report: {
        kind: 'patients',
        dryRun: true,
        committed: false,
        rows: 2,
        created: 0,
        updated: 0,
        duplicate: 0,
        invalid: 0,
        entries: [],
        entriesTruncated: false,
        entriesTotal: 0,
        limit: 100,
        offset: 0,
      },
    });
    expect(importProgress(done, 10)).toEqual({ value: 100, label: '2 rows read', finished: true, indeterminate: false });
    expect(importProgress(detail({ status: 'failed' }), 10)).toMatchObject({ value: 100, finished: true, label: 'The import failed' });
  });

  it('says what the finished import came to: a dry run writes nothing; an invalid row stops the file', () => {
    expect(importOutcome(detail({ status: 'done', created: 2 }))).toBe('Dry run: 2 new, 0 updated, 0 duplicate, 0 invalid. Nothing was written yet.');
    expect(importOutcome(detail({ status: 'done', invalid: 1 }))).toMatch(/^Dry run: .*1 invalid\. Fix the invalid rows/);
    expect(importOutcome(detail({ status: 'done', dryRun: false, committed: true, created: 2 }))).toBe('Imported: 2 new, 0 updated, 0 duplicate, 0 invalid.');
    expect(importOutcome(detail({ status: 'done', dryRun: false, committed: false, invalid: 1, message: 'row 2: mrn: no patient with this MRN; nothing was imported' }))).toBe(
      'Nothing was imported: row 2: mrn: no patient with this MRN; nothing was imported.',
    );
    expect(importOutcome(detail({ status: 'failed', message: 'the stored upload could not be read' }))).toBe('The import failed: the stored upload could not be read. Nothing was imported.');
  });
});
