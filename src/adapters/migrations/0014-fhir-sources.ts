import { sql, type Kysely } from 'kysely';
import { enableTenantRls } from './rls.js';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- A practice's EHR (FHIR R4 server, SMART Backend Services): one per practice.
    CREATE TABLE fhir_sources (
      practice_id uuid PRIMARY KEY REFERENCES practices(id) ON DELETE CASCADE,
      base_url text NOT NULL CHECK (base_url ~ '^https?://' AND length(base_url) <= 500),
      token_url text NOT NULL CHECK (token_url ~ '^https?://' AND length(token_url) <= 500),
      client_id text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 200),
      -- The identifier system whose value is the practice's MRN.
      mrn_system text NOT NULL CHECK (length(mrn_system) BETWEEN 1 AND 500),
      -- The client's private JWK, envelope-encrypted (AWS Encryption SDK, context: table, field,
      -- practice). Never returned by the API; the key id and algorithm are not secret.
      private_key_enc bytea NOT NULL,
      key_id text NOT NULL CHECK (length(key_id) BETWEEN 1 AND 200),
      algorithm text NOT NULL CHECK (algorithm IN ('RS384', 'ES384')),
      -- Minutes between scheduled syncs; NULL: only on demand (POST /api/fhir/sync).
      interval_minutes integer CHECK (interval_minutes BETWEEN 5 AND 10080),
      -- Per resource type, the greatest meta.lastUpdated imported: the next run asks for newer ones.
      cursors jsonb NOT NULL DEFAULT '{}'::jsonb,
      last_attempt_at timestamptz,
      last_synced_at timestamptz,
      -- Counts, or an error's reason code: never a resource or a server's words.
      last_result jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX fhir_sources_due_idx ON fhir_sources (last_attempt_at) WHERE interval_minutes IS NOT NULL;

    -- Which of our rows a FHIR resource became: Appointments name their patient by resource id,
    -- and a resource imported again updates its row instead of adding one.
    CREATE TABLE fhir_resource_links (
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      resource_type text NOT NULL CHECK (resource_type IN ('Patient', 'Appointment')),
      resource_id text NOT NULL CHECK (length(resource_id) BETWEEN 1 AND 64),
      local_id uuid NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (practice_id, resource_type, resource_id)
    );
  `.execute(db);
  await enableTenantRls(db, 'fhir_sources');
  await enableTenantRls(db, 'fhir_resource_links');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE fhir_resource_links;
    DROP TABLE fhir_sources;
  `.execute(db);
}
