import { sql, type Kysely } from 'kysely';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- One hash chain per practice (chain_id = the practice id) and one for events with no
    -- practice ('system'), each with its own sequence, head and lock. The rows written before
    -- this migration stay one chain, 'legacy', verified with the encoding they were hashed with
    -- (hash_version 1). 'seq' stays the table's key: the global order rows were written in.
    -- Chain ids and hashes are ASCII: byte order ("C") keeps their index comparisons cheap.
    ALTER TABLE audit_log
      ADD COLUMN chain_id text COLLATE "C",
      ADD COLUMN chain_seq bigint,
      ADD COLUMN hash_version smallint;

    -- The only change ever made to existing rows: naming the chain they already form.
    ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete;
    UPDATE audit_log SET chain_id = 'legacy', chain_seq = seq, hash_version = 1;
    ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete;

    -- Version 2 stores details as the exact RFC 8785 text that was hashed (json keeps text as
    -- written; jsonb would renormalise numbers and key order).
    ALTER TABLE audit_log ALTER COLUMN details DROP DEFAULT;
    ALTER TABLE audit_log ALTER COLUMN details TYPE json USING details::json;
    ALTER TABLE audit_log ALTER COLUMN prev_hash TYPE text COLLATE "C";
    ALTER TABLE audit_log ALTER COLUMN details SET DEFAULT '{}'::json;

    ALTER TABLE audit_log
      ALTER COLUMN chain_id SET NOT NULL,
      ALTER COLUMN chain_seq SET NOT NULL,
      ALTER COLUMN hash_version SET NOT NULL,
      ADD CONSTRAINT audit_log_chain_id_check CHECK (chain_id ~ '^(legacy|system|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$'),
      ADD CONSTRAINT audit_log_chain_seq_check CHECK (chain_seq >= 1),
      ADD CONSTRAINT audit_log_hash_version_check CHECK ((hash_version = 1) = (chain_id = 'legacy') AND hash_version IN (1, 2)),
      -- What is stored is what was hashed: no time finer than the millisecond.
      ADD CONSTRAINT audit_log_at_ms_check CHECK (hash_version = 1 OR at = date_trunc('milliseconds', at)),
      DROP CONSTRAINT audit_log_prev_unique,
      -- A hash covers its chain and place, so it is unique without an index of its own (one
      -- index fewer to keep up on the hottest insert); lookups by hash go through the place.
      DROP CONSTRAINT audit_log_hash_key,
      -- Within a chain, two rows can never claim the same predecessor or the same place.
      ADD CONSTRAINT audit_log_chain_prev_unique UNIQUE (chain_id, prev_hash),
      ADD CONSTRAINT audit_log_chain_seq_unique UNIQUE (chain_id, chain_seq);

    CREATE SEQUENCE audit_log_row_seq OWNED BY audit_log.seq;
    SELECT setval('audit_log_row_seq', COALESCE((SELECT max(seq) FROM audit_log), 0) + 1, false);
    ALTER TABLE audit_log ALTER COLUMN seq SET DEFAULT nextval('audit_log_row_seq');
  `.execute(db);
}

export async function down(): Promise<void> {
  throw new Error('0010-audit-chains cannot be rolled back: the audit log is append-only');
}
