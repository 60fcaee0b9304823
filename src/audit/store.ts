import { sql } from 'kysely';
import type { Db } from '../adapters/postgres.js';
import { checkLink, nextRecord, type AuditActionName, type AuditEvent, type AuditRecord, type ChainProblem } from './events.js';

export type AuditWriter = (event: AuditEvent | AuditEvent[]) => Promise<void>;

interface StoredRow {
  seq: string;
  at: Date;
  practice_id: string | null;
  actor: string;
  action: string;
  call_sid: string | null;
  leg: string | null;
  subject_id: string | null;
  details: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

function toRecord(row: StoredRow): AuditRecord & { hash: string } {
  return {
    seq: Number(row.seq),
    at: row.at.toISOString(),
    practiceId: row.practice_id,
    actor: row.actor,
    action: row.action,
    callSid: row.call_sid,
    leg: row.leg,
    subjectId: row.subject_id,
    details: row.details,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** The newest row of the chain: what the next row links to, and the time it must not precede. */
export interface ChainHead {
  seq: number;
  hash: string;
  at: Date;
}

/** The lock every writer of the chain takes, inside its transaction. */
const CHAIN_LOCK = sql`pg_advisory_xact_lock(hashtext(current_schema() || '.audit_log'))`;

/** The rows that extend the chain from `head` (null: an empty log), all stamped `at` or later. */
function chainRows(events: AuditEvent[], head: ChainHead | null, now: Date): { rows: AuditRecord[]; head: ChainHead } {
  // Time never runs backwards along the chain, whatever the clocks of the writers say.
  const at = head && head.at.getTime() > now.getTime() ? head.at : now;
  let prev = head ? { seq: head.seq, hash: head.hash } : null;
  const rows = events.map((event) => {
    const rec = nextRecord(event, prev, at);
    prev = { seq: rec.seq, hash: rec.hash };
    return rec;
  });
  if (!prev) throw new Error('no audit rows to write');
  return { rows, head: { ...(prev as { seq: number; hash: string }), at } };
}

function storedRow(rec: AuditRecord & { hash: string }) {
  return {
    seq: String(rec.seq),
    at: new Date(rec.at),
    practice_id: rec.practiceId,
    actor: rec.actor,
    action: rec.action,
    call_sid: rec.callSid,
    leg: rec.leg,
    subject_id: rec.subjectId,
    details: JSON.stringify(rec.details),
    prev_hash: rec.prevHash,
    hash: rec.hash,
  };
}

/**
 * The one function that reads the chain's head and writes audit rows: appends events in one
 * transaction, in order. Writers serialise on a transaction-scoped advisory lock, so concurrent
 * processes extend the chain one at a time; the UNIQUE(prev_hash) constraint makes a fork
 * impossible even without it.
 */
export async function appendAuditMany(
  db: Db,
  events: AuditEvent[],
  now: Date = new Date(),
  opts: { unlessCommitted?: string } = {},
): Promise<ChainHead | null> {
  if (events.length === 0) return null;
  return db.transaction().execute(async (trx) => {
    await sql`SELECT ${CHAIN_LOCK}`.execute(trx);
    const last = await trx.selectFrom('audit_log').select(['seq', 'hash', 'at']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    const known = last ? { seq: Number(last.seq), hash: last.hash, at: last.at } : null;
    // These events were sent once already and the answer was lost: if that write committed
    // (its last row's hash is in the log), they are not written twice. Under the lock, a write
    // still committing has finished.
    if (opts.unlessCommitted !== undefined && known) {
      const done = await trx.selectFrom('audit_log').select(['seq', 'hash', 'at']).where('hash', '=', opts.unlessCommitted).executeTakeFirst();
      if (done) return known;
    }
    const { rows, head } = chainRows(events, known, now);
    await trx.insertInto('audit_log').values(rows.map((r) => storedRow(r as AuditRecord & { hash: string }))).execute();
    return head;
  });
}

export async function appendAudit(db: Db, event: AuditEvent, now: Date = new Date()): Promise<{ seq: number; hash: string }> {
  const last = await appendAuditMany(db, [event], now);
  if (!last) throw new Error('audit append wrote nothing');
  return last;
}

/** Rows per statement of appendAfter; a larger batch goes through appendAuditMany. */
const APPEND_AFTER_MAX_ROWS = 2_000;

/** Two rows claimed the same place in the chain: the head this writer knew was not the newest. */
function isChainConflict(err: unknown): boolean {
  const e = err as { code?: unknown; table?: unknown };
  return e.code === '23505' && (e.table === undefined || e.table === 'audit_log');
}

/**
 * Appends rows chained from a head this writer already knows (it wrote that row itself), in one
 * statement: no transaction to open, no head to read. The statement still takes the chain's lock
 * before it writes a row, so it never interleaves with a locked writer. It writes nothing, and
 * answers false, when that head is not the chain's newest row: another writer has extended the
 * chain since (the first row claims a `prev_hash` and `seq` already taken, and the unique
 * constraints refuse the whole statement), or the head is no longer there at all (a database
 * restored or failed over behind the process's back). The caller then appends through
 * appendAuditMany, which reads the real head.
 */
async function appendAfter(db: Db, head: ChainHead, rows: AuditRecord[]): Promise<boolean> {
  const r = rows.map((rec) => storedRow(rec as AuditRecord & { hash: string }));
  // One array per column: the statement's text (and plan) is the same whatever the batch's size.
  const col = <K extends keyof ReturnType<typeof storedRow>>(k: K): Array<ReturnType<typeof storedRow>[K]> => r.map((row) => row[k]);
  try {
    const result = await sql`/* prepared: audit_append_after */
      WITH chain_lock AS (SELECT ${CHAIN_LOCK})
      INSERT INTO audit_log (seq, at, practice_id, actor, action, call_sid, leg, subject_id, details, prev_hash, hash)
      SELECT v.* FROM unnest(
        ${col('seq')}::bigint[], ${col('at')}::timestamptz[], ${col('practice_id')}::uuid[], ${col('actor')}::text[], ${col('action')}::text[],
        ${col('call_sid')}::text[], ${col('leg')}::text[], ${col('subject_id')}::text[], ${col('details')}::jsonb[], ${col('prev_hash')}::text[], ${col('hash')}::text[]
      ) AS v (seq, at, practice_id, actor, action, call_sid, leg, subject_id, details, prev_hash, hash)
      CROSS JOIN chain_lock
      WHERE EXISTS (SELECT 1 FROM audit_log WHERE seq = ${String(head.seq)}::bigint AND hash = ${head.hash}::text)
    `.execute(db);
    return Number(result.numAffectedRows ?? 0) === rows.length;
  } catch (err) {
    if (isChainConflict(err)) return false;
    throw err;
  }
}

/** After another writer's rows got in the way, this many batches read the head under the lock first. */
const LOCKED_BATCHES_AFTER_CONFLICT = 8;

/**
 * The service's audit writer, with group commit: events from concurrent requests that arrive
 * while a write is in flight are written together in the next statement. Every caller still
 * waits until its own events are committed, so nothing is acknowledged before it is durable;
 * the chain's serialisation (one lock, one fsync) is paid once per batch instead of per request.
 * While this writer is the only one extending the chain, each batch is one statement
 * (appendAfter, from the head it wrote last); after another writer's rows it reads the head
 * again under the lock, for a few batches (several writers would otherwise keep colliding).
 */
export function auditWriter(db: Db, clock: () => Date = () => new Date(), hooks: { onBatch?: (rows: number, seconds: number) => void } = {}): AuditWriter {
  let queue: Array<{ events: AuditEvent[]; resolve: () => void; reject: (err: unknown) => void }> = [];
  let writing = false;
  /** The head this writer wrote last; null when unknown (at start, after a conflict or an error). */
  let head: ChainHead | null = null;
  let lockedBatches = 0;

  const append = async (events: AuditEvent[]): Promise<void> => {
    const now = clock();
    const known = head;
    head = null;
    if (known !== null && lockedBatches === 0 && events.length <= APPEND_AFTER_MAX_ROWS) {
      const next = chainRows(events, known, now);
      let written: boolean;
      try {
        written = await appendAfter(db, known, next.rows);
      } catch {
        // No answer is not no commit (a lost connection, a client-side timeout): under the
        // lock, find out whether these rows are in, and write them only if they are not.
        head = await appendAuditMany(db, events, now, { unlessCommitted: next.head.hash });
        return;
      }
      if (written) {
        head = next.head;
        return;
      }
      lockedBatches = LOCKED_BATCHES_AFTER_CONFLICT;
    } else if (lockedBatches > 0) {
      lockedBatches -= 1;
    }
    head = await appendAuditMany(db, events, now);
  };

  const flush = async (): Promise<void> => {
    writing = true;
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      try {
        const started = performance.now();
        await append(batch.flatMap((b) => b.events));
        hooks.onBatch?.(batch.reduce((n, b) => n + b.events.length, 0), (performance.now() - started) / 1000);
        for (const b of batch) b.resolve();
      } catch (err) {
        // One bad batch must not take the others with it: retry each caller's events alone.
        if (batch.length === 1) {
          batch[0]?.reject(err);
        } else {
          for (const b of batch) await append(b.events).then(b.resolve, b.reject);
        }
      }
    }
    writing = false;
  };

  return (event) =>
    new Promise<void>((resolve, reject) => {
      const events = Array.isArray(event) ? event : [event];
      if (events.length === 0) return resolve();
      queue.push({ events, resolve, reject });
      if (!writing) void flush();
    });
}

export interface VerifyResult {
  ok: boolean;
  rows: number;
  problem?: ChainProblem;
}

/** Walks the whole chain in pages and reports the first row that does not hold. */
export async function verifyChain(db: Db, pageSize = 1000): Promise<VerifyResult> {
  let prev: { seq: number; hash: string } | null = null;
  let rows = 0;
  for (;;) {
    const page = (await db
      .selectFrom('audit_log')
      .selectAll()
      .where('seq', '>', String(prev?.seq ?? 0))
      .orderBy('seq', 'asc')
      .limit(pageSize)
      .execute()) as StoredRow[];
    if (page.length === 0) return { ok: true, rows };
    for (const row of page) {
      const rec = toRecord(row);
      const problem = checkLink(rec, prev);
      if (problem) return { ok: false, rows, problem };
      prev = { seq: rec.seq, hash: rec.hash };
      rows += 1;
    }
  }
}

export interface ExportFilter {
  from?: Date;
  to?: Date;
  practiceId?: string;
  callSid?: string;
  limit?: number;
}

export async function readAudit(db: Db, filter: ExportFilter): Promise<Array<AuditRecord & { hash: string }>> {
  let q = db.selectFrom('audit_log').selectAll().orderBy('seq', 'asc');
  if (filter.from) q = q.where('at', '>=', filter.from);
  if (filter.to) q = q.where('at', '<', filter.to);
  if (filter.practiceId) q = q.where('practice_id', '=', filter.practiceId);
  if (filter.callSid) q = q.where('call_sid', '=', filter.callSid);
  if (filter.limit) q = q.limit(filter.limit);
  return ((await q.execute()) as StoredRow[]).map(toRecord);
}

/** Whether the log holds an event with this action about this subject (e.g. a page that already gave up). */
export async function hasAuditEvent(db: Db, action: AuditActionName, subjectId: string): Promise<boolean> {
  const row = await db.selectFrom('audit_log').select('seq').where('action', '=', action).where('subject_id', '=', subjectId).limit(1).executeTakeFirst();
  return row !== undefined;
}

/** Streams a range in pages, for exports larger than memory should hold. */
export async function* iterateAudit(db: Db, filter: ExportFilter, pageSize = 1000): AsyncGenerator<AuditRecord & { hash: string }> {
  let after = 0;
  for (;;) {
    let q = db.selectFrom('audit_log').selectAll().where('seq', '>', String(after)).orderBy('seq', 'asc').limit(pageSize);
    if (filter.from) q = q.where('at', '>=', filter.from);
    if (filter.to) q = q.where('at', '<', filter.to);
    if (filter.practiceId) q = q.where('practice_id', '=', filter.practiceId);
    const page = (await q.execute()) as StoredRow[];
    if (page.length === 0) return;
    for (const row of page) {
      const rec = toRecord(row);
      after = rec.seq;
      yield rec;
    }
  }
}

const CSV_COLUMNS = ['seq', 'at', 'practiceId', 'actor', 'action', 'callSid', 'leg', 'subjectId', 'details', 'prevHash', 'hash'] as const;

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  // Quote everything that needs it; neutralise spreadsheet formula injection.
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) || safe !== s ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function csvHeader(): string {
  return CSV_COLUMNS.join(',');
}

export function toCsvLine(rec: AuditRecord & { hash: string }): string {
  return CSV_COLUMNS.map((c) => csvCell(rec[c])).join(',');
}

export function toJsonLine(rec: AuditRecord & { hash: string }): string {
  return JSON.stringify(rec);
}
