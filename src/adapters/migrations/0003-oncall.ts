import { sql, type Kysely } from 'kysely';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- Clinicians and staff who take calls and pages. Their work numbers are not PHI.
    CREATE TABLE providers (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 80),
      phone text NOT NULL CHECK (phone ~ '^\\+[1-9][0-9]{6,14}$'),
      sms_phone text CHECK (sms_phone ~ '^\\+[1-9][0-9]{6,14}$'),
      is_practice_admin boolean NOT NULL DEFAULT false,
      active boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX providers_practice_idx ON providers (practice_id);

    CREATE TABLE oncall_schedules (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
      time_zone text NOT NULL,
      rotation jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE oncall_overrides (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      schedule_id uuid NOT NULL REFERENCES oncall_schedules(id) ON DELETE CASCADE,
      provider_id uuid NOT NULL REFERENCES providers(id) ON DELETE CASCADE,
      starts_at timestamptz NOT NULL,
      ends_at timestamptz NOT NULL CHECK (ends_at > starts_at),
      created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    CREATE INDEX oncall_overrides_schedule_idx ON oncall_overrides (schedule_id, starts_at);

    -- Ordered tiers, each a schedule or a named provider, with a ring timeout; the chain
    -- repeats 'repeat' more times, then falls to urgent voicemail and pages.
    CREATE TABLE escalation_policies (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
      tiers jsonb NOT NULL,
      repeat integer NOT NULL DEFAULT 0 CHECK (repeat BETWEEN 0 AND 5),
      page_interval_seconds integer NOT NULL DEFAULT 600 CHECK (page_interval_seconds BETWEEN 1 AND 86400),
      page_max_repeats integer NOT NULL DEFAULT 3 CHECK (page_max_repeats BETWEEN 0 AND 20),
      is_default boolean NOT NULL DEFAULT false,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX escalation_policies_default_idx ON escalation_policies (practice_id) WHERE is_default;

    -- Every leg of a call: the parent, each <Dial> child leg, each page sent.
    CREATE TABLE call_legs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      call_sid text NOT NULL,
      leg_sid text,
      practice_id uuid REFERENCES practices(id),
      kind text NOT NULL CHECK (kind IN ('dial', 'page')),
      tier integer,
      round integer,
      provider_id uuid REFERENCES providers(id),
      number_tried text,
      outcome text NOT NULL,
      duration_seconds integer,
      started_at timestamptz NOT NULL,
      ended_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT clock_timestamp()
    );
    CREATE INDEX call_legs_call_idx ON call_legs (call_sid, created_at);

    -- A page: the chain fell to voicemail; providers are paged until one acknowledges.
    CREATE TABLE pages (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      practice_id uuid NOT NULL REFERENCES practices(id),
      call_sid text NOT NULL UNIQUE,
      policy_id uuid REFERENCES escalation_policies(id) ON DELETE SET NULL,
      reference_code text NOT NULL UNIQUE CHECK (reference_code ~ '^[0-9]{6}$'),
      status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged')),
      rounds_sent integer NOT NULL DEFAULT 0,
      admin_paged boolean NOT NULL DEFAULT false,
      acknowledged_at timestamptz,
      acknowledged_by text,
      created_at timestamptz NOT NULL DEFAULT now()
    );
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE pages; DROP TABLE call_legs; DROP TABLE escalation_policies;
    DROP TABLE oncall_overrides; DROP TABLE oncall_schedules; DROP TABLE providers;
  `.execute(db);
}
