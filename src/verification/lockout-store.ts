import type { Db } from '../adapters/postgres.js';
import type { PracticeScope } from '../tenancy/scope.js';
import type { LockScope } from './lockout.js';

/**
 * The lockouts that started, in PostgreSQL: what the practice is told about (the morning
 * report) and what staff may clear. Ids and the number's blind index only.
 */

export type LockoutLine = 'patient' | 'access';

/** A lockout as the API and the morning report see it: ids only, never the number or its index. */
export interface Lockout {
  id: string;
  scope: LockScope['kind'];
  line: LockoutLine;
  patientId: string | null;
  providerId: string | null;
  earlier: number;
  startedAt: string;
  lockedUntil: string;
  clearedAt: string | null;
  clearedBy: string | null;
}

interface LockoutRow {
  id: string;
  scope: LockScope['kind'];
  line: LockoutLine;
  patient_id: string | null;
  provider_id: string | null;
  earlier: number;
  started_at: Date;
  locked_until: Date;
  cleared_at: Date | null;
  cleared_by: string | null;
}

const COLUMNS = ['id', 'scope', 'line', 'patient_id', 'provider_id', 'earlier', 'started_at', 'locked_until', 'cleared_at', 'cleared_by'] as const;

function toLockout(r: LockoutRow): Lockout {
  return {
    id: r.id,
    scope: r.scope,
    line: r.line,
    patientId: r.patient_id,
    providerId: r.provider_id,
    earlier: r.earlier,
    startedAt: r.started_at.toISOString(),
    lockedUntil: r.locked_until.toISOString(),
    clearedAt: r.cleared_at?.toISOString() ?? null,
    clearedBy: r.cleared_by,
  };
}

export interface NewLockout {
  practiceId: string;
  scope: LockScope;
  line: LockoutLine;
  earlier: number;
  startedAt: Date;
  lockedUntil: Date;
}

/** Records a lockout that has just started; returns its id. */
export async function insertLockout(db: Db, l: NewLockout): Promise<string> {
  const s = l.scope;
  const row = await db
    .insertInto('verification_lockouts')
    .values({
      practice_id: l.practiceId,
      scope: s.kind,
      patient_id: s.kind === 'patient' ? s.id : null,
      provider_id: s.kind === 'provider' ? s.id : null,
      phone_index: s.kind === 'number' ? s.phoneIndex : null,
      line: l.line,
      earlier: l.earlier,
      started_at: l.startedAt,
      locked_until: l.lockedUntil,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** Lockouts of the practice that started in [from, to), oldest first: for the morning report. */
export async function listLockouts(scope: PracticeScope, from: Date, to: Date): Promise<Lockout[]> {
  const rows = await scope.db
    .selectFrom('verification_lockouts')
    .select(COLUMNS)
    .where('practice_id', '=', scope.practiceId)
    .where('started_at', '>=', from)
    .where('started_at', '<', to)
    .orderBy('started_at')
    .orderBy('id')
    .execute();
  return rows.map(toLockout);
}

/** Lockouts of the practice in force at `now` (not cleared, not over), newest first. */
export async function currentLockouts(scope: PracticeScope, now: Date): Promise<Lockout[]> {
  const rows = await scope.db
    .selectFrom('verification_lockouts')
    .select(COLUMNS)
    .where('practice_id', '=', scope.practiceId)
    .where('cleared_at', 'is', null)
    .where('locked_until', '>', now)
    .orderBy('started_at', 'desc')
    .limit(500)
    .execute();
  return rows.map(toLockout);
}

/** One lockout of the practice with the scope it locks (for clearing it), or null. */
export async function getLockout(practice: PracticeScope, id: string): Promise<{ lockout: Lockout; scope: LockScope } | null> {
  const { practiceId } = practice;
  const r = await practice.db
    .selectFrom('verification_lockouts')
    .select([...COLUMNS, 'phone_index'])
    .where('practice_id', '=', practiceId)
    .where('id', '=', id)
    .executeTakeFirst();
  if (!r) return null;
  const scope: LockScope | null =
    r.scope === 'number' && r.phone_index
      ? { kind: 'number', practiceId, phoneIndex: r.phone_index, ...(r.line === 'access' ? { access: true as const } : {}) }
      : r.scope === 'patient' && r.patient_id
        ? { kind: 'patient', id: r.patient_id }
        : r.scope === 'provider' && r.provider_id
          ? { kind: 'provider', id: r.provider_id }
          : null;
  return scope ? { lockout: toLockout(r), scope } : null;
}

/** Marks a lockout cleared; false if it was cleared already. */
export async function markLockoutCleared(scope: PracticeScope, id: string, by: string, at: Date): Promise<boolean> {
  const r = await scope.db
    .updateTable('verification_lockouts')
    .set({ cleared_at: at, cleared_by: by })
    .where('practice_id', '=', scope.practiceId)
    .where('id', '=', id)
    .where('cleared_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}
