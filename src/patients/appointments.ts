import { sql } from 'kysely';
import { z } from 'zod';
import type { Db } from '../adapters/postgres.js';
import type { AppointmentStatus } from '../adapters/db-schema.js';
import type { PracticeScope } from '../tenancy/scope.js';

/** Appointments: times, status, provider and place; nothing clinical. */

export const APPOINTMENT_STATUSES = ['booked', 'confirmed', 'cancelled', 'no_show', 'completed'] as const satisfies readonly AppointmentStatus[];

/** Statuses a caller is told about: an appointment still to happen. Cancelled and no-show ones are never spoken. */
export const SPOKEN_STATUSES = ['booked', 'confirmed'] as const satisfies readonly AppointmentStatus[];

export async function createAppointment(db: Db, a: { practiceId: string; patientId: string; startsAt: Date }): Promise<string> {
  const row = await db
    .insertInto('appointments')
    .values({ practice_id: a.practiceId, patient_id: a.patientId, starts_at: a.startsAt })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** The patient's next booked or confirmed appointment after `now`: its time only, nothing clinical. */
export async function nextAppointment(scope: PracticeScope, patientId: string, now: Date): Promise<{ id: string; startsAt: Date } | null> {
  const row = await scope.db
    .selectFrom('appointments')
    .select(['id', 'starts_at'])
    .where('practice_id', '=', scope.practiceId)
    .where('patient_id', '=', patientId)
    .where('status', 'in', SPOKEN_STATUSES)
    .where('starts_at', '>', now)
    .orderBy('starts_at', 'asc')
    .limit(1)
    .executeTakeFirst();
  return row ? { id: row.id, startsAt: row.starts_at } : null;
}

/** What a reminder may say of an appointment: when and where, nothing clinical (no provider, no reason). */
export interface SpokenAppointment {
  id: string;
  patientId: string;
  startsAt: Date;
  status: AppointmentStatus;
  locationName: string | null;
}

const SPOKEN_COLUMNS = ['id', 'patient_id', 'starts_at', 'status', 'location_name'] as const;
const spoken = (r: { id: string; patient_id: string; starts_at: Date; status: AppointmentStatus; location_name: string | null }): SpokenAppointment => ({
  id: r.id,
  patientId: r.patient_id,
  startsAt: r.starts_at,
  status: r.status,
  locationName: r.location_name,
});

/** Appointments of the practice by id (at most a few thousand ids a call), whatever their status. */
export async function appointmentsByIds(scope: PracticeScope, ids: readonly string[]): Promise<SpokenAppointment[]> {
  if (ids.length === 0) return [];
  const rows = await scope.db
    .selectFrom('appointments')
    .select(SPOKEN_COLUMNS)
    .where('practice_id', '=', scope.practiceId)
    .where(sql<boolean>`id = ANY(${ids}::uuid[])`)
    .execute();
  return rows.map(spoken);
}

/** Each patient's next booked or confirmed appointment after `now`, in one statement (at most a few thousand patients a call). */
export async function nextAppointments(scope: PracticeScope, patientIds: readonly string[], now: Date): Promise<SpokenAppointment[]> {
  if (patientIds.length === 0) return [];
  const rows = await scope.db
    .selectFrom('appointments')
    .distinctOn('patient_id')
    .select(SPOKEN_COLUMNS)
    .where('practice_id', '=', scope.practiceId)
    .where(sql<boolean>`patient_id = ANY(${patientIds}::uuid[])`)
    .where('status', 'in', SPOKEN_STATUSES)
    .where('starts_at', '>', now)
    .orderBy('patient_id')
    .orderBy('starts_at')
    .orderBy('id')
    .execute();
  return rows.map(spoken);
}

// ---------------------------------------------------------------------------
// The admin API's appointments (request path: a practice scope)

const Instant = z.iso.datetime({ offset: true, message: 'expected an ISO 8601 instant with its offset, such as 2026-12-01T09:30:00-05:00' });
const LocationName = z.string().trim().min(1).max(120).refine((v) => !v.includes('\u0000'), { message: 'must not contain a NUL character (U+0000)' });

export const AppointmentInput = z.strictObject({
  patientId: z.uuid(),
  startsAt: Instant,
  status: z.enum(APPOINTMENT_STATUSES).default('booked'),
  providerId: z.uuid().optional(),
  locationName: LocationName.optional(),
});
export type AppointmentInputValue = z.infer<typeof AppointmentInput>;

export const AppointmentPatch = z
  .strictObject({
    startsAt: Instant.optional(),
    status: z.enum(APPOINTMENT_STATUSES).optional(),
    providerId: z.uuid().nullable().optional(),
    locationName: LocationName.nullable().optional(),
  })
  .refine((v) => Object.keys(v).length > 0, { message: 'expected at least one field to change' });
export type AppointmentPatchValue = z.infer<typeof AppointmentPatch>;

export const AppointmentListQuery = z.strictObject({
  patientId: z.uuid().optional(),
  status: z.enum(APPOINTMENT_STATUSES).optional(),
  from: Instant.optional(),
  to: Instant.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});
export type AppointmentListQueryValue = z.infer<typeof AppointmentListQuery>;

export interface AppointmentView {
  id: string;
  patientId: string;
  startsAt: string;
  status: AppointmentStatus;
  providerId: string | null;
  locationName: string | null;
  createdAt: string;
  updatedAt: string;
}

type Row = { id: string; patient_id: string; starts_at: Date; status: AppointmentStatus; provider_id: string | null; location_name: string | null; created_at: Date; updated_at: Date };

function view(r: Row): AppointmentView {
  return {
    id: r.id,
    patientId: r.patient_id,
    startsAt: r.starts_at.toISOString(),
    status: r.status,
    providerId: r.provider_id,
    locationName: r.location_name,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

const COLUMNS = ['id', 'patient_id', 'starts_at', 'status', 'provider_id', 'location_name', 'created_at', 'updated_at'] as const;

export type AppointmentRefusal = { ok: false; reason: 'not_found' | 'conflict' | 'invalid'; field: string; message: string };

/** Why an appointment's references do not hold: the patient (active, of this practice) and the provider. */
async function checkReferences(scope: PracticeScope, refs: { patientId?: string; providerId?: string | null }): Promise<AppointmentRefusal | null> {
  if (refs.patientId) {
    const p = await scope.db.selectFrom('patients').select('active').where('id', '=', refs.patientId).where('practice_id', '=', scope.practiceId).executeTakeFirst();
    if (!p) return { ok: false, reason: 'invalid', field: 'patientId', message: 'patientId: no such patient in this practice' };
    if (!p.active) return { ok: false, reason: 'invalid', field: 'patientId', message: 'patientId: the patient is inactive' };
  }
  if (refs.providerId) {
    const p = await scope.db.selectFrom('providers').select('id').where('id', '=', refs.providerId).where('practice_id', '=', scope.practiceId).executeTakeFirst();
    if (!p) return { ok: false, reason: 'invalid', field: 'providerId', message: 'providerId: no such provider in this practice' };
  }
  return null;
}

const SLOT_TAKEN: AppointmentRefusal = { ok: false, reason: 'conflict', field: 'startsAt', message: 'startsAt: the patient already has an appointment at that time' };

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown }).code === '23505';
}

export async function addAppointment(scope: PracticeScope, input: AppointmentInputValue): Promise<{ ok: true; appointment: AppointmentView } | AppointmentRefusal> {
  const refused = await checkReferences(scope, input);
  if (refused) return refused;
  try {
    const row = await scope.db
      .insertInto('appointments')
      .values({
        practice_id: scope.practiceId,
        patient_id: input.patientId,
        starts_at: new Date(input.startsAt),
        status: input.status,
        provider_id: input.providerId ?? null,
        location_name: input.locationName ?? null,
      })
      .returning(COLUMNS)
      .executeTakeFirstOrThrow();
    return { ok: true, appointment: view(row) };
  } catch (err) {
    if (isUniqueViolation(err)) return SLOT_TAKEN;
    throw err;
  }
}

export async function getAppointment(scope: PracticeScope, id: string): Promise<AppointmentView | null> {
  const row = await scope.db.selectFrom('appointments').select(COLUMNS).where('id', '=', id).where('practice_id', '=', scope.practiceId).executeTakeFirst();
  return row ? view(row) : null;
}

export async function listAppointments(scope: PracticeScope, q: AppointmentListQueryValue): Promise<AppointmentView[]> {
  let query = scope.db.selectFrom('appointments').select(COLUMNS).where('practice_id', '=', scope.practiceId);
  if (q.patientId) query = query.where('patient_id', '=', q.patientId);
  if (q.status) query = query.where('status', '=', q.status);
  if (q.from) query = query.where('starts_at', '>=', new Date(q.from));
  if (q.to) query = query.where('starts_at', '<', new Date(q.to));
  const rows = await query.orderBy('starts_at').orderBy('id').limit(q.limit).offset(q.offset).execute();
  return rows.map(view);
}

/** Changes an appointment; the fields changed (names only, for the audit row). */
export async function changeAppointment(
  scope: PracticeScope,
  id: string,
  patch: AppointmentPatchValue,
): Promise<{ ok: true; appointment: AppointmentView; changed: string[] } | AppointmentRefusal> {
  const refused = await checkReferences(scope, { providerId: patch.providerId ?? null });
  if (refused) return refused;
  const set = {
    ...(patch.startsAt !== undefined ? { starts_at: new Date(patch.startsAt) } : {}),
    ...(patch.status !== undefined ? { status: patch.status } : {}),
    ...(patch.providerId !== undefined ? { provider_id: patch.providerId } : {}),
    ...(patch.locationName !== undefined ? { location_name: patch.locationName } : {}),
    updated_at: new Date(),
  };
  try {
    const row = await scope.db.updateTable('appointments').set(set).where('id', '=', id).where('practice_id', '=', scope.practiceId).returning(COLUMNS).executeTakeFirst();
    if (!row) return { ok: false, reason: 'not_found', field: 'id', message: 'no such appointment' };
    return { ok: true, appointment: view(row), changed: Object.keys(patch).sort() };
  } catch (err) {
    if (isUniqueViolation(err)) return SLOT_TAKEN;
    throw err;
  }
}

/** Deleting an appointment is refused by design: it is cancelled instead, so its history stays. */
export async function cancelAppointment(scope: PracticeScope, id: string): Promise<{ ok: true; appointment: AppointmentView; changed: string[] } | AppointmentRefusal> {
  return changeAppointment(scope, id, { status: 'cancelled' });
}
