import { sql, type Kysely } from 'kysely';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- A practice's texts go with the practice, as every other practice table's rows do (0023
    -- left the foreign key without a cascade, so deleting a practice with texts failed).
    ALTER TABLE patient_texts DROP CONSTRAINT patient_texts_practice_id_fkey;
    ALTER TABLE patient_texts ADD CONSTRAINT patient_texts_practice_id_fkey FOREIGN KEY (practice_id) REFERENCES practices(id) ON DELETE CASCADE;

    -- The callback task made from a text (0021's table): a task removed leaves the text, unlinked
    -- (the task sweep then makes it a new one). A link to no task is cleared first.
    UPDATE patient_texts t SET task_id = NULL WHERE task_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM callback_tasks c WHERE c.id = t.task_id);
    ALTER TABLE patient_texts ADD CONSTRAINT patient_texts_task_id_fkey FOREIGN KEY (task_id) REFERENCES callback_tasks(id) ON DELETE SET NULL;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE patient_texts DROP CONSTRAINT patient_texts_task_id_fkey;
    ALTER TABLE patient_texts DROP CONSTRAINT patient_texts_practice_id_fkey;
    ALTER TABLE patient_texts ADD CONSTRAINT patient_texts_practice_id_fkey FOREIGN KEY (practice_id) REFERENCES practices(id);
  `.execute(db);
}
