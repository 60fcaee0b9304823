import { sql, type Kysely } from 'kysely';

/**
 * Row-level security for one practice-owned table, as migrations apply it (0011 and every later
 * table that holds PHI or practice data). Never change what this emits: landed migrations call it.
 *
 * Two named roles (created by 0011, shared by every schema of the cluster) are the only ones the
 * running service uses; the migration owner creates tables and is never a request's role.
 * - `ahl_tenant`: a request's role. It sees and writes only the rows of the practice its session
 *   names in `app.practice_id` (set by the tenant pool at every checkout, src/adapters/postgres.ts);
 *   with no practice named, `ahl_practice_scope()` raises and the statement is refused.
 * - `ahl_system`: workers, sweeps and the webhook path's lookups that must cross practices.
 *
 * `owner` is how a row names its practice: a column (`practice_id`), or for a child table an
 * expression over its parent (`EXISTS (SELECT 1 FROM pages p WHERE p.id = page_id)`), which is
 * itself filtered by the parent's policy.
 */
export async function enableTenantRls(db: Kysely<unknown>, table: string, owner: string = 'practice_id = ahl_practice_scope()'): Promise<void> {
  const t = sql.id(table);
  await sql`ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY`.execute(db);
  await sql`CREATE POLICY tenant_rows ON ${t} AS PERMISSIVE FOR ALL TO ahl_tenant USING (${sql.raw(owner)}) WITH CHECK (${sql.raw(owner)})`.execute(db);
  await sql`CREATE POLICY system_rows ON ${t} AS PERMISSIVE FOR ALL TO ahl_system USING (true) WITH CHECK (true)`.execute(db);
  await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON ${t} TO ahl_tenant`.execute(db);
}
