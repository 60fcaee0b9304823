import { sql, type Kysely } from 'kysely';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- One call back in progress per task (src/tasks/call-back.ts): two requests at once must not
    -- dial the patient twice. A call back with no outcome yet holds the task; the second insert
    -- fails and is answered 409 call_in_progress. Rows already open are settled first (the task
    -- sweep would settle them as failed anyway), so the index can be built.
    UPDATE task_calls c SET state = 'finished', outcome = 'failed', updated_at = now()
      WHERE c.outcome IS NULL AND EXISTS (SELECT 1 FROM task_calls d WHERE d.task_id = c.task_id AND d.outcome IS NULL AND d.created_at > c.created_at);
    CREATE UNIQUE INDEX task_calls_open_once ON task_calls (task_id) WHERE outcome IS NULL;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX task_calls_open_once;`.execute(db);
}
