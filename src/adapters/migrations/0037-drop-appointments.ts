import { sql, type Kysely } from 'kysely';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- Personal placeholders (issue 15, item 4): a drop may name the appointment it reminds of
    -- (a recipient CSV's appointment_id column), or the patient's next appointment is found at
    -- send time and recorded here once the drop is claimed. The row-level security of drops is
    -- unchanged: the appointment is read through the same practice's scope.
    ALTER TABLE drops ADD COLUMN appointment_id uuid REFERENCES appointments(id) ON DELETE SET NULL;
    CREATE INDEX drops_appointment_idx ON drops (appointment_id) WHERE appointment_id IS NOT NULL;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE drops DROP COLUMN appointment_id;`.execute(db);
}
