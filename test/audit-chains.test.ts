import { createHash, randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { appendFile, readFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { S3Client } from '@aws-sdk/client-s3';
import { Migrator, sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditAction, GENESIS_HASH, canonicalJson, hashRecord, jcs, type AuditEvent } from '../src/audit/events.js';
import { checkpointer, fileCheckpointSink, readCheckpoints, s3CheckpointSink, startCheckpoints } from '../src/audit/checkpoints.js';
import { appendAuditMany, auditWriter, auditWriterStats, chainHeads, chainLockKeys, verifyChain } from '../src/audit/store.js';
import { createDb, type Db } from '../src/adapters/postgres.js';
import { migrateToLatest, retryingCatalogRaces } from '../src/adapters/migrate.js';
import * as m0001 from '../src/adapters/migrations/0001-platform.js';
import * as m0002 from '../src/adapters/migrations/0002-call-flows.js';
import * as m0003 from '../src/adapters/migrations/0003-oncall.js';
import * as m0004 from '../src/adapters/migrations/0004-voicemail.js';
import * as m0005 from '../src/adapters/migrations/0005-rvm.js';
import * as m0006 from '../src/adapters/migrations/0006-oncall-legs.js';
import * as m0007 from '../src/adapters/migrations/0007-voicemail-upkeep.js';
import { dropIsolation, startHarness, type Harness } from './support/harness.js';
import { S3_DOUBLE_CREDENTIALS, startS3Double } from './support/s3-double.js';
import { until } from './support/until.js';

const run = promisify(execFile);

let h: Harness;
let db: Db;
const practiceA = randomUUID();
const practiceB = randomUUID();

beforeAll(async () => {
  h = await startHarness('audit_chains', { SEED_DEMO: 'false' });
  db = h.services.db;
});
afterAll(async () => {
  await h.close();
});

function cli(script: string, args: string[] = [], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  return run('npx', ['tsx', `scripts/${script}.ts`, ...args], {
    env: { ...process.env, DATABASE_SCHEMA: h.schema, DATA_DIR: h.config.dataDir, SEED_DEMO: 'false', ...env },
  }).then(
    (r) => ({ ...r, code: 0 }),
    (err: { stdout: string; stderr: string; code: number }) => ({ stdout: err.stdout, stderr: err.stderr, code: err.code }),
  );
}

/** As a superuser could: with the append-only triggers bypassed. */
async function asSuperuser(target: Db, statement: ReturnType<typeof sql>): Promise<void> {
  await target.connection().execute(async (conn) => {
    await sql`SET ROLE NONE`.execute(conn);
    await sql`SET session_replication_role = replica`.execute(conn);
    await statement.execute(conn);
    await sql`SET session_replication_role = origin`.execute(conn);
    await sql`RESET ROLE`.execute(conn);
  });
}

const ev = (practiceId: string | null, actor: string, details: Record<string, number | string> = {}): AuditEvent => ({
  action: AuditAction.ApiRequest,
  actor,
  practiceId,
  details,
});

describe('one chain per practice', () => {
  it('gives each practice a chain of its own from seq 1, and events with no practice the system chain', async () => {
    const write = auditWriter(db);
    await Promise.all([
      write(ev(practiceA, 'a1')),
      write(ev(practiceB, 'b1')),
      write(ev(null, 'sys1')),
      write([ev(practiceA, 'a2'), ev(practiceB, 'b2'), ev(practiceA, 'a3')]),
    ]);
    const rows = await db.selectFrom('audit_log').select(['chain_id', 'chain_seq', 'actor', 'prev_hash', 'hash_version']).orderBy('chain_id').orderBy('chain_seq').execute();
    const chain = (id: string): string[] => rows.filter((r) => r.chain_id === id).map((r) => `${r.chain_seq}:${r.actor}`);
    expect(chain(practiceA)).toEqual(['1:a1', '2:a2', '3:a3']);
    expect(chain(practiceB)).toEqual(['1:b1', '2:b2']);
    expect(chain('system')).toEqual(['1:sys1']);
    // Each chain starts at the genesis; every new row is hashed with version 2.
    expect(rows.filter((r) => r.prev_hash === GENESIS_HASH)).toHaveLength(3);
    expect(new Set(rows.map((r) => r.hash_version))).toEqual(new Set([2]));
    const result = await verifyChain(db);
    expect(result).toMatchObject({ ok: true, rows: 6 });
    expect(result.chains.map((c) => [c.chain, c.rows]).sort()).toEqual([[practiceA, 3], [practiceB, 2], ['system', 1]].sort());
  });

  it('writers of two practices on separate pools never wait for each other nor collide; writers of one practice do', async () => {
    const pools = Array.from({ length: 2 }, () => createDb(h.config.database.url, h.schema, 4));
    try {
      const [a, b] = pools.map((p) => auditWriter(p)) as [ReturnType<typeof auditWriter>, ReturnType<typeof auditWriter>];
      // Each writer learns its chain's head first (its first batch reads it under the lock).
      await Promise.all([a(ev(practiceA, 'warm')), b(ev(practiceB, 'warm'))]);
      for (let round = 0; round < 20; round += 1) {
        await Promise.all([
          ...Array.from({ length: 5 }, (_, i) => a(ev(practiceA, 'writer-a', { round, i }))),
          ...Array.from({ length: 5 }, (_, i) => b(ev(practiceB, 'writer-b', { round, i }))),
        ]);
      }
      expect(auditWriterStats(a)).toMatchObject({ lockWaits: 0, conflicts: 0 });
      expect(auditWriterStats(b)).toMatchObject({ lockWaits: 0, conflicts: 0 });

      // The same two writers on one practice's chain: each one's rows get in the other's way.
      for (let round = 0; round < 20; round += 1) {
        await Promise.all([a(ev(practiceA, 'both-a', { round })), b(ev(practiceA, 'both-b', { round }))]);
      }
      const sa = auditWriterStats(a);
      const sb = auditWriterStats(b);
      expect((sa?.lockWaits ?? 0) + (sa?.conflicts ?? 0) + (sb?.lockWaits ?? 0) + (sb?.conflicts ?? 0)).toBeGreaterThan(0);
    } finally {
      await Promise.all(pools.map((p) => p.destroy()));
    }
    expect(await verifyChain(db, { chains: [practiceA, practiceB] })).toMatchObject({ ok: true });
  });

  it('holds one chain\'s lock without stopping a writer of another chain; a writer of the held chain waits for it', async () => {
    const write = auditWriter(db);
    // Each writer's first batch reads its head under the lock; from then on it appends in one statement.
    await write(ev(practiceA, 'held-warm'));
    await write(ev(practiceB, 'free-warm'));
    const holder = createDb(h.config.database.url, h.schema, 1);
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked: () => void = () => undefined;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    try {
      // Chain A's lock (the keys the writers use), held by a transaction on another connection.
      const holding = holder.transaction().execute(async (trx) => {
        await sql`SELECT pg_advisory_xact_lock(${chainLockKeys(practiceA)})`.execute(trx);
        locked();
        await released;
      });
      await isLocked;
      let aDone = false;
      const aWrite = write(ev(practiceA, 'held')).then(() => (aDone = true));
      // Chain B is not held up by chain A's lock.
      await write(ev(practiceB, 'free'));
      await write([ev(practiceB, 'free-2'), ev(practiceB, 'free-3')]);
      const inA = await db.selectFrom('audit_log').select('seq').where('chain_id', '=', practiceA).where('actor', '=', 'held').execute();
      expect(aDone).toBe(false);
      expect(inA).toEqual([]);
      release();
      await holding;
      await aWrite;
      expect(aDone).toBe(true);
    } finally {
      release();
      await holder.destroy();
    }
  });

  it('writes a batch whose write got no answer, and whose check also failed, once: each caller\'s retry asks whether it committed', async () => {
    // A proxy before PostgreSQL that passes the statement carrying `trigger` but cuts the client
    // off when its answer comes (the write commits; the writer never hears), then cuts the next
    // connection or statement too (the check under the lock fails): the double failure.
    const trigger = `lost-${randomUUID().slice(0, 8)}`;
    const target = new URL(h.config.database.url);
    let armed = true;
    let failNext = false;
    const upstreams = new Set<net.Socket>();
    const server = net.createServer((client) => {
      if (failNext) {
        failNext = false;
        client.destroy();
        return;
      }
      const upstream = net.connect(Number(target.port || 5432), target.hostname);
      upstreams.add(upstream);
      let cut = false;
      client.on('data', (chunk: Buffer) => {
        if (failNext) {
          failNext = false;
          client.destroy();
          return;
        }
        if (armed && chunk.includes(trigger)) {
          armed = false;
          cut = true;
        }
        upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => {
        if (!cut) {
          client.write(chunk);
          return;
        }
        // The server finishes its work on a connection kept open; only the client loses it.
        if (!client.destroyed) {
          failNext = true;
          client.destroy();
        }
      });
      const done = (): void => {
        if (!cut) upstream.destroy();
        client.destroy();
      };
      client.on('close', done).on('error', done);
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = new URL(h.config.database.url);
    url.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const pool = createDb(url.toString(), h.schema, 2);
    const chain = randomUUID();
    try {
      const write = auditWriter(pool);
      await write(ev(chain, 'warm'));
      // The first goes alone; the two behind it go as one batch (two callers), the one cut off.
      const first = write(ev(chain, 'first'));
      const one = write(ev(chain, `${trigger}-1`));
      const two = write(ev(chain, `${trigger}-2`));
      await Promise.all([first, one, two]);
      expect(armed).toBe(false);
      const rows = await db.selectFrom('audit_log').select('actor').where('chain_id', '=', chain).orderBy('chain_seq').execute();
      expect(rows.map((r) => r.actor)).toEqual(['warm', 'first', `${trigger}-1`, `${trigger}-2`]);
      expect(await verifyChain(db, { chains: [chain] })).toMatchObject({ ok: true, rows: 4 });
    } finally {
      await pool.destroy();
      for (const u of upstreams) u.destroy();
      server.close();
    }
  });

  it('files a practice id written in upper case under the practice\'s chain, and it verifies', async () => {
    const other = await startHarness('audit_case', { SEED_DEMO: 'false' });
    try {
      await other.services.audit([ev(practiceA, 'lower'), ev(practiceA.toUpperCase(), 'upper')]);
      const rows = await other.services.db.selectFrom('audit_log').select(['chain_id', 'chain_seq']).execute();
      expect(rows.map((r) => [r.chain_id, Number(r.chain_seq)]).sort()).toEqual([[practiceA, 1], [practiceA, 2]]);
      expect(await verifyChain(other.services.db)).toMatchObject({ ok: true, rows: 2 });
    } finally {
      await other.close();
    }
  });

  it('tells onBatch each committed batch: its size and how often it went again', async () => {
    const batches: Array<[number, number]> = [];
    const write = auditWriter(db, () => new Date(), { onBatch: (size, _ms, retries) => batches.push([size, retries]) });
    await write([ev(practiceA, 'x'), ev(practiceA, 'y')]);
    expect(batches).toEqual([[2, 0]]);
    expect(auditWriterStats(write)).toMatchObject({ batches: 1, rows: 2 });
  });

  it('audit:verify and audit:export work on one practice', async () => {
    const verify = await cli('audit-verify', ['--practice', practiceB, '--checkpoints', '/nonexistent/none.jsonl']);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(new RegExp(`^OK ${practiceB}: \\d+ rows, chain intact\\n$`));
    // Neither a practice id nor a known slug: refused with exit 2.
    const unknown = await cli('audit-verify', ['--practice', 'no-such-practice']);
    expect(unknown.code).toBe(2);
    const system = await cli('audit-export', ['--practice', 'system', '--format', 'jsonl']);
    const lines = system.stdout.trim().split('\n').map((l) => JSON.parse(l) as { chain: string; seq: number });
    expect(lines.map((l) => [l.chain, l.seq])).toEqual([['system', 1]]);
  });
});

describe('audit:export of one practice', () => {
  it('exports the practice\'s chain only (not the legacy rows that name it), by id also of a practice since removed', async () => {
    const other = await startHarness('audit_export', { SEED_DEMO: 'false' });
    try {
      const d = other.services.db;
      // A version 1 row of the legacy chain that names practice A: a fragment of another chain.
      await asSuperuser(d, sql`INSERT INTO audit_log (chain_id, chain_seq, hash_version, at, practice_id, actor, action, details, prev_hash, hash)
        VALUES ('legacy', 1, 1, '2026-11-01T03:00:00.000Z'::timestamptz, ${practiceA}::uuid, 'old', 'api.request', '{}'::json, ${GENESIS_HASH}, ${'d'.repeat(64)})`);
      await appendAuditMany(d, [ev(practiceA, 'new-1'), ev(practiceA, 'new-2'), ev(practiceB, 'other')]);
      // practice A is no row of the practices table (as after its removal): its id still names its chain.
      const out = await cli('audit-export', ['--practice', practiceA.toUpperCase()], { DATABASE_SCHEMA: other.schema, DATA_DIR: other.config.dataDir });
      expect(out.code).toBe(0);
      const lines = out.stdout.trim().split('\n').map((l) => JSON.parse(l) as { chain: string; seq: number; actor: string });
      expect(lines.map((l) => [l.chain, l.seq, l.actor])).toEqual([[practiceA, 1, 'new-1'], [practiceA, 2, 'new-2']]);
    } finally {
      await other.close();
    }
  });
});

describe('hash coverage', () => {
  it('hashes version 2 rows as RFC 8785 text, which pins numbers the old encoding left loose', () => {
    const record = {
      chain: 'system',
      hashVersion: 2 as const,
      seq: 1,
      at: '2026-11-26T03:00:00.000Z',
      practiceId: null,
      actor: 'system',
      action: 'api.request',
      callSid: null,
      leg: null,
      subjectId: null,
      details: { big: 1e21, small: 1e-7, 'é': 1, z: 2 },
      prevHash: GENESIS_HASH,
    };
    const text = '{"action":"api.request","actor":"system","at":"2026-11-26T03:00:00.000Z","callSid":null,"chain":"system","details":{"big":1e+21,"small":1e-7,"z":2,"é":1},"leg":null,"practiceId":null,"prevHash":"' + GENESIS_HASH + '","seq":1,"subjectId":null,"v":2}';
    expect(jcs({ ...record, hashVersion: undefined, v: 2 })).toBe(text);
    expect(hashRecord(record)).toBe(createHash('sha256').update(text, 'utf8').digest('hex'));
  });

  it('stores details as the exact text hashed, and finds a number changed past what a double holds', async () => {
    const other = await startHarness('audit_numbers', { SEED_DEMO: 'false' });
    try {
      const d = other.services.db;
      await appendAuditMany(d, [ev(null, 'n1', { ratio: 0.1 }), ev(null, 'n2', { count: 3 })]);
      const stored = await sql<{ t: string }>`SELECT details::text AS t FROM audit_log WHERE actor = 'n1'`.execute(d);
      expect(stored.rows[0]?.t).toBe('{"ratio":0.1}');
      expect(await verifyChain(d)).toMatchObject({ ok: true });
      // 0.10000000000000001 reads back as the same double: only the stored text gives it away.
      await asSuperuser(d, sql`UPDATE audit_log SET details = '{"ratio":0.10000000000000001}'::json WHERE actor = 'n1'`);
      expect(await verifyChain(d)).toMatchObject({ ok: false, chains: [{ problem: { seq: 1, reason: 'details are not the text that was hashed' } }] });
    } finally {
      await other.close();
    }
  });

  it('refuses a time finer than the hashed millisecond, and finds one written behind the table\'s back', async () => {
    const other = await startHarness('audit_micros', { SEED_DEMO: 'false' });
    try {
      const d = other.services.db;
      await appendAuditMany(d, [ev(null, 't1'), ev(null, 't2')], new Date('2026-11-26T03:00:00.123Z'));
      await expect(sql`UPDATE audit_log SET at = at + interval '7 microseconds' WHERE actor = 't2'`.execute(d)).rejects.toThrow();
      expect(await verifyChain(d)).toMatchObject({ ok: true });
      await asSuperuser(d, sql`ALTER TABLE audit_log DROP CONSTRAINT audit_log_at_ms_check`);
      await asSuperuser(d, sql`UPDATE audit_log SET at = at + interval '7 microseconds' WHERE actor = 't2'`);
      expect(await verifyChain(d)).toMatchObject({ ok: false, chains: [{ problem: { seq: 2, reason: 'at holds more than the hashed milliseconds' } }] });
    } finally {
      await other.close();
    }
  });

  it('keeps rows written before migration 0010 verifiable, as the legacy chain with the old encoding', async () => {
    const schema = `t_audit_legacy_${randomUUID().slice(0, 8)}`;
    const d = createDb(h.config.database.url, schema, 2);
    try {
      await sql`CREATE SCHEMA ${sql.id(schema)}`.execute(d);
      const migrations = { '0001-platform': m0001, '0002-call-flows': m0002, '0003-oncall': m0003, '0004-voicemail': m0004, '0005-rvm': m0005, '0006-oncall-legs': m0006, '0007-voicemail-upkeep': m0007 };
      const old = new Migrator({ db: d as unknown as Kysely<unknown>, provider: { getMigrations: async () => migrations }, migrationTableSchema: schema });
      // Kysely reads every schema's catalog first: another test file altering its tables meanwhile is retried, as the product does.
      expect((await retryingCatalogRaces(() => old.migrateToLatest())).error).toBeUndefined();
      // Rows as the version 1 writer wrote them: one chain, jsonb details, the old canonical JSON.
      let prev = GENESIS_HASH;
      for (let seq = 1; seq <= 3; seq += 1) {
        const rec = { seq, at: `2026-11-2${seq}T03:00:00.000Z`, practiceId: seq === 2 ? practiceA : null, actor: `old-${seq}`, action: 'api.request', callSid: null, leg: null, subjectId: null, details: { seq, ratio: 0.5 }, prevHash: prev };
        const hash = createHash('sha256').update(canonicalJson(rec), 'utf8').digest('hex');
        await sql`INSERT INTO audit_log (seq, at, practice_id, actor, action, details, prev_hash, hash)
          VALUES (${seq}, ${rec.at}::timestamptz, ${rec.practiceId}::uuid, ${rec.actor}, ${rec.action}, ${JSON.stringify(rec.details)}::jsonb, ${prev}, ${hash})`.execute(d);
        prev = hash;
      }
      await migrateToLatest(d, schema);
      // New rows go to the new chains, after the old ones in the table's order.
      await appendAuditMany(d, [ev(practiceA, 'new-a'), ev(null, 'new-sys')]);
      const result = await verifyChain(d);
      expect(result).toMatchObject({ ok: true, rows: 5 });
      expect(result.chains.map((c) => [c.chain, c.rows])).toEqual([['legacy', 3], [practiceA, 1], ['system', 1]]);
      const order = await d.selectFrom('audit_log').select(['seq', 'actor']).orderBy('seq').execute();
      expect(order.map((r) => [Number(r.seq), r.actor]).slice(0, 3)).toEqual([[1, 'old-1'], [2, 'old-2'], [3, 'old-3']]);
      expect(new Set(order.slice(3).map((r) => r.actor))).toEqual(new Set(['new-a', 'new-sys']));
    } finally {
      await d.destroy();
      await dropIsolation(h.config, schema, `none-${schema}:`);
    }
  });
});

describe('checkpoints of chain heads', () => {
  it('writes each moved head to an append-only file, and audit:verify names the rows cut from a chain\'s tail', async () => {
    const other = await startHarness('audit_checkpoints', { SEED_DEMO: 'false' });
    try {
      const file = other.config.auditCheckpoints.file;
      for (let i = 1; i <= 5; i += 1) await other.services.audit(ev(practiceA, `row-${i}`));
      await other.services.audit(ev(null, 'sys'));
      // A stop takes a last checkpoint before the pool closes.
      await other.restart();
      const taken = await readCheckpoints([fileCheckpointSink(file)]);
      expect(taken.filter((c) => c.chain === practiceA).at(-1)).toMatchObject({ seq: 5 });
      expect(taken.filter((c) => c.chain === 'system').at(-1)).toMatchObject({ seq: 1 });

      // The newest two rows of practice A go; what is left is a valid chain on its own.
      await asSuperuser(other.services.db, sql`DELETE FROM audit_log WHERE chain_id = ${practiceA} AND chain_seq > 3`);
      expect(await verifyChain(other.services.db)).toMatchObject({ ok: true });
      const result = await verifyChain(other.services.db, { checkpoints: taken });
      expect(result.ok).toBe(false);
      expect(result.chains.find((c) => c.chain === practiceA)).toMatchObject({ ok: false, rows: 3, missing: { from: 4, to: 5 } });
      expect(result.chains.find((c) => c.chain === 'system')).toMatchObject({ ok: true });

      const out = await cli('audit-verify', [], { DATABASE_SCHEMA: other.schema, DATA_DIR: other.config.dataDir });
      expect(out.code).toBe(1);
      expect(out.stdout).toContain(`MISSING ${practiceA}: rows seq=4..5`);
      expect(out.stdout).toContain('OK system: 1 rows');

      // The file is only ever appended to (the restarted instance's own start checkpoint may follow).
      const lines = (await readFile(file, 'utf8')).trim().split('\n');
      expect(lines.slice(0, taken.length).map((l) => JSON.parse(l) as unknown)).toEqual(taken);
    } finally {
      await other.close();
    }
  });

  it('appends after a line torn by a crash on a line of its own, and reads past an unreadable line with a warning', async () => {
    const file = `${h.config.dataDir}/torn-checkpoints.jsonl`;
    const sink = fileCheckpointSink(file);
    const at = new Date().toISOString();
    // Checkpoints of a chain the verify below does not walk (only the last line is of its chain).
    const elsewhere = randomUUID();
    const cp = (seq: number): { chain: string; seq: number; hash: string; at: string; checkpointAt: string } => ({ chain: elsewhere, seq, hash: String(seq).repeat(64), at, checkpointAt: at });
    await sink.write([cp(1)]);
    // A crash mid-append: half a line, no newline.
    await appendFile(file, JSON.stringify(cp(2)).slice(0, 20));
    await sink.write([cp(3)]);
    const lines = (await readFile(file, 'utf8')).split('\n');
    expect(lines[2]).toBe(JSON.stringify(cp(3)));
    const unreadable: Array<[string, number]> = [];
    expect(await readCheckpoints([sink], (where, line) => unreadable.push([where, line]))).toEqual([cp(1), cp(3)]);
    expect(unreadable).toEqual([[file, 2]]);

    // audit:verify warns of the line and verifies against the others.
    await appendAuditMany(db, [ev(null, 'torn')]);
    const head = (await chainHeads(db)).find((c) => c.chain === 'system');
    await sink.write([{ chain: 'system', seq: head?.seq ?? 0, hash: head?.hash ?? '', at, checkpointAt: at }]);
    const out = await cli('audit-verify', ['--practice', 'system', '--checkpoints', file]);
    expect(out.stdout).toContain(`WARNING ${file}: line 2 is not a checkpoint (skipped)`);
    expect(out.stdout).toMatch(/^OK system: \d+ rows, chain intact$/m);
    expect(out.code).toBe(0);
  });

  it('finds a tail cut that the chain has grown over again: the row at the checkpoint\'s place has another hash', async () => {
    const chain = randomUUID();
    for (let i = 1; i <= 5; i += 1) await appendAuditMany(db, [ev(chain, `row-${i}`)]);
    const head = (await chainHeads(db)).find((c) => c.chain === chain);
    expect(head?.seq).toBe(5);
    const at = new Date().toISOString();
    const checkpoints = [{ chain, seq: 5, hash: head?.hash ?? '', at, checkpointAt: at }];
    expect(await verifyChain(db, { chains: [chain], checkpoints })).toMatchObject({ ok: true, rows: 5 });
    // The newest two rows go, and three new ones take seq 4..6: no row is missing past the checkpoint.
    await asSuperuser(db, sql`DELETE FROM audit_log WHERE chain_id = ${chain} AND chain_seq > 3`);
    for (let i = 1; i <= 3; i += 1) await appendAuditMany(db, [ev(chain, `again-${i}`)]);
    const result = await verifyChain(db, { chains: [chain], checkpoints });
    expect(result).toMatchObject({ ok: false, rows: 4, chains: [{ chain, ok: false, problem: { seq: 5, reason: `hash differs from the checkpoint of ${at}` } }] });
    expect(result.chains[0]?.missing).toBeUndefined();
  });

  it('checkpoints only the chains that moved since the last one', async () => {
    const written: string[][] = [];
    const sink = { kind: 'file' as const, write: async (cps: Array<{ chain: string }>) => void written.push(cps.map((c) => c.chain)), read: async () => [] };
    const taker = checkpointer(db, sink);
    await taker.run();
    await taker.run();
    await appendAuditMany(db, [ev(practiceB, 'moved')]);
    await taker.run();
    expect(written[0]?.length).toBe((await chainHeads(db)).length);
    expect(written[1]).toEqual([]);
    expect(written[2]).toEqual([practiceB]);
  });

  it('puts checkpoints to S3 locked in compliance mode until the retention ends', async () => {
    const seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }> = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        res.writeHead(200, { ETag: '"0"' }).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const client = new S3Client({
        region: 'us-east-1',
        endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        forcePathStyle: true,
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      });
      const now = new Date('2026-11-26T03:00:00Z');
      const sink = s3CheckpointSink(client, 'audit-bucket', 'audit-checkpoints/test/', 2190, () => now);
      const cp = { chain: 'system', seq: 4, hash: 'a'.repeat(64), at: now.toISOString(), checkpointAt: now.toISOString() };
      await sink.write([cp]);
      expect(seen).toHaveLength(1);
      const put = seen[0];
      expect(put?.method).toBe('PUT');
      expect(put?.url).toMatch(/^\/audit-bucket\/audit-checkpoints\/test\/2026-11-26T03-00-00-000Z-[0-9a-f]{8}\.jsonl/);
      expect(put?.headers['x-amz-object-lock-mode']).toBe('COMPLIANCE');
      expect(new Date(String(put?.headers['x-amz-object-lock-retain-until-date'])).toISOString()).toBe(new Date(now.getTime() + 2190 * 86_400_000).toISOString());
      expect(put?.headers['x-amz-sdk-checksum-algorithm'] ?? put?.headers['x-amz-checksum-sha256']).toBeTruthy();
      expect(put?.body).toContain(JSON.stringify(cp));
    } finally {
      server.close();
    }
  });

  it('takes a checkpoint on its timer, not only at start and stop', async () => {
    const file = `${h.config.dataDir}/timer-checkpoints.jsonl`;
    const config = { ...h.config, auditCheckpoints: { ...h.config.auditCheckpoints, file } };
    const headOf = async (): Promise<number | undefined> => (await chainHeads(db)).find((c) => c.chain === practiceA)?.seq;
    const checkpointed = async (seq: number | undefined): Promise<boolean> => (await readCheckpoints([fileCheckpointSink(file)])).some((c) => c.chain === practiceA && c.seq === seq);
    await appendAuditMany(db, [ev(practiceA, 'before-start')]);
    const taker = startCheckpoints(db, config, () => new Date(), 100);
    try {
      const first = await headOf();
      await until('the start checkpoint', () => checkpointed(first));
      // Only the timer can take the next one.
      await appendAuditMany(db, [ev(practiceA, 'after-start')]);
      const moved = await headOf();
      await until('a timed checkpoint of the moved head', () => checkpointed(moved));
    } finally {
      await taker.stop();
    }
  });

  it('takes a last checkpoint when it stops', async () => {
    const file = `${h.config.dataDir}/stop-checkpoints.jsonl`;
    const config = { ...h.config, auditCheckpoints: { ...h.config.auditCheckpoints, file } };
    await appendAuditMany(db, [ev(practiceB, 'before-start')]);
    const taker = startCheckpoints(db, config, () => new Date(), 3_600_000);
    // The start checkpoint first, so that only the stop can take the next head.
    const started = (await chainHeads(db)).find((c) => c.chain === practiceB);
    await until('the start checkpoint', async () => (await readCheckpoints([fileCheckpointSink(file)])).some((c) => c.chain === practiceB && c.seq === started?.seq));
    await appendAuditMany(db, [ev(practiceB, 'before-stop')]);
    const head = (await chainHeads(db)).find((c) => c.chain === practiceB);
    await taker.stop();
    expect((await readCheckpoints([fileCheckpointSink(file)])).filter((c) => c.chain === practiceB).at(-1)).toMatchObject({ seq: head?.seq, hash: head?.hash });
  });

  it('reads back what it put in the loopback S3', async () => {
    const s3 = await startS3Double('audit-checkpoints');
    try {
      const client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: S3_DOUBLE_CREDENTIALS });
      const sink = s3CheckpointSink(client, s3.bucket, 'audit-checkpoints/t/', 1);
      const at = new Date().toISOString();
      const cps = [
        { chain: 'system', seq: 2, hash: 'b'.repeat(64), at, checkpointAt: at },
        { chain: practiceA, seq: 9, hash: 'c'.repeat(64), at, checkpointAt: at },
      ];
      await sink.write(cps.slice(0, 1));
      await sink.write(cps.slice(1));
      expect((await sink.read()).sort((x, y) => x.seq - y.seq)).toEqual(cps);
    } finally {
      await s3.dispose();
    }
  });
});
