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
import { appointmentPatients, insertRecipients, sequenceOf } from './store.js';

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
/** An appointments audience reaches at most this many appointments (one request). */
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

/** Every page of the patients API's search (the same schema and query), ids only. */
async function searchRows(services: AudienceDeps, scope: PracticeScope, search: z.infer<typeof PatientSearch>): Promise<AudienceRow[]> {
  const rows: AudienceRow[] = [];
  const limit = 100;
  for (let offset = 0; offset <= 100_000; offset += limit) {
    const page = await searchPatients(scope, services.keyring, { ...search, limit, offset });
    for (const p of page) rows.push({ patientId: p.id, appointmentId: null, dueAt: null });
    if (page.length < limit || rows.length >= MAX_AUDIENCE) break;
  }
  return rows;
}

/** Booked or confirmed appointments starting in [from, to): each one's patient, due `remindBefore` hours before its start. */
async function appointmentRows(scope: PracticeScope, w: { from: string; to: string; remindBefore: number }): Promise<AudienceRow[]> {
  const rows: AudienceRow[] = [];
  const limit = 500;
  for (let offset = 0; rows.length < MAX_AUDIENCE; offset += limit) {
    const page = await listAppointments(scope, { from: w.from, to: w.to, limit, offset });
    for (const a of page) {
      if (a.status !== 'booked' && a.status !== 'confirmed') continue;
      rows.push({ patientId: a.patientId, appointmentId: a.id, dueAt: new Date(Date.parse(a.startsAt) - w.remindBefore * 3_600_000) });
    }
    if (page.length < limit) break;
  }
  return rows;
}

/** Patients whose recall date is in [from, to] (from 2000-01-01 and up to today, unless said). */
async function recallRows(services: AudienceDeps, scope: PracticeScope, w: { from?: string | undefined; to?: string | undefined }): Promise<AudienceRow[]> {
  const window = { from: w.from ?? '2000-01-01', to: w.to ?? services.clock().toISOString().slice(0, 10) };
  const rows: AudienceRow[] = [];
  let after: string | undefined;
  while (rows.length < MAX_AUDIENCE) {
    const ids = await patientsDueForRecall(scope, { ...window, limit: RECALL_PAGE_MAX, ...(after ? { after } : {}) });
    for (const id of ids) rows.push({ patientId: id, appointmentId: null, dueAt: null });
    after = ids.at(-1);
    if (ids.length < RECALL_PAGE_MAX) break;
  }
  return rows;
}

async function resolve(services: AudienceDeps, scope: PracticeScope, body: AudienceBodyValue): Promise<Result<AudienceRow[]>> {
  if ('csv' in body) {
    const parsed = parseRecipientRows(body.csv);
    if (!parsed.ok) return parsed;
    return { ok: true, value: parsed.value.flatMap((r) => (r.patientId ? [{ patientId: r.patientId, appointmentId: r.appointmentId ?? null, dueAt: null }] : [])) };
  }
  if ('patientIds' in body) return { ok: true, value: body.patientIds.map((patientId) => ({ patientId, appointmentId: null, dueAt: null })) };
  if ('search' in body) return { ok: true, value: await searchRows(services, scope, body.search) };
  if ('appointments' in body) return { ok: true, value: await appointmentRows(scope, body.appointments) };
  return { ok: true, value: await recallRows(services, scope, body.recall) };
}

/** Adds an audience of any kind to a draft sequence: how many added, unknown to the practice, already recipients. */
export async function addAudienceOf(services: AudienceDeps, scope: PracticeScope, sequenceId: string, body: AudienceBodyValue, actor: string): Promise<Result<{ added: number; unknown: number; duplicate: number }>> {
  const sequence = await sequenceOf(scope, sequenceId);
  if (!sequence) return { ok: false, reason: 'not_found', message: 'sequence not found' };
  if (sequence.state !== 'draft') return { ok: false, reason: 'conflict', message: `cannot change the audience of a sequence that is ${sequence.state}` };
  const resolved = await resolve(services, scope, body);
  if (!resolved.ok) return resolved;
  const rows = resolved.value;
  // A CSV's cells are not checked on the way in: an id that is not a UUID is unknown, as is an appointment not the patient's own here.
  const isUuid = (v: string): boolean => UUID.safeParse(v).success;
  const known = await knownPatientIds(scope, rows.map((r) => r.patientId).filter(isUuid));
  const appointments = await appointmentPatients(scope, rows.flatMap((r) => (r.appointmentId && isUuid(r.appointmentId) ? [r.appointmentId] : [])));
  const listed = rows.filter((r) => known.has(r.patientId) && (r.appointmentId === null || appointments.get(r.appointmentId) === r.patientId));
  const added = await insertRecipients(scope, sequenceId, listed);
  const counts = { added: added.size, unknown: rows.length - listed.length, duplicate: listed.length - added.size };
  await services.audit({ action: AuditAction.SequenceRecipientsAdded, actor, practiceId: scope.practiceId, subjectId: sequenceId, details: { kind: audienceKind(body), ...counts } });
  return { ok: true, value: counts };
}
