import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from './db-schema.js';

export type Db = Kysely<Database>;

/**
 * Opens a pool whose connections all use `schema` as their search path, so the same
 * queries serve production (`public`) and tests (one schema per test file).
 */
export function createDb(url: string, schema: string, max = 10): Db {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error('invalid schema name');
  const pool = new pg.Pool({
    connectionString: url,
    max,
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    application_name: 'after-hours-line',
  });
  // An idle client that dies (server restart) must not crash the process.
  pool.on('error', () => undefined);
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

export async function ensureSchema(db: Db, schema: string): Promise<void> {
  await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(db);
}

export async function pingDb(db: Db): Promise<void> {
  await sql`SELECT 1`.execute(db);
}
