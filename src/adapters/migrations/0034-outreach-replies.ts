import { sql, type Kysely } from 'kysely';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- Replies to outreach (issue 15, item 5; src/outreach/replies.ts). A ledger row names the
    -- appointment its message spoke of (set when an appointment message is claimed), so a "C"
    -- reply confirms that one; a patient's text that answered an outreach message names the
    -- ledger row it answered, so its task is an outreach reply (source outreach_reply). Ids only.
    ALTER TABLE outreach_sends ADD COLUMN appointment_id uuid REFERENCES appointments(id) ON DELETE SET NULL;
    ALTER TABLE patient_texts ADD COLUMN outreach_send_id uuid REFERENCES outreach_sends(id) ON DELETE SET NULL;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE patient_texts DROP COLUMN outreach_send_id;
    ALTER TABLE outreach_sends DROP COLUMN appointment_id;
  `.execute(db);
}
