import { sql } from 'kysely';
import type { AppContext } from '../app-context.js';
import type { CallMatch, CallOutcome } from '../adapters/db-schema.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { openCallerNumber } from './caller-number.js';
import { shownNumber, type NumberView } from './number-view.js';

/**
 * Every call to the practice on record, newest first, with the number to call back: the
 * list behind `GET /api/calls`. One table is read (the call record keeps its path, outcome and
 * duration as the call goes: ./records.ts), and the call's voicemails by their call SID.
 */

export interface CallListQuery {
  from?: Date;
  to?: Date;
  outcome?: CallOutcome;
  urgency?: 'urgent' | 'routine';
  patientId?: string;
  /** One call (a call's page reads its own row of the log). */
  callSid?: string;
  limit: number;
  /** Where the previous page ended (its `nextCursor`). */
  cursor?: CallCursor;
}

/**
 * The last call of a page: calls are ordered by (created_at, call_sid), newest first. The time
 * is in microseconds since 1970, PostgreSQL's own precision (a Date's milliseconds would skip calls).
 */
export interface CallCursor {
  micros: string;
  callSid: string;
}

export interface ListedCall {
  callSid: string;
  startedAt: string;
  endedAt: string | null;
  durationSeconds: number | null;
  status: string;
  /** E.164, or `masked` (auditors); null: the number was withheld, or the call predates numbers on record. */
  callerNumber: string | null;
  patient: { match: CallMatch; patientId: string | null };
  /** The menu options taken, by name (the node each led to), in order. */
  path: string[];
  /** Null while the call is still going. */
  outcome: CallOutcome | null;
  urgency: 'urgent' | 'routine' | null;
  voicemailIds: string[];
}

export interface CallPage {
  calls: ListedCall[];
  nextCursor: CallCursor | null;
  /** How many numbers were decrypted and returned in clear for this page: the PHI read the route audits (0 for a masked view). */
  numbersOpened: number;
}

export async function listCalls(deps: Pick<AppContext, 'keyring'>, scope: PracticeScope, q: CallListQuery, view: NumberView): Promise<CallPage> {
  let query = scope.db
    .selectFrom('calls as c')
    .select([
      'c.call_sid',
      'c.created_at',
      'c.ended_at',
      'c.duration_seconds',
      'c.status',
      'c.from_enc',
      'c.match',
      'c.patient_id',
      'c.path',
      'c.outcome',
      'c.urgency',
      sql<string>`(extract(epoch FROM c.created_at) * 1000000)::bigint::text`.as('created_us'),
      sql<string[]>`ARRAY(SELECT v.id::text FROM voicemails v WHERE v.call_sid = c.call_sid AND v.practice_id = c.practice_id ORDER BY v.created_at, v.id)`.as('voicemail_ids'),
    ])
    .where('c.practice_id', '=', scope.practiceId)
    // The callers' calls: a provider's or a transfer's leg has its own row, listed with its parent's timeline instead.
    .where('c.direction', '=', 'inbound')
    // Providers' sessions on the access line (listening to voicemails) are not callers' calls.
    .where(sql<boolean>`NOT c.status_history @> '[{"source": "access"}]'::jsonb`);
  if (q.from) query = query.where('c.created_at', '>=', q.from);
  if (q.to) query = query.where('c.created_at', '<', q.to);
  if (q.outcome) query = query.where('c.outcome', '=', q.outcome);
  if (q.urgency) query = query.where('c.urgency', '=', q.urgency);
  if (q.patientId) query = query.where('c.patient_id', '=', q.patientId);
  if (q.callSid) query = query.where('c.call_sid', '=', q.callSid);
  const cursor = q.cursor;
  if (cursor) query = query.where((eb) => eb(eb.refTuple('c.created_at', 'c.call_sid'), '<', eb.tuple(sql<Date>`timestamptz 'epoch' + ${cursor.micros}::bigint * interval '1 microsecond'`, cursor.callSid)));
  const rows = await query
    .orderBy('c.created_at', 'desc')
    .orderBy('c.call_sid', 'desc')
    .limit(q.limit + 1)
    .execute();
  const page = rows.slice(0, q.limit);
  const last = page.at(-1);
  const calls = await Promise.all(
    page.map(async (r): Promise<ListedCall> => {
      // Full or masked as the viewer's role decides (./number-view.ts); a masked number is never decrypted.
      const number = await shownNumber(r.from_enc, view, (enc) => openCallerNumber(deps.keyring, enc, r.call_sid, scope.practiceId));
      return {
        callSid: r.call_sid,
        startedAt: r.created_at.toISOString(),
        endedAt: r.ended_at?.toISOString() ?? null,
        durationSeconds: r.duration_seconds,
        status: r.status,
        callerNumber: number,
        patient: { match: r.match ?? 'unknown', patientId: r.patient_id },
        path: r.path,
        outcome: r.outcome,
        urgency: r.urgency,
        voicemailIds: r.voicemail_ids,
      };
    }),
  );
  return {
    calls,
    nextCursor: rows.length > q.limit && last ? { micros: last.created_us, callSid: last.call_sid } : null,
    numbersOpened: view === 'full' ? page.filter((r) => r.from_enc).length : 0,
  };
}

/** A cursor as the client holds it: opaque, URL-safe. */
export function encodeCallCursor(c: CallCursor): string {
  return Buffer.from(`${c.micros}|${c.callSid}`, 'utf8').toString('base64url');
}

/** The cursor back, or null when it is not one of ours. */
export function decodeCallCursor(text: string): CallCursor | null {
  const [micros, callSid, ...rest] = Buffer.from(text, 'base64url').toString('utf8').split('|');
  if (rest.length > 0 || !micros || !callSid || !/^-?[0-9]{1,17}$/.test(micros) || !/^CA[0-9a-f]{32}$/.test(callSid)) return null;
  return { micros, callSid };
}
