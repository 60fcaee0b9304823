import { sql, type Kysely } from 'kysely';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE api_keys
      -- NULL: the key never expires (created with --expires-in none). Keys made before this
      -- migration keep working until revoked.
      ADD COLUMN expires_at timestamptz,
      -- When the key last authenticated a request; written at most once a minute per key.
      ADD COLUMN last_used_at timestamptz;
    CREATE INDEX api_keys_practice_idx ON api_keys (practice_id, created_at);
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP INDEX api_keys_practice_idx;
    ALTER TABLE api_keys DROP COLUMN last_used_at, DROP COLUMN expires_at;
  `.execute(db);
}
