import { sql, type Kysely } from 'kysely';
import { enableTenantRls } from './rls.js';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- A sync that spends its page budget commits what it fetched and continues on the next run
    -- (src/fhir/sync.ts). continuing: the sweep queues it again at once, whatever its interval.
    -- resume_enc: where it stopped (the server's next link and its resource type), envelope-
    -- encrypted (a server's URL may carry search state we cannot vouch for); NULL when none.
    ALTER TABLE fhir_sources
      ADD COLUMN continuing boolean NOT NULL DEFAULT false,
      ADD COLUMN resume_enc bytea;

    -- The meta.lastUpdated of the resource version last applied to the linked row: a resource the
    -- incremental search (_lastUpdated=ge<cursor>) answers again unchanged is not applied twice.
    ALTER TABLE fhir_resource_links ADD COLUMN last_updated timestamptz;

    -- Every import run of a practice, server syncs and NDJSON files alike, for its admins to see
    -- (GET /api/fhir/runs): counts and a reason code only, never a resource or a server's words.
    CREATE TABLE fhir_runs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      -- The order runs were recorded in (two may start in the same instant).
      seq bigint GENERATED ALWAYS AS IDENTITY,
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      kind text NOT NULL CHECK (kind IN ('sync', 'ndjson')),
      trigger text NOT NULL CHECK (trigger IN ('api', 'schedule')),
      -- An NDJSON file's resource type; NULL for a sync (both types).
      resource_type text CHECK (resource_type IN ('Patient', 'Appointment')),
      status text NOT NULL CHECK (status IN ('complete', 'partial', 'failed', 'dry_run', 'refused')),
      reason text CHECK (reason ~ '^[a-z_]{1,40}$'),
      counts jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(counts) = 'object'),
      started_at timestamptz NOT NULL,
      finished_at timestamptz NOT NULL
    );
    CREATE INDEX fhir_runs_practice_idx ON fhir_runs (practice_id, seq DESC);
  `.execute(db);
  await enableTenantRls(db, 'fhir_runs');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE fhir_runs;
    ALTER TABLE fhir_resource_links DROP COLUMN last_updated;
    ALTER TABLE fhir_sources DROP COLUMN continuing, DROP COLUMN resume_enc;
  `.execute(db);
}
