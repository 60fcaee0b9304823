import { sql, type Kysely } from 'kysely';
import { enableTenantRls } from './rls.js';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- Sequences (issue 15, item 5; src/sequences/): ordered steps, each a channel, a template, a
    -- wait after the previous step and a condition on the recipient's state. Ids and states only:
    -- no message body, no number, no name.
    CREATE TABLE sequences (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      practice_id uuid NOT NULL REFERENCES practices(id),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
      message_type text NOT NULL CHECK (message_type ~ '^[a-z_]{2,40}$'),
      state text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'running', 'paused', 'cancelled', 'completed')),
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      started_at timestamptz
    );
    CREATE INDEX sequences_practice ON sequences (practice_id, created_at);

    CREATE TABLE sequence_steps (
      sequence_id uuid NOT NULL REFERENCES sequences(id) ON DELETE CASCADE,
      practice_id uuid NOT NULL REFERENCES practices(id),
      position integer NOT NULL CHECK (position BETWEEN 0 AND 19),
      channel text NOT NULL CHECK (channel IN ('sms', 'rvm', 'email')),
      template_id text NOT NULL CHECK (length(template_id) BETWEEN 1 AND 80),
      wait_hours integer NOT NULL CHECK (wait_hours BETWEEN 0 AND 2160),
      condition text NOT NULL CHECK (condition IN ('always', 'no_reply', 'not_confirmed', 'not_delivered', 'opted_out_previous_channel')),
      -- An sms or rvm step sends through a campaign of its own (src/drops/campaigns.ts).
      campaign_id uuid REFERENCES campaigns(id),
      PRIMARY KEY (sequence_id, position)
    );

    CREATE TABLE sequence_recipients (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      sequence_id uuid NOT NULL REFERENCES sequences(id) ON DELETE CASCADE,
      practice_id uuid NOT NULL REFERENCES practices(id),
      patient_id uuid NOT NULL REFERENCES patients(id),
      appointment_id uuid REFERENCES appointments(id) ON DELETE SET NULL,
      -- The next step to consider, and when; null once stopped.
      current_step integer NOT NULL DEFAULT 0,
      next_due_at timestamptz,
      stopped_reason text CHECK (stopped_reason IN ('confirmed', 'opted_out', 'completed', 'cancelled')),
      stopped_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (sequence_id, patient_id)
    );
    CREATE INDEX sequence_recipients_due ON sequence_recipients (next_due_at) WHERE stopped_reason IS NULL;

    -- Each recipient's path: what each step did (sent through a drop or a ledger row, or skipped and why).
    CREATE TABLE sequence_step_runs (
      recipient_id uuid NOT NULL REFERENCES sequence_recipients(id) ON DELETE CASCADE,
      position integer NOT NULL,
      practice_id uuid NOT NULL REFERENCES practices(id),
      outcome text NOT NULL CHECK (outcome IN ('sent', 'skipped')),
      reason text CHECK (reason IS NULL OR length(reason) <= 60),
      drop_id uuid REFERENCES drops(id),
      send_id uuid REFERENCES outreach_sends(id),
      at timestamptz NOT NULL,
      PRIMARY KEY (recipient_id, position)
    );
  `.execute(db);
  for (const table of ['sequences', 'sequence_steps', 'sequence_recipients', 'sequence_step_runs']) await enableTenantRls(db, table);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE sequence_step_runs;
    DROP TABLE sequence_recipients;
    DROP TABLE sequence_steps;
    DROP TABLE sequences;
  `.execute(db);
}
