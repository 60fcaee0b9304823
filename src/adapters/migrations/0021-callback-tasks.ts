import { sql, type Kysely } from 'kysely';
import { enableTenantRls } from './rls.js';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- Why the caller called, from the menu option (or node) that led to the message (issue 13,
    -- item 3): kept on the call record as the call goes (src/calls/records.ts).
    ALTER TABLE calls ADD COLUMN reason text CHECK (reason IN ('clinical', 'refill', 'appointment', 'billing', 'other'));

    -- Hours after the practice's next opening by which a routine callback is due.
    ALTER TABLE practices ADD COLUMN routine_callback_hours integer NOT NULL DEFAULT 2 CHECK (routine_callback_hours BETWEEN 0 AND 72);

    -- An acknowledgement's note (sealed: table, field, voicemail, practice in the context).
    ALTER TABLE voicemails ADD COLUMN acknowledged_note_enc bytea;

    -- Every message a patient leaves becomes a callback task (src/tasks/). One per source
    -- (a voicemail's id, an abandoned call's SID, a text's id): creating it again is a no-op.
    CREATE TABLE callback_tasks (
      id uuid PRIMARY KEY,
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      source text NOT NULL CHECK (source IN ('voicemail', 'message', 'abandoned_call', 'patient_text', 'outreach_reply')),
      source_id text NOT NULL CHECK (length(source_id) BETWEEN 1 AND 64),
      call_sid text,
      reason text NOT NULL CHECK (reason IN ('clinical', 'refill', 'appointment', 'billing', 'other')),
      urgency text NOT NULL CHECK (urgency IN ('urgent', 'routine')),
      -- The number to call back, sealed by the application (context: table, field, task,
      -- practice) beside its blind index; NULL when the caller withheld it.
      callback_enc bytea,
      callback_index text,
      patient_id uuid REFERENCES patients(id) ON DELETE SET NULL,
      match text NOT NULL CHECK (match IN ('verified', 'number', 'unknown')),
      status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'claimed', 'done', 'unreachable', 'cancelled')),
      -- An actor: 'user:<id>' or 'api_key:<id>'.
      assignee text CHECK (length(assignee) <= 100),
      claimed_at timestamptz,
      due_at timestamptz NOT NULL,
      -- The overdue alert went out (once per task).
      alerted_at timestamptz,
      closed_at timestamptz,
      closed_by text CHECK (length(closed_by) <= 100),
      close_note_enc bytea,
      attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (practice_id, source, source_id),
      CHECK ((status IN ('done', 'unreachable', 'cancelled')) = (closed_at IS NOT NULL)),
      CHECK (status <> 'claimed' OR assignee IS NOT NULL)
    );
    CREATE INDEX callback_tasks_list_idx ON callback_tasks (practice_id, status, due_at);
    CREATE INDEX callback_tasks_overdue_idx ON callback_tasks (due_at) WHERE status IN ('open', 'claimed') AND alerted_at IS NULL;
    CREATE INDEX callback_tasks_call_idx ON callback_tasks (call_sid) WHERE call_sid IS NOT NULL;

    -- Each try to reach the patient, with its outcome and a sealed note.
    CREATE TABLE callback_task_attempts (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      task_id uuid NOT NULL REFERENCES callback_tasks(id) ON DELETE CASCADE,
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      at timestamptz NOT NULL,
      actor text NOT NULL CHECK (length(actor) BETWEEN 1 AND 100),
      outcome text NOT NULL CHECK (outcome IN ('reached', 'no_answer', 'voicemail_left', 'wrong_number', 'other')),
      note_enc bytea,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX callback_task_attempts_task_idx ON callback_task_attempts (task_id, at);
  `.execute(db);
  await enableTenantRls(db, 'callback_tasks');
  await enableTenantRls(db, 'callback_task_attempts');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE callback_task_attempts;
    DROP TABLE callback_tasks;
    ALTER TABLE voicemails DROP COLUMN acknowledged_note_enc;
    ALTER TABLE practices DROP COLUMN routine_callback_hours;
    ALTER TABLE calls DROP COLUMN reason;
  `.execute(db);
}
