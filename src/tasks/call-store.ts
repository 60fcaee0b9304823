import type { Selectable } from 'kysely';
import type { Db } from '../adapters/postgres.js';
import type { TaskCallOutcome, TaskCallsTable } from '../adapters/db-schema.js';
import type { PracticeScope } from '../tenancy/scope.js';

/**
 * The `task_calls` store: one row per call back through the practice line (./call-back.ts).
 * Request paths and Twilio's callbacks take the practice's scope; only `practiceOfTaskCall`
 * (a Twilio callback finding whose call it is, by the opaque id in its URL) reads across practices.
 */

export type TaskCallRow = Selectable<TaskCallsTable>;

/**
 * A new call back on the task; null when one is in progress on it already (no outcome yet): the
 * partial unique index `task_calls_open_once` (0031) lets only one of two requests at once in,
 * so the patient is never dialled twice.
 */
export async function insertTaskCall(
  scope: PracticeScope,
  c: { id: string; taskId: string; actor: string; origin: TaskCallRow['origin']; callerLegSid: string | null; callerId: string; now: Date },
): Promise<TaskCallRow | null> {
  try {
    return await scope.db
      .insertInto('task_calls')
      .values({ id: c.id, practice_id: scope.practiceId, task_id: c.taskId, actor: c.actor, origin: c.origin, caller_leg_sid: c.callerLegSid, caller_id: c.callerId, state: 'placed', created_at: c.now, updated_at: c.now })
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (err) {
    if ((err as { code?: unknown; constraint?: unknown }).code === '23505' && (err as { constraint?: unknown }).constraint === 'task_calls_open_once') return null;
    throw err;
  }
}

/**
 * Call backs still without an outcome that began before `before`, across practices (the task
 * sweep's): Twilio's last word on them never came (or never will), and they hold their task.
 */
export async function staleTaskCalls(db: Db, before: Date, limit = 200): Promise<Array<{ id: string; practice_id: string }>> {
  return db.selectFrom('task_calls').select(['id', 'practice_id']).where('outcome', 'is', null).where('created_at', '<', before).orderBy('created_at').limit(limit).execute();
}

/** The practice of a call back, from the id its TwiML URL carries (the system role: the callback names no practice). */
export async function practiceOfTaskCall(db: Db, id: string): Promise<string | null> {
  return (await db.selectFrom('task_calls').select('practice_id').where('id', '=', id).executeTakeFirst())?.practice_id ?? null;
}

export async function getTaskCall(scope: PracticeScope, id: string): Promise<TaskCallRow | null> {
  return (await scope.db.selectFrom('task_calls').selectAll().where('id', '=', id).where('practice_id', '=', scope.practiceId).executeTakeFirst()) ?? null;
}

/** The caller's own leg, once Twilio named it (the REST answer's CallSid). */
export async function setCallerLeg(scope: PracticeScope, id: string, callSid: string, now: Date): Promise<void> {
  await scope.db.updateTable('task_calls').set({ caller_leg_sid: callSid, updated_at: now }).where('id', '=', id).where('practice_id', '=', scope.practiceId).where('caller_leg_sid', 'is', null).execute();
}

/** The patient is being dialled (the caller pressed 1, or keyed the call back on the access line). */
export async function markDialling(scope: PracticeScope, id: string, now: Date): Promise<void> {
  await scope.db.updateTable('task_calls').set({ state: 'dialling', updated_at: now }).where('id', '=', id).where('practice_id', '=', scope.practiceId).where('state', '=', 'placed').execute();
}

/** The patient's leg, once its first status callback names it (the `<Dial>` action may never come). */
export async function setPatientLeg(scope: PracticeScope, id: string, legSid: string, now: Date): Promise<void> {
  await scope.db.updateTable('task_calls').set({ patient_leg_sid: legSid, updated_at: now }).where('id', '=', id).where('practice_id', '=', scope.practiceId).where('patient_leg_sid', 'is', null).execute();
}

/** The last status recorded for a call back's patient leg (its call record); null when none was. */
export async function patientLegStatus(scope: PracticeScope, id: string): Promise<string | null> {
  const row = await scope.db
    .selectFrom('task_calls as t')
    .innerJoin('calls as c', (j) => j.onRef('c.call_sid', '=', 't.patient_leg_sid').onRef('c.practice_id', '=', 't.practice_id'))
    .select('c.status')
    .where('t.id', '=', id)
    .where('t.practice_id', '=', scope.practiceId)
    .executeTakeFirst();
  return row?.status ?? null;
}

/**
 * Settles the call's outcome, once: the row that settles it gets the attempt's id; a repeated
 * callback (or the caller's leg ending after the dial settled it) finds it settled and gets null.
 */
export async function settleTaskCall(
  scope: PracticeScope,
  id: string,
  s: { outcome: TaskCallOutcome; attemptId: string; patientLegSid: string | null; now: Date },
): Promise<TaskCallRow | null> {
  return (
    (await scope.db
      .updateTable('task_calls')
      .set((eb) => ({
        state: s.outcome === 'logged' ? 'logged' : 'finished',
        outcome: s.outcome,
        attempt_id: s.attemptId,
        patient_leg_sid: eb.fn.coalesce('patient_leg_sid', eb.val(s.patientLegSid)),
        updated_at: s.now,
      }))
      .where('id', '=', id)
      .where('practice_id', '=', scope.practiceId)
      .where('outcome', 'is', null)
      .returningAll()
      .executeTakeFirst()) ?? null
  );
}
