import type { MigrationResultSet } from 'kysely';
import { describe, expect, it } from 'vitest';
import { retryingCatalogRaces } from '../../src/adapters/migrate.js';

/** What pg reports when a relation it was reading the catalog of was dropped meanwhile. */
const raced = (code: string): MigrationResultSet => ({ error: Object.assign(new Error('relation "t_x.calls_gone" does not exist'), { code }) });
const done: MigrationResultSet = { results: [{ migrationName: '0001-platform', direction: 'Up', status: 'Success' }] };

function scripted(answers: MigrationResultSet[]): { run: () => Promise<MigrationResultSet>; calls: () => number } {
  let n = 0;
  return {
    run: async () => answers[Math.min(n++, answers.length - 1)] as MigrationResultSet,
    calls: () => n,
  };
}

describe('migrations beside relations that come and go (another schema dropped during the catalog read)', () => {
  it('tries again while the failure came before any migration ran and names a relation, schema or column gone', async () => {
    const m = scripted([raced('42P01'), raced('3F000'), raced('42703'), done]);
    expect(await retryingCatalogRaces(m.run, 1)).toBe(done);
    expect(m.calls()).toBe(4);
  });

  it('does not repeat a migration that failed itself, or any other error', async () => {
    const failedMigration: MigrationResultSet = { ...raced('42P01'), results: [{ migrationName: '0010-audit-chains', direction: 'Up', status: 'Error' }] };
    const a = scripted([failedMigration, done]);
    expect(await retryingCatalogRaces(a.run, 1)).toBe(failedMigration);
    expect(a.calls()).toBe(1);
    const other = raced('28P01');
    const b = scripted([other, done]);
    expect(await retryingCatalogRaces(b.run, 1)).toBe(other);
    expect(b.calls()).toBe(1);
  });

  it('gives up after a bounded number of tries', async () => {
    const m = scripted([raced('42P01')]);
    expect((await retryingCatalogRaces(m.run, 1)).error).toBeDefined();
    expect(m.calls()).toBeLessThanOrEqual(12);
  });
});
