import { sql, type Kysely } from 'kysely';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- The provider access line (its voice URL is /twilio/voice/access): the number a voicemail
    -- notification tells providers to call. Must also be one of the practice's numbers.
    ALTER TABLE practices ADD COLUMN access_number text CHECK (access_number ~ '^\\+[1-9][0-9]{6,14}$');

    ALTER TABLE voicemails
      -- Log mode (no Twilio account): a generated placeholder was stored, not a real recording.
      ADD COLUMN simulated boolean NOT NULL DEFAULT false,
      -- Whether the last error was one a later retry may fix (the upkeep sweep retries those).
      ADD COLUMN last_error_transient boolean NOT NULL DEFAULT false,
      -- A stored voicemail whose job ran out of attempts on a later step (the audio is safe).
      ADD COLUMN dead_letter_reason text CHECK (dead_letter_reason IN ('twilio_delete_failed', 'notify_failed')),
      -- How often the upkeep sweep put it back on the queue.
      ADD COLUMN requeues integer NOT NULL DEFAULT 0;
    CREATE INDEX voicemails_upkeep_idx ON voicemails (updated_at)
      WHERE state IN ('received', 'stored', 'failed') OR (state = 'complete' AND notified_at IS NULL);

    -- Who has been told about a voicemail: one row per recipient, written only after the
    -- message went out, so a retry tells only those not told yet (at least once each).
    CREATE TABLE voicemail_notifications (
      voicemail_id uuid NOT NULL REFERENCES voicemails(id) ON DELETE CASCADE,
      recipient text NOT NULL CHECK (recipient ~ '^provider:[0-9a-f-]{36}$'),
      message_sid text NOT NULL,
      sent_at timestamptz NOT NULL,
      PRIMARY KEY (voicemail_id, recipient)
    );
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE voicemail_notifications;
    DROP INDEX voicemails_upkeep_idx;
    ALTER TABLE voicemails
      DROP COLUMN simulated, DROP COLUMN last_error_transient, DROP COLUMN dead_letter_reason,
      DROP COLUMN requeues;
    ALTER TABLE practices DROP COLUMN access_number;
  `.execute(db);
}
