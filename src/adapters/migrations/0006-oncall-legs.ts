import { sql, type Kysely } from 'kysely';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- The parent call is a leg too: one row per call, opened when the call starts and closed by
    -- its final status callback (outcome and duration). Never the caller's number.
    ALTER TABLE call_legs DROP CONSTRAINT IF EXISTS call_legs_kind_check;
    ALTER TABLE call_legs ADD CONSTRAINT call_legs_kind_check CHECK (kind IN ('parent', 'dial', 'page'));
    CREATE UNIQUE INDEX call_legs_parent_idx ON call_legs (call_sid) WHERE kind = 'parent';

    -- One SMS of one page round to one provider: claimed, tried and retried on its own, so one
    -- failing number never holds up the others and a retry never texts someone twice.
    CREATE TABLE page_deliveries (
      page_id uuid NOT NULL REFERENCES pages(id) ON DELETE CASCADE,
      round integer NOT NULL CHECK (round >= 0),
      provider_id uuid NOT NULL REFERENCES providers(id),
      number_tried text NOT NULL CHECK (number_tried ~ '^\\+[1-9][0-9]{6,14}$'),
      status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'retrying', 'sent', 'failed', 'cancelled', 'superseded')),
      attempts integer NOT NULL DEFAULT 0,
      message_sid text CHECK (message_sid ~ '^(SM|MM)[0-9a-f]{32}$'),
      error_code text CHECK (error_code ~ '^[a-z0-9_]{1,40}$'),
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      PRIMARY KEY (page_id, round, provider_id)
    );

    -- A provider's calendar feed token (calendar apps cannot send an API key): only its keyed
    -- hash is kept; rotating it replaces the hash.
    ALTER TABLE providers
      ADD COLUMN feed_token_hash text UNIQUE CHECK (feed_token_hash ~ '^[0-9a-f]{64}$'),
      ADD COLUMN feed_token_created_at timestamptz;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE providers DROP COLUMN feed_token_hash, DROP COLUMN feed_token_created_at;
    DROP TABLE page_deliveries;
    DROP INDEX call_legs_parent_idx;
    DELETE FROM call_legs WHERE kind = 'parent';
    ALTER TABLE call_legs DROP CONSTRAINT call_legs_kind_check;
    ALTER TABLE call_legs ADD CONSTRAINT call_legs_kind_check CHECK (kind IN ('dial', 'page'));
  `.execute(db);
}
