import { sql, type Selectable } from 'kysely';
import type { Db } from '../adapters/postgres.js';
import { inTransaction } from '../adapters/postgres.js';
import type { AttemptOutcome, CallbackTasksTable, CallMatch, CallReason, TaskSource, TaskStatus } from '../adapters/db-schema.js';
import type { PracticeScope } from '../tenancy/scope.js';

/**
 * The callback tasks' store: `callback_tasks` and `callback_task_attempts`. Request-path
 * functions take the request's scope; the overdue sweep's take the system database. Sealed
 * values arrive sealed (./sealed.ts): this module never sees a number or a note.
 */

export type TaskRow = Selectable<CallbackTasksTable>;

export const OPEN_STATUSES: readonly TaskStatus[] = ['open', 'claimed'];
export type CloseOutcome = Extract<TaskStatus, 'done' | 'unreachable' | 'cancelled'>;

export interface NewTask {
  id: string;
  source: TaskSource;
  sourceId: string;
  callSid: string | null;
  reason: CallReason;
  urgency: 'urgent' | 'routine';
  callbackEnc: Buffer | null;
  callbackIndex: string | null;
  patientId: string | null;
  match: CallMatch;
  dueAt: Date;
  now: Date;
}

/** Inserts the task once per (practice, source, source id): a repeat returns the task already there. */
export async function insertTask(scope: PracticeScope, t: NewTask): Promise<{ created: boolean; task: TaskRow }> {
  const inserted = await scope.db
    .insertInto('callback_tasks')
    .values({
      id: t.id,
      practice_id: scope.practiceId,
      source: t.source,
      source_id: t.sourceId,
      call_sid: t.callSid,
      reason: t.reason,
      urgency: t.urgency,
      callback_enc: t.callbackEnc,
      callback_index: t.callbackIndex,
      patient_id: t.patientId,
      match: t.match,
      due_at: t.dueAt,
      created_at: t.now,
      updated_at: t.now,
    })
    .onConflict((oc) => oc.columns(['practice_id', 'source', 'source_id']).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { created: true, task: inserted };
  const existing = await scope.db
    .selectFrom('callback_tasks')
    .selectAll()
    .where('practice_id', '=', scope.practiceId)
    .where('source', '=', t.source)
    .where('source_id', '=', t.sourceId)
    .executeTakeFirstOrThrow();
  return { created: false, task: existing };
}

export interface TaskFilter {
  status?: TaskStatus | undefined;
  reason?: CallReason | undefined;
  urgency?: 'urgent' | 'routine' | undefined;
  overdue?: boolean | undefined;
  assignee?: string | undefined;
  limit: number;
  offset: number;
}

/** Open or claimed, and past its due time. */
function overdueSql(now: Date) {
  return sql<boolean>`(status IN ('open', 'claimed') AND due_at < ${now})`;
}

/** The scope's tasks: overdue first, then by due time. */
export async function listTasks(scope: PracticeScope, f: TaskFilter, now: Date): Promise<Array<TaskRow & { overdue: boolean }>> {
  let q = scope.db
    .selectFrom('callback_tasks')
    .selectAll()
    .select(overdueSql(now).as('overdue'))
    .where('practice_id', '=', scope.practiceId);
  if (f.status) q = q.where('status', '=', f.status);
  if (f.reason) q = q.where('reason', '=', f.reason);
  if (f.urgency) q = q.where('urgency', '=', f.urgency);
  if (f.assignee) q = q.where('assignee', '=', f.assignee);
  if (f.overdue === true) q = q.where(overdueSql(now));
  if (f.overdue === false) q = q.where(sql<boolean>`NOT ${overdueSql(now)}`);
  return q.orderBy(overdueSql(now), 'desc').orderBy('due_at').orderBy('id').limit(f.limit).offset(f.offset).execute();
}

export async function getTask(scope: PracticeScope, id: string): Promise<TaskRow | null> {
  return (await scope.db.selectFrom('callback_tasks').selectAll().where('id', '=', id).where('practice_id', '=', scope.practiceId).executeTakeFirst()) ?? null;
}

export async function listAttempts(scope: PracticeScope, taskId: string) {
  return scope.db
    .selectFrom('callback_task_attempts')
    .select(['id', 'at', 'actor', 'outcome', 'note_enc'])
    .where('task_id', '=', taskId)
    .where('practice_id', '=', scope.practiceId)
    .orderBy('at')
    .orderBy('id')
    .execute();
}

/** Tasks of these sources (a voicemail inbox page's): id and status by source id. */
export async function tasksBySource(scope: PracticeScope, sources: readonly TaskSource[], sourceIds: readonly string[]): Promise<Map<string, { id: string; status: TaskStatus; reason: CallReason }>> {
  if (sourceIds.length === 0) return new Map();
  const rows = await scope.db
    .selectFrom('callback_tasks')
    .select(['id', 'status', 'source_id', 'reason'])
    .where('practice_id', '=', scope.practiceId)
    .where('source', 'in', [...sources])
    .where('source_id', 'in', [...sourceIds])
    .execute();
  return new Map(rows.map((r) => [r.source_id, { id: r.id, status: r.status, reason: r.reason }]));
}

/** Claims an open task for `actor` (again, if it is theirs already). Null: not open to them. */
export async function claimTask(scope: PracticeScope, id: string, actor: string, now: Date): Promise<TaskRow | null> {
  return (
    (await scope.db
      .updateTable('callback_tasks')
      .set({ status: 'claimed', assignee: actor, claimed_at: now, updated_at: now })
      .where('id', '=', id)
      .where('practice_id', '=', scope.practiceId)
      .where((eb) => eb.or([eb('status', '=', 'open'), eb.and([eb('status', '=', 'claimed'), eb('assignee', '=', actor)])]))
      .returningAll()
      .executeTakeFirst()) ?? null
  );
}

/**
 * Gives an open or claimed task to `assignee` (claimed by them), or releases it to open (null),
 * whoever held it: the task locked, so the previous assignee named is the one replaced. Null:
 * no such task; `closed`: it is done, unreachable or cancelled (nothing changed).
 */
export async function assignTask(
  scope: PracticeScope,
  id: string,
  assignee: string | null,
  now: Date,
): Promise<{ task: TaskRow; previous: string | null } | { closed: TaskRow } | null> {
  return scope.db.transaction().execute(async (trx) => {
    const t = await trx.selectFrom('callback_tasks').selectAll().where('id', '=', id).where('practice_id', '=', scope.practiceId).forUpdate().executeTakeFirst();
    if (!t) return null;
    if (!OPEN_STATUSES.includes(t.status)) return { closed: t };
    const task = await trx
      .updateTable('callback_tasks')
      .set(assignee ? { status: 'claimed', assignee, claimed_at: now, updated_at: now } : { status: 'open', assignee: null, claimed_at: null, updated_at: now })
      .where('id', '=', id)
      .where('practice_id', '=', scope.practiceId)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { task, previous: t.assignee };
  });
}

/**
 * Records a try to reach the patient on an open or claimed task, in one transaction with the
 * task's count; an open task becomes the actor's. Null: no such task open.
 */
export async function addAttempt(
  scope: PracticeScope,
  taskId: string,
  a: { id: string; actor: string; outcome: AttemptOutcome; noteEnc: Buffer | null; now: Date },
): Promise<TaskRow | null> {
  return inTransaction(scope.db, async (trx) => {
    const task = await trx
      .updateTable('callback_tasks')
      .set((eb) => ({
        attempts: eb('attempts', '+', 1),
        status: 'claimed',
        assignee: eb.fn.coalesce('assignee', eb.val(a.actor)),
        claimed_at: eb.fn.coalesce('claimed_at', eb.val(a.now)),
        updated_at: a.now,
      }))
      .where('id', '=', taskId)
      .where('practice_id', '=', scope.practiceId)
      .where('status', 'in', [...OPEN_STATUSES])
      .returningAll()
      .executeTakeFirst();
    if (!task) return null;
    await trx
      .insertInto('callback_task_attempts')
      .values({ id: a.id, task_id: taskId, practice_id: scope.practiceId, at: a.now, actor: a.actor, outcome: a.outcome, note_enc: a.noteEnc, created_at: a.now })
      .execute();
    return task;
  });
}

/** Closes an open or claimed task with its outcome. Null: no such task open. */
export async function closeTask(scope: PracticeScope, id: string, c: { outcome: CloseOutcome; actor: string; noteEnc: Buffer | null; now: Date }): Promise<TaskRow | null> {
  return (
    (await scope.db
      .updateTable('callback_tasks')
      .set((eb) => ({
        status: c.outcome,
        closed_at: c.now,
        closed_by: c.actor,
        close_note_enc: c.noteEnc,
        assignee: eb.fn.coalesce('assignee', eb.val(c.actor)),
        updated_at: c.now,
      }))
      .where('id', '=', id)
      .where('practice_id', '=', scope.practiceId)
      .where('status', 'in', [...OPEN_STATUSES])
      .returningAll()
      .executeTakeFirst()) ?? null
  );
}

// ---------------------------------------------------------------------------
// The sweep's (system database: across practices)

/** Open or claimed tasks past due whose alert has not gone out, oldest due first: at most `perPractice` of each practice and urgency. */
export async function overdueUnalerted(db: Db, now: Date, perPractice = 200): Promise<Array<Pick<TaskRow, 'id' | 'practice_id' | 'urgency' | 'due_at'>>> {
  // The most overdue `perPractice` of each practice and urgency (not of all practices together):
  // a practice with many overdue tasks and nobody to tell (its tasks stay unalerted, sweep after
  // sweep) never holds up the others' alerts, nor its routine backlog its urgent ones.
  return db
    .selectFrom((eb) =>
      eb
        .selectFrom('callback_tasks')
        .select(['id', 'practice_id', 'urgency', 'due_at', sql<number>`row_number() over (partition by practice_id, urgency order by due_at, id)`.as('rank')])
        .where('status', 'in', [...OPEN_STATUSES])
        .where('alerted_at', 'is', null)
        .where('due_at', '<', now)
        .as('t'),
    )
    .select(['t.id', 't.practice_id', 't.urgency', 't.due_at'])
    .where('t.rank', '<=', perPractice)
    .orderBy('t.due_at')
    .orderBy('t.id')
    .execute();
}

/**
 * Claims the alert of these tasks before it is sent: marks those still unalerted and returns the
 * ids this call marked, so of two sweeps at once each task goes to one only.
 */
export async function claimAlerts(db: Db, ids: readonly string[], now: Date): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .updateTable('callback_tasks')
    .set({ alerted_at: now })
    .where('id', 'in', [...ids])
    .where('alerted_at', 'is', null)
    .where('status', 'in', [...OPEN_STATUSES])
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

/** Gives back a claim whose alert could not be sent (only the marks this claim made), for the next sweep. */
export async function releaseAlerts(db: Db, ids: readonly string[], claimedAt: Date): Promise<number> {
  if (ids.length === 0) return 0;
  const res = await db.updateTable('callback_tasks').set({ alerted_at: null }).where('id', 'in', [...ids]).where('alerted_at', '=', claimedAt).executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/** Voicemails stored (or complete) in the last `withinMs` with no task yet: the sweep creates theirs. */
export async function voicemailsWithoutTask(
  db: Db,
  withinMs: number,
  limit = 200,
): Promise<Array<{ id: string; practice_id: string; call_sid: string; urgency: 'urgent' | 'routine'; patient_id: string | null; caller_verified: boolean; created_at: Date }>> {
  return db
    .selectFrom('voicemails as v')
    .select(['v.id', 'v.practice_id', 'v.call_sid', 'v.urgency', 'v.patient_id', 'v.caller_verified', 'v.created_at'])
    .where('v.state', 'in', ['stored', 'complete'])
    .where('v.created_at', '>=', sql<Date>`now() - ${withinMs} * interval '1 millisecond'`)
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('callback_tasks as t')
            .select(sql`1`.as('one'))
            .whereRef('t.practice_id', '=', 'v.practice_id')
            .where('t.source', 'in', ['voicemail', 'message'])
            .where(sql<boolean>`t.source_id = v.id::text`),
        ),
      ),
    )
    .orderBy('v.created_at')
    .limit(limit)
    .execute();
}

/** Stored patient texts received since `since` (the service's clock, as received_at is) with no task linked (a webhook that failed between the two; the sweep's work). */
export async function textsWithoutTask(db: Db, since: Date, limit = 200): Promise<Array<{ id: string; practice_id: string }>> {
  return db
    .selectFrom('patient_texts')
    .select(['id', 'practice_id'])
    .where('task_id', 'is', null)
    .where('received_at', '>=', since)
    .orderBy('received_at')
    .limit(limit)
    .execute();
}

/**
 * Calls that ended since `since` (the service's clock, as ended_at is) abandoned at the menu with
 * no abandoned-call task: a status callback whose task creation failed (Twilio does not resend
 * it). The whole rule is here, in SQL (inbound, past the greeting, not the access line, a number
 * to call back: createAbandonedCallTask's, as callForTask reads it), newest first: calls that can
 * never have a task are never selected, so however many there are they cannot fill the page and
 * stall the sweep.
 */
export async function abandonedCallsWithoutTask(db: Db, since: Date, limit = 200): Promise<Array<{ call_sid: string; practice_id: string; ended_at: Date }>> {
  const rows = await db
    .selectFrom('calls as c')
    .select(['c.call_sid', 'c.practice_id', 'c.ended_at'])
    .where('c.outcome', '=', 'abandoned_at_menu')
    .where('c.practice_id', 'is not', null)
    .where('c.ended_at', '>=', since)
    .where('c.direction', '=', 'inbound')
    .where(sql<boolean>`EXISTS (SELECT 1 FROM jsonb_array_elements(c.status_history) e WHERE e ->> 'source' LIKE 'flow:%')`)
    .where(sql<boolean>`NOT (c.status_history @> '[{"source": "access"}]'::jsonb)`)
    .where((eb) => eb.or([eb('c.from_enc', 'is not', null), eb('c.callback_number_enc', 'is not', null)]))
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('callback_tasks as t')
            .select(sql`1`.as('one'))
            .whereRef('t.practice_id', '=', 'c.practice_id')
            .where('t.source', '=', 'abandoned_call')
            .whereRef('t.source_id', '=', 'c.call_sid'),
        ),
      ),
    )
    .orderBy('c.ended_at', 'desc')
    .limit(limit)
    .execute();
  return rows.flatMap((r) => (r.practice_id && r.ended_at ? [{ call_sid: r.call_sid, practice_id: r.practice_id, ended_at: r.ended_at }] : []));
}
