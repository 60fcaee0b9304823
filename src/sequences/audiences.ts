import { z } from 'zod';
import type { AppContext } from '../app-context.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { AuditAction } from '../audit/events.js';
import { parseRecipientRows, type Result } from '../drops/campaigns.js';
import { knownPatientIds } from '../drops/campaign-store.js';
import { PatientSearch, searchPatients } from '../patients/records.js';
import { listAppointments } from '../patients/appointments.js';
import { patientsDueForRecall, RECALL_PAGE_MAX } from '../patients/recall.js';
import { RecallDueSchema } from '../patients/identifiers.js';
import { appointmentPatients, insertDraftRecipients, sequenceOf } from './store.js';

/**
 * A sequence's audience (issue 15, item 5), in five kinds, each resolved to rows of
 * `{patientId, appointmentId, dueAt}` and added while the sequence is a draft: a CSV
 * (`patient_id[,appointment_id]`), a list of patient ids, the patients API's search (its schema
 * and query, every page of it), the appointments starting in a window (each recipient's first
 * step due `remindBefore` hours before their own appointment), or the patients due for recall.
 * Patients of another practice or unknown are counted, never echoed; the audit row names the kind
 * and the counts only.
 */

const Instant = z.iso.datetime({ offset: true, message: 'expected an ISO 8601 instant with its offset, such as 2026-12-01T09:30:00-05:00' });
const MAX_HOURS = 24 * 60;
const UUID = z.uuid();
/** An audience of any kind reaches at most this many recipients (one request); more is refused whole (400 naming the field), never cut short. */
export const MAX_AUDIENCE = 200_000;

const AUDIENCE_KINDS = {
  csv: z.strictObject({ csv: z.string().min(1).max(16_000_000) }),
  patientIds: z.strictObject({ patientIds: z.array(z.uuid({ message: 'expected a UUID' })).min(1).max(MAX_AUDIENCE) }),
  search: z.strictObject({ search: PatientSearch }),
  appointments: z.strictObject({
    appointments: z
      .strictObject({
        from: Instant,
        to: Instant,
        /** Hours before each appointment's start its recipient's first step is due. */
        remindBefore: z.number().min(0).max(MAX_HOURS),
      })
      .refine((v) => Date.parse(v.from) < Date.parse(v.to), { path: ['to'], message: 'expected an instant after from' }),
  }),
  recall: z.strictObject({
    recall: z
      .strictObject({ from: RecallDueSchema.optional(), to: RecallDueSchema.optional() })
      .refine((v) => v.from === undefined || v.to === undefined || v.from <= v.to, { path: ['to'], message: 'expected a day on or after from' }),
  }),
} as const;

/** A JSON audience: exactly one of its kinds (the OpenAPI document's schema; parseAudience reads it). */
export const AudienceBody = z.union([AUDIENCE_KINDS.csv, AUDIENCE_KINDS.patientIds, AUDIENCE_KINDS.search, AUDIENCE_KINDS.appointments, AUDIENCE_KINDS.recall]);

/** A JSON audience body, checked by the schema of the one kind it names, so a refusal names the field. */
export function parseAudience(body: unknown): { success: true; data: AudienceBodyValue } | { success: false; error: z.ZodError } | { success: false; message: string } {
  const keys = body !== null && typeof body === 'object' && !Array.isArray(body) ? Object.keys(body) : [];
  const kind = keys.length === 1 ? keys[0] : undefined;
  const schema = kind !== undefined && Object.hasOwn(AUDIENCE_KINDS, kind) ? AUDIENCE_KINDS[kind as keyof typeof AUDIENCE_KINDS] : undefined;
  if (!schema) return { success: false, message: `body: expected exactly one of ${Object.keys(AUDIENCE_KINDS).join(', ')} (or a text/csv body)` };
  const r = schema.safeParse(body);
  return r.success ? { success: true, data: r.data } : { success: false, error: r.error };
}
export type AudienceBodyValue = z.infer<typeof AudienceBody>;

/** The kind of an audience body, as the audit row names it. */
export type AudienceKind = 'csv' | 'patients' | 'search' | 'appointments' | 'recall';

export function audienceKind(b: AudienceBodyValue): AudienceKind {
  if ('csv' in b) return 'csv';
  if ('patientIds' in b) return 'patients';
  if ('search' in b) return 'search';
  if ('appointments' in b) return 'appointments';
  return 'recall';
}

export type AudienceRow = { patientId: string; appointmentId: string | null; dueAt: Date | null };
export type AudienceDeps = Pick<AppContext, 'audit' | 'clock' | 'keyring'>;

/** An audience that reaches more than MAX_AUDIENCE patients is refused whole (400 naming its field), never cut short. */
function tooMany(field: string): { ok: false; reason: 'invalid'; message: string } {
  return { ok: false, reason: 'invalid', message: `${field}: reaches more than ${MAX_AUDIENCE} recipients, the most one audience may add; narrow it (or add it in parts)` };
}

/** Every page of the patients API's search (the same schema and query), ids only. */
async function searchRows(services: AudienceDeps, scope: PracticeScope, search: z.infer<typeof PatientSearch>): Promise<Result<AudienceRow[]>> {
  const rows: AudienceRow[] = [];
  const limit = 100;
  for (let offset = 0; ; offset += limit) {
    const page = await searchPatients(scope, services.keyring, { ...search, limit, offset });
    for (const p of page) rows.push({ patientId: p.id, appointmentId: null, dueAt: null });
    if (rows.length > MAX_AUDIENCE) return tooMany('search');
    if (page.length < limit) return { ok: true, value: rows };
  }
}

/**
 * Booked or confirmed appointments starting in [from, to): each one's patient, due `remindBefore`
 * hours before its start. An appointment already started (at or before now) is left out and
 * counted (`past`); one whose reminder time has gone by but which is still ahead is due now.
 */
async function appointmentRows(services: AudienceDeps, scope: PracticeScope, w: { from: string; to: string; remindBefore: number }): Promise<Result<{ rows: AudienceRow[]; past: number }>> {
  const now = services.clock().getTime();
  const rows: AudienceRow[] = [];
  let past = 0;
  const limit = 500;
  for (let offset = 0; ; offset += limit) {
    const page = await listAppointments(scope, { from: w.from, to: w.to, limit, offset });
    for (const a of page) {
      if (a.status !== 'booked' && a.status !== 'confirmed') continue;
      const startsAt = Date.parse(a.startsAt);
      if (startsAt <= now) {
        past++;
        continue;
      }
      rows.push({ patientId: a.patientId, appointmentId: a.id, dueAt: new Date(Math.max(now, startsAt - w.remindBefore * 3_600_000)) });
    }
    if (rows.length > MAX_AUDIENCE) return tooMany('appointments');
    if (page.length < limit) return { ok: true, value: { rows, past } };
  }
}

/** Patients whose recall date is in [from, to] (from 2000-01-01 and up to today, unless said). */
async function recallRows(services: AudienceDeps, scope: PracticeScope, w: { from?: string | undefined; to?: string | undefined }): Promise<Result<AudienceRow[]>> {
  const window = { from: w.from ?? '2000-01-01', to: w.to ?? services.clock().toISOString().slice(0, 10) };
  const rows: AudienceRow[] = [];
  let after: string | undefined;
  for (;;) {
    const ids = await patientsDueForRecall(scope, { ...window, limit: RECALL_PAGE_MAX, ...(after ? { after } : {}) });
    for (const id of ids) rows.push({ patientId: id, appointmentId: null, dueAt: null });
    if (rows.length > MAX_AUDIENCE) return tooMany('recall');
    after = ids.at(-1);
    if (ids.length < RECALL_PAGE_MAX) return { ok: true, value: rows };
  }
}

/** An audience's rows, and (appointments) how many were left out because they had already started. */
async function resolve(services: AudienceDeps, scope: PracticeScope, body: AudienceBodyValue): Promise<Result<{ rows: AudienceRow[]; past?: number }>> {
  const rowsOf = (r: Result<AudienceRow[]>): Result<{ rows: AudienceRow[] }> => (r.ok ? { ok: true, value: { rows: r.value } } : r);
  if ('csv' in body) {
    const parsed = parseRecipientRows(body.csv);
    if (!parsed.ok) return parsed;
    if (parsed.value.length > MAX_AUDIENCE) return tooMany('csv');
    return { ok: true, value: { rows: parsed.value.flatMap((r) => (r.patientId ? [{ patientId: r.patientId, appointmentId: r.appointmentId ?? null, dueAt: null }] : [])) } };
  }
  if ('patientIds' in body) return { ok: true, value: { rows: body.patientIds.map((patientId) => ({ patientId, appointmentId: null, dueAt: null })) } };
  if ('search' in body) return rowsOf(await searchRows(services, scope, body.search));
  if ('appointments' in body) return appointmentRows(services, scope, body.appointments);
  return rowsOf(await recallRows(services, scope, body.recall));
}

/** What an audience add answers: added, unknown to the practice, already recipients; an appointments audience also `past` (already started, left out). */
export type AudienceAnswer = { added: number; unknown: number; duplicate: number; past?: number };

/** Adds an audience of any kind to a draft sequence: how many added, unknown to the practice, already recipients. */
export async function addAudienceOf(services: AudienceDeps, scope: PracticeScope, sequenceId: string, body: AudienceBodyValue, actor: string): Promise<Result<AudienceAnswer>> {
  const sequence = await sequenceOf(scope, sequenceId);
  if (!sequence) return { ok: false, reason: 'not_found', message: 'sequence not found' };
  if (sequence.state !== 'draft') return { ok: false, reason: 'conflict', message: `cannot change the audience of a sequence that is ${sequence.state}` };
  const resolved = await resolve(services, scope, body);
  if (!resolved.ok) return resolved;
  const { rows, past } = resolved.value;
  // A CSV's cells are not checked on the way in: an id that is not a UUID is unknown, as is an appointment not the patient's own here.
  const isUuid = (v: string): boolean => UUID.safeParse(v).success;
  const known = await knownPatientIds(scope, rows.map((r) => r.patientId).filter(isUuid));
  const appointments = await appointmentPatients(scope, rows.flatMap((r) => (r.appointmentId && isUuid(r.appointmentId) ? [r.appointmentId] : [])));
  const listed = rows.filter((r) => known.has(r.patientId) && (r.appointmentId === null || appointments.get(r.appointmentId) === r.patientId));
  const inserted = await insertDraftRecipients(scope, sequenceId, listed);
  if (!('added' in inserted)) return inserted.state ? { ok: false, reason: 'conflict', message: `cannot change the audience of a sequence that is ${inserted.state}` } : { ok: false, reason: 'not_found', message: 'sequence not found' };
  const added = inserted.added;
  const counts = { added: added.size, unknown: rows.length - listed.length, duplicate: listed.length - added.size, ...(past === undefined ? {} : { past }) };
  await services.audit({ action: AuditAction.SequenceRecipientsAdded, actor, practiceId: scope.practiceId, subjectId: sequenceId, details: { kind: audienceKind(body), ...counts } });
  return { ok: true, value: counts };
}
