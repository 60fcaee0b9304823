import net from 'node:net';
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

  it('a backend terminated as the connection opens ("ready" and the FATAL in one read): the query fails, the process lives', async () => {
    uncaught = [];
    const pgUrl = new URL(URL_);
    // A proxy that holds what the server sends until flush(), then delivers it in one write.
    let held: { down: net.Socket; bytes: Buffer[]; upPort: number | undefined } | undefined;
    const proxy = net.createServer((down) => {
      const up = net.connect(Number(pgUrl.port || 5432), pgUrl.hostname);
      const h = { down, bytes: [] as Buffer[], upPort: undefined as number | undefined };
      held ??= h;
      up.on('connect', () => (h.upPort = up.localPort));
      up.on('data', (d: Buffer) => h.bytes.push(d));
      up.on('error', () => undefined);
      down.on('data', (d: Buffer) => up.write(d));
      down.on('error', () => undefined);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxied = new URL(URL_);
    proxied.hostname = '127.0.0.1';
    proxied.port = String((proxy.address() as net.AddressInfo).port);
    const db = createDb(proxied.href, 'public', 1);
    try {
      const outcome = sql`SELECT 1`.execute(db).then(
        () => 'answered',
        () => 'failed',
      );
      // The server has answered the start-up (authentication ok, ready for query): all held here.
      const h = await until('the connection held at the proxy', () => (held?.upPort !== undefined && held.bytes.length > 0 ? held : null));
      await until('start-up answered', () => Buffer.concat(h.bytes).includes(Buffer.from('Z\0\0\0\x05', 'latin1')));
      await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE client_port = ${h.upPort} AND client_addr = '127.0.0.1'`.execute(admin);
      await until('the FATAL held too', () => Buffer.concat(h.bytes).includes(Buffer.from('57P01')));
      h.down.write(Buffer.concat(h.bytes));
      h.down.end();
      expect(await outcome).toBe('failed');
      await new Promise((r) => setTimeout(r, 50));
      expect(uncaught).toEqual([]);
    } finally {
      await db.destroy().catch(() => undefined);
      proxy.close();
    }
  });
});
