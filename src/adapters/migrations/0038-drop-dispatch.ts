import { sql, type Kysely } from 'kysely';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- The dispatcher (issue 15, item 7): planning gives each drop its send time in the table and
    -- queues a job only for what is due within a short window; a sweep (src/drops/dispatcher.ts)
    -- queues the rest as they come due. dispatched_version is the schedule version a job was
    -- queued for: a queued drop whose version has no job yet is the sweep's to queue.
    ALTER TABLE drops ADD COLUMN dispatched_version integer;
    CREATE INDEX drops_dispatch_idx ON drops (scheduled_for)
      WHERE status = 'queued' AND dispatched_version IS DISTINCT FROM schedule_version;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE drops DROP COLUMN dispatched_version;`.execute(db);
}
