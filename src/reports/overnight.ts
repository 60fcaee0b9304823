import { sql } from 'kysely';
import type { AppContext } from '../app-context.js';
import type { Db } from '../adapters/postgres.js';
import type { PracticeScope } from '../tenancy/scope.js';
import type { ClosedPeriod } from './period.js';

/**
 * The morning report (issue 13, item 8): what happened while the practice was closed, as counts.
 * Each count comes with the API filter that lists its items (`list`), for the console to link;
 * null where no list route filters that way yet. Nothing about a patient is read or returned:
 * the only names are staff's: the display names of the people (accounts and providers of this
 * practice) who took the urgent callbacks and who acknowledged the night's pages.
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
  /** The audit actor who took it: `user:<id>`, `provider:<id>` or `api_key:<id>`. */
  assignee: string;
  /** The person's display name (an account's or a provider's: staff, never a patient); null for a key. */
  name: string | null;
  claimedAt: string;
}

/** A page of the period (an urgent call's or voicemail's) and who stopped it. */
export interface PageAck {
  pageId: string;
  createdAt: string;
  status: 'open' | 'acknowledged';
  acknowledgedAt: string | null;
  /** The actor who acknowledged it: `provider:<id>` (the access line), `user:<id>` or `api_key:<id>`; null while open. */
  acknowledgedBy: string | null;
  /** Their display name (staff); null for a key or while open. */
  name: string | null;
}

export interface OvernightReport {
  practiceId: string;
  date: string;
  period: { start: string; end: string; timeZone: string };
  asOf: string;
  calls: { total: Counted; byOutcome: Record<string, Counted>; byReason: Record<string, Counted> };
  tasks: { created: Counted; open: Counted; claimed: Counted; overdue: Counted; urgentClaimed: UrgentClaim[] };
  /** The period's pages, oldest first (at most 200), with who acknowledged each. */
  pages: PageAck[];
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
  const [calls, tasks, voicemails, lockouts, failed, urgentClaimed, pages] = await Promise.all([
    callCounts(scope, start, end),
    taskCounts(scope, start, end, asOf),
    voicemailCounts(scope, start, end),
    scope.db.selectFrom('verification_lockouts').select((eb) => eb.fn.countAll<string>().as('n')).where('started_at', '>=', start).where('started_at', '<', end).executeTakeFirstOrThrow(),
    failedDeliveries(scope, start, end),
    urgentClaims(deps.db, scope, start, end),
    periodPages(deps.db, scope, start, end),
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
    pages,
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
 * The display names of staff actors (`user:<id>`: accounts with a membership of this practice,
 * read from the system pool since accounts belong to no practice; `provider:<id>`: this
 * practice's providers). Keys, and ids of anyone outside the practice, get no name.
 */
export async function staffNames(db: Db, scope: PracticeScope, actors: ReadonlyArray<string | null>): Promise<Map<string, string>> {
  const idsOf = (prefix: string): string[] => [...new Set(actors.flatMap((a) => (a?.startsWith(prefix) ? [a.slice(prefix.length)] : [])))].filter((id) => UUID.test(id));
  const userIds = idsOf('user:');
  const providerIds = idsOf('provider:');
  const [users, providers] = await Promise.all([
    userIds.length === 0
      ? []
      : db.selectFrom('users as u').innerJoin('memberships as m', 'm.user_id', 'u.id').select(['u.id', 'u.display_name']).where('m.practice_id', '=', scope.practiceId).where('u.id', 'in', userIds).execute(),
    providerIds.length === 0 ? [] : scope.db.selectFrom('providers').select(['id', 'display_name']).where('practice_id', '=', scope.practiceId).where('id', 'in', providerIds).execute(),
  ]);
  const names = new Map<string, string>();
  for (const u of users) names.set(`user:${u.id}`, u.display_name);
  for (const p of providers) names.set(`provider:${p.id}`, p.display_name);
  return names;
}

/** The urgent tasks of the period someone has taken, and who (`staffNames`). */
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
  const names = await staffNames(db, scope, rows.map((r) => r.assignee));
  return rows.map((r) => {
    const assignee = r.assignee ?? '';
    return { taskId: r.id, assignee, name: names.get(assignee) ?? null, claimedAt: (r.claimed_at ?? new Date(0)).toISOString() };
  });
}

/** The pages started in the period and who acknowledged each (`staffNames`); never the reference code (it plays the voicemail). */
async function periodPages(db: Db, scope: PracticeScope, start: Date, end: Date): Promise<PageAck[]> {
  const rows = await scope.db
    .selectFrom('pages')
    .select(['id', 'status', 'created_at', 'acknowledged_at', 'acknowledged_by'])
    .where('practice_id', '=', scope.practiceId)
    .where('created_at', '>=', start)
    .where('created_at', '<', end)
    .orderBy('created_at')
    .orderBy('id')
    .limit(200)
    .execute();
  const names = await staffNames(db, scope, rows.map((r) => r.acknowledged_by));
  return rows.map((r) => ({
    pageId: r.id,
    createdAt: r.created_at.toISOString(),
    status: r.status,
    acknowledgedAt: r.acknowledged_at?.toISOString() ?? null,
    acknowledgedBy: r.acknowledged_by,
    name: r.acknowledged_by ? (names.get(r.acknowledged_by) ?? null) : null,
  }));
}
