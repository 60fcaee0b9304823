import { sql, type Kysely } from 'kysely';
import { enableTenantRls } from './rls.js';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- A practice's own phone trees: every upload is a new version, kept (the text as uploaded,
    -- YAML or JSON), so a change can be rolled back and an auditor can read what callers heard.
    CREATE TABLE practice_flows (
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      flow_id text NOT NULL CHECK (flow_id ~ '^[a-z0-9][a-z0-9_-]{0,59}$'),
      version integer NOT NULL CHECK (version >= 1),
      format text NOT NULL CHECK (format IN ('yaml', 'json')),
      source text NOT NULL CHECK (length(source) <= 262144),
      description text NOT NULL,
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (practice_id, flow_id, version)
    );

    -- NULL: the number runs the built-in flow named by flow_id; a version: the practice's own.
    ALTER TABLE practice_numbers ADD COLUMN flow_version integer CHECK (flow_version >= 1);

    -- Every activation of a flow on a line, in order: "roll back" activates the one before.
    CREATE TABLE line_flow_activations (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      e164 text NOT NULL CHECK (e164 ~ '^\\+[1-9][0-9]{6,14}$'),
      flow_id text NOT NULL,
      flow_version integer,
      activated_by text NOT NULL,
      activated_at timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    CREATE INDEX line_flow_activations_line_idx ON line_flow_activations (practice_id, e164, id DESC);

    -- People and places a flow may transfer to: a nurse line, an answering team, a hospital
    -- operator. Business numbers, not PHI.
    CREATE TABLE practice_contacts (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      key text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,39}$'),
      label text NOT NULL CHECK (length(label) BETWEEN 1 AND 80),
      number text NOT NULL CHECK (number ~ '^\\+[1-9][0-9]{6,14}$'),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (practice_id, key)
    );
  `.execute(db);
  for (const table of ['practice_flows', 'line_flow_activations', 'practice_contacts']) await enableTenantRls(db, table);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE practice_contacts;
    DROP TABLE line_flow_activations;
    ALTER TABLE practice_numbers DROP COLUMN flow_version;
    DROP TABLE practice_flows;
  `.execute(db);
}
