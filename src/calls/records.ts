import { sql } from 'kysely';
import type { Db } from '../adapters/postgres.js';
import type { CallMatch, CallOutcome, CallReason, CallStatusEntry } from '../adapters/db-schema.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { FALLBACK_OUTCOMES, NO_PROGRESS, type CallProgress } from './call-progress.js';

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
  /**
   * The call's first webhook: its parent leg (call_legs, kind 'parent') is opened in the same
   * statement, as of this time, unless it exists already.
   */
  openParentLegAt?: Date;
  /** The caller's number, sealed (./caller-number.ts): written by the call's first webhook. */
  fromEnc?: Buffer | null;
  /**
   * The call's first webhook: find the practice's active patients with the caller's number (by
   * its blind index) in the same statement; one of them is the call's patient, matched by number.
   */
  matchByNumber?: boolean;
  /** What this webhook adds: menu choices, the outcome so far, a verified patient (./call-progress.ts). */
  progress?: CallProgress;
  /** The parent call's final status callback: when it ended and how long it lasted (Twilio's CallDuration). */
  ended?: { at: Date; durationSeconds: number | null };
}

/**
 * One row per CallSid, with its status history; idempotent per `key`. Returns true when the
 * event is new, false when a retried webhook already recorded it.
 */
export async function recordCallEvent(db: Db, e: CallEvent, now: Date): Promise<boolean> {
  const [isNew] = await recordCallEvents(db, [{ e, now }]);
  return isNew ?? false;
}

/**
 * Call records with group commit, as the audit writer does: events from concurrent webhooks
 * that arrive while writes are in flight go to PostgreSQL together in the next statement —
 * one commit (one WAL flush) for the lot instead of one per webhook. Call records need no
 * single writer, but one (CALL_RECORD_WRITERS) makes the batches larger, which is what saves
 * work under load; a webhook that finds the writer idle is written at once. Every caller still
 * waits until its own event is committed, and learns whether it was new, exactly as with
 * recordCallEvent. A batch that fails is retried call by call, the calls side by side.
 * A writer is bound to one database handle: the webhook path keeps one per practice's tenant
 * handle (row-level security: a batch never mixes practices) and one on the system role for
 * calls to numbers no practice owns (./voice-service.ts, `recordCall`).
 */
export type CallRecorder = (e: CallEvent, now: Date) => Promise<boolean>;

export const CALL_RECORD_WRITERS = 1;

interface Pending {
  e: CallEvent;
  now: Date;
  resolve: (isNew: boolean) => void;
  reject: (err: unknown) => void;
}

export function callRecorder(db: Db, writers = CALL_RECORD_WRITERS): CallRecorder {
  let queue: Pending[] = [];
  let writing = 0;

  const flush = async (): Promise<void> => {
    writing += 1;
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      try {
        const isNew = await recordCallEvents(db, batch);
        batch.forEach((b, i) => b.resolve(isNew[i] ?? false));
      } catch (err) {
        // One bad event must not take the others with it: write each on its own, each call's
        // events in order, the calls at once (a slow database must not add up retry after retry).
        if (batch.length === 1) batch[0]?.reject(err);
        else {
          const byCall = new Map<string, Pending[]>();
          for (const b of batch) byCall.set(b.e.callSid, [...(byCall.get(b.e.callSid) ?? []), b]);
          await Promise.all(
            [...byCall.values()].map(async (events) => {
              for (const b of events) await recordCallEvent(db, b.e, b.now).then(b.resolve, b.reject);
            }),
          );
        }
      }
    }
    writing -= 1;
  };

  return (e, now) =>
    new Promise<boolean>((resolve, reject) => {
      queue.push({ e, now, resolve, reject });
      if (writing < writers) void flush();
    });
}

/**
 * Call events written together: one upsert statement for every call in the batch, in call
 * SID order (so that writers on several instances lock rows in the same order). A call with
 * more than one event in the batch gets its later ones in a following statement, in order, and
 * then all the statements are one transaction: a batch is written whole or not at all, so a
 * retry learns rightly which events are new.
 */
async function recordCallEvents(db: Db, events: Array<{ e: CallEvent; now: Date }>): Promise<boolean[]> {
  const calls = new Set(events.map(({ e }) => e.callSid));
  return calls.size === events.length ? recordCallRounds(db, events) : db.transaction().execute((trx) => recordCallRounds(trx, events));
}

async function recordCallRounds(db: Db, events: Array<{ e: CallEvent; now: Date }>): Promise<boolean[]> {
  const isNew: boolean[] = events.map(() => false);
  let pending = events.map((item, index) => ({ ...item, index }));
  while (pending.length > 0) {
    const seen = new Set<string>();
    const round: typeof pending = [];
    const later: typeof pending = [];
    for (const item of pending) {
      if (seen.has(item.e.callSid)) later.push(item);
      else {
        seen.add(item.e.callSid);
        round.push(item);
      }
    }
    round.sort((a, b) => (a.e.callSid < b.e.callSid ? -1 : a.e.callSid > b.e.callSid ? 1 : 0));
    const col = <T>(f: (item: (typeof round)[number]) => T): T[] => round.map(f);
    const entries = col(({ e, now }) =>
      JSON.stringify([{ key: e.key, status: e.status, source: e.source, at: now.toISOString(), ...(e.seq !== undefined ? { seq: e.seq } : {}) }]),
    );
    // One array per column: the statement's text (and plan) is the same whatever the batch's size.
    // A parent leg is opened in the same statement (so in the same commit) for each event that asks.
    // The probe is built from each row's own entry: skip the update when its key is recorded already.
    const progress = col(({ e }) => e.progress ?? NO_PROGRESS);
    const result = await sql<{ call_sid: string }>`/* prepared: call_records */
      WITH input AS (
        SELECT * FROM unnest(
          ${col(({ e }) => e.callSid)}::text[], ${col(({ e }) => e.practiceId)}::uuid[], ${col(({ e }) => e.direction)}::text[],
          ${col(({ e }) => e.fromIndex)}::text[], ${col(({ e }) => e.toNumber)}::text[], ${col(({ e }) => e.status)}::text[],
          ${entries}::jsonb[], ${col(({ now }) => now)}::timestamptz[], ${col(({ e }) => e.openParentLegAt ?? null)}::timestamptz[],
          ${col(({ e }) => e.fromEnc ?? null)}::bytea[], ${col(({ e }) => e.matchByNumber === true)}::boolean[],
          ${progress.map((p) => JSON.stringify(p.path))}::jsonb[], ${progress.map((p) => p.outcome)}::text[], ${progress.map((p) => p.urgency)}::text[],
          ${progress.map((p) => p.verifiedPatientId)}::uuid[], ${progress.map((p) => p.reason)}::text[],
          ${col(({ e }) => e.ended?.at ?? null)}::timestamptz[], ${col(({ e }) => e.ended?.durationSeconds ?? null)}::int[]
        ) AS t (call_sid, practice_id, direction, from_index, to_number, status, entry, at, open_leg_at,
                from_enc, match_by_number, path, outcome, urgency, verified_patient, reason, ended_at, duration_seconds)
      ), known AS (
        -- The caller among the practice's active patients, by number (the first webhook only):
        -- one patient is the call's; several leave it open, still 'number'.
        SELECT i.*, CASE
            WHEN i.verified_patient IS NOT NULL THEN 'verified'
            WHEN NOT i.match_by_number THEN NULL
            WHEN m.patients > 0 THEN 'number'
            ELSE 'unknown'
          END AS match,
          COALESCE(i.verified_patient, CASE WHEN m.patients = 1 THEN m.one_patient END) AS patient_id
        FROM input i LEFT JOIN LATERAL (
          SELECT count(DISTINCT n.patient_id) AS patients, (min(n.patient_id::text))::uuid AS one_patient
          FROM patient_phones n JOIN patients p ON p.id = n.patient_id AND p.active
          WHERE i.match_by_number AND n.practice_id = i.practice_id AND n.phone_index = i.from_index
        ) m ON true
      ), upserted AS (
        INSERT INTO calls (call_sid, practice_id, direction, from_index, to_number, status, status_history, created_at, updated_at,
                           from_enc, patient_id, match, path, outcome, urgency, reason, ended_at, duration_seconds)
        SELECT call_sid, practice_id, direction, from_index, to_number, status, entry, at, at,
               from_enc, patient_id, match, path, outcome, urgency, reason, ended_at, duration_seconds FROM known
        ON CONFLICT (call_sid) DO UPDATE SET
          status = EXCLUDED.status,
          practice_id = COALESCE(calls.practice_id, EXCLUDED.practice_id),
          from_index = COALESCE(calls.from_index, EXCLUDED.from_index),
          status_history = calls.status_history || EXCLUDED.status_history,
          updated_at = EXCLUDED.updated_at,
          from_enc = COALESCE(calls.from_enc, EXCLUDED.from_enc),
          -- A verification names the patient; otherwise the first match stands.
          patient_id = CASE WHEN EXCLUDED.match = 'verified' OR calls.match IS NULL THEN EXCLUDED.patient_id ELSE calls.patient_id END,
          match = CASE WHEN EXCLUDED.match = 'verified' THEN 'verified' ELSE COALESCE(calls.match, EXCLUDED.match) END,
          path = calls.path || EXCLUDED.path,
          -- ./call-progress.ts: a fallback outcome only fills an empty one; any other replaces it.
          outcome = CASE WHEN EXCLUDED.outcome IS NULL THEN calls.outcome
                         WHEN EXCLUDED.outcome = ANY(${FALLBACK_OUTCOMES}::text[]) THEN COALESCE(calls.outcome, EXCLUDED.outcome)
                         ELSE EXCLUDED.outcome END,
          urgency = CASE WHEN EXCLUDED.outcome IS NULL OR EXCLUDED.outcome = ANY(${FALLBACK_OUTCOMES}::text[]) THEN calls.urgency ELSE EXCLUDED.urgency END,
          -- The latest reason on the path stands (./call-progress.ts).
          reason = COALESCE(EXCLUDED.reason, calls.reason),
          ended_at = COALESCE(EXCLUDED.ended_at, calls.ended_at),
          duration_seconds = COALESCE(EXCLUDED.duration_seconds, calls.duration_seconds)
        WHERE NOT calls.status_history @> jsonb_build_array(jsonb_build_object('key', EXCLUDED.status_history -> 0 -> 'key'))
        RETURNING call_sid
      ), opened AS (
        INSERT INTO call_legs (call_sid, leg_sid, practice_id, kind, outcome, started_at)
        SELECT call_sid, call_sid, practice_id, 'parent', 'in-progress', open_leg_at FROM input WHERE open_leg_at IS NOT NULL
        ON CONFLICT (call_sid) WHERE kind = 'parent' DO NOTHING
      )
      SELECT call_sid FROM upserted
    `.execute(db);
    const written = new Set(result.rows.map((r) => r.call_sid));
    for (const item of round) isNew[item.index] = written.has(item.e.callSid);
    pending = later;
  }
  return isNew;
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

/** What a call record shows (never the sealed number: opening it is a PHI read, ./call-list.ts). */
export const CALL_RECORD_COLUMNS = ['call_sid', 'practice_id', 'direction', 'status', 'status_history', 'created_at', 'updated_at'] as const;

export async function getCall(db: Db, callSid: string): Promise<CallRecord | null> {
  const row = await db.selectFrom('calls').select(CALL_RECORD_COLUMNS).where('call_sid', '=', callSid).executeTakeFirst();
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

/** The practice a call belongs to (null: no such call, or a number no practice owns): that column only, not the status history. */
export async function practiceOfCall(db: Db, callSid: string): Promise<string | null> {
  const row = await db.selectFrom('calls').select('practice_id').where('call_sid', '=', callSid).executeTakeFirst();
  return row?.practice_id ?? null;
}

/** What a callback task takes from its call's record: the sealed number, the patient match, the reason, how it ended. */
export interface CallForTask {
  callSid: string;
  fromEnc: Buffer | null;
  fromIndex: string | null;
  patientId: string | null;
  match: CallMatch | null;
  reason: CallReason | null;
  outcome: CallOutcome | null;
  urgency: 'urgent' | 'routine' | null;
  direction: string;
  /** The call went past its first webhook (the greeting): the caller answered or waited at a prompt. */
  pastGreeting: boolean;
  /** A provider's session on the access line, not a caller's call. */
  accessLine: boolean;
  /** The caller keyed and confirmed a number to call back (0022), whether or not their own was withheld. */
  hasCallbackNumber: boolean;
  /** When the call ended (null: still going): an abandoned call's task is due from it. */
  endedAt: Date | null;
}

export async function callForTask(scope: PracticeScope, callSid: string): Promise<CallForTask | null> {
  const row = await scope.db
    .selectFrom('calls')
    .select([
      'call_sid',
      'from_enc',
      'from_index',
      'patient_id',
      'match',
      'reason',
      'outcome',
      'urgency',
      'direction',
      'ended_at',
      sql<boolean>`callback_number_enc IS NOT NULL`.as('has_callback_number'),
      sql<boolean>`EXISTS (SELECT 1 FROM jsonb_array_elements(status_history) e WHERE e ->> 'source' LIKE 'flow:%')`.as('past_greeting'),
      sql<boolean>`status_history @> '[{"source": "access"}]'::jsonb`.as('access_line'),
    ])
    .where('call_sid', '=', callSid)
    .where('practice_id', '=', scope.practiceId)
    .executeTakeFirst();
  if (!row) return null;
  return {
    callSid: row.call_sid,
    fromEnc: row.from_enc,
    fromIndex: row.from_index,
    patientId: row.patient_id,
    match: row.match,
    reason: row.reason,
    outcome: row.outcome,
    urgency: row.urgency,
    direction: row.direction,
    pastGreeting: row.past_greeting,
    accessLine: row.access_line,
    hasCallbackNumber: row.has_callback_number,
    endedAt: row.ended_at,
  };
}
