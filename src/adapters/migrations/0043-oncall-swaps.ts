import { sql, type Kysely } from 'kysely';
import { enableTenantRls } from './rls.js';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- Swap requests (issue 14; src/oncall/swaps.ts): a provider asks to hand a window of a schedule
    -- to another provider; accepting makes an override (override_id) in the same transaction.
    -- Ids, instants and states only: the actors are audit actor names (user:<id>, api_key:<id>).
    CREATE TABLE oncall_swaps (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      practice_id uuid NOT NULL REFERENCES practices(id),
      schedule_id uuid NOT NULL REFERENCES oncall_schedules(id) ON DELETE CASCADE,
      from_provider uuid NOT NULL REFERENCES providers(id),
      to_provider uuid NOT NULL REFERENCES providers(id),
      starts_at timestamptz NOT NULL,
      ends_at timestamptz NOT NULL,
      state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'accepted', 'declined', 'cancelled')),
      requested_by text NOT NULL CHECK (length(requested_by) BETWEEN 1 AND 120),
      decided_by text CHECK (decided_by IS NULL OR length(decided_by) BETWEEN 1 AND 120),
      decided_at timestamptz,
      override_id uuid REFERENCES oncall_overrides(id) ON DELETE SET NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      CHECK (ends_at > starts_at),
      CHECK (from_provider <> to_provider),
      CHECK ((state = 'pending') = (decided_at IS NULL))
    );
    CREATE INDEX oncall_swaps_schedule ON oncall_swaps (practice_id, schedule_id, created_at);
  `.execute(db);
  await enableTenantRls(db, 'oncall_swaps');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE oncall_swaps`.execute(db);
}
