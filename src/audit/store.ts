// Over 400 lines because the writer (group commit, one-statement append, locked fallback), the verifier and the export share the chain's row format and must change together.
import { sql } from 'kysely';
import type { Db } from '../adapters/postgres.js';
import {
  chainOf,
  checkLink,
  jcs,
  nextRecord,
  LEGACY_CHAIN,
  type AuditActionName,
  type AuditEvent,
  type AuditRecord,
  type ChainProblem,
  type HashVersion,
  type StoredForCheck,
} from './events.js';
import type { Checkpoint } from './checkpoint.js';

export type AuditWriter = (event: AuditEvent | AuditEvent[]) => Promise<void>;

interface StoredRow {
  seq: string;
  chain_id: string;
  chain_seq: string;
  hash_version: number;
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

/** A row as read back: the record and its hash, and `row`, its place in the order rows were written in (not hashed). */
export type StoredAuditRecord = AuditRecord & { hash: string; row: number };

function toRecord(row: StoredRow): StoredAuditRecord {
  return {
    row: Number(row.seq),
    chain: row.chain_id,
    hashVersion: row.hash_version as HashVersion,
    seq: Number(row.chain_seq),
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

/** The newest row of a chain: what the next row links to, and the time it must not precede. */
export interface ChainHead {
  seq: number;
  hash: string;
  at: Date;
}

/** A chain's lock (two keys: the table in this schema, the chain), taken inside the writer's transaction. */
const lockKeys = (chain: string): ReturnType<typeof sql> => sql`hashtext(current_schema() || '.audit_log'), hashtext(${chain}::text)`;
/** The arguments of a chain's advisory lock, for a test or a tool that must take the very lock the writers take. */
export const chainLockKeys = (chain: string): ReturnType<typeof sql> => lockKeys(chain);

/** The rows that extend `chain` from `head` (null: an empty chain), all stamped `at` or later. */
function chainRows(events: AuditEvent[], chain: string, head: ChainHead | null, now: Date): { rows: Array<AuditRecord & { hash: string }>; head: ChainHead } {
  // Time never runs backwards along a chain, whatever the clocks of the writers say.
  const at = head && head.at.getTime() > now.getTime() ? head.at : now;
  let prev = head ? { seq: head.seq, hash: head.hash } : null;
  const rows = events.map((event) => {
    const rec = nextRecord(event, prev, at, chain);
    prev = { seq: rec.seq, hash: rec.hash };
    return rec;
  });
  if (!prev) throw new Error('no audit rows to write');
  return { rows, head: { ...(prev as { seq: number; hash: string }), at: new Date(at.getTime()) } };
}

function storedRow(rec: AuditRecord & { hash: string }) {
  return {
    chain_id: rec.chain,
    chain_seq: String(rec.seq),
    hash_version: rec.hashVersion,
    at: new Date(rec.at),
    practice_id: rec.practiceId,
    actor: rec.actor,
    action: rec.action,
    call_sid: rec.callSid,
    leg: rec.leg,
    subject_id: rec.subjectId,
    // Exactly the text that was hashed (RFC 8785); the json column keeps it byte for byte.
    details: jcs(rec.details),
    prev_hash: rec.prevHash,
    hash: rec.hash,
  };
}

/** Events grouped by chain, each group in the order given. */
function byChain(events: AuditEvent[]): Map<string, AuditEvent[]> {
  const groups = new Map<string, AuditEvent[]>();
  for (const event of events) {
    const chain = chainOf(event);
    const group = groups.get(chain);
    if (group) group.push(event);
    else groups.set(chain, [event]);
  }
  return groups;
}

type Trx = Parameters<Parameters<ReturnType<Db['transaction']>['execute']>[0]>[0];

/**
 * Under the chain's lock (inside `trx`): reads the chain's head and appends `events` after it.
 * `onWait` is told when the lock was held by another writer.
 */
async function appendLocked(
  trx: Trx,
  chain: string,
  events: AuditEvent[],
  now: Date,
  unlessCommitted: { seq: number; hash: string } | undefined,
  onWait: () => void,
): Promise<ChainHead> {
  const tried = await sql<{ got: boolean }>`SELECT pg_try_advisory_xact_lock(${lockKeys(chain)}) AS got`.execute(trx);
  if (tried.rows[0]?.got !== true) {
    onWait();
    await sql`SELECT pg_advisory_xact_lock(${lockKeys(chain)})`.execute(trx);
  }
  const last = await trx
    .selectFrom('audit_log')
    .select(['chain_seq', 'hash', 'at'])
    .where('chain_id', '=', chain)
    .orderBy('chain_seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  const known = last ? { seq: Number(last.chain_seq), hash: last.hash, at: last.at } : null;
  // These events were sent once already and the answer was lost: if that write committed
  // (its last row is in the chain, at the place and with the hash it was sent with), they are
  // not written twice. Under the lock, a write still committing has finished.
  if (unlessCommitted !== undefined && known) {
    const done = await trx
      .selectFrom('audit_log')
      .select('chain_seq')
      .where('chain_id', '=', chain)
      .where('chain_seq', '=', String(unlessCommitted.seq))
      .where('hash', '=', unlessCommitted.hash)
      .executeTakeFirst();
    if (done) return known;
  }
  const { rows, head } = chainRows(events, chain, known, now);
  await trx.insertInto('audit_log').values(rows.map(storedRow)).execute();
  return head;
}

/**
 * Appends events in one transaction, in order, each to its chain (its practice's, or the system
 * chain): under each chain's transaction-scoped advisory lock (taken in chain order, so two
 * such writers never deadlock), after the head read there. UNIQUE(chain_id, prev_hash) makes
 * a fork impossible even without the lock. Answers the head of the last event's chain.
 * `unlessCommitted` (events of one chain only): the place and hash the last of these events had
 * when they were sent before without an answer; if that row is in the chain, nothing is written.
 */
export async function appendAuditMany(
  db: Db,
  events: AuditEvent[],
  now: Date = new Date(),
  opts: { unlessCommitted?: { seq: number; hash: string }; onLockWait?: () => void } = {},
): Promise<ChainHead | null> {
  if (events.length === 0) return null;
  const groups = byChain(events);
  if (opts.unlessCommitted !== undefined && groups.size > 1) throw new Error('unlessCommitted needs the events of one chain');
  const lastChain = chainOf(events[events.length - 1] as AuditEvent);
  const onWait = opts.onLockWait ?? ((): void => undefined);
  return db.transaction().execute(async (trx) => {
    let lastHead: ChainHead | null = null;
    for (const chain of [...groups.keys()].sort()) {
      const head = await appendLocked(trx, chain, groups.get(chain) as AuditEvent[], now, opts.unlessCommitted, onWait);
      if (chain === lastChain) lastHead = head;
    }
    return lastHead;
  });
}

export async function appendAudit(db: Db, event: AuditEvent, now: Date = new Date()): Promise<{ seq: number; hash: string }> {
  const last = await appendAuditMany(db, [event], now);
  if (!last) throw new Error('audit append wrote nothing');
  return last;
}

/** Rows per statement of appendAfter; a larger batch goes through the locked path. */
const APPEND_AFTER_MAX_ROWS = 2_000;

/** Two rows claimed the same place in a chain: the head this writer knew was not the newest. */
function isChainConflict(err: unknown): boolean {
  const e = err as { code?: unknown; table?: unknown };
  return e.code === '23505' && (e.table === undefined || e.table === 'audit_log');
}

/**
 * Appends rows chained from a head of `chain` this writer already knows (it wrote that row
 * itself), in one statement: no transaction to open, no head to read. The statement still takes
 * the chain's lock before it writes a row, so it never interleaves with a locked writer of that
 * chain (writers of other chains take other locks). It writes nothing, and answers 'conflict',
 * when that head is not the chain's newest row: another writer has extended the chain since (the
 * first row claims a `prev_hash` and `chain_seq` already taken, and the unique constraints refuse
 * the whole statement), or the head is no longer there at all (a database restored or failed
 * over behind the process's back). The caller then appends through the locked path, which reads
 * the real head. (A wait for the lock here is not counted: a writer that held it has almost
 * always moved the chain on, which counts as a conflict. Measured: asking for the lock with a
 * try first, in a data-modifying CTE, cost this statement about a tenth of its throughput.)
 */
async function appendAfter(db: Db, chain: string, head: ChainHead, rows: Array<AuditRecord & { hash: string }>): Promise<'written' | 'conflict'> {
  const r = rows.map(storedRow);
  // One array per column: the statement's text (and plan) is the same whatever the batch's size.
  const col = <K extends keyof ReturnType<typeof storedRow>>(k: K): Array<ReturnType<typeof storedRow>[K]> => r.map((row) => row[k]);
  try {
    const result = await sql`/* prepared: audit_append_chain */
      WITH chain_lock AS (SELECT pg_advisory_xact_lock(${lockKeys(chain)}))
      INSERT INTO audit_log (chain_id, chain_seq, hash_version, at, practice_id, actor, action, call_sid, leg, subject_id, details, prev_hash, hash)
      SELECT ${chain}::text, v.chain_seq, 2, v.at, v.practice_id, v.actor, v.action, v.call_sid, v.leg, v.subject_id, v.details, v.prev_hash, v.hash
      FROM unnest(
        ${col('chain_seq')}::bigint[], ${col('at')}::timestamptz[], ${col('practice_id')}::uuid[], ${col('actor')}::text[], ${col('action')}::text[],
        ${col('call_sid')}::text[], ${col('leg')}::text[], ${col('subject_id')}::text[], ${col('details')}::json[], ${col('prev_hash')}::text[], ${col('hash')}::text[]
      ) AS v (chain_seq, at, practice_id, actor, action, call_sid, leg, subject_id, details, prev_hash, hash)
      CROSS JOIN chain_lock
      WHERE EXISTS (SELECT 1 FROM audit_log WHERE chain_id = ${chain}::text AND chain_seq = ${String(head.seq)}::bigint AND hash = ${head.hash}::text)
    `.execute(db);
    return Number(result.numAffectedRows ?? 0) === rows.length ? 'written' : 'conflict';
  } catch (err) {
    if (isChainConflict(err)) return 'conflict';
    throw err;
  }
}

/** After another writer's rows got in the way, this many batches read the head under the lock first. */
const LOCKED_BATCHES_AFTER_CONFLICT = 8;

/** What a writer has done since it was made (for the bench and the metrics). */
export interface AuditWriterStats {
  batches: number;
  rows: number;
  /** Times a chain's lock was held by another writer when this one's locked path wanted it. */
  lockWaits: number;
  /** Times this writer's head was no longer its chain's newest row (another writer's rows, a restore). */
  conflicts: number;
}

export interface AuditWriterOptions {
  /**
   * Told when a batch has committed: its events, the milliseconds from the start of its write
   * to the commit, and how often it had to go again (lock busy, chain moved on, no answer).
   * The one place a batch completes: hook metrics here.
   */
  onBatch?: (size: number, ms: number, retries: number) => void;
}

const WRITER_STATS = new WeakMap<AuditWriter, AuditWriterStats>();

/** The counters of a writer made by auditWriter (undefined for any other function). */
export function auditWriterStats(writer: AuditWriter): AuditWriterStats | undefined {
  const stats = WRITER_STATS.get(writer);
  return stats ? { ...stats } : undefined;
}

/**
 * The service's audit writer, with group commit per chain: events of one practice from
 * concurrent requests that arrive while a write of that chain is in flight are written together
 * in its next statement; chains never wait for each other. Every caller still waits until its
 * own events are committed, so nothing is acknowledged before it is durable; a chain's
 * serialisation (one lock, one fsync) is paid once per batch instead of per request. While this
 * writer is the only one extending a chain, each batch is one statement (appendAfter, from the
 * head it wrote last); after another writer's rows it reads the head again under the lock, for a
 * few batches (several writers would otherwise keep colliding).
 */
export function auditWriter(db: Db, clock: () => Date = () => new Date(), opts: AuditWriterOptions = {}): AuditWriter {
  const stats: AuditWriterStats = { batches: 0, rows: 0, lockWaits: 0, conflicts: 0 };
  const chains = new Map<string, (events: AuditEvent[]) => Promise<void>>();

  const chainWriter = (chain: string): ((events: AuditEvent[]) => Promise<void>) => {
    let queue: Array<{ events: AuditEvent[]; resolve: () => void; reject: (err: unknown) => void }> = [];
    let writing = false;
    /** The head this writer wrote last; null when unknown (at start, after a conflict or an error). */
    let head: ChainHead | null = null;
    let lockedBatches = 0;

    /**
     * Writes one batch; answers how often it had to go again. `sent` is shared by every attempt
     * at the same events (the batch, then each caller's part of it): once a write of them got no
     * answer, it holds that write's last row, and every later attempt writes only if that row is
     * not in the chain (the lost write did not commit), so events are never written twice.
     */
    const append = async (events: AuditEvent[], sent: { lost?: { seq: number; hash: string } } = {}): Promise<number> => {
      let retries = 0;
      const onLockWait = (): void => {
        stats.lockWaits += 1;
        retries += 1;
      };
      const now = clock();
      const known = head;
      head = null;
      if (sent.lost !== undefined) {
        retries += 1;
        head = await appendAuditMany(db, events, now, { unlessCommitted: sent.lost, onLockWait });
        return retries;
      }
      if (known !== null && lockedBatches === 0 && events.length <= APPEND_AFTER_MAX_ROWS) {
        const next = chainRows(events, chain, known, now);
        let outcome: 'written' | 'conflict';
        try {
          outcome = await appendAfter(db, chain, known, next.rows);
        } catch {
          // No answer is not no commit (a lost connection, a client-side timeout): under the
          // lock, find out whether these rows are in, and write them only if they are not.
          retries += 1;
          sent.lost = { seq: next.head.seq, hash: next.head.hash };
          head = await appendAuditMany(db, events, now, { unlessCommitted: sent.lost, onLockWait });
          return retries;
        }
        if (outcome === 'written') {
          head = next.head;
          return retries;
        }
        stats.conflicts += 1;
        retries += 1;
        lockedBatches = LOCKED_BATCHES_AFTER_CONFLICT;
      } else if (lockedBatches > 0) {
        lockedBatches -= 1;
      }
      head = await appendAuditMany(db, events, now, { onLockWait });
      return retries;
    };

    const done = (size: number, started: number, retries: number): void => {
      stats.batches += 1;
      stats.rows += size;
      opts.onBatch?.(size, performance.now() - started, retries);
    };

    const flush = async (): Promise<void> => {
      writing = true;
      while (queue.length > 0) {
        const batch = queue;
        queue = [];
        const events = batch.flatMap((b) => b.events);
        const started = performance.now();
        const sent: { lost?: { seq: number; hash: string } } = {};
        try {
          done(events.length, started, await append(events, sent));
          for (const b of batch) b.resolve();
        } catch (err) {
          // One bad batch must not take the others with it: retry each caller's events alone.
          if (batch.length === 1) {
            batch[0]?.reject(err);
          } else {
            for (const b of batch) {
              const again = performance.now();
              await append(b.events, sent).then((retries) => {
                done(b.events.length, again, retries);
                b.resolve();
              }, b.reject);
            }
          }
        }
      }
      writing = false;
    };

    return (events) =>
      new Promise<void>((resolve, reject) => {
        queue.push({ events, resolve, reject });
        if (!writing) void flush();
      });
  };

  const writeTo = (chain: string, events: AuditEvent[]): Promise<void> => {
    let write = chains.get(chain);
    if (!write) {
      write = chainWriter(chain);
      chains.set(chain, write);
    }
    return write(events);
  };

  const writer: AuditWriter = (event) => {
    const events = Array.isArray(event) ? event : [event];
    if (events.length === 0) return Promise.resolve();
    const first = chainOf(events[0] as AuditEvent);
    if (events.every((e) => chainOf(e) === first)) return writeTo(first, events);
    // Events of several practices: each chain gets its own, and the caller waits for all.
    return Promise.all([...byChain(events)].map(([chain, group]) => writeTo(chain, group))).then(() => undefined);
  };
  WRITER_STATS.set(writer, stats);
  return writer;
}

/** Each chain's newest row (a loose index scan: one probe per chain, whatever the table's size). */
export async function chainHeads(db: Db): Promise<Array<{ chain: string; seq: number; hash: string; at: Date }>> {
  const result = await sql<{ chain_id: string; chain_seq: string; hash: string; at: Date }>`
    WITH RECURSIVE chains AS (
      (SELECT chain_id FROM audit_log ORDER BY chain_id LIMIT 1)
      UNION ALL
      SELECT (SELECT a.chain_id FROM audit_log a WHERE a.chain_id > c.chain_id ORDER BY a.chain_id LIMIT 1) FROM chains c WHERE c.chain_id IS NOT NULL
    )
    SELECT h.chain_id, h.chain_seq, h.hash, h.at FROM chains c
    CROSS JOIN LATERAL (
      SELECT chain_id, chain_seq, hash, at FROM audit_log a WHERE a.chain_id = c.chain_id ORDER BY chain_seq DESC LIMIT 1
    ) h
    WHERE c.chain_id IS NOT NULL
  `.execute(db);
  return result.rows.map((r) => ({ chain: r.chain_id, seq: Number(r.chain_seq), hash: r.hash, at: r.at }));
}

/** What verifying one chain found. */
export interface ChainVerifyResult {
  chain: string;
  ok: boolean;
  rows: number;
  /** The first row that does not hold. */
  problem?: ChainProblem;
  /** Rows a checkpoint saw that are gone from the end of the chain (`from`..`to`, inclusive). */
  missing?: { from: number; to: number; checkpointAt: string };
  /** The walk stopped at `maxRows` (a bounded check, the API's): the rows after it were not verified. */
  truncated?: true;
}

export interface VerifyResult {
  ok: boolean;
  rows: number;
  chains: ChainVerifyResult[];
}

interface CheckRow extends StoredRow {
  details_text: string;
  at_sub_ms: number;
}

/** Walks one chain in pages; every row is checked against its predecessor and any checkpoint of its place. */
async function verifyOneChain(db: Db, chain: string, checkpoints: Checkpoint[], pageSize: number, maxRows = Infinity): Promise<ChainVerifyResult> {
  const expected = new Map(checkpoints.map((c) => [c.seq, c]));
  let prev: { seq: number; hash: string } | null = null;
  let rows = 0;
  for (;;) {
    if (rows >= maxRows) return { chain, ok: true, rows, truncated: true };
    const page = (
      await sql<CheckRow>`
        SELECT *, details::text AS details_text, (extract(microseconds FROM at)::bigint % 1000)::int AS at_sub_ms
        FROM audit_log WHERE chain_id = ${chain} AND chain_seq > ${String(prev?.seq ?? 0)}::bigint
        ORDER BY chain_seq LIMIT ${Math.min(pageSize, maxRows - rows)}
      `.execute(db)
    ).rows;
    if (page.length === 0) break;
    for (const row of page) {
      const rec: StoredForCheck = { ...toRecord(row), atSubMs: Number(row.at_sub_ms), detailsText: row.details_text };
      const problem = checkLink(rec, prev);
      if (problem) return { chain, ok: false, rows, problem };
      const cp = expected.get(rec.seq);
      if (cp && cp.hash !== rec.hash) {
        return { chain, ok: false, rows, problem: { seq: rec.seq, reason: `hash differs from the checkpoint of ${cp.checkpointAt}` } };
      }
      prev = { seq: rec.seq, hash: rec.hash };
      rows += 1;
    }
  }
  // The newest checkpoint beyond the chain's end: rows were cut from its tail.
  const beyond = checkpoints.filter((c) => c.seq > (prev?.seq ?? 0)).sort((a, b) => b.seq - a.seq)[0];
  if (beyond) return { chain, ok: false, rows, missing: { from: (prev?.seq ?? 0) + 1, to: beyond.seq, checkpointAt: beyond.checkpointAt } };
  return { chain, ok: true, rows };
}

/**
 * Verifies every chain (or the chains named), each from its genesis, against the checkpoints
 * given: a chain that ends before a checkpoint's head has lost rows from its tail.
 */
export async function verifyChain(db: Db, opts: { chains?: string[]; checkpoints?: Checkpoint[]; pageSize?: number; maxRows?: number } = {}): Promise<VerifyResult> {
  const checkpoints = opts.checkpoints ?? [];
  const inDb = (await chainHeads(db)).map((h) => h.chain);
  const all = new Set([...inDb, ...checkpoints.map((c) => c.chain)]);
  // The legacy chain first (it is the oldest), then the others by id.
  const chains = (opts.chains ?? [...all]).sort((a, b) => (a === LEGACY_CHAIN ? -1 : b === LEGACY_CHAIN ? 1 : a.localeCompare(b)));
  const results: ChainVerifyResult[] = [];
  for (const chain of chains) {
    results.push(await verifyOneChain(db, chain, checkpoints.filter((c) => c.chain === chain), opts.pageSize ?? 1000, opts.maxRows));
  }
  return { ok: results.every((r) => r.ok), rows: results.reduce((n, r) => n + r.rows, 0), chains: results };
}

/** What checking a stretch of one chain found: rows `from`..`to` each link to the one before. */
export interface SegmentVerifyResult {
  chain: string;
  ok: boolean;
  from: number;
  to: number;
  rows: number;
  /** The hash the stretch starts from: the row before `from` (taken as read), or the genesis hash. */
  anchorHash: string | null;
  problem?: ChainProblem;
}

/**
 * Checks the rows `from`..`to` of one chain link by link (one call's events, and every row between
 * them): a row changed, removed or inserted inside the stretch breaks it. The row before `from` is
 * the anchor, taken as read; the whole chain against the checkpoints is verifyChain's (audit:verify).
 */
export async function verifyChainSegment(db: Db, chain: string, from: number, to: number, pageSize = 1000): Promise<SegmentVerifyResult> {
  const page = async (after: number): Promise<StoredForCheck[]> =>
    (
      await sql<CheckRow>`
        SELECT *, details::text AS details_text, (extract(microseconds FROM at)::bigint % 1000)::int AS at_sub_ms
        FROM audit_log WHERE chain_id = ${chain} AND chain_seq > ${String(after)}::bigint AND chain_seq <= ${String(to)}::bigint
        ORDER BY chain_seq LIMIT ${pageSize}
      `.execute(db)
    ).rows.map((row): StoredForCheck => ({ ...toRecord(row), atSubMs: Number(row.at_sub_ms), detailsText: row.details_text }));
  const result = (ok: boolean, rows: number, anchorHash: string | null, problem?: ChainProblem): SegmentVerifyResult => ({ chain, ok, from, to, rows, anchorHash, ...(problem ? { problem } : {}) });
  let prev: { seq: number; hash: string } | null = null;
  if (from > 1) {
    const anchor = (await page(from - 2)).find((r) => r.seq === from - 1);
    if (!anchor) return result(false, 0, null, { seq: from - 1, reason: 'the row before the stretch is missing' });
    prev = { seq: anchor.seq, hash: anchor.hash };
  }
  const anchorHash = prev?.hash ?? null;
  let checked = 0;
  // Pages of the stretch, each row against the one before it (the first against the anchor).
  for (let rows = await page(from - 1); rows.length > 0; rows = await page(prev?.seq ?? from - 1)) {
    for (const rec of rows) {
      const problem = checkLink(rec, prev);
      if (problem) return result(false, checked, anchorHash, problem);
      prev = { seq: rec.seq, hash: rec.hash };
      checked += 1;
    }
  }
  if ((prev?.seq ?? 0) < to) return result(false, checked, anchorHash, { seq: (prev?.seq ?? 0) + 1, reason: 'rows are missing from the stretch' });
  return result(true, checked, anchorHash);
}

export interface ExportFilter {
  from?: Date;
  to?: Date;
  practiceId?: string;
  /** One chain: a practice id or `system`. */
  chain?: string;
  callSid?: string;
  /** One action (`voicemail.playback`), or every action under a prefix ending in a dot (`user.`). */
  action?: string;
  /** One actor, as the log names it (`user:<id>`, `api_key:<id>`, `system:reports`). */
  actor?: string;
  /** Newest first (the console's search); the export and the timeline read oldest first. */
  newestFirst?: boolean;
  limit?: number;
}

/** The action filter: a name, or a prefix ending in a dot (its LIKE wildcards escaped). */
function actionPattern(action: string): { op: '=' | 'like'; value: string } {
  return action.endsWith('.') ? { op: 'like', value: `${action.replace(/[\\%_]/g, (c) => `\\${c}`)}%` } : { op: '=', value: action };
}

export async function readAudit(db: Db, filter: ExportFilter): Promise<StoredAuditRecord[]> {
  let q = db.selectFrom('audit_log').selectAll().orderBy('seq', filter.newestFirst ? 'desc' : 'asc');
  if (filter.from) q = q.where('at', '>=', filter.from);
  if (filter.to) q = q.where('at', '<', filter.to);
  if (filter.practiceId) q = q.where('practice_id', '=', filter.practiceId);
  if (filter.callSid) q = q.where('call_sid', '=', filter.callSid);
  if (filter.action) {
    const { op, value } = actionPattern(filter.action);
    q = q.where('action', op, value);
  }
  if (filter.actor) q = q.where('actor', '=', filter.actor);
  if (filter.limit) q = q.limit(filter.limit);
  return ((await q.execute()) as StoredRow[]).map(toRecord);
}

/** Whether the log holds an event with this action about this subject (e.g. a page that already gave up). */
export async function hasAuditEvent(db: Db, action: AuditActionName, subjectId: string): Promise<boolean> {
  const row = await db.selectFrom('audit_log').select('seq').where('action', '=', action).where('subject_id', '=', subjectId).limit(1).executeTakeFirst();
  return row !== undefined;
}

/** Streams a range (and the search's other filters) in pages, oldest first, for exports larger than memory should hold. */
export async function* iterateAudit(db: Db, filter: ExportFilter, pageSize = 1000): AsyncGenerator<StoredAuditRecord> {
  let after = 0;
  for (;;) {
    let q = db.selectFrom('audit_log').selectAll().where('seq', '>', String(after)).orderBy('seq', 'asc').limit(pageSize);
    if (filter.from) q = q.where('at', '>=', filter.from);
    if (filter.to) q = q.where('at', '<', filter.to);
    if (filter.practiceId) q = q.where('practice_id', '=', filter.practiceId);
    if (filter.chain) q = q.where('chain_id', '=', filter.chain);
    if (filter.callSid) q = q.where('call_sid', '=', filter.callSid);
    if (filter.action) {
      const { op, value } = actionPattern(filter.action);
      q = q.where('action', op, value);
    }
    if (filter.actor) q = q.where('actor', '=', filter.actor);
    const page = (await q.execute()) as StoredRow[];
    if (page.length === 0) return;
    for (const row of page) {
      const rec = toRecord(row);
      after = rec.row;
      yield rec;
    }
  }
}

const CSV_COLUMNS = ['seq', 'at', 'practiceId', 'actor', 'action', 'callSid', 'leg', 'subjectId', 'details', 'prevHash', 'hash', 'chain', 'hashVersion'] as const;

/** One CSV cell, quoted as needed, a leading formula character neutralised (the audit export's and the sequence report's). */
export function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  // Quote everything that needs it; neutralise spreadsheet formula injection.
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) || safe !== s ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function csvHeader(): string {
  return CSV_COLUMNS.join(',');
}

export function toCsvLine(rec: StoredAuditRecord): string {
  return CSV_COLUMNS.map((c) => csvCell(rec[c])).join(',');
}

export function toJsonLine(rec: StoredAuditRecord): string {
  return JSON.stringify(rec);
}

/** The subject of a call's latest event of one action (the patient a call verified, say), or null. */
export async function latestSubjectOfCall(db: Db, callSid: string, action: AuditActionName): Promise<string | null> {
  const row = await db.selectFrom('audit_log').select('subject_id').where('call_sid', '=', callSid).where('action', '=', action).orderBy('seq', 'desc').executeTakeFirst();
  return row?.subject_id ?? null;
}

/** The details of a call's latest event of one action, or undefined. */
export async function latestDetailsOfCall(db: Db, callSid: string, action: AuditActionName): Promise<unknown> {
  const row = await db.selectFrom('audit_log').select('details').where('call_sid', '=', callSid).where('action', '=', action).orderBy('seq', 'desc').executeTakeFirst();
  return row?.details;
}
