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

/**
 * The one function that writes audit rows: appends events in one transaction, in order.
 * Writers serialise on a transaction-scoped advisory lock, so concurrent processes extend the
 * chain one at a time; the UNIQUE(prev_hash) constraint makes a fork impossible even without it.
 */
export async function appendAuditMany(db: Db, events: AuditEvent[], now: Date = new Date()): Promise<{ seq: number; hash: string } | null> {
  if (events.length === 0) return null;
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.audit_log'))`.execute(trx);
    const last = await trx.selectFrom('audit_log').select(['seq', 'hash', 'at']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    // Time never runs backwards along the chain, whatever the clocks of the writers say.
    const at = last && last.at.getTime() > now.getTime() ? last.at : now;
    let prev = last ? { seq: Number(last.seq), hash: last.hash } : null;
    const rows = events.map((event) => {
      const rec = nextRecord(event, prev, at);
      prev = { seq: rec.seq, hash: rec.hash };
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
    });
    await trx.insertInto('audit_log').values(rows).execute();
    return prev;
  });
}

export async function appendAudit(db: Db, event: AuditEvent, now: Date = new Date()): Promise<{ seq: number; hash: string }> {
  const last = await appendAuditMany(db, [event], now);
  if (!last) throw new Error('audit append wrote nothing');
  return last;
}

/**
 * The service's audit writer, with group commit: events from concurrent requests that arrive
 * while a write is in flight are written together in the next transaction. Every caller still
 * waits until its own events are committed, so nothing is acknowledged before it is durable;
 * the chain's serialisation (one lock, one fsync) is paid once per batch instead of per request.
 */
export function auditWriter(db: Db, clock: () => Date = () => new Date()): AuditWriter {
  let queue: Array<{ events: AuditEvent[]; resolve: () => void; reject: (err: unknown) => void }> = [];
  let writing = false;

  const flush = async (): Promise<void> => {
    writing = true;
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      try {
        await appendAuditMany(db, batch.flatMap((b) => b.events), clock());
        for (const b of batch) b.resolve();
      } catch (err) {
        // One bad batch must not take the others with it: retry each caller's events alone.
        if (batch.length === 1) {
          batch[0]?.reject(err);
        } else {
          for (const b of batch) {
            await appendAuditMany(db, b.events, clock()).then(b.resolve, b.reject);
          }
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
