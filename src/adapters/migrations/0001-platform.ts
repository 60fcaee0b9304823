import { sql, type Kysely } from 'kysely';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE practices (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,39}$'),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
      time_zone text NOT NULL,
      fallback_number text CHECK (fallback_number ~ '^\\+[1-9][0-9]{6,14}$'),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE practice_numbers (
      e164 text PRIMARY KEY CHECK (e164 ~ '^\\+[1-9][0-9]{6,14}$'),
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX practice_numbers_practice_idx ON practice_numbers (practice_id);

    -- PHI columns are encrypted by the application (AWS Encryption SDK); the phone
    -- number is only ever stored as a keyed blind index.
    CREATE TABLE patients (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      phone_index text NOT NULL CHECK (phone_index ~ '^[0-9a-f]{64}$'),
      first_name_enc bytea,
      last_name_enc bytea,
      dob_enc bytea NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX patients_phone_idx ON patients (practice_id, phone_index);

    CREATE TABLE calls (
      call_sid text PRIMARY KEY CHECK (call_sid ~ '^CA[0-9a-f]{32}$'),
      practice_id uuid REFERENCES practices(id),
      direction text NOT NULL,
      from_index text,
      to_number text,
      status text NOT NULL,
      status_history jsonb NOT NULL DEFAULT '[]'::jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX calls_practice_idx ON calls (practice_id, created_at);

    CREATE TABLE api_keys (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      key_hash text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
      role text NOT NULL CHECK (role IN ('admin', 'staff', 'provider', 'auditor')),
      practice_id uuid NOT NULL REFERENCES practices(id),
      label text CHECK (length(label) <= 80),
      created_at timestamptz NOT NULL DEFAULT now(),
      revoked_at timestamptz
    );

    -- The audit log: append-only and hash-chained. No foreign keys, so that nothing
    -- deleted elsewhere can take audit rows with it.
    CREATE TABLE audit_log (
      seq bigint PRIMARY KEY CHECK (seq >= 1),
      at timestamptz NOT NULL,
      practice_id uuid,
      actor text NOT NULL CHECK (length(actor) BETWEEN 1 AND 120),
      action text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$'),
      call_sid text,
      leg text,
      subject_id text,
      details jsonb NOT NULL DEFAULT '{}'::jsonb,
      prev_hash text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
      hash text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
      -- Two rows can never claim the same predecessor: the chain cannot fork.
      CONSTRAINT audit_log_prev_unique UNIQUE (prev_hash)
    );
    CREATE INDEX audit_log_at_idx ON audit_log (at);
    CREATE INDEX audit_log_practice_idx ON audit_log (practice_id, seq);
    CREATE INDEX audit_log_call_idx ON audit_log (call_sid) WHERE call_sid IS NOT NULL;

    CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END;
    $$;
    CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
      FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
      FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('0001-platform cannot be rolled back: the audit log is append-only');
}
