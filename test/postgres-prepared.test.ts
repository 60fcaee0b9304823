import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createDb, type Db } from '../src/adapters/postgres.js';
import { startHarness, type Harness } from './support/harness.js';

/** The adapter prepares a statement once per connection when its text starts with the name marker. */

let h: Harness;
let db: Db;

beforeAll(async () => {
  h = await startHarness('pg_prepared', { SEED_DEMO: 'false' });
  // One connection, so every query below runs where the earlier ones were prepared.
  db = createDb(h.config.database.url, h.schema, 1);
});
afterAll(async () => {
  await db.destroy();
  await h.close();
});

const prepared = async (): Promise<string[]> =>
  (await sql<{ name: string }>`SELECT name FROM pg_prepared_statements ORDER BY name`.execute(db)).rows.map((r) => r.name);

describe('statements named by the marker', () => {
  it('are prepared once per connection and answer for each set of parameters; others are not prepared', async () => {
    expect(await prepared()).toEqual([]);
    const square = async (n: number): Promise<number> =>
      (await sql<{ sq: number }>`/* prepared: test_square */ SELECT (${n}::int * ${n}::int) AS sq`.execute(db)).rows[0]?.sq ?? -1;
    expect([await square(2), await square(3), await square(12)]).toEqual([4, 9, 144]);
    await sql`SELECT ${'not prepared'}::text AS t`.execute(db);
    expect(await prepared()).toEqual(['test_square']);
  });

  it('inside a schema of their own: the search path is the pool’s', async () => {
    await sql`CREATE TABLE prepared_probe (n int)`.execute(db);
    await sql`/* prepared: test_probe_insert */ INSERT INTO prepared_probe (n) SELECT unnest(${[1, 2, 3]}::int[])`.execute(db);
    await sql`/* prepared: test_probe_insert */ INSERT INTO prepared_probe (n) SELECT unnest(${[4]}::int[])`.execute(db);
    const rows = await sql<{ n: number }>`SELECT n FROM ${sql.id(h.schema)}.prepared_probe ORDER BY n`.execute(db);
    expect(rows.rows.map((r) => r.n)).toEqual([1, 2, 3, 4]);
  });
});
