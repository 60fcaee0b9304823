import type { CallStatusEntry } from '../adapters/db-schema.js';
import { AuditAction } from '../audit/events.js';
import { readAudit } from '../audit/store.js';
import type { LegFields } from '../oncall/legs.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { CALL_RECORD_COLUMNS, type CallRecord } from './records.js';

/**
 * A call's timeline: every audited step, leg and page SMS, in the order they happened.
 *
 * Audit events are in chain order (`seq`; their `at` never runs backwards along the chain).
 * A leg row is placed right after the audit event that recorded the same leg — the parent leg
 * after `call.leg.started`, a dial leg after the `oncall.attempt_failed` / `oncall.connected`
 * naming its child call SID (or its tier and round), a page SMS after its round's `page.sent` —
 * so the order never depends on two clocks agreeing. A leg with no such event goes by its own
 * time (the service's clock, as the audit log's): after every event at or before it.
 * `buildTimeline` is pure; `loadCallTimeline` reads what it needs, for one practice: the call,
 * its legs, pages, audit events and child legs are each read only if they are that practice's.
 */

export interface TimelineAuditEvent {
  seq: number;
  at: string;
  action: string;
  leg: string | null;
  subjectId: string | null;
  details: Record<string, unknown>;
}

export interface TimelineLeg extends LegFields {
  id: string;
  kind: 'parent' | 'dial' | 'page';
  startedAt: Date;
  endedAt: Date | null;
}

/** A child leg's progress (initiated, ringing, answered, completed) from its status callbacks. */
interface LegProgress {
  status: string;
  at: string;
}

export type TimelineEntry =
  | { kind: 'event'; at: string; seq: number; action: string; leg: string | null; subjectId: string | null; details: Record<string, unknown> }
  | (LegFields & {
      kind: 'parent_leg' | 'dial_leg' | 'page_sms';
      at: string;
      endedAt: string | null;
      seq: null;
      progress?: LegProgress[];
    });

type LegEntry = Exclude<TimelineEntry, { kind: 'event' }>;

const ENTRY_KIND = { parent: 'parent_leg', dial: 'dial_leg', page: 'page_sms' } as const;
const DIAL_OUTCOME_ACTIONS: ReadonlySet<string> = new Set([AuditAction.OncallAttemptFailed, AuditAction.OncallConnected]);

/** When a leg is placed if no event recorded it: a dial leg when it ended, others when they started. */
function legTime(leg: TimelineLeg): number {
  return (leg.kind === 'dial' ? (leg.endedAt ?? leg.startedAt) : leg.startedAt).getTime();
}

function toEntry(leg: TimelineLeg, progress: ReadonlyMap<string, LegProgress[]>): LegEntry {
  const steps = leg.kind === 'dial' && leg.legSid ? progress.get(leg.legSid) : undefined;
  return {
    kind: ENTRY_KIND[leg.kind],
    at: leg.startedAt.toISOString(),
    endedAt: leg.endedAt?.toISOString() ?? null,
    seq: null,
    legSid: leg.legSid,
    tier: leg.tier,
    round: leg.round,
    providerId: leg.providerId,
    numberTried: leg.numberTried,
    outcome: leg.outcome,
    durationSeconds: leg.durationSeconds,
    ...(steps ? { progress: steps } : {}),
  };
}

/** Pure: the events and legs of one call as one ordered list. */
export function buildTimeline(
  events: readonly TimelineAuditEvent[],
  legs: readonly TimelineLeg[],
  progress: ReadonlyMap<string, LegProgress[]> = new Map(),
): TimelineEntry[] {
  const ordered = [...events].sort((a, b) => a.seq - b.seq);
  const consumed = new Set<number>();
  const find = (match: (e: TimelineAuditEvent) => boolean, once: boolean): TimelineAuditEvent | undefined => {
    const e = ordered.find((x) => (!once || !consumed.has(x.seq)) && match(x));
    if (e && once) consumed.add(e.seq);
    return e;
  };

  // Legs naming their child SID claim their event first, so a tier/round fallback never steals it.
  const byLegSid = [...legs].sort((a, b) => Number(b.legSid !== null) - Number(a.legSid !== null));
  const attached = new Map<number, TimelineLeg[]>();
  const loose: TimelineLeg[] = [];
  for (const leg of byLegSid) {
    let anchor: TimelineAuditEvent | undefined;
    switch (leg.kind) {
      case 'parent':
        anchor = find((e) => e.action === AuditAction.CallLegStarted && e.leg === 'parent', false);
        break;
      case 'dial':
        anchor =
          (leg.legSid ? find((e) => DIAL_OUTCOME_ACTIONS.has(e.action) && e.details.childCallSid === leg.legSid, true) : undefined) ??
          (leg.tier !== null
            ? find((e) => DIAL_OUTCOME_ACTIONS.has(e.action) && e.details.childCallSid === undefined && e.details.tier === leg.tier && e.details.round === leg.round, true)
            : undefined);
        break;
      case 'page':
        anchor = find((e) => e.action === AuditAction.PageSent && e.details.round === leg.round, false);
        break;
      default:
        leg.kind satisfies never;
    }
    if (anchor) attached.set(anchor.seq, [...(attached.get(anchor.seq) ?? []), leg]);
    else loose.push(leg);
  }
  const byTime = (a: TimelineLeg, b: TimelineLeg): number => legTime(a) - legTime(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  loose.sort(byTime);

  const out: TimelineEntry[] = [];
  let next = 0;
  for (const e of ordered) {
    const at = Date.parse(e.at);
    for (; next < loose.length && legTime(loose[next] as TimelineLeg) < at; next += 1) out.push(toEntry(loose[next] as TimelineLeg, progress));
    out.push({ kind: 'event', at: e.at, seq: e.seq, action: e.action, leg: e.leg, subjectId: e.subjectId, details: e.details });
    for (const leg of (attached.get(e.seq) ?? []).sort(byTime)) out.push(toEntry(leg, progress));
  }
  for (; next < loose.length; next += 1) out.push(toEntry(loose[next] as TimelineLeg, progress));
  return out;
}

/** A leg as the call's `legs` list shows it (in timeline order). */
interface CallLeg extends LegFields {
  kind: TimelineLeg['kind'];
  at: string;
  endedAt: string | null;
}

const LEG_KIND = { parent_leg: 'parent', dial_leg: 'dial', page_sms: 'page' } as const;

interface CallTimeline {
  call: CallRecord;
  legs: CallLeg[];
  pages: Array<{ id: string; referenceCode: string; status: string; roundsSent: number; adminPaged: boolean; acknowledgedAt: string | null; acknowledgedBy: string | null }>;
  timeline: TimelineEntry[];
  audit: Awaited<ReturnType<typeof readAudit>>;
}

/** The call record, if the call is the scope's practice's (a call of another practice, or of none, is not found). */
async function practiceCall(scope: PracticeScope, callSid: string): Promise<CallRecord | null> {
  const row = await scope.db.selectFrom('calls').select(CALL_RECORD_COLUMNS).where('practice_id', '=', scope.practiceId).where('call_sid', '=', callSid).executeTakeFirst();
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

/**
 * One call of the scope's practice with everything its timeline needs: its audit events, legs,
 * pages and child legs' progress. Null when the practice has no such call.
 */
export async function loadCallTimeline(scope: PracticeScope, callSid: string): Promise<CallTimeline | null> {
  const { db, practiceId } = scope;
  const call = await practiceCall(scope, callSid);
  if (!call) return null;
  const [audit, legRows, pages] = await Promise.all([
    readAudit(db, { callSid, practiceId }),
    db.selectFrom('call_legs').selectAll().where('practice_id', '=', practiceId).where('call_sid', '=', callSid).execute(),
    db.selectFrom('pages').selectAll().where('practice_id', '=', practiceId).where('call_sid', '=', callSid).execute(),
  ]);
  const childSids = legRows.flatMap((l) => (l.kind === 'dial' && l.leg_sid ? [l.leg_sid] : []));
  // A child leg's call record carries its parent's practice (calls/voice-service.ts, handleCallStatus).
  const children =
    childSids.length > 0
      ? await db.selectFrom('calls').select(['call_sid', 'status_history']).where('practice_id', '=', practiceId).where('call_sid', 'in', childSids).execute()
      : [];
  const progress = new Map(
    children.map((c) => [
      c.call_sid,
      (c.status_history as CallStatusEntry[]).filter((h) => h.source === 'status-callback').map((h) => ({ status: h.status, at: h.at })),
    ]),
  );
  const legs: TimelineLeg[] = legRows.map((l) => ({
    id: l.id,
    kind: l.kind,
    legSid: l.leg_sid,
    tier: l.tier,
    round: l.round,
    providerId: l.provider_id,
    numberTried: l.number_tried,
    outcome: l.outcome,
    durationSeconds: l.duration_seconds,
    startedAt: l.started_at,
    endedAt: l.ended_at,
  }));
  const timeline = buildTimeline(audit, legs, progress);
  return {
    call,
    legs: timeline
      .filter((t): t is LegEntry => t.kind !== 'event')
      .map((t) => ({
        legSid: t.legSid,
        kind: LEG_KIND[t.kind],
        tier: t.tier,
        round: t.round,
        providerId: t.providerId,
        numberTried: t.numberTried,
        outcome: t.outcome,
        durationSeconds: t.durationSeconds,
        at: t.at,
        endedAt: t.endedAt,
      })),
    pages: pages.map((pg) => ({
      id: pg.id,
      referenceCode: pg.reference_code,
      status: pg.status,
      roundsSent: pg.rounds_sent,
      adminPaged: pg.admin_paged,
      acknowledgedAt: pg.acknowledged_at?.toISOString() ?? null,
      acknowledgedBy: pg.acknowledged_by,
    })),
    timeline,
    audit,
  };
}
