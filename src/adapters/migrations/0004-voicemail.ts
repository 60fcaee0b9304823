import { sql, type Kysely } from 'kysely';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE practices
      ADD COLUMN voicemail_retention_days integer NOT NULL DEFAULT 90 CHECK (voicemail_retention_days BETWEEN 1 AND 3650),
      ADD COLUMN voicemail_transcription boolean NOT NULL DEFAULT false;

    -- Providers verify on the access line with a PIN (keyed hash, like patients' PINs).
    ALTER TABLE providers ADD COLUMN pin_hash text CHECK (pin_hash ~ '^[0-9a-f]{64}$');

    -- One row per recording. The audio itself lives encrypted in object storage under
    -- storage_key (no PHI in the key); this row holds ids, states and digests only.
    CREATE TABLE voicemails (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      practice_id uuid NOT NULL REFERENCES practices(id),
      call_sid text NOT NULL CHECK (call_sid ~ '^CA[0-9a-f]{32}$'),
      recording_sid text NOT NULL UNIQUE CHECK (recording_sid ~ '^RE[0-9a-f]{32}$'),
      reference_code text NOT NULL UNIQUE CHECK (reference_code ~ '^[0-9]{6}$'),
      urgency text NOT NULL CHECK (urgency IN ('urgent', 'routine')),
      caller_verified boolean NOT NULL DEFAULT false,
      patient_id uuid REFERENCES patients(id) ON DELETE SET NULL,
      flow_node text,
      duration_seconds integer,
      state text NOT NULL DEFAULT 'received'
        CHECK (state IN ('received', 'stored', 'complete', 'failed', 'expired')),
      storage_key text,
      content_type text,
      plaintext_bytes bigint,
      plaintext_sha256 text CHECK (plaintext_sha256 ~ '^[0-9a-f]{64}$'),
      ciphertext_bytes bigint,
      attempts integer NOT NULL DEFAULT 0,
      last_error text,
      stored_at timestamptz,
      twilio_deleted_at timestamptz,
      notified_at timestamptz,
      audio_deleted_at timestamptz,
      acknowledged_at timestamptz,
      acknowledged_by text,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX voicemails_practice_idx ON voicemails (practice_id, created_at DESC);
    CREATE INDEX voicemails_state_idx ON voicemails (state) WHERE state IN ('received', 'stored', 'failed');

    -- Short-lived, single-use playback links (the access line, a provider's phone).
    CREATE TABLE playback_tokens (
      token_hash text PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
      voicemail_id uuid NOT NULL REFERENCES voicemails(id) ON DELETE CASCADE,
      issued_to text NOT NULL,
      expires_at timestamptz NOT NULL,
      used_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now()
    );
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE playback_tokens; DROP TABLE voicemails;
    ALTER TABLE providers DROP COLUMN pin_hash;
    ALTER TABLE practices DROP COLUMN voicemail_retention_days, DROP COLUMN voicemail_transcription;
  `.execute(db);
}
