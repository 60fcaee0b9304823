import { sql, type Kysely } from 'kysely';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE practices
      ADD COLUMN greeting_name text CHECK (length(greeting_name) BETWEEN 1 AND 120),
      ADD COLUMN front_desk_number text CHECK (front_desk_number ~ '^\\+[1-9][0-9]{6,14}$'),
      ADD COLUMN languages text[] NOT NULL DEFAULT '{en,es}' CHECK (languages <@ '{en,es}' AND cardinality(languages) >= 1),
      ADD COLUMN weekly_hours jsonb NOT NULL DEFAULT '{"mon":[{"open":"08:00","close":"17:00"}],"tue":[{"open":"08:00","close":"17:00"}],"wed":[{"open":"08:00","close":"17:00"}],"thu":[{"open":"08:00","close":"17:00"}],"fri":[{"open":"08:00","close":"17:00"}],"sat":[],"sun":[]}'::jsonb,
      ADD COLUMN holidays jsonb NOT NULL DEFAULT '{"dates":[],"named":["new_years_day","memorial_day","independence_day","labor_day","thanksgiving","christmas_day"]}'::jsonb;

    ALTER TABLE practice_numbers
      ADD COLUMN flow_id text NOT NULL DEFAULT 'after-hours' CHECK (flow_id ~ '^[a-z0-9][a-z0-9-]{0,60}$');

    -- Keyed hash (HMAC with the blind-index key, salted by patient id) of the patient's PIN.
    ALTER TABLE patients ADD COLUMN pin_hash text CHECK (pin_hash ~ '^[0-9a-f]{64}$');

    -- Appointments: a time and a status, nothing clinical.
    CREATE TABLE appointments (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      patient_id uuid NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
      starts_at timestamptz NOT NULL,
      status text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'cancelled', 'completed')),
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX appointments_patient_idx ON appointments (patient_id, starts_at);
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE appointments;
    ALTER TABLE patients DROP COLUMN pin_hash;
    ALTER TABLE practice_numbers DROP COLUMN flow_id;
    ALTER TABLE practices DROP COLUMN greeting_name, DROP COLUMN front_desk_number, DROP COLUMN languages,
      DROP COLUMN weekly_hours, DROP COLUMN holidays;
  `.execute(db);
}
