import type { Db } from '../adapters/postgres.js';

/**
 * The call-legs table: the parent call, each `<Dial>` child leg and each page SMS, stamped with
 * the service's clock (the one the audit log uses), never the database's. Numbers kept here are
 * providers' work numbers; the caller's number is never stored. The parent leg is opened with
 * the call record's first entry, in the same statement (../calls/records.ts).
 */

/** Final statuses of a call (Twilio's CallStatus); anything else is still going on. */
const FINAL_STATUSES: ReadonlySet<string> = new Set(['completed', 'busy', 'failed', 'no-answer', 'canceled']);

/**
 * Closes the parent leg from the parent call's status callback: its final status and duration.
 * Opens it first if the start was never recorded, from the call record's first webhook (or the
 * duration back from now). Not a final status: nothing to do.
 */
export async function finishParentLeg(
  db: Db,
  input: { callSid: string; practiceId: string | null; status: string; durationSeconds: number | null; at: Date },
): Promise<boolean> {
  if (!FINAL_STATUSES.has(input.status)) return false;
  const fallback = new Date(input.at.getTime() - 1000 * (input.durationSeconds ?? 0));
  await db
    .insertInto('call_legs')
    .values({
      call_sid: input.callSid,
      leg_sid: input.callSid,
      practice_id: input.practiceId,
      kind: 'parent',
      outcome: input.status,
      duration_seconds: input.durationSeconds,
      started_at: (eb) => eb.fn.coalesce(eb.selectFrom('calls').select('created_at').where('call_sid', '=', input.callSid), eb.val(fallback)),
      ended_at: input.at,
    })
    .onConflict((oc) =>
      oc
        .column('call_sid')
        .where('kind', '=', 'parent')
        .doUpdateSet({ outcome: input.status, duration_seconds: input.durationSeconds, ended_at: input.at, practice_id: (eb) => eb.fn.coalesce('call_legs.practice_id', eb.ref('excluded.practice_id')) }),
    )
    .execute();
  return true;
}

/** What a call leg of any kind records (the call_legs columns, camelCased); the timeline builds on it. */
export interface LegFields {
  legSid: string | null;
  tier: number | null;
  round: number | null;
  providerId: string | null;
  numberTried: string | null;
  outcome: string;
  durationSeconds: number | null;
}

/** A finished dial leg: `legSid` is the DialCallSid (the child leg), `durationSeconds` the DialCallDuration. */
export interface DialLegRow extends LegFields {
  callSid: string;
  practiceId: string;
  /** When the `<Dial action>` arrived (the service's clock). */
  endedAt: Date;
}

/**
 * One finished `<Dial>` child leg. It started when its first status callback arrived (recorded
 * in its call record, service clock), or else its talk time back from the end.
 */
export async function recordDialLegRow(db: Db, leg: DialLegRow): Promise<void> {
  const fallback = new Date(leg.endedAt.getTime() - 1000 * (leg.durationSeconds ?? 0));
  const legSid = leg.legSid;
  await db
    .insertInto('call_legs')
    .values({
      call_sid: leg.callSid,
      leg_sid: leg.legSid,
      practice_id: leg.practiceId,
      kind: 'dial',
      tier: leg.tier,
      round: leg.round,
      provider_id: leg.providerId,
      number_tried: leg.numberTried,
      outcome: leg.outcome,
      duration_seconds: leg.durationSeconds,
      // The child's call record, unless it is stamped after the action arrived; else the fallback.
      started_at: (eb) =>
        legSid
          ? eb.fn.coalesce(
              eb.selectFrom('calls').select('created_at').where('call_sid', '=', legSid).where('created_at', '<=', leg.endedAt),
              eb.val(fallback),
            )
          : eb.val(fallback),
      ended_at: leg.endedAt,
    })
    .execute();
}
