import { sql, type Kysely } from 'kysely';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- To place a drop the number itself is needed: stored encrypted, next to its blind index.
    ALTER TABLE patients
      ADD COLUMN phone_enc bytea,
      ADD COLUMN us_state text CHECK (us_state ~ '^[A-Z]{2}$'),
      ADD COLUMN time_zone text;

    -- Versioned texts of the risk disclosure shown when consent is given; a version is never changed.
    CREATE TABLE consent_disclosures (
      practice_id uuid NOT NULL REFERENCES practices(id),
      version text NOT NULL CHECK (version ~ '^[a-z0-9][a-z0-9._-]{0,40}$'),
      channel text NOT NULL CHECK (channel IN ('voice', 'rvm', 'sms', 'email')),
      text text NOT NULL CHECK (length(text) BETWEEN 1 AND 4000),
      recorded_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (practice_id, version)
    );

    -- Consent history: append-only. The current state of a channel is its latest row.
    CREATE TABLE consents (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      -- Order of recording: the current state of a channel is the row with the highest seq.
      seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
      practice_id uuid NOT NULL REFERENCES practices(id),
      patient_id uuid NOT NULL REFERENCES patients(id),
      channel text NOT NULL CHECK (channel IN ('voice', 'rvm', 'sms', 'email')),
      action text NOT NULL CHECK (action IN ('granted', 'revoked')),
      source text NOT NULL CHECK (source IN ('web_form', 'paper_form', 'verbal', 'api', 'sms_stop', 'keypad', 'staff')),
      disclosure_version text,
      recorded_by text NOT NULL,
      evidence_ref text CHECK (length(evidence_ref) <= 200),
      recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      CHECK (action = 'revoked' OR disclosure_version IS NOT NULL),
      FOREIGN KEY (practice_id, disclosure_version) REFERENCES consent_disclosures(practice_id, version)
    );
    CREATE INDEX consents_patient_idx ON consents (patient_id, channel, seq DESC);
    CREATE FUNCTION consents_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
    END;
    $$;
    CREATE TRIGGER consents_no_update_delete BEFORE UPDATE OR DELETE ON consents
      FOR EACH ROW EXECUTE FUNCTION consents_refuse_change();
    CREATE TRIGGER consent_disclosures_no_update_delete BEFORE UPDATE OR DELETE ON consent_disclosures
      FOR EACH ROW EXECUTE FUNCTION consents_refuse_change();

    -- Numbers that opted out of drops: never dropped again. Blind index only.
    CREATE TABLE opt_outs (
      practice_id uuid NOT NULL REFERENCES practices(id),
      phone_index text NOT NULL CHECK (phone_index ~ '^[0-9a-f]{64}$'),
      source text NOT NULL CHECK (source IN ('sms_stop', 'keypad', 'staff', 'api')),
      recorded_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (practice_id, phone_index)
    );
    CREATE TRIGGER opt_outs_no_update_delete BEFORE UPDATE OR DELETE ON opt_outs
      FOR EACH ROW EXECUTE FUNCTION consents_refuse_change();

    -- A practice's own drop templates (built-in ones live in code); checked for PHI before they are stored.
    CREATE TABLE drop_templates (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      practice_id uuid NOT NULL REFERENCES practices(id),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
      purpose text NOT NULL CHECK (purpose IN ('appointment_reminder', 'callback_request', 'office_closure', 'recall', 'billing_callback')),
      text text NOT NULL CHECK (length(text) BETWEEN 1 AND 2000),
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );

    -- A provider may carry drops for a practice only once a signed BAA is on record.
    CREATE TABLE vendor_baas (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      practice_id uuid NOT NULL REFERENCES practices(id),
      vendor text NOT NULL CHECK (vendor IN ('rvm_http', 'twilio')),
      signed_at date NOT NULL,
      document_ref text NOT NULL CHECK (length(document_ref) BETWEEN 1 AND 200),
      recorded_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (practice_id, vendor)
    );

    CREATE TABLE campaigns (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      practice_id uuid NOT NULL REFERENCES practices(id),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
      template_id text NOT NULL,
      template_params jsonb NOT NULL DEFAULT '{}'::jsonb,
      provider text NOT NULL CHECK (provider IN ('rvm_http', 'twilio')),
      human_answer text NOT NULL DEFAULT 'message' CHECK (human_answer IN ('message', 'hangup')),
      -- A pre-rendered recording of the message in audio/ (its transcript checked equal to the message); null: text-to-speech.
      audio_file text CHECK (audio_file ~ '^[a-z0-9][a-z0-9._-]{0,80}[.](wav|mp3)$'),
      state text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'running', 'paused', 'cancelled', 'completed')),
      rate_per_minute integer NOT NULL DEFAULT 30 CHECK (rate_per_minute BETWEEN 1 AND 600),
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      started_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    -- One drop per recipient of a campaign: queued → sent → delivered / failed / skipped.
    CREATE TABLE drops (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      campaign_id uuid NOT NULL REFERENCES campaigns(id),
      practice_id uuid NOT NULL REFERENCES practices(id),
      patient_id uuid NOT NULL REFERENCES patients(id),
      status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'queued', 'sent', 'delivered', 'failed', 'skipped', 'cancelled')),
      reason text,
      provider text NOT NULL,
      provider_ref text,
      -- Twilio drops: the answering-machine verdict (human, machine_end_beep, …).
      answered_by text CHECK (answered_by ~ '^[a-z_]{1,30}$'),
      attempts integer NOT NULL DEFAULT 0,
      -- Bumped each time the drop is (re)scheduled: a job for an older version does nothing.
      schedule_version integer NOT NULL DEFAULT 0,
      scheduled_for timestamptz,
      sent_at timestamptz,
      final_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (campaign_id, patient_id)
    );
    CREATE INDEX drops_patient_sent_idx ON drops (patient_id, sent_at) WHERE sent_at IS NOT NULL;
    CREATE INDEX drops_campaign_idx ON drops (campaign_id, status);
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE drops; DROP TABLE campaigns; DROP TABLE drop_templates; DROP TABLE vendor_baas; DROP TABLE opt_outs;
    DROP TABLE consents; DROP TABLE consent_disclosures; DROP FUNCTION consents_refuse_change();
    ALTER TABLE patients DROP COLUMN phone_enc, DROP COLUMN us_state, DROP COLUMN time_zone;
  `.execute(db);
}
