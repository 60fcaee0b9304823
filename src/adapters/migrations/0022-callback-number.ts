import { sql, type Kysely } from 'kysely';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- The number to call back, confirmed by the caller on the call (issue 13, item 4): their own
    -- number (press 1) or one they keyed and confirmed. Sealed by the application (envelope
    -- encryption, the practice and the call in the encryption context: ids only) beside its
    -- blind index, like from_enc (0016). NULL: nothing confirmed (the caller's number stands).
    -- The calls table already has row-level security (0011).
    ALTER TABLE calls
      ADD COLUMN callback_number_enc bytea,
      ADD COLUMN callback_number_index text,
      ADD COLUMN callback_source text CHECK (callback_source IN ('caller', 'keyed')),
      ADD CONSTRAINT calls_callback_number_whole CHECK
        ((callback_number_enc IS NULL) = (callback_source IS NULL));
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE calls
      DROP CONSTRAINT calls_callback_number_whole,
      DROP COLUMN callback_number_enc, DROP COLUMN callback_number_index, DROP COLUMN callback_source;
  `.execute(db);
}
