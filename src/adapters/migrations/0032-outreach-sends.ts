import { sql, type Kysely } from 'kysely';
import { enableTenantRls } from './rls.js';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- The send ledger of patient messages other than drops (issue 15, item 2; src/outreach/sends-store.ts):
    -- one row per message a practice sends (or decided not to send) a patient by SMS or e-mail,
    -- whoever sent it: a campaign (origin 'campaign:<id>'), later a sequence ('sequence:<id>:<step>').
    -- No message body, no number: the recipient's number only as its blind index (recipient_index),
    -- which is what opt-outs and "first message of a conversation" look up.
    CREATE TABLE outreach_sends (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      practice_id uuid NOT NULL REFERENCES practices(id),
      patient_id uuid NOT NULL REFERENCES patients(id),
      channel text NOT NULL CHECK (channel ~ '^[a-z_]{2,20}$'),
      message_type text NOT NULL CHECK (message_type ~ '^[a-z_]{2,40}$'),
      origin text NOT NULL CHECK (origin ~ '^[a-z_]{2,20}(:[A-Za-z0-9_-]{1,80}){0,3}$'),
      idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
      status text NOT NULL DEFAULT 'planned'
        CHECK (status IN ('planned', 'queued', 'sent', 'delivered', 'undelivered', 'failed', 'refused', 'skipped')),
      reason text CHECK (reason IS NULL OR length(reason) <= 120),
      error_code text CHECK (error_code IS NULL OR error_code ~ '^[0-9]{1,6}$'),
      provider_ref text CHECK (provider_ref IS NULL OR length(provider_ref) <= 64),
      recipient_index text,
      consent_id uuid,
      matrix_cell text,
      matrix_version integer,
      segments integer,
      opt_out_appended boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      sent_at timestamptz,
      delivered_at timestamptz,
      replied_at timestamptz,
      UNIQUE (practice_id, idempotency_key)
    );
    CREATE UNIQUE INDEX outreach_sends_provider_ref ON outreach_sends (provider_ref) WHERE provider_ref IS NOT NULL;
    CREATE INDEX outreach_sends_patient_sent ON outreach_sends (practice_id, patient_id, sent_at) WHERE sent_at IS NOT NULL;
    CREATE INDEX outreach_sends_recipient ON outreach_sends (practice_id, recipient_index, sent_at) WHERE recipient_index IS NOT NULL;
    CREATE INDEX outreach_sends_origin ON outreach_sends (practice_id, origin, status);

    -- A campaign sends ringless voicemail (its drops, as before) or SMS.
    ALTER TABLE campaigns ADD COLUMN channel text NOT NULL DEFAULT 'rvm' CHECK (channel IN ('rvm', 'sms'));
    -- A practice's own template is spoken (rvm) or written (sms).
    ALTER TABLE drop_templates ADD COLUMN channel text NOT NULL DEFAULT 'rvm' CHECK (channel IN ('rvm', 'sms'));
    -- The practice's Twilio Messaging Service: patient SMS go out through it (A2P 10DLC).
    ALTER TABLE practices ADD COLUMN messaging_service_sid text CHECK (messaging_service_sid ~ '^MG[0-9a-f]{32}$');
  `.execute(db);
  await enableTenantRls(db, 'outreach_sends');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE practices DROP COLUMN messaging_service_sid;
    ALTER TABLE drop_templates DROP COLUMN channel;
    ALTER TABLE campaigns DROP COLUMN channel;
    DROP TABLE outreach_sends;
  `.execute(db);
}
