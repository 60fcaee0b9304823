import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createDb, type Db } from '../src/adapters/postgres.js';
import { until } from './support/until.js';

/**
 * A backend that dies while its client is checked out (pg_terminate_backend, a restart, a
 * failover) must not take the process with it: pg emits 'error' on that client, and with no
 * listener Node treats it as an uncaught exception. Only this test's own backends are terminated.
 */

const URL_ = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let uncaught: unknown[] = [];
const onUncaught = (err: unknown): void => {
  uncaught.push(err);
};
let admin: Db;

beforeAll(() => {
  process.on('uncaughtException', onUncaught);
  admin = createDb(URL_, 'public', 1);
});
afterAll(async () => {
  process.off('uncaughtException', onUncaught);
  await admin.destroy();
});

async function terminate(pid: number): Promise<void> {
  await sql`SELECT pg_terminate_backend(${pid})`.execute(admin);
  await until('the backend gone', async () => {
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ${pid}`.execute(admin);
    return rows[0]?.n === 0;
  });
}

describe('a PostgreSQL backend terminated under a checked-out client', () => {
  it('inside a transaction: the transaction fails, the process lives, and the pool serves the next query', async () => {
    uncaught = [];
    const db = createDb(URL_, 'public', 2);
    try {
      const outcome = db
        .transaction()
        .execute(async (trx) => {
          const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx);
          const pid = rows[0]?.pid;
          if (pid === undefined) throw new Error('no pid');
          // Between two statements the client is checked out but idle: the death arrives as an 'error' event.
          await terminate(pid);
          // Let the socket's close reach the client before the next statement.
          await new Promise((r) => setImmediate(r));
          await sql`SELECT 1`.execute(trx);
        })
        .then(
          () => 'committed',
          () => 'failed',
        );
      expect(await outcome).toBe('failed');
      expect(uncaught).toEqual([]);
      const { rows } = await sql<{ ok: number }>`SELECT 1 AS ok`.execute(db);
      expect(rows).toEqual([{ ok: 1 }]);
    } finally {
      await db.destroy();
    }
  });

  it('every backend of a busy pool terminated at once: queries in flight fail, none crash, the pool recovers', async () => {
    uncaught = [];
    const db = createDb(URL_, 'public', 4);
    try {
      const pids = new Set<number>();
      let killed = false;
      // Four clients checked out (each in a transaction), then all their backends die.
      const inFlight = Array.from({ length: 4 }, () =>
        db
          .transaction()
          .execute(async (trx) => {
            const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx);
            if (rows[0]) pids.add(rows[0].pid);
            await until('all four checked out', () => pids.size === 4);
            await until('the backends terminated', () => killed);
            await new Promise((r) => setImmediate(r));
            await sql`SELECT 1`.execute(trx);
          })
          .then(
            () => 'committed',
            () => 'failed',
          ),
      );
      await until('all four checked out', () => pids.size === 4);
      for (const pid of pids) await terminate(pid);
      killed = true;
      expect(await Promise.all(inFlight)).toEqual(['failed', 'failed', 'failed', 'failed']);
      expect(uncaught).toEqual([]);
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM (SELECT 1) x`.execute(db);
      expect(rows).toEqual([{ n: 1 }]);
    } finally {
      await db.destroy();
    }
  });
});
