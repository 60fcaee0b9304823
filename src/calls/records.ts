import { sql } from 'kysely';
import type { Db } from '../adapters/postgres.js';
import type { CallStatusEntry } from '../adapters/db-schema.js';

export interface CallEvent {
  callSid: string;
  practiceId: string | null;
  direction: string;
  fromIndex: string | null;
  toNumber: string | null;
  status: string;
  /** Identifies the webhook that produced this entry; a retried webhook carries the same key and is not recorded twice. */
  key: string;
  source: string;
  seq?: number;
}

/** One row per CallSid, with its status history; idempotent per `key`. */
/** Returns true when the event is new, false when a retried webhook already recorded it. */
export async function recordCallEvent(db: Db, e: CallEvent, now: Date): Promise<boolean> {
  const entry = JSON.stringify([{ key: e.key, status: e.status, source: e.source, at: now.toISOString(), ...(e.seq !== undefined ? { seq: e.seq } : {}) }]);
  const probe = JSON.stringify([{ key: e.key }]);
  const result = await sql`
    INSERT INTO calls (call_sid, practice_id, direction, from_index, to_number, status, status_history, created_at, updated_at)
    VALUES (${e.callSid}, ${e.practiceId}, ${e.direction}, ${e.fromIndex}, ${e.toNumber}, ${e.status}, ${entry}::jsonb, ${now}, ${now})
    ON CONFLICT (call_sid) DO UPDATE SET
      status = EXCLUDED.status,
      practice_id = COALESCE(calls.practice_id, EXCLUDED.practice_id),
      from_index = COALESCE(calls.from_index, EXCLUDED.from_index),
      status_history = calls.status_history || EXCLUDED.status_history,
      updated_at = EXCLUDED.updated_at
    WHERE NOT calls.status_history @> ${probe}::jsonb
  `.execute(db);
  return Number(result.numAffectedRows ?? 0) > 0;
}

export interface CallRecord {
  callSid: string;
  practiceId: string | null;
  direction: string;
  status: string;
  statusHistory: CallStatusEntry[];
  createdAt: string;
  updatedAt: string;
}

export async function getCall(db: Db, callSid: string): Promise<CallRecord | null> {
  const row = await db.selectFrom('calls').selectAll().where('call_sid', '=', callSid).executeTakeFirst();
  if (!row) return null;
  return {
    callSid: row.call_sid,
    practiceId: row.practice_id,
    direction: row.direction,
    status: row.status,
    statusHistory: row.status_history,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}
