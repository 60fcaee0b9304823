import { sql, type Kysely } from 'kysely';
import { enableTenantRls } from './rls.js';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- A patient's e-mail address (issue 15, item 3): sealed like the other identifiers
    -- (src/patients/store.ts, field 'email') and found only by its blind index (HMAC of the
    -- trimmed, lower-cased address).
    ALTER TABLE patients ADD COLUMN email_enc bytea;
    ALTER TABLE patients ADD COLUMN email_index text;
    ALTER TABLE patients ADD CONSTRAINT patients_email_sealed CHECK ((email_enc IS NULL) = (email_index IS NULL));
    CREATE INDEX patients_email_index ON patients (practice_id, email_index) WHERE email_index IS NOT NULL;

    -- E-mail opt-outs, per practice and address (blind index), as opt_outs is for numbers: an
    -- address that unsubscribed (the link in every notice, its one-click POST) or that staff
    -- opted out is never sent a notice by that practice again. Nothing removes a row.
    CREATE TABLE email_opt_outs (
      practice_id uuid NOT NULL REFERENCES practices(id),
      email_index text NOT NULL,
      source text NOT NULL CHECK (source IN ('unsubscribe_link', 'staff', 'api')),
      recorded_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (practice_id, email_index)
    );

    -- The practice's patient portal, the link of the "a message is waiting at your portal" notice.
    ALTER TABLE practices ADD COLUMN patient_portal_url text CHECK (patient_portal_url IS NULL OR (patient_portal_url ~ '^https://[^[:space:]]+$' AND length(patient_portal_url) <= 300));
  `.execute(db);
  await enableTenantRls(db, 'email_opt_outs');
  // An opt-out is for good: the tenant role may add one, never take one back.
  await sql`REVOKE UPDATE, DELETE ON email_opt_outs FROM ahl_tenant`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE practices DROP COLUMN patient_portal_url;
    DROP TABLE email_opt_outs;
    DROP INDEX patients_email_index;
    ALTER TABLE patients DROP CONSTRAINT patients_email_sealed;
    ALTER TABLE patients DROP COLUMN email_index;
    ALTER TABLE patients DROP COLUMN email_enc;
  `.execute(db);
}
