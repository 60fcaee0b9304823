import { sql, type Kysely } from 'kysely';
import { enableTenantRls } from './rls.js';

// Plain SQL. Never edit a migration once it has landed on main: add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- A CSV import run as a job (issue 12, item 5): the request stores the upload, envelope-
    -- encrypted, and queues the job; the worker runs it and writes its counts here. No value of
    -- the file is ever in this table: the upload is in storage (its key is ids only) and the
    -- report names rows, columns and reasons.
    CREATE TABLE imports (
      id uuid PRIMARY KEY,
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      kind text NOT NULL CHECK (kind IN ('patients', 'appointments')),
      dry_run boolean NOT NULL,
      status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
      -- The encrypted upload in storage; NULL once deleted (when the import has finished).
      upload_key text CHECK (length(upload_key) <= 200),
      -- Plaintext bytes received; NULL while the upload is still arriving.
      upload_bytes integer CHECK (upload_bytes >= 0),
      -- Progress: rows read so far (the header not counted); the report's row count when done.
      rows_read integer NOT NULL DEFAULT 0 CHECK (rows_read >= 0),
      committed boolean NOT NULL DEFAULT false,
      created_count integer NOT NULL DEFAULT 0,
      updated_count integer NOT NULL DEFAULT 0,
      duplicate_count integer NOT NULL DEFAULT 0,
      invalid_count integer NOT NULL DEFAULT 0,
      entries_truncated boolean NOT NULL DEFAULT false,
      -- Why a failed import failed (or the last attempt did): a reason code, never a value.
      failure text CHECK (failure ~ '^[a-z_]{1,40}$'),
      attempts integer NOT NULL DEFAULT 0,
      -- Who asked (api_key:<id>).
      created_by text NOT NULL CHECK (length(created_by) <= 100),
      created_at timestamptz NOT NULL DEFAULT now(),
      started_at timestamptz,
      finished_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX imports_practice_idx ON imports (practice_id, created_at DESC);
    -- The sweep's: unfinished imports, and finished ones whose upload is still stored.
    CREATE INDEX imports_open_idx ON imports (created_at) WHERE status IN ('queued', 'running') OR upload_key IS NOT NULL;

    -- An import's report, row by row: invalid and duplicate rows by number, column and reason
    -- (the importer's own words, never a value), and for a duplicate of a stored record its id.
    CREATE TABLE import_entries (
      import_id uuid NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
      practice_id uuid NOT NULL REFERENCES practices(id) ON DELETE CASCADE,
      -- The entry's place in the report (rows in file order; a row may have several entries).
      position integer NOT NULL CHECK (position >= 0),
      row_number integer NOT NULL CHECK (row_number >= 0),
      outcome text NOT NULL CHECK (outcome IN ('invalid', 'duplicate')),
      field text NOT NULL CHECK (length(field) BETWEEN 1 AND 80),
      reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
      existing_id uuid,
      PRIMARY KEY (import_id, position)
    );
  `.execute(db);
  await enableTenantRls(db, 'imports');
  await enableTenantRls(db, 'import_entries');
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE import_entries;
    DROP TABLE imports;
  `.execute(db);
}
