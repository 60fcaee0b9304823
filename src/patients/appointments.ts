import type { Db } from '../adapters/postgres.js';
import type { PracticeScope } from '../tenancy/scope.js';

export async function createAppointment(db: Db, a: { practiceId: string; patientId: string; startsAt: Date }): Promise<string> {
  const row = await db
    .insertInto('appointments')
    .values({ practice_id: a.practiceId, patient_id: a.patientId, starts_at: a.startsAt })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** The patient's next scheduled appointment after `now`: its time only, nothing clinical. */
export async function nextAppointment(scope: PracticeScope, patientId: string, now: Date): Promise<{ id: string; startsAt: Date } | null> {
  const row = await scope.db
    .selectFrom('appointments')
    .select(['id', 'starts_at'])
    .where('practice_id', '=', scope.practiceId)
    .where('patient_id', '=', patientId)
    .where('status', '=', 'scheduled')
    .where('starts_at', '>', now)
    .orderBy('starts_at', 'asc')
    .limit(1)
    .executeTakeFirst();
  return row ? { id: row.id, startsAt: row.starts_at } : null;
}
