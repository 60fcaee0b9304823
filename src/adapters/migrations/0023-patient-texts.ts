import { sql, type Kysely } from 'kysely';
import { enableTenantRls } from './rls.js';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- A patient's text to a practice number (issue 13, item 6): stored before Twilio is answered,
    -- so that none is dropped. The sender's number and the text are sealed by the application
    -- (envelope encryption, the table, the text's id and the practice in the encryption context);
    -- the number is searchable only through its blind index. A Twilio retry carries the same
    -- MessageSid: the unique key makes it a no-op.
    CREATE TABLE patient_texts (
      id uuid PRIMARY KEY,
      practice_id uuid NOT NULL REFERENCES practices(id),
      message_sid text NOT NULL CHECK (message_sid ~ '^(SM|MM)[0-9a-f]{32}$'),
      from_index text NOT NULL CHECK (from_index ~ '^[0-9a-f]{64}$'),
      from_enc bytea NOT NULL,
      -- NULL: the message had no text (media only).
      body_enc bytea,
      body_chars integer NOT NULL CHECK (body_chars BETWEEN 0 AND 1600),
      media_count integer NOT NULL DEFAULT 0 CHECK (media_count BETWEEN 0 AND 10),
      -- As calls.match: a text is never 'verified' (nothing proves who holds the phone), but the set is the calls'.
      match text NOT NULL CHECK (match IN ('verified', 'number', 'unknown')),
      patient_id uuid REFERENCES patients(id) ON DELETE SET NULL,
      received_at timestamptz NOT NULL,
      -- The callback task made from it (src/tasks/, built beside this); no foreign key until that table lands.
      task_id uuid,
      UNIQUE (practice_id, message_sid)
    );
    CREATE INDEX patient_texts_list_idx ON patient_texts (practice_id, received_at DESC);
    CREATE INDEX patient_texts_from_idx ON patient_texts (practice_id, from_index);

    -- The automatic reply to a patient's text; NULL: the built-in one (src/texts/replies.ts).
    ALTER TABLE practices ADD COLUMN sms_auto_reply text CHECK (length(sms_auto_reply) BETWEEN 1 AND 320);

    -- One code for the doctor (issue 13, item 7): a voicemail left on a paged call takes its page's
    -- reference code, so the code that plays the message also stops the paging. A call may leave
    -- more than one recording, so a code is no longer unique among voicemails; new codes are
    -- still drawn unused in both tables (src/oncall/paging-store.ts, src/voicemail/store.ts).
    ALTER TABLE voicemails DROP CONSTRAINT voicemails_reference_code_key;
    CREATE INDEX voicemails_reference_idx ON voicemails (practice_id, reference_code);

    -- START (UNSTOP, YES) removes a number's opt-out. opt_outs stays closed to UPDATE, and to a
    -- DELETE unless the transaction names the opt-in that removes it (src/consent/store.ts,
    -- removeOptOut; audited there): a stray DELETE is still refused.
    CREATE FUNCTION opt_outs_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' AND current_setting('ahl.opt_in', true) = 'sms_start' THEN
        RETURN OLD;
      END IF;
      RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
    END;
    $$;
    DROP TRIGGER opt_outs_no_update_delete ON opt_outs;
    CREATE TRIGGER opt_outs_no_update_delete BEFORE UPDATE OR DELETE ON opt_outs
      FOR EACH ROW EXECUTE FUNCTION opt_outs_refuse_change();
  `.execute(db);
  await enableTenantRls(db, 'patient_texts');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TRIGGER opt_outs_no_update_delete ON opt_outs;
    CREATE TRIGGER opt_outs_no_update_delete BEFORE UPDATE OR DELETE ON opt_outs
      FOR EACH ROW EXECUTE FUNCTION consents_refuse_change();
    DROP FUNCTION opt_outs_refuse_change();
    DROP INDEX voicemails_reference_idx;
    ALTER TABLE voicemails ADD CONSTRAINT voicemails_reference_code_key UNIQUE (reference_code);
    ALTER TABLE practices DROP COLUMN sms_auto_reply;
    DROP TABLE patient_texts;
  `.execute(db);
}
