import { sql } from 'kysely';
import type { AppContext } from '../app-context.js';
import { inTransaction } from '../adapters/postgres.js';
import { AuditAction } from '../audit/events.js';
import { logger } from '../log/logger.js';

/**
 * How long a callback task keeps what it seals (issue 13, item 3). The rule: a task closed (done,
 * unreachable, cancelled) longer than its practice's retention (`voicemailRetentionDays`, the
 * practice's one retention setting for what callers left: the voicemail's audio goes at the same
 * age) has its callback number (sealed, and its blind index), its close note, its attempts' notes
 * and its patient text's body erased (set null). The task row, its attempts (time, actor,
 * outcome) and its audit history stay: the record of who called back when is kept, the PHI goes.
 * One `task.purged` audit row per practice and sweep, with counts. An open or claimed task keeps
 * everything, however old.
 */

/** At most this many tasks of a practice per sweep; the rest at the next. */
const BATCH = 1_000;
const CLOSED = ['done', 'unreachable', 'cancelled'] as const;

export type TaskRetentionDeps = Pick<AppContext, 'db' | 'audit' | 'clock'>;

/** The maintenance sweep (on the `retention` task): every practice's closed tasks past its retention, erased. */
export async function purgeClosedTasks(deps: TaskRetentionDeps): Promise<{ practices: number; tasks: number }> {
  const now = deps.clock();
  const practices = await deps.db.selectFrom('practices').select(['id', 'voicemail_retention_days']).orderBy('id').execute();
  let tasks = 0;
  let touched = 0;
  for (const p of practices) {
    try {
      const n = await purgePractice(deps, p.id, p.voicemail_retention_days, now);
      if (n > 0) {
        tasks += n;
        touched += 1;
      }
    } catch (err) {
      // The others still go; this practice's are tried again at the next sweep.
      logger.error('task retention failed', { err, practiceId: p.id });
    }
  }
  return { practices: touched, tasks };
}

async function purgePractice(deps: TaskRetentionDeps, practiceId: string, retentionDays: number, now: Date): Promise<number> {
  const closedBefore = new Date(now.getTime() - retentionDays * 86_400_000);
  const counts = await inTransaction(deps.db, async (trx) => {
    const due = await trx
      .selectFrom('callback_tasks as t')
      .select('t.id')
      .where('t.practice_id', '=', practiceId)
      .where('t.status', 'in', [...CLOSED])
      .where('t.closed_at', '<', closedBefore)
      .where((eb) =>
        eb.or([
          eb('t.callback_enc', 'is not', null),
          eb('t.callback_index', 'is not', null),
          eb('t.close_note_enc', 'is not', null),
          eb.exists(eb.selectFrom('callback_task_attempts as a').select(sql`1`.as('one')).whereRef('a.task_id', '=', 't.id').where('a.note_enc', 'is not', null)),
          eb.exists(eb.selectFrom('patient_texts as x').select(sql`1`.as('one')).whereRef('x.task_id', '=', 't.id').where('x.body_enc', 'is not', null)),
        ]),
      )
      .orderBy('t.closed_at')
      .limit(BATCH)
      .forUpdate()
      .execute();
    const ids = due.map((r) => r.id);
    if (ids.length === 0) return null;
    await trx.updateTable('callback_tasks').set({ callback_enc: null, callback_index: null, close_note_enc: null, updated_at: now }).where('id', 'in', ids).execute();
    const attempts = await trx.updateTable('callback_task_attempts').set({ note_enc: null }).where('task_id', 'in', ids).where('note_enc', 'is not', null).executeTakeFirst();
    const texts = await trx.updateTable('patient_texts').set({ body_enc: null }).where('task_id', 'in', ids).where('body_enc', 'is not', null).executeTakeFirst();
    return { tasks: ids.length, attempts: Number(attempts.numUpdatedRows), texts: Number(texts.numUpdatedRows) };
  });
  if (!counts) return 0;
  await deps.audit({
    action: AuditAction.TaskPurged,
    actor: 'system:retention',
    practiceId,
    subjectId: null,
    details: { ...counts, retentionDays, closedBefore: closedBefore.toISOString() },
  });
  return counts.tasks;
}
