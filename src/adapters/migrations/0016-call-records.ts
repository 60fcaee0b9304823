import { sql, type Kysely } from 'kysely';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- Every call on record, with the number to call back (issue 12, item 8). The caller's number
    -- is sealed by the application (envelope encryption, the practice and the call in the
    -- encryption context) beside its blind index (from_index); NULL for a withheld number.
    -- What happened is kept on the row as the call goes, written by the same statement that
    -- records each webhook (src/calls/records.ts), so listing calls reads one table.
    ALTER TABLE calls
      ADD COLUMN from_enc bytea,
      ADD COLUMN patient_id uuid REFERENCES patients(id) ON DELETE SET NULL,
      ADD COLUMN match text CHECK (match IN ('verified', 'number', 'unknown')),
      ADD COLUMN path jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(path) = 'array'),
      ADD COLUMN outcome text CHECK (outcome IN
        ('handed_to_provider', 'urgent_voicemail', 'message', 'transferred', 'abandoned_at_menu', 'fail_safe', 'completed_other')),
      ADD COLUMN urgency text CHECK (urgency IN ('urgent', 'routine')),
      ADD COLUMN ended_at timestamptz,
      ADD COLUMN duration_seconds integer CHECK (duration_seconds >= 0);

    -- A call's voicemails, for the list's link from a call to them.
    CREATE INDEX voicemails_call_idx ON voicemails (call_sid);
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP INDEX voicemails_call_idx;
    ALTER TABLE calls
      DROP COLUMN from_enc, DROP COLUMN patient_id, DROP COLUMN match, DROP COLUMN path,
      DROP COLUMN outcome, DROP COLUMN urgency, DROP COLUMN ended_at, DROP COLUMN duration_seconds;
  `.execute(db);
}
