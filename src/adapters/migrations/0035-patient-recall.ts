import { sql, type Kysely } from 'kysely';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- When a patient is due for recall (issue 15, item 5: the sequences' "recall" audience), a
    -- plain date imported with the patient (CSV column recall_due) or set through the API. Kept in
    -- clear, unlike the date of birth: it identifies no one, is no diagnosis, and the audience is
    -- a range query over it. It stays out of logs, URLs and job payloads all the same.
    ALTER TABLE patients ADD COLUMN recall_due date CHECK (recall_due IS NULL OR recall_due BETWEEN DATE '2000-01-01' AND DATE '2199-12-31');
    -- The audience's query: a practice's active patients due in a window, paged by id.
    CREATE INDEX patients_recall_due ON patients (practice_id, recall_due, id) WHERE recall_due IS NOT NULL AND active;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP INDEX patients_recall_due;
    ALTER TABLE patients DROP COLUMN recall_due;
  `.execute(db);
}
