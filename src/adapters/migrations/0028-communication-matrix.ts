import { sql, type Kysely } from 'kysely';
import { enableTenantRls } from './rls.js';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- A practice's communication matrix (issue 15, item 1; src/outreach/matrix.ts): every PUT adds
    -- a version, the current one is the highest; a practice without a row uses the defaults.
    -- cells: the whole matrix (message type → channel → { allowed, detail }), checked by the API.
    CREATE TABLE communication_matrices (
      practice_id uuid NOT NULL REFERENCES practices(id),
      version integer NOT NULL CHECK (version >= 1),
      cells jsonb NOT NULL,
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (practice_id, version)
    );

    -- The message type a drop template sends (its matrix row). Existing templates are of the
    -- type their purpose names: each purpose is one of the message types.
    ALTER TABLE drop_templates ADD COLUMN message_type text;
    UPDATE drop_templates SET message_type = purpose;
    ALTER TABLE drop_templates ALTER COLUMN message_type SET NOT NULL;
    ALTER TABLE drop_templates ADD CONSTRAINT drop_templates_message_type CHECK (message_type IN (
      'appointment_reminder', 'appointment_confirmation', 'recall', 'office_closure',
      'billing_callback', 'callback_request', 'results_ready'
    ));
  `.execute(db);
  await enableTenantRls(db, 'communication_matrices');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE drop_templates DROP COLUMN message_type;
    DROP TABLE communication_matrices;
  `.execute(db);
}
