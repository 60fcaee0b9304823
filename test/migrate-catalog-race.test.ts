import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { createDb } from '../src/adapters/postgres.js';
import { migrateToLatest } from '../src/adapters/migrate.js';

/**
 * Kysely's migrator reads the catalog of every schema before it starts. Test schemas (and other
 * services' deploys) create and drop tables beside it: a relation dropped during that read must
 * not fail the start. Here a second connection keeps creating and dropping tables while fresh
 * schemas are migrated.
 */
const URL_ = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const tag = randomBytes(4).toString('hex');
const churnSchema = `t_catalog_churn_${tag}`;
const schemas: string[] = [];

afterAll(async () => {
  const admin = createDb(URL_, 'public', 1, { statementMs: 0, queryMs: 0 });
  try {
    for (const s of [churnSchema, ...schemas]) await sql`DROP SCHEMA IF EXISTS ${sql.id(s)} CASCADE`.execute(admin);
  } finally {
    await admin.destroy();
  }
});

describe('migrations beside tables that come and go', () => {
  it('migrate fresh schemas while another connection creates and drops tables', async () => {
    const churn = createDb(URL_, 'public', 1, { statementMs: 0, queryMs: 0 });
    await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(churnSchema)}`.execute(churn);
    let churning = true;
    const churner = (async (): Promise<void> => {
      for (let i = 0; churning && i < 20_000; i += 1) {
        const t = sql.id(churnSchema, `c${i % 4}`);
        await sql`CREATE TABLE IF NOT EXISTS ${t} (a int, b text, c int)`.execute(churn);
        await sql`DROP TABLE IF EXISTS ${t}`.execute(churn);
      }
    })();
    try {
      for (let i = 0; i < 8; i += 1) {
        const schema = `t_catalog_race_${tag}_${i}`;
        schemas.push(schema);
        const db = createDb(URL_, schema, 1, { statementMs: 0, queryMs: 0 });
        try {
          const applied = await migrateToLatest(db, schema);
          expect(applied.length).toBeGreaterThan(0);
        } finally {
          await db.destroy();
        }
      }
    } finally {
      churning = false;
      await churner;
      await churn.destroy();
    }
  }, 120_000);
});
