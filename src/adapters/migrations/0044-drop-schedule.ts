import { sql, type Kysely } from 'kysely';
import { enableTenantRls } from './rls.js';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- The campaign schedule (issue 15, item 7; src/drops/dispatcher.ts). Planning writes each
    -- sendable drop's send time here, one narrow row, instead of updating the drop itself (an
    -- update of a wide row touches every index of drops; planning 100,000 drops was mostly that).
    -- The drop stays 'pending' until the dispatcher, shortly before its time, takes the row:
    -- deletes it, makes the drop 'queued' with a new schedule version and queues its job, in one
    -- transaction. A row is a plan, not a fact: the dispatcher takes only rows whose drop is still
    -- pending and throws the others away, so no foreign key (its check per row cost as much as
    -- the insert) and no primary key; ids only.
    CREATE TABLE drop_schedule (
      drop_id uuid NOT NULL,
      campaign_id uuid NOT NULL,
      practice_id uuid NOT NULL,
      at timestamptz NOT NULL
    );
    CREATE INDEX drop_schedule_due ON drop_schedule (campaign_id, at);

    -- Queued drops whose version had no job yet (0038's sweep queued them) join the schedule.
    INSERT INTO drop_schedule (drop_id, campaign_id, practice_id, at)
      SELECT id, campaign_id, practice_id, coalesce(scheduled_for, now()) FROM drops
      WHERE status = 'queued' AND dispatched_version IS DISTINCT FROM schedule_version;
    UPDATE drops SET status = 'pending', schedule_version = schedule_version + 1, scheduled_for = NULL
      WHERE status = 'queued' AND dispatched_version IS DISTINCT FROM schedule_version;
    -- A drop is queued by the dispatcher's commit and its job added just after: the marker of
    -- 0038 and its index go. Queued drops past their time are what the dispatcher looks at to
    -- add again a job a stop between the commit and the queue lost (a repeat is a no-op).
    ALTER TABLE drops DROP COLUMN dispatched_version;
    CREATE INDEX drops_queued_idx ON drops (scheduled_for) WHERE status = 'queued';
  `.execute(db);
  await enableTenantRls(db, 'drop_schedule');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP INDEX drops_queued_idx;
    ALTER TABLE drops ADD COLUMN dispatched_version integer;
    CREATE INDEX drops_dispatch_idx ON drops (scheduled_for)
      WHERE status = 'queued' AND dispatched_version IS DISTINCT FROM schedule_version;
    UPDATE drops d SET status = 'queued', scheduled_for = s.at FROM drop_schedule s WHERE d.id = s.drop_id AND d.status = 'pending';
    DROP TABLE drop_schedule;
  `.execute(db);
}
