import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { AuditAction, GENESIS_HASH } from '../src/audit/events.js';
import { appendAudit, appendAuditMany, auditWriter, verifyChain } from '../src/audit/store.js';
import { createDb, type Db } from '../src/adapters/postgres.js';
import { startHarness, type Harness } from './support/harness.js';

const run = promisify(execFile);

let h: Harness;
let db: Db;

beforeAll(async () => {
  h = await startHarness('audit', { SEED_DEMO: 'false' });
  db = h.services.db;
});
afterAll(async () => {
  await h.close();
});

function cli(script: string, args: string[] = []): Promise<{ stdout: string; stderr: string }> {
  return run('npx', ['tsx', `scripts/${script}.ts`, ...args], {
    env: { ...process.env, DATABASE_SCHEMA: h.schema, DATA_DIR: h.config.dataDir, SEED_DEMO: 'false' },
  });
}

describe('audit log', () => {
  it('chains rows by hash from the genesis', async () => {
    const a = await appendAudit(db, { action: AuditAction.SystemStarted, actor: 'system' });
    const b = await appendAudit(db, { action: AuditAction.CallLegStarted, actor: 'twilio', callSid: `CA${'a'.repeat(32)}`, leg: 'parent' });
    const rows = await db.selectFrom('audit_log').selectAll().orderBy('seq').execute();
    expect(rows[0]?.prev_hash).toBe(GENESIS_HASH);
    expect(rows[0]?.hash).toBe(a.hash);
    expect(rows[1]?.prev_hash).toBe(a.hash);
    expect(rows[1]?.hash).toBe(b.hash);
    expect(await verifyChain(db)).toMatchObject({ ok: true, rows: 2 });
  });

  it('refuses UPDATE, DELETE and TRUNCATE in the database itself', async () => {
    await expect(sql`UPDATE audit_log SET actor = 'x'`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`DELETE FROM audit_log`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`TRUNCATE audit_log`.execute(db)).rejects.toThrow(/append-only/);
  });

  it('keeps one unforked chain under concurrent writers on separate connections', async () => {
    const writers = Array.from({ length: 4 }, () => createDb(h.config.database.url, h.schema, 3));
    try {
      await Promise.all(
        writers.flatMap((w, i) =>
          Array.from({ length: 10 }, (_, j) => appendAudit(w, { action: AuditAction.ApiRequest, actor: `writer-${i}`, details: { j } })),
        ),
      );
    } finally {
      await Promise.all(writers.map((w) => w.destroy()));
    }
    const result = await verifyChain(db);
    expect(result.ok).toBe(true);
    expect(result.rows).toBe(42);
    const forks = await sql<{ n: string }>`SELECT count(*) - count(DISTINCT prev_hash) AS n FROM audit_log`.execute(db);
    expect(Number(forks.rows[0]?.n)).toBe(0);
  });

  it('audit:verify prints OK, then finds a row a superuser tampered with', async () => {
    const ok = await cli('audit-verify');
    expect(ok.stdout).toBe('OK system: 42 rows, chain intact\n');

    // A superuser can switch the trigger off; the hash chain still gives them away.
    await db.connection().execute(async (conn) => {
      await sql`SET ROLE NONE`.execute(conn);
    await sql`SET session_replication_role = replica`.execute(conn);
      await sql`UPDATE audit_log SET actor = 'someone-else' WHERE chain_seq = 7`.execute(conn);
      await sql`SET session_replication_role = origin`.execute(conn);
    await sql`RESET ROLE`.execute(conn);
    });
    expect(await verifyChain(db)).toMatchObject({ ok: false, chains: [{ chain: 'system', ok: false, problem: { seq: 7, reason: 'hash does not match the row contents' } }] });
    const bad = await cli('audit-verify').catch((err: { stdout: string; code: number }) => err);
    expect('code' in bad ? bad.code : 0).toBe(1);
    expect(bad.stdout).toMatch(/^BAD system: row seq=7/);
  });

  it('the group-commit writer batches concurrent events, and one bad event fails only its own caller', async () => {
    // A fresh schema keeps this chain apart from the tampered one above.
    const other = await startHarness('audit_group', { SEED_DEMO: 'false' });
    try {
      const write = auditWriter(other.services.db);
      const results = await Promise.allSettled([
        ...Array.from({ length: 30 }, (_, i) => write({ action: AuditAction.ApiRequest, actor: `caller-${i}` })),
        // Refused by the table's CHECK on action names: must not take the others with it.
        write({ action: 'Not An Action' as never, actor: 'bad' }),
        write([
          { action: AuditAction.CallLegStarted, actor: 'twilio' },
          { action: AuditAction.CallTransition, actor: 'twilio' },
        ]),
      ]);
      expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
      expect(results[30]?.status).toBe('rejected');
      const rows = await other.services.db.selectFrom('audit_log').select(['seq', 'actor']).orderBy('seq').execute();
      expect(rows).toHaveLength(32);
      expect(new Set(rows.map((r) => r.actor)).size).toBe(31);
      expect(await verifyChain(other.services.db)).toMatchObject({ ok: true, rows: 32 });
    } finally {
      await other.close();
    }
  });

  it('group-commit writers on separate pools, interleaved with locked appends, extend one chain and lose nothing', async () => {
    // Each writer appends after the head it wrote last without reading it again; another
    // writer's rows in between make that statement fail as a whole, and it re-reads the head.
    const other = await startHarness('audit_writers', { SEED_DEMO: 'false' });
    const pools = Array.from({ length: 3 }, () => createDb(other.config.database.url, other.schema, 2));
    try {
      const [a, b] = [auditWriter(pools[0] as Db), auditWriter(pools[1] as Db)];
      const locked = pools[2] as Db;
      for (let round = 0; round < 5; round += 1) {
        await Promise.all([
          ...Array.from({ length: 6 }, (_, i) => a({ action: AuditAction.ApiRequest, actor: 'writer-a', details: { round, i, note: 'a "quoted", {braced} \\ NULL, ünïcödé' } })),
          ...Array.from({ length: 6 }, (_, i) => b([{ action: AuditAction.ApiRequest, actor: 'writer-b', details: { round, i } }, { action: AuditAction.CallTransition, actor: 'writer-b' }])),
          appendAudit(locked, { action: AuditAction.ApiRequest, actor: 'locked', details: { round } }),
        ]);
      }
      const counts = await sql<{ actor: string; n: string }>`SELECT actor, count(*) AS n FROM audit_log GROUP BY actor ORDER BY actor`.execute(other.services.db);
      expect(counts.rows.map((r) => [r.actor, Number(r.n)])).toEqual([
        ['locked', 5],
        ['writer-a', 30],
        ['writer-b', 60],
      ]);
      expect(await verifyChain(other.services.db)).toMatchObject({ ok: true, rows: 95 });
      // Time never runs backwards along the chain.
      const backwards = await sql<{ n: string }>`SELECT count(*) AS n FROM audit_log a JOIN audit_log b ON b.chain_id = a.chain_id AND b.chain_seq = a.chain_seq + 1 WHERE b.at < a.at`.execute(other.services.db);
      expect(Number(backwards.rows[0]?.n)).toBe(0);
    } finally {
      await Promise.all(pools.map((p) => p.destroy()));
      await other.close();
    }
  });

  it('a head that vanished behind the writer (a restore, a failover) is read again, not chained onto', async () => {
    const other = await startHarness('audit_vanished', { SEED_DEMO: 'false' });
    try {
      const db2 = other.services.db;
      const write = auditWriter(db2);
      for (let i = 1; i <= 5; i += 1) await write({ action: AuditAction.ApiRequest, actor: `before-${i}` });
      // The last two rows are lost (as a superuser could; the trigger is bypassed).
      await db2.connection().execute(async (conn) => {
        await sql`SET ROLE NONE`.execute(conn);
    await sql`SET session_replication_role = replica`.execute(conn);
        await sql`DELETE FROM audit_log WHERE chain_seq > 3`.execute(conn);
        await sql`SET session_replication_role = origin`.execute(conn);
    await sql`RESET ROLE`.execute(conn);
      });
      await write({ action: AuditAction.ApiRequest, actor: 'after' });
      const rows = await db2.selectFrom('audit_log').select(['chain_seq', 'actor']).orderBy('chain_seq').execute();
      expect(rows.map((r) => [Number(r.chain_seq), r.actor])).toEqual([
        [1, 'before-1'],
        [2, 'before-2'],
        [3, 'before-3'],
        [4, 'after'],
      ]);
      expect(await verifyChain(db2)).toMatchObject({ ok: true, rows: 4 });
    } finally {
      await other.close();
    }
  });

  it('events whose write may have committed unseen are not written twice', async () => {
    const other = await startHarness('audit_unseen', { SEED_DEMO: 'false' });
    try {
      const db2 = other.services.db;
      const head = await appendAuditMany(db2, [{ action: AuditAction.ApiRequest, actor: 'sent-once' }]);
      if (!head) throw new Error('nothing written');
      // The same events again, as after an error with no answer: their last hash is in the log.
      const again = await appendAuditMany(db2, [{ action: AuditAction.ApiRequest, actor: 'sent-once' }], new Date(), { unlessCommitted: { seq: head.seq, hash: head.hash } });
      expect(again).toMatchObject({ seq: head.seq, hash: head.hash });
      // A hash that is not in the log: the events are written.
      await appendAuditMany(db2, [{ action: AuditAction.ApiRequest, actor: 'not-sent' }], new Date(), { unlessCommitted: { seq: head.seq + 1, hash: 'f'.repeat(64) } });
      const rows = await db2.selectFrom('audit_log').select('actor').orderBy('seq').execute();
      expect(rows.map((r) => r.actor)).toEqual(['sent-once', 'not-sent']);
      expect(await verifyChain(db2)).toMatchObject({ ok: true, rows: 2 });
    } finally {
      await other.close();
    }
  });

  it('audit:export writes a range as jsonl and as csv', async () => {
    const jsonl = await cli('audit-export', ['--from', '2000-01-01', '--to', '2999-01-01', '--format', 'jsonl']);
    const lines = jsonl.stdout.trim().split('\n');
    expect(lines).toHaveLength(42);
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ seq: 1, action: 'system.started', prevHash: GENESIS_HASH });

    const csv = await cli('audit-export', ['--format', 'csv']);
    const rows = csv.stdout.trim().split('\n');
    expect(rows[0]).toBe('seq,at,practiceId,actor,action,callSid,leg,subjectId,details,prevHash,hash,chain,hashVersion');
    expect(rows).toHaveLength(43);

    const empty = await cli('audit-export', ['--from', '2999-01-01', '--format', 'jsonl']);
    expect(empty.stdout).toBe('');
    await expect(cli('audit-export', ['--format', 'xml'])).rejects.toMatchObject({ stderr: expect.stringContaining('--format: expected csv or jsonl') });
  });

  it('audit:export piped into a reader that stops early (| head) exits quietly, without EPIPE', async () => {
    // Far more than a pipe buffer holds, so the export is still writing when head goes away.
    await appendAuditMany(
      db,
      Array.from({ length: 3000 }, (_, i) => ({ action: AuditAction.ApiRequest, actor: 'bulk', details: { i, pad: 'x'.repeat(200) } })),
    );
    const { spawn } = await import('node:child_process');
    const child = spawn('bash', ['-c', 'set -o pipefail; node --import tsx scripts/audit-export.ts --format jsonl | head -n 2'], {
      env: { ...process.env, DATABASE_SCHEMA: h.schema, DATA_DIR: h.config.dataDir, SEED_DEMO: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(stdout.trim().split('\n')).toHaveLength(2);
    expect(stderr).not.toMatch(/EPIPE|Error/);
    expect(code).toBe(0);
  }, 60_000);
});
