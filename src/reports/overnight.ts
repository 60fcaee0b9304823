import { sql } from 'kysely';
import type { AppContext } from '../app-context.js';
import type { Db } from '../adapters/postgres.js';
import type { PracticeScope } from '../tenancy/scope.js';
import type { ClosedPeriod } from './period.js';

/**
 * The morning report (issue 13, item 8): what happened while the practice was closed, as counts.
 * Each count comes with the API filter that lists its items (`list`), for the console to link;
 * null where no list route filters that way yet. Nothing about a patient is read or returned:
 * the only names are staff's, the display names of the people who took the urgent callbacks.
 *
 * Calls, voicemails, lockouts, failed deliveries and fail-safe answers are those of the period;
 * tasks are the practice's as they stand at `asOf` (the report is read when the day's calling
 * back starts), with how many of them the night brought.
 */

export interface Counted {
  count: number;
  /** An /api path with query that lists the items counted; null: no list route filters this way. */
  list: string | null;
}

export interface UrgentClaim {
  taskId: string;
  /** The audit actor who took it: `user:<id>` or `api_key:<id>`. */
  assignee: string;
  /** The person's display name (staff, never a patient); null for a key. */
  name: string | null;
  claimedAt: string;
}

export interface OvernightReport {
  practiceId: string;
  date: string;
  period: { start: string; end: string; timeZone: string };
  asOf: string;
  calls: { total: Counted; byOutcome: Record<string, Counted>; byReason: Record<string, Counted> };
  tasks: { created: Counted; open: Counted; claimed: Counted; overdue: Counted; urgentClaimed: UrgentClaim[] };
  voicemails: { urgent: Counted; routine: Counted; heard: Counted; unheard: Counted };
  lockouts: Counted;
  failedDeliveries: { drops: Counted; pages: Counted; sms: Counted };
  failSafeAnswers: Counted;
}

/** A call still going (no outcome yet) is counted under this name. */
export const IN_PROGRESS = 'in_progress';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function n(v: string | number | bigint | null | undefined): number {
  return Number(v ?? 0);
}

function query(path: string, params: Record<string, string>): string {
  return `${path}?${new URLSearchParams(params).toString()}`;
}

export async function buildOvernightReport(
  deps: Pick<AppContext, 'db'>,
  scope: PracticeScope,
  period: ClosedPeriod,
  timeZone: string,
  asOf: Date,
): Promise<OvernightReport> {
  const { start, end } = period;
  const window = { from: start.toISOString(), to: end.toISOString() };
  const [calls, tasks, voicemails, lockouts, failed, urgentClaimed] = await Promise.all([
    callCounts(scope, start, end),
    taskCounts(scope, start, end, asOf),
    voicemailCounts(scope, start, end),
    scope.db.selectFrom('verification_lockouts').select((eb) => eb.fn.countAll<string>().as('n')).where('started_at', '>=', start).where('started_at', '<', end).executeTakeFirstOrThrow(),
    failedDeliveries(scope, start, end),
    urgentClaims(deps.db, scope, start, end),
  ]);

  const byOutcome: Record<string, Counted> = {};
  const byReason: Record<string, Counted> = {};
  let total = 0;
  for (const c of calls) {
    const outcome = c.outcome ?? IN_PROGRESS;
    const count = n(c.n);
    total += count;
    const o = (byOutcome[outcome] ??= { count: 0, list: c.outcome ? query('/api/calls', { ...window, outcome }) : null });
    o.count += count;
    if (c.reason) (byReason[c.reason] ??= { count: 0, list: null }).count += count;
  }
  const failSafe = byOutcome['fail_safe']?.count ?? 0;

  return {
    practiceId: scope.practiceId,
    date: period.date,
    period: { start: window.from, end: window.to, timeZone },
    asOf: asOf.toISOString(),
    calls: { total: { count: total, list: query('/api/calls', window) }, byOutcome, byReason },
    tasks: {
      created: { count: n(tasks.created), list: null },
      open: { count: n(tasks.open), list: '/api/tasks?status=open' },
      claimed: { count: n(tasks.claimed), list: '/api/tasks?status=claimed' },
      overdue: { count: n(tasks.overdue), list: '/api/tasks?overdue=true' },
      urgentClaimed,
    },
    voicemails: {
      urgent: { count: n(voicemails.urgent), list: query('/api/voicemails', { ...window, urgency: 'urgent' }) },
      routine: { count: n(voicemails.routine), list: query('/api/voicemails', { ...window, urgency: 'routine' }) },
      heard: { count: n(voicemails.heard), list: null },
      unheard: { count: n(voicemails.unheard), list: query('/api/voicemails', { ...window, unhandled: 'true' }) },
    },
    lockouts: { count: n(lockouts.n), list: query('/api/lockouts', window) },
    failedDeliveries: {
      drops: { count: n(failed.drops), list: null },
      pages: { count: n(failed.pages), list: null },
      sms: { count: n(failed.sms), list: '/api/voicemails/dead-letter' },
    },
    failSafeAnswers: { count: failSafe, list: query('/api/calls', { ...window, outcome: 'fail_safe' }) },
  };
}

async function callCounts(scope: PracticeScope, start: Date, end: Date) {
  return scope.db
    .selectFrom('calls')
    .select(['outcome', 'reason', (eb) => eb.fn.countAll<string>().as('n')])
    .where('practice_id', '=', scope.practiceId)
    .where('created_at', '>=', start)
    .where('created_at', '<', end)
    .groupBy(['outcome', 'reason'])
    .orderBy('outcome')
    .orderBy('reason')
    .execute();
}

async function taskCounts(scope: PracticeScope, start: Date, end: Date, asOf: Date) {
  return scope.db
    .selectFrom('callback_tasks')
    .select([
      sql<string>`count(*) FILTER (WHERE created_at >= ${start} AND created_at < ${end})`.as('created'),
      sql<string>`count(*) FILTER (WHERE status = 'open')`.as('open'),
      sql<string>`count(*) FILTER (WHERE status = 'claimed')`.as('claimed'),
      sql<string>`count(*) FILTER (WHERE status IN ('open', 'claimed') AND due_at < ${asOf})`.as('overdue'),
    ])
    .where('practice_id', '=', scope.practiceId)
    .executeTakeFirstOrThrow();
}

/**
 * The voicemails left on the period's calls (by the call's start: the time the service's clock
 * gave it). Heard: acknowledged, or played through a playback link.
 */
async function voicemailCounts(scope: PracticeScope, start: Date, end: Date) {
  const heard = sql<boolean>`(v.acknowledged_at IS NOT NULL OR EXISTS (SELECT 1 FROM playback_tokens t WHERE t.voicemail_id = v.id AND t.used_at IS NOT NULL))`;
  return scope.db
    .selectFrom('voicemails as v')
    .innerJoin('calls as c', 'c.call_sid', 'v.call_sid')
    .select([
      sql<string>`count(*) FILTER (WHERE v.urgency = 'urgent')`.as('urgent'),
      sql<string>`count(*) FILTER (WHERE v.urgency = 'routine')`.as('routine'),
      sql<string>`count(*) FILTER (WHERE ${heard})`.as('heard'),
      sql<string>`count(*) FILTER (WHERE NOT ${heard})`.as('unheard'),
    ])
    .where('v.practice_id', '=', scope.practiceId)
    .where('c.created_at', '>=', start)
    .where('c.created_at', '<', end)
    .executeTakeFirstOrThrow();
}

/** Ringless drops failed, page messages failed, and voicemail notifications (SMS) dead-lettered, in the period. */
async function failedDeliveries(scope: PracticeScope, start: Date, end: Date) {
  const [drops, pages, sms] = await Promise.all([
    scope.db.selectFrom('drops').select((eb) => eb.fn.countAll<string>().as('n')).where('practice_id', '=', scope.practiceId).where('status', '=', 'failed').where('updated_at', '>=', start).where('updated_at', '<', end).executeTakeFirstOrThrow(),
    scope.db
      .selectFrom('page_deliveries as d')
      .innerJoin('pages as p', 'p.id', 'd.page_id')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('p.practice_id', '=', scope.practiceId)
      .where('d.status', '=', 'failed')
      .where('d.updated_at', '>=', start)
      .where('d.updated_at', '<', end)
      .executeTakeFirstOrThrow(),
    scope.db.selectFrom('voicemails').select((eb) => eb.fn.countAll<string>().as('n')).where('practice_id', '=', scope.practiceId).where('dead_letter_reason', '=', 'notify_failed').where('updated_at', '>=', start).where('updated_at', '<', end).executeTakeFirstOrThrow(),
  ]);
  return { drops: drops.n, pages: pages.n, sms: sms.n };
}

/**
 * The urgent tasks of the period someone has taken, and who: a person's display name is read
 * from the accounts (the system pool: users belong to no practice), for members of this practice only.
 */
async function urgentClaims(db: Db, scope: PracticeScope, start: Date, end: Date): Promise<UrgentClaim[]> {
  const rows = await scope.db
    .selectFrom('callback_tasks')
    .select(['id', 'assignee', 'claimed_at'])
    .where('practice_id', '=', scope.practiceId)
    .where('urgency', '=', 'urgent')
    .where('created_at', '>=', start)
    .where('created_at', '<', end)
    .where('assignee', 'is not', null)
    .orderBy('claimed_at')
    .orderBy('id')
    .limit(200)
    .execute();
  const userIds = [...new Set(rows.flatMap((r) => (r.assignee?.startsWith('user:') ? [r.assignee.slice('user:'.length)] : [])))].filter((id) => UUID.test(id));
  const names = new Map<string, string>();
  if (userIds.length > 0) {
    const users = await db
      .selectFrom('users as u')
      .innerJoin('memberships as m', 'm.user_id', 'u.id')
      .select(['u.id', 'u.display_name'])
      .where('m.practice_id', '=', scope.practiceId)
      .where('u.id', 'in', userIds)
      .execute();
    for (const u of users) names.set(u.id, u.display_name);
  }
  return rows.map((r) => {
    const assignee = r.assignee ?? '';
    return {
      taskId: r.id,
      assignee,
      name: assignee.startsWith('user:') ? (names.get(assignee.slice('user:'.length)) ?? null) : null,
      claimedAt: (r.claimed_at ?? new Date(0)).toISOString(),
    };
  });
}
