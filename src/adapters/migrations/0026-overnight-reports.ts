import { sql, type Kysely } from 'kysely';
import { enableTenantRls } from './rls.js';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- The morning report's summary (issue 13, item 8), one per practice and closed period (named
    -- by the local date the practice opens on): the row makes the sweep that sends it idempotent.
    -- claimed_at: a sweep is sending it (another sweep leaves it alone until the claim is stale);
    -- sent_at: sent. counts holds the summary's numbers only (no patient data, no names).
    CREATE TABLE overnight_reports (
      practice_id uuid NOT NULL REFERENCES practices(id),
      period_date text NOT NULL CHECK (period_date ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'),
      period_start timestamptz NOT NULL,
      period_end timestamptz NOT NULL CHECK (period_end > period_start),
      counts jsonb NOT NULL DEFAULT '{}'::jsonb,
      recipients integer NOT NULL DEFAULT 0 CHECK (recipients >= 0),
      claimed_at timestamptz,
      sent_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (practice_id, period_date)
    );
  `.execute(db);
  await enableTenantRls(db, 'overnight_reports');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE overnight_reports`.execute(db);
}
