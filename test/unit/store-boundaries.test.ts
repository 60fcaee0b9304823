import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Each domain owns its queries in its store: routes and the domain modules that decide (paging,
 * the voicemail pipeline and upkeep, campaigns, the drop worker, the CSV import job) call store functions and build
 * no SQL. A query written in one of them fails here, naming the file and line.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const QUERY = /\.(selectFrom|insertInto|updateTable|deleteFrom|replaceInto|mergeInto)\(|\bsql\s*(<[^>]*>)?\s*`/;

const DECIDERS = [
  'src/oncall/paging.ts',
  'src/oncall/sms-service.ts',
  'src/voicemail/pipeline.ts',
  'src/voicemail/maintenance.ts',
  'src/voicemail/notify.ts',
  'src/voicemail/recovery.ts',
  'src/voicemail/stream.ts',
  'src/drops/campaigns.ts',
  'src/drops/drop-worker.ts',
  'src/drops/drop-service.ts',
  'src/practices/lines.ts',
  'src/patients/import-requests.ts',
  'src/patients/import-worker.ts',
  'src/outreach/email-notice.ts',
];

function routeFiles(): string[] {
  return readdirSync(path.join(ROOT, 'src/http'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => `src/http/${f}`);
}

/** `file:line: text` for every line of the file that builds a query. */
function queriesIn(relative: string, text = readFileSync(path.join(ROOT, relative), 'utf8')): string[] {
  return text.split('\n').flatMap((line, i) => (QUERY.test(line) ? [`${relative}:${i + 1}: ${line.trim()}`] : []));
}

describe('queries live in stores', () => {
  it('no route builds a query', () => {
    const files = routeFiles();
    expect(files.length).toBeGreaterThan(10);
    expect(files.flatMap((f) => queriesIn(f))).toEqual([]);
  });

  it('no deciding domain module builds a query', () => {
    expect(DECIDERS.flatMap((f) => queriesIn(f))).toEqual([]);
  });

  it('the check sees the forms a query takes', () => {
    const sample = ["const a = await db.selectFrom('pages');", "await services.db\n  .updateTable('drops')", 'await sql`SELECT 1`.execute(db);', 'const r = await sql<{ n: number }>`SELECT 1`;', "const s = 'selectFrom';"].join('\n');
    expect(queriesIn('sample.ts', sample).map((l) => l.split(':')[1])).toEqual(['1', '3', '4', '5']);
  });
});
