import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createDb, type Db } from '../src/adapters/postgres.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { systemScope } from '../src/tenancy/system-scope.js';
import { startHarness, type Harness } from './support/harness.js';

/**
 * Tenancy below the routes (migration 0011, src/tenancy/): the service never runs as the tables'
 * owner. `ahl_tenant` connections see and write one practice's rows, the one the connection
 * names; a tenant query with no practice named is refused by PostgreSQL itself; `ahl_system`
 * (workers, sweeps) crosses practices.
 */

let h: Harness;
let a: string;
let b: string;
/** A raw `ahl_tenant` pool that never names a practice: what a query "without a scope" would run on. */
let unscoped: Db;

async function makePractice(name: string): Promise<string> {
  const row = await h.services.db
    .insertInto('practices')
    .values({ name, slug: name.toLowerCase().replace(/[^a-z0-9]+/g, '-'), time_zone: 'America/New_York' } as never)
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

beforeAll(async () => {
  h = await startHarness('tenancy_rls');
  a = await makePractice('Practice A');
  b = await makePractice('Practice B');
  for (const [practice, n] of [[a, 1], [b, 2]] as const) {
    await h.services.db
      .insertInto('providers')
      .values({ practice_id: practice, display_name: `Provider ${n}`, phone: `+1202555010${n}` } as never)
      .execute();
  }
  unscoped = createDb(h.services.config.database.tenantUrl, h.schema, 1);
});
afterAll(async () => {
  await unscoped?.destroy();
  await h?.close();
});

describe('row-level security', () => {
  it('the service pools run as the named roles, never as the owner', async () => {
    const sys = await sql<{ u: string }>`SELECT current_user AS u`.execute(h.services.db);
    expect(sys.rows[0]?.u).toBe('ahl_system');
    const ten = await sql<{ u: string; p: string }>`SELECT current_user AS u, current_setting('app.practice_id') AS p`.execute(tenantScope(h.services, a).db);
    expect(ten.rows[0]).toEqual({ u: 'ahl_tenant', p: a });
  });

  it('a tenant connection logs in as ahl_tenant: no role to return to, no other practice after SET ROLE NONE', async () => {
    const scopeA = tenantScope(h.services, a);
    await scopeA.db.connection().execute(async (conn) => {
      const who = await sql<{ s: string }>`SELECT session_user AS s`.execute(conn);
      expect(who.rows[0]?.s).toBe('ahl_tenant');
      await sql`SET ROLE NONE`.execute(conn);
      const rows = await conn.selectFrom('providers').select('practice_id').execute();
      expect(rows.map((r) => r.practice_id)).toEqual([a]);
      await expect(sql`SET ROLE ahl_system`.execute(conn)).rejects.toThrow(/permission denied/);
    });
  });

  it('refuses a tenant query that names no practice', async () => {
    await expect(unscoped.selectFrom('providers').select('id').execute()).rejects.toThrow(/query without a practice scope/);
    await expect(
      unscoped.insertInto('providers').values({ practice_id: a, display_name: 'Nobody', phone: '+12025550109' } as never).execute(),
    ).rejects.toThrow(/query without a practice scope/);
  });

  it('shows a scope its own practice rows only, even when the query names no practice', async () => {
    const rows = await tenantScope(h.services, a).db.selectFrom('providers').select(['practice_id']).execute();
    expect(rows.length).toBe(1);
    expect(rows.every((r) => r.practice_id === a)).toBe(true);
    const practices = await tenantScope(h.services, b).db.selectFrom('practices').select('id').execute();
    expect(practices.map((p) => p.id)).toEqual([b]);
  });

  it("refuses to write a row into another practice, and cannot change or delete another practice's rows", async () => {
    const scopeA = tenantScope(h.services, a);
    await expect(
      scopeA.db.insertInto('providers').values({ practice_id: b, display_name: 'Intruder', phone: '+12025550108' } as never).execute(),
    ).rejects.toThrow(/row-level security/);
    const updated = await scopeA.db.updateTable('providers').set({ display_name: 'Renamed' }).where('practice_id', '=', b).executeTakeFirst();
    expect(Number(updated.numUpdatedRows)).toBe(0);
    const deleted = await scopeA.db.deleteFrom('providers').where('practice_id', '=', b).executeTakeFirst();
    expect(Number(deleted.numDeletedRows)).toBe(0);
    const bRows = await h.services.db.selectFrom('providers').select('display_name').where('practice_id', '=', b).execute();
    expect(bRows.map((r) => r.display_name)).toEqual(['Provider 2']);
  });

  it('a connection names the practice of each checkout: one pool serves both practices in turn', async () => {
    for (let i = 0; i < 5; i += 1) {
      const [ra, rb] = await Promise.all([
        tenantScope(h.services, a).db.selectFrom('providers').select('practice_id').execute(),
        tenantScope(h.services, b).db.selectFrom('providers').select('practice_id').execute(),
      ]);
      expect(ra.map((r) => r.practice_id)).toEqual([a]);
      expect(rb.map((r) => r.practice_id)).toEqual([b]);
    }
  });

  it('child tables follow their parent: overrides of another practice’s schedule are invisible', async () => {
    const providerB = await h.services.db.selectFrom('providers').select('id').where('practice_id', '=', b).executeTakeFirstOrThrow();
    const schedule = await h.services.db
      .insertInto('oncall_schedules')
      .values({ practice_id: b, name: 'B nights', time_zone: 'America/New_York', rotation: JSON.stringify({ kind: 'weekly', handoff: 'mon 08:00', providers: [providerB.id] }) } as never)
      .returning('id')
      .executeTakeFirstOrThrow();
    await h.services.db
      .insertInto('oncall_overrides')
      .values({ schedule_id: schedule.id, provider_id: providerB.id, starts_at: new Date('2026-12-01T00:00:00Z'), ends_at: new Date('2026-12-02T00:00:00Z') } as never)
      .execute();
    expect(await tenantScope(h.services, a).db.selectFrom('oncall_overrides').select('id').execute()).toEqual([]);
    expect((await tenantScope(h.services, b).db.selectFrom('oncall_overrides').select('id').execute()).length).toBe(1);
  });

  it('every table with a practice_id, and every table the tenant role may touch, has row-level security and both policies', async () => {
    const tables = await sql<{ t: string; rls: boolean; policies: string[] }>`
      SELECT c.relname AS t, c.relrowsecurity AS rls,
             coalesce((SELECT array_agg(p.polname ORDER BY p.polname) FROM pg_policy p WHERE p.polrelid = c.oid), '{}') AS policies
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ${h.schema} AND c.relkind = 'r'
        AND (EXISTS (SELECT 1 FROM information_schema.columns col WHERE col.table_schema = n.nspname AND col.table_name = c.relname AND col.column_name = 'practice_id')
             OR has_table_privilege('ahl_tenant', c.oid, 'SELECT'))
      ORDER BY 1`.execute(h.services.db);
    expect(tables.rows.length).toBeGreaterThan(20);
    const unguarded = tables.rows.filter((r) => !r.rls || !['system_rows', 'tenant_rows'].every((p) => r.policies.includes(p))).map((r) => r.t);
    expect(unguarded).toEqual([]);
  });

  it('a worker scope crosses practices through the system role', async () => {
    const rows = await systemScope(h.services, a).db.selectFrom('providers').select('practice_id').execute();
    const seen = new Set(rows.map((r) => r.practice_id));
    expect(seen.has(a) && seen.has(b)).toBe(true);
  });
});
