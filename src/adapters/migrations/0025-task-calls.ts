import { sql, type Kysely } from 'kysely';
import { enableTenantRls } from './rls.js';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- A person's own phone, for calling patients back through the practice line (issue 13,
    -- item 5): sealed by the application (context: table, field, user), never in clear.
    -- Providers call from their provider phone; this is for staff and admins.
    ALTER TABLE users ADD COLUMN phone_enc bytea;

    -- What a call placed through the practice line can come to, beside what staff record by hand:
    -- busy, failed, the caller's own leg never connected to the patient, or logged (no Twilio account).
    ALTER TABLE callback_task_attempts DROP CONSTRAINT callback_task_attempts_outcome_check;
    ALTER TABLE callback_task_attempts ADD CONSTRAINT callback_task_attempts_outcome_check
      CHECK (outcome IN ('reached', 'no_answer', 'voicemail_left', 'wrong_number', 'other', 'busy', 'failed', 'not_connected', 'logged'));

    -- A call back through the practice line (src/tasks/call-back.ts): its id is the only thing
    -- the TwiML URLs carry. No number is kept here: the patient's is the task's (sealed), the
    -- caller ID is the practice's own number.
    CREATE TABLE task_calls (
      id uuid PRIMARY KEY,
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      task_id uuid NOT NULL REFERENCES callback_tasks(id) ON DELETE CASCADE,
      -- Who calls back: 'user:<id>', 'api_key:<id>' or 'provider:<id>' (the access line).
      actor text NOT NULL CHECK (length(actor) BETWEEN 1 AND 100),
      origin text NOT NULL CHECK (origin IN ('api', 'access_line')),
      -- The caller's own leg: the call placed to their phone (api), or their access-line call.
      caller_leg_sid text CHECK (caller_leg_sid ~ '^CA[0-9a-f]{32}$'),
      -- The patient's leg (the <Dial>'s child), once dialled.
      patient_leg_sid text CHECK (patient_leg_sid ~ '^CA[0-9a-f]{32}$'),
      -- The practice number shown to the patient.
      caller_id text NOT NULL CHECK (caller_id ~ '^\\+[1-9][0-9]{6,14}$'),
      state text NOT NULL CHECK (state IN ('placed', 'logged', 'dialling', 'finished')),
      outcome text CHECK (outcome IN ('reached', 'no_answer', 'busy', 'failed', 'not_connected', 'logged')),
      attempt_id uuid,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK ((state IN ('finished', 'logged')) = (outcome IS NOT NULL))
    );
    CREATE INDEX task_calls_task_idx ON task_calls (task_id, created_at);
  `.execute(db);
  await enableTenantRls(db, 'task_calls');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE task_calls;
    DELETE FROM callback_task_attempts WHERE outcome IN ('busy', 'failed', 'not_connected', 'logged');
    ALTER TABLE callback_task_attempts DROP CONSTRAINT callback_task_attempts_outcome_check;
    ALTER TABLE callback_task_attempts ADD CONSTRAINT callback_task_attempts_outcome_check
      CHECK (outcome IN ('reached', 'no_answer', 'voicemail_left', 'wrong_number', 'other'));
    ALTER TABLE users DROP COLUMN phone_enc;
  `.execute(db);
}
