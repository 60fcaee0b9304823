import { sql, type Kysely } from 'kysely';
import { enableTenantRls } from './rls.js';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

/** Tables whose rows name their practice in `practice_id` (PHI or practice data). */
const BY_COLUMN = [
  'practice_numbers',
  'patients',
  'appointments',
  'calls',
  'api_keys',
  'audit_log',
  'providers',
  'oncall_schedules',
  'escalation_policies',
  'call_legs',
  'pages',
  'voicemails',
  'consent_disclosures',
  'consents',
  'opt_outs',
  'drop_templates',
  'vendor_baas',
  'campaigns',
  'drops',
  'verification_lockouts',
] as const;

/** Child tables: their practice is their parent's, read through the parent's own policy. */
const BY_PARENT: ReadonlyArray<readonly [string, string]> = [
  ['practices', 'id = ahl_practice_scope()'],
  ['oncall_overrides', 'EXISTS (SELECT 1 FROM oncall_schedules s WHERE s.id = schedule_id)'],
  ['page_deliveries', 'EXISTS (SELECT 1 FROM pages p WHERE p.id = page_id)'],
  ['playback_tokens', 'EXISTS (SELECT 1 FROM voicemails v WHERE v.id = voicemail_id)'],
  ['voicemail_notifications', 'EXISTS (SELECT 1 FROM voicemails v WHERE v.id = voicemail_id)'],
];

export async function up(db: Kysely<unknown>): Promise<void> {
  // Roles belong to the cluster, not the schema: made once, by whichever migration gets there
  // first (test schemas migrate side by side), and granted to the migrating user so that the
  // service's pools, connecting as that user, can take them (SET ROLE at connection start).
  await sql`
    DO $$
    BEGIN
      -- ahl_tenant logs in as itself (DATABASE_TENANT_URL): a request's connection has no other
      -- role to SET ROLE back to. Production gives it a password (ALTER ROLE … PASSWORD).
      BEGIN
        CREATE ROLE ahl_tenant LOGIN NOINHERIT;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
      END;
      BEGIN
        ALTER ROLE ahl_tenant LOGIN;
      -- Altered concurrently by another schema's migration: it is LOGIN either way.
      EXCEPTION WHEN OTHERS THEN NULL;
      END;
      BEGIN
        CREATE ROLE ahl_system NOLOGIN NOINHERIT;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
      END;
      BEGIN
        EXECUTE format('GRANT ahl_system TO %I', current_user);
      -- Granted already, or concurrently by another schema's migration; should it truly fail,
      -- the service's first connection says so (it cannot take the role).
      EXCEPTION WHEN OTHERS THEN NULL;
      END;
    END
    $$;
  `.execute(db);

  await sql`
    -- The practice a tenant session acts for. No practice named: the statement is refused
    -- (42501) rather than answered with nothing, so a query without a scope fails loudly.
    CREATE FUNCTION ahl_practice_scope() RETURNS uuid LANGUAGE plpgsql STABLE AS $fn$
    DECLARE
      named text := current_setting('app.practice_id', true);
    BEGIN
      IF named IS NULL OR named = '' THEN
        RAISE EXCEPTION 'query without a practice scope' USING ERRCODE = '42501';
      END IF;
      RETURN named::uuid;
    END
    $fn$;

    DO $$
    BEGIN
      EXECUTE format('GRANT USAGE ON SCHEMA %I TO ahl_tenant, ahl_system', current_schema());
      EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA %I TO ahl_system', current_schema());
      EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO ahl_system, ahl_tenant', current_schema());
      -- Tables and sequences made by later migrations: the system role may use them all; the
      -- tenant role only those a migration opens to it (enableTenantRls).
      EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON TABLES TO ahl_system', current_schema());
      EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO ahl_system, ahl_tenant', current_schema());
    END
    $$;
  `.execute(db);

  for (const table of BY_COLUMN) await enableTenantRls(db, table);
  for (const [table, owner] of BY_PARENT) await enableTenantRls(db, table, owner);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [...BY_COLUMN, ...BY_PARENT.map(([t]) => t)]) {
    await sql`DROP POLICY IF EXISTS tenant_rows ON ${sql.id(table)}`.execute(db);
    await sql`DROP POLICY IF EXISTS system_rows ON ${sql.id(table)}`.execute(db);
    await sql`ALTER TABLE ${sql.id(table)} DISABLE ROW LEVEL SECURITY`.execute(db);
    await sql`REVOKE ALL ON ${sql.id(table)} FROM ahl_tenant`.execute(db);
  }
  await sql`DROP FUNCTION ahl_practice_scope()`.execute(db);
}
