import { sql, type Kysely } from 'kysely';
import { enableTenantRls } from './rls.js';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

const HEX64 = `~ '^[0-9a-f]{64}$'`;

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- Patient records a practice can manage without SQL. Every identifier is searchable only
    -- through a keyed blind index (HMAC of its normalised form); the values themselves stay
    -- encrypted by the application. Rows written before this migration have no name, date of
    -- birth or MRN indexes until they are next edited (the values are ciphertext here).
    ALTER TABLE patients
      ADD COLUMN mrn_enc bytea,
      ADD COLUMN mrn_index text CHECK (mrn_index ${sql.raw(HEX64)}),
      ADD COLUMN family_name_index text CHECK (family_name_index ${sql.raw(HEX64)}),
      ADD COLUMN full_name_index text CHECK (full_name_index ${sql.raw(HEX64)}),
      ADD COLUMN dob_index text CHECK (dob_index ${sql.raw(HEX64)}),
      ADD COLUMN preferred_language text CHECK (preferred_language ~ '^[a-z]{2}$'),
      ADD COLUMN active boolean NOT NULL DEFAULT true,
      -- A merged duplicate names its survivor; it is never deleted (history kept).
      ADD COLUMN merged_into uuid REFERENCES patients(id),
      ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
      ADD CONSTRAINT patients_mrn_unique UNIQUE (practice_id, mrn_index),
      ADD CONSTRAINT patients_merged_inactive CHECK (merged_into IS NULL OR NOT active);
    CREATE INDEX patients_name_dob_idx ON patients (practice_id, full_name_index, dob_index);
    CREATE INDEX patients_family_name_idx ON patients (practice_id, family_name_index);
    CREATE INDEX patients_dob_idx ON patients (practice_id, dob_index);
    CREATE INDEX patients_list_idx ON patients (practice_id, created_at, id);

    -- Several numbers per patient. patients.phone_index / phone_enc stay the preferred one (the
    -- call path and the drops read them). sealed_for is the patient whose id the ciphertext's
    -- encryption context names: a number moved by a merge keeps it.
    CREATE TABLE patient_phones (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      patient_id uuid NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
      kind text NOT NULL CHECK (kind IN ('mobile', 'home', 'work', 'other')),
      phone_index text NOT NULL CHECK (phone_index ${sql.raw(HEX64)}),
      phone_enc bytea,
      sealed_for uuid NOT NULL,
      preferred boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (patient_id, phone_index)
    );
    CREATE UNIQUE INDEX patient_phones_one_preferred ON patient_phones (patient_id) WHERE preferred;
    CREATE INDEX patient_phones_index_idx ON patient_phones (practice_id, phone_index);
    INSERT INTO patient_phones (practice_id, patient_id, kind, phone_index, phone_enc, sealed_for, preferred)
      SELECT practice_id, id, 'mobile', phone_index, phone_enc, id, true FROM patients;

    -- Appointment statuses a front desk uses; 'scheduled' becomes 'booked'.
    ALTER TABLE appointments DROP CONSTRAINT appointments_status_check;
    UPDATE appointments SET status = 'booked' WHERE status = 'scheduled';
    ALTER TABLE appointments
      ALTER COLUMN status SET DEFAULT 'booked',
      ADD CONSTRAINT appointments_status_check CHECK (status IN ('booked', 'confirmed', 'cancelled', 'no_show', 'completed')),
      ADD COLUMN provider_id uuid REFERENCES providers(id),
      ADD COLUMN location_name text CHECK (length(location_name) BETWEEN 1 AND 120),
      ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
    -- One appointment per patient and start: the key a re-import upserts by.
    CREATE UNIQUE INDEX appointments_patient_start_unique ON appointments (practice_id, patient_id, starts_at);
  `.execute(db);
  await enableTenantRls(db, 'patient_phones');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP INDEX appointments_patient_start_unique;
    ALTER TABLE appointments DROP CONSTRAINT appointments_status_check;
    UPDATE appointments SET status = 'scheduled' WHERE status IN ('booked', 'confirmed');
    UPDATE appointments SET status = 'cancelled' WHERE status = 'no_show';
    ALTER TABLE appointments
      ALTER COLUMN status SET DEFAULT 'scheduled',
      ADD CONSTRAINT appointments_status_check CHECK (status IN ('scheduled', 'cancelled', 'completed')),
      DROP COLUMN provider_id, DROP COLUMN location_name, DROP COLUMN updated_at;
    DROP TABLE patient_phones;
    ALTER TABLE patients
      DROP CONSTRAINT patients_merged_inactive, DROP CONSTRAINT patients_mrn_unique,
      DROP COLUMN mrn_enc, DROP COLUMN mrn_index, DROP COLUMN family_name_index, DROP COLUMN full_name_index,
      DROP COLUMN dob_index, DROP COLUMN preferred_language, DROP COLUMN active, DROP COLUMN merged_into, DROP COLUMN updated_at;
  `.execute(db);
}
