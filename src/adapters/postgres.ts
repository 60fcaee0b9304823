import { Kysely, PostgresDialect, sql, type PostgresPool, type PostgresPoolClient, type Transaction } from 'kysely';
import pg from 'pg';
import type { Database } from './db-schema.js';

export type Db = Kysely<Database>;

/**
 * Runs `work` in a transaction: the caller's, when `db` already is one, else a new one. Kysely
 * cannot open a transaction inside another, and a store function that needs one (several rows
 * that stand or fall together) must still compose into a larger unit, as the demo seed builds a
 * whole practice in one.
 */
export function inTransaction<T>(db: Db, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db as Transaction<Database>) : db.transaction().execute(work);
}

/**
 * How long the service waits on PostgreSQL. Twilio gives a webhook 15 s in all, and a caller
 * must hear the fail-safe answer within it even when the database hangs instead of refusing
 * connections (a stalled network path, a server stuck on I/O): every wait is bounded.
 */
export interface DbTimeouts {
  /** Opening a connection, or waiting for a free one in the pool. */
  connectMs: number;
  /** Server side: PostgreSQL cancels a statement running longer (0: no limit, e.g. for a long migration). */
  statementMs: number;
  /** Client side: a query without an answer after this long fails and its connection is dropped (0: no limit). */
  queryMs: number;
  /** Server side: a session left idle inside a transaction is ended (releases its locks, e.g. the audit chain's). */
  idleInTransactionMs: number;
}

const DEFAULT_DB_TIMEOUTS: DbTimeouts = {
  connectMs: 3_000,
  statementMs: 4_000,
  // Later than the server's own limit, so that a live server's cancellation is what a slow query reports.
  queryMs: 5_000,
  idleInTransactionMs: 10_000,
};

/** pg's error for `query_timeout`: the query was sent, the answer never came. */
function isReadTimeout(err: unknown): boolean {
  return err instanceof Error && err.message === 'Query read timeout';
}

/**
 * A statement whose text starts with this marker is prepared once per connection under that
 * name and then only executed (no parse, and a plan PostgreSQL may keep): for the hot batch
 * statements, whose text is the same whatever their parameters. The text must never vary
 * under one name.
 */
export const PREPARED = /^\/\* prepared: ([a-z_]{1,40}) \*\//;

/** Clients whose connection failed (their backend died): never back into the pool. */
const LOST = new WeakSet<pg.PoolClient>();

/**
 * The pool listens for errors only on idle clients: a backend that dies while a client is checked
 * out (pg_terminate_backend, a server restart, a failover) makes that client emit an 'error'
 * nobody hears, and Node exits with every call in flight. Each client gets a listener of its own
 * for its whole life, when the pool makes it (createDb); the query in flight fails on its own,
 * and the client is destroyed when it is released.
 */
function watchForLoss(client: pg.PoolClient): void {
  client.on('error', () => {
    LOST.add(client);
  });
}

/**
 * Kysely releases a connection without a word about what happened on it. A query that timed
 * out on the client is still pending on its connection (pg answers in order), so every later
 * query there would wait behind it: such a connection is destroyed instead of going back to
 * the pool.
 */
function dropTimedOutConnections(pool: pg.Pool, onCheckout?: (client: pg.PoolClient) => Promise<void>): PostgresPool {
  return {
    connect: async (): Promise<PostgresPoolClient> => {
      const client = await pool.connect();
      if (onCheckout) {
        try {
          await onCheckout(client);
        } catch (err) {
          // The connection is in an unknown state: never back into the pool.
          client.release(err instanceof Error ? err : new Error('checkout failed'));
          throw err;
        }
      }
      let timedOut = false;
      const query = ((...args: Parameters<pg.PoolClient['query']>) => {
        const [text, values] = args as unknown[];
        const name = typeof text === 'string' ? PREPARED.exec(text)?.[1] : undefined;
        const result = name
          ? (client.query as (config: pg.QueryConfig) => unknown)({ name, text: text as string, values: values as unknown[] })
          : (client.query as (...a: unknown[]) => unknown)(...args);
        if (result instanceof Promise) {
          return result.catch((err: unknown) => {
            if (isReadTimeout(err)) timedOut = true;
            throw err;
          });
        }
        return result;
      }) as PostgresPoolClient['query'];
      return {
        query,
        release: (): void => {
          const lost = LOST.has(client);
          client.release(timedOut || lost ? new Error(lost ? 'connection lost: dropped' : 'query timed out: connection dropped') : undefined);
        },
      };
    },
    end: () => pool.end(),
  };
}

/**
 * Opens a pool whose connections all use `schema` as their search path, so the same
 * queries serve production (`public`) and tests (one schema per test file).
 */
export function createDb(url: string, schema: string, max = 10, timeouts: Partial<DbTimeouts> = {}, role: DbRole | null = null): Db {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: dropTimedOutConnections(openPool(url, schema, max, timeouts, role)) }) });
}

/**
 * The role a pool of the connecting user takes at session start (made by migration 0011;
 * src/adapters/migrations/rls.ts): `ahl_system` crosses practices (workers, sweeps, the lookups
 * that find a practice). `null`: the connecting user itself (migrations, CLIs that run before
 * them, test set-up). Request connections log in as `ahl_tenant` instead (createTenantDbs).
 */
export type DbRole = 'ahl_system';

function openPool(url: string, schema: string, max: number, timeouts: Partial<DbTimeouts>, role: DbRole | null): pg.Pool {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error('invalid schema name');
  const t = { ...DEFAULT_DB_TIMEOUTS, ...timeouts };
  const pool = new pg.Pool({
    connectionString: url,
    max,
    // The role is taken as the session starts (no statement of its own), like the search path.
    options: `-c search_path=${schema}${role ? ` -c role=${role}` : ''}`,
    connectionTimeoutMillis: t.connectMs,
    idleTimeoutMillis: 30_000,
    ...(t.statementMs > 0 ? { statement_timeout: t.statementMs } : {}),
    ...(t.queryMs > 0 ? { query_timeout: t.queryMs } : {}),
    ...(t.idleInTransactionMs > 0 ? { idle_in_transaction_session_timeout: t.idleInTransactionMs } : {}),
    application_name: 'after-hours-line',
  });
  // An idle client that dies (server restart) must not crash the process.
  pool.on('error', () => undefined);
  // A new client is watched from its first moment: pg-pool emits 'connect' before it hands the
  // client out, and a backend terminated as the connection opens can put "ready" and the FATAL in
  // one socket read, leaving no gap for a listener added after `pool.connect()` resolves.
  pool.on('connect', (client) => watchForLoss(client));
  return pool;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Names the practice on a tenant connection, for the session: set at a checkout for another
 * practice than the one the connection last named (a checkout for the same practice finds it
 * named already). Prepared once per connection.
 */
const NAME_PRACTICE_SQL = "SELECT set_config('app.practice_id', $1, false)";

/**
 * Connections in the `ahl_tenant` role, one pool for every practice: a checkout names its
 * practice before the first statement (unless the connection names it already), so PostgreSQL's row-level security shows and accepts that
 * practice's rows only. Only the scope minting of src/tenancy/ reaches `forPractice`.
 */
export interface TenantDbs {
  forPractice(practiceId: string): Db;
  destroy(): Promise<void>;
}

export function createTenantDbs(url: string, schema: string, max = 10, timeouts: Partial<DbTimeouts> = {}): TenantDbs {
  // The URL logs in as ahl_tenant itself: no `-c role`, and no other role to return to.
  const pool = openPool(url, schema, max, timeouts, null);
  /** The practice each connection last named (session-level): a checkout for the same practice skips the statement. */
  const named = new WeakMap<pg.PoolClient, string>();
  const byPractice = new Map<string, Db>();
  return {
    forPractice(practiceId: string): Db {
      if (!UUID.test(practiceId)) throw new Error('a practice scope needs a practice id');
      const known = byPractice.get(practiceId);
      if (known) return known;
      const naming = dropTimedOutConnections(pool, async (client) => {
        if (named.get(client) === practiceId) return;
        // Forget the old name first: a failure below leaves the connection unnamed, never misnamed.
        named.delete(client);
        await client.query({ name: 'name_practice', text: NAME_PRACTICE_SQL, values: [practiceId] });
        named.set(client, practiceId);
      });
      // The pool is everyone's: it ends with `destroy`, never with one practice's handle.
      const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: { connect: naming.connect, end: async () => undefined } }) });
      // Practices are few; should an instance ever see many, the oldest handles go (they hold no connection).
      if (byPractice.size >= 2_000) byPractice.delete(byPractice.keys().next().value as string);
      byPractice.set(practiceId, db);
      return db;
    },
    destroy: async () => {
      byPractice.clear();
      await pool.end();
    },
  };
}

export async function ensureSchema(db: Db, schema: string): Promise<void> {
  await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(db);
}

export async function pingDb(db: Db): Promise<void> {
  await sql`SELECT 1`.execute(db);
}
