import { sql, type Kysely } from 'kysely';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- Every verification lockout that started, for the practice's morning report and the staff
    -- action that clears one. Ids and the number's blind index only, never the number.
    CREATE TABLE verification_lockouts (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      -- number: the caller's number at this practice; patient / provider: one identity, across numbers.
      scope text NOT NULL CHECK (scope IN ('number', 'patient', 'provider')),
      patient_id uuid REFERENCES patients(id) ON DELETE CASCADE,
      provider_id uuid REFERENCES providers(id) ON DELETE CASCADE,
      phone_index text CHECK (phone_index ~ '^[0-9a-f]{64}$'),
      -- Which line the try that started it came in on.
      line text NOT NULL CHECK (line IN ('patient', 'access')),
      -- Lockouts of the same scope shortly before this one (each doubled its length).
      earlier integer NOT NULL DEFAULT 0 CHECK (earlier >= 0),
      started_at timestamptz NOT NULL,
      locked_until timestamptz NOT NULL,
      cleared_at timestamptz,
      cleared_by text,
      CHECK ((scope = 'number') = (phone_index IS NOT NULL)),
      CHECK ((scope = 'patient') = (patient_id IS NOT NULL)),
      CHECK ((scope = 'provider') = (provider_id IS NOT NULL)),
      CHECK ((cleared_at IS NULL) = (cleared_by IS NULL))
    );
    CREATE INDEX verification_lockouts_practice_idx ON verification_lockouts (practice_id, started_at);
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE verification_lockouts;`.execute(db);
}
