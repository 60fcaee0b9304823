import { sql, type Kysely } from 'kysely';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

/**
 * Practices that move in without SQL (issue 12):
 * - `api_keys`: the platform `operator` role, a key that belongs to no practice. Only an
 *   operator key has no practice, and an operator key never has one. Row-level security (0011)
 *   already keeps such a row from every tenant session (`practice_id = ahl_practice_scope()`
 *   is never true of NULL).
 * - `practices.suspended_at`: a suspended practice's calls still get the fail-safe answer (the
 *   emergency disclaimer and its fallback line) and its API keys get 403; NULL: active.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE api_keys DROP CONSTRAINT api_keys_role_check;
    ALTER TABLE api_keys
      ALTER COLUMN practice_id DROP NOT NULL,
      ADD CONSTRAINT api_keys_role_check CHECK (role IN ('admin', 'staff', 'provider', 'auditor', 'operator')),
      ADD CONSTRAINT api_keys_operator_has_no_practice CHECK ((role = 'operator') = (practice_id IS NULL));
    ALTER TABLE practices ADD COLUMN suspended_at timestamptz;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE practices DROP COLUMN suspended_at;
    DELETE FROM api_keys WHERE role = 'operator';
    ALTER TABLE api_keys DROP CONSTRAINT api_keys_operator_has_no_practice;
    ALTER TABLE api_keys DROP CONSTRAINT api_keys_role_check;
    ALTER TABLE api_keys
      ALTER COLUMN practice_id SET NOT NULL,
      ADD CONSTRAINT api_keys_role_check CHECK (role IN ('admin', 'staff', 'provider', 'auditor'));
  `.execute(db);
}
