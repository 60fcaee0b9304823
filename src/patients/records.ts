import { sql } from 'kysely';
import { z } from 'zod';
import type { Db } from '../adapters/postgres.js';
import type { Keyring } from '../adapters/keyring.js';
import type { PhoneKind } from '../adapters/db-schema.js';
import type { PracticeScope } from '../tenancy/scope.js';
import {
  DateOfBirthSchema,
  dobIndex,
  EmailSchema,
  emailIndex,
  E164Schema,
  familyNameIndex,
  fullNameIndex,
  LanguageSchema,
  MrnSchema,
  mrnIndex,
  NameSchema,
  PhoneEntrySchema,
  RecallDueSchema,
  TimeZoneSchema,
  UsStateSchema,
} from './identifiers.js';
import { createPatient, indexesOf, openField, phoneIndex, pinHash, sealField, type NewPatient, type SealedField } from './store.js';

/**
 * Patient records for the admin API (request path: every function takes the request's scope).
 * Search is an exact match on blind indexes, so no request decrypts more than the page it returns.
 */

const PatientFields = {
  firstName: NameSchema.optional(),
  lastName: NameSchema.optional(),
  dateOfBirth: DateOfBirthSchema,
  mrn: MrnSchema.optional(),
  /** Shorthand for one preferred mobile number. */
  phone: E164Schema.optional(),
  phones: z.array(PhoneEntrySchema).min(1).max(5).optional(),
  pin: z.string().regex(/^\d{4,6}$/, { message: 'expected 4 to 6 digits' }).optional(),
  preferredLanguage: LanguageSchema.optional(),
  usState: UsStateSchema.optional(),
  timeZone: TimeZoneSchema.optional(),
  /** For notices only (src/outreach/email-notice.ts); sealed, found by blind index, never logged. */
  email: EmailSchema.optional(),
  /** When the patient is due for recall (YYYY-MM-DD): the sequences' recall audience (./recall.ts). */
  recallDue: RecallDueSchema.optional(),
};

/** Numbers as given: at most one preferred, no number twice. */
function checkPhones(v: { phone?: string | undefined; phones?: Array<{ number: string; preferred?: boolean | undefined }> | undefined }, ctx: z.RefinementCtx, required: boolean): void {
  if (v.phone && v.phones) ctx.addIssue({ code: 'custom', path: ['phones'], message: 'give phone or phones, not both' });
  if (required && !v.phone && !v.phones) ctx.addIssue({ code: 'custom', path: ['phones'], message: 'at least one number is required (phone or phones)' });
  if (v.phones) {
    if (v.phones.filter((p) => p.preferred).length > 1) ctx.addIssue({ code: 'custom', path: ['phones'], message: 'at most one number may be preferred' });
    if (new Set(v.phones.map((p) => p.number)).size !== v.phones.length) ctx.addIssue({ code: 'custom', path: ['phones'], message: 'a number is listed twice' });
  }
}

export const PatientInput = z.strictObject(PatientFields).superRefine((v, ctx) => checkPhones(v, ctx, true));
export type PatientInputValue = z.infer<typeof PatientInput>;

export const PatientPatch = z
  .strictObject({
    ...PatientFields,
    dateOfBirth: DateOfBirthSchema.optional(),
    firstName: NameSchema.nullable().optional(),
    lastName: NameSchema.nullable().optional(),
    mrn: MrnSchema.nullable().optional(),
    preferredLanguage: LanguageSchema.nullable().optional(),
    usState: UsStateSchema.nullable().optional(),
    timeZone: TimeZoneSchema.nullable().optional(),
    email: EmailSchema.nullable().optional(),
    recallDue: RecallDueSchema.nullable().optional(),
  })
  .superRefine((v, ctx) => {
    checkPhones(v, ctx, false);
    if (Object.keys(v).length === 0) ctx.addIssue({ code: 'custom', path: [], message: 'expected at least one field to change' });
  });
export type PatientPatchValue = z.infer<typeof PatientPatch>;

/** Search in a body (never a URL: these are PHI). Criteria combine (AND); at least one. */
export const PatientSearch = z
  .strictObject({
    name: NameSchema.optional(),
    dateOfBirth: DateOfBirthSchema.optional(),
    phone: E164Schema.optional(),
    mrn: MrnSchema.optional(),
    includeInactive: z.boolean().default(false),
    limit: z.number().int().min(1).max(100).default(25),
    offset: z.number().int().min(0).max(100_000).default(0),
  })
  .refine((v) => v.name !== undefined || v.dateOfBirth !== undefined || v.phone !== undefined || v.mrn !== undefined, {
    path: ['name'],
    message: 'give at least one of name, dateOfBirth, phone, mrn',
  });
export type PatientSearchValue = z.infer<typeof PatientSearch>;

export const PatientListQuery = z.strictObject({
  includeInactive: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  limit: z.coerce.number().int().min(1).max(100).default(25),
  offset: z.coerce.number().int().min(0).max(100_000).default(0),
});

/** The preferred number first, then the others: as createPatient takes them. */
export function phonesOf(v: { phone?: string | undefined; phones?: Array<{ number: string; kind: PhoneKind; preferred?: boolean | undefined }> | undefined }): { phone: string; phoneKind: PhoneKind; otherPhones: Array<{ phone: string; kind: PhoneKind }> } | null {
  if (v.phone) return { phone: v.phone, phoneKind: 'mobile', otherPhones: [] };
  if (!v.phones?.length) return null;
  const preferred = v.phones.find((p) => p.preferred) ?? v.phones[0];
  if (!preferred) return null;
  return { phone: preferred.number, phoneKind: preferred.kind, otherPhones: v.phones.filter((p) => p !== preferred).map((p) => ({ phone: p.number, kind: p.kind })) };
}

// ---------------------------------------------------------------------------

export interface PatientSummary {
  id: string;
  firstName: string | null;
  lastName: string | null;
  dateOfBirth: string;
  mrn: string | null;
  active: boolean;
  mergedInto: string | null;
}

export interface PatientView extends PatientSummary {
  phones: Array<{ id: string; number: string | null; kind: PhoneKind; preferred: boolean }>;
  preferredLanguage: string | null;
  usState: string | null;
  timeZone: string | null;
  email: string | null;
  recallDue: string | null;
  createdAt: string;
  updatedAt: string;
}

const SUMMARY_COLUMNS = ['id', 'first_name_enc', 'last_name_enc', 'dob_enc', 'mrn_enc', 'active', 'merged_into'] as const;
type SummaryRow = { id: string; first_name_enc: Buffer | null; last_name_enc: Buffer | null; dob_enc: Buffer; mrn_enc: Buffer | null; active: boolean; merged_into: string | null };

async function summarise(k: Keyring, practiceId: string, r: SummaryRow): Promise<PatientSummary> {
  const open = (field: SealedField, c: Buffer | null): Promise<string | null> => (c ? openField(k, field, c, r.id, practiceId) : Promise.resolve(null));
  const [firstName, lastName, dateOfBirth, mrn] = await Promise.all([open('first_name', r.first_name_enc), open('last_name', r.last_name_enc), openField(k, 'dob', r.dob_enc, r.id, practiceId), open('mrn', r.mrn_enc)]);
  return { id: r.id, firstName, lastName, dateOfBirth, mrn, active: r.active, mergedInto: r.merged_into };
}

/** A patient this one would duplicate: the same MRN (any record, active or not), or the same full name and date of birth (active). */
export async function findDuplicate(scope: PracticeScope, k: Keyring, p: Pick<NewPatient, 'firstName' | 'lastName' | 'dateOfBirth' | 'mrn'>, except?: string): Promise<string | null> {
  const ix = indexesOf(k, p);
  let q = scope.db
    .selectFrom('patients')
    .select('id')
    .where('practice_id', '=', scope.practiceId)
    .where((eb) => {
      const byName = ix.full_name_index ? eb.and([eb('active', '=', true), eb('full_name_index', '=', ix.full_name_index), eb('dob_index', '=', ix.dob_index)]) : null;
      const byMrn = ix.mrn_index ? eb('mrn_index', '=', ix.mrn_index) : null;
      const either = [byName, byMrn].filter((x) => x !== null);
      return either.length ? eb.or(either) : sql<boolean>`false`;
    });
  if (except) q = q.where('id', '<>', except);
  // The MRN match first: it is the stronger identity.
  const row = await q.orderBy(sql`(mrn_index IS NOT DISTINCT FROM ${ix.mrn_index})`, 'desc').orderBy('created_at').limit(1).executeTakeFirst();
  return row?.id ?? null;
}

/** A new patient, unless one with the same MRN or name and date of birth exists (findDuplicate): then its id. */
export async function addPatient(scope: PracticeScope, k: Keyring, input: PatientInputValue): Promise<{ ok: true; id: string } | { ok: false; existingId: string }> {
  const phones = phonesOf(input);
  if (!phones) throw new Error('PatientInput guarantees a number');
  const existing = await findDuplicate(scope, k, input);
  if (existing) return { ok: false, existingId: existing };
  const { phone: _p, phones: _ps, ...rest } = input;
  try {
    const id = await createPatient(scope.db, k, { ...rest, ...phones, practiceId: scope.practiceId } as NewPatient);
    return { ok: true, id };
  } catch (err) {
    // Same MRN as an inactive (merged or deactivated) record: the unique constraint.
    if ((err as { code?: unknown }).code === '23505' && input.mrn) {
      const row = await scope.db.selectFrom('patients').select('id').where('practice_id', '=', scope.practiceId).where('mrn_index', '=', mrnIndex(k, input.mrn)).executeTakeFirst();
      if (row) return { ok: false, existingId: row.id };
    }
    throw err;
  }
}

/** One page of the practice's patients, oldest first; only this page is decrypted. */
export async function listPatients(scope: PracticeScope, k: Keyring, q: { includeInactive: boolean; limit: number; offset: number }): Promise<PatientSummary[]> {
  let query = scope.db.selectFrom('patients').select(SUMMARY_COLUMNS).where('practice_id', '=', scope.practiceId);
  if (!q.includeInactive) query = query.where('active', '=', true);
  const rows = await query.orderBy('created_at').orderBy('id').limit(q.limit).offset(q.offset).execute();
  return Promise.all(rows.map((r) => summarise(k, scope.practiceId, r)));
}

/** Exact matches on the blind indexes of the criteria given (a name matches the full name or the family name alone). */
export async function searchPatients(scope: PracticeScope, k: Keyring, s: PatientSearchValue): Promise<PatientSummary[]> {
  let query = scope.db.selectFrom('patients').select(SUMMARY_COLUMNS).where('practice_id', '=', scope.practiceId);
  if (!s.includeInactive) query = query.where('active', '=', true);
  if (s.name !== undefined) {
    const name = s.name;
    query = query.where((eb) => eb.or([eb('full_name_index', '=', fullNameIndex(k, name, undefined)), eb('family_name_index', '=', familyNameIndex(k, name))]));
  }
  if (s.dateOfBirth !== undefined) query = query.where('dob_index', '=', dobIndex(k, s.dateOfBirth));
  if (s.mrn !== undefined) query = query.where('mrn_index', '=', mrnIndex(k, s.mrn));
  if (s.phone !== undefined) {
    const index = phoneIndex(k, s.phone);
    query = query.where(({ exists, selectFrom }) =>
      exists(selectFrom('patient_phones as n').select(sql`1`.as('one')).whereRef('n.patient_id', '=', 'patients.id').where('n.practice_id', '=', scope.practiceId).where('n.phone_index', '=', index)),
    );
  }
  const rows = await query.orderBy('created_at').orderBy('id').limit(s.limit).offset(s.offset).execute();
  return Promise.all(rows.map((r) => summarise(k, scope.practiceId, r)));
}

export async function readPatient(scope: PracticeScope, k: Keyring, id: string): Promise<PatientView | null> {
  const row = await scope.db
    .selectFrom('patients')
    .select([...SUMMARY_COLUMNS, 'preferred_language', 'us_state', 'time_zone', 'email_enc', 'created_at', 'updated_at', sql<string | null>`to_char(recall_due, 'YYYY-MM-DD')`.as('recall_due')])
    .where('id', '=', id)
    .where('practice_id', '=', scope.practiceId)
    .executeTakeFirst();
  if (!row) return null;
  const numbers = await scope.db
    .selectFrom('patient_phones')
    .select(['id', 'kind', 'phone_enc', 'sealed_for', 'preferred'])
    .where('patient_id', '=', id)
    .where('practice_id', '=', scope.practiceId)
    .orderBy('preferred', 'desc')
    .orderBy('created_at')
    .execute();
  const phones = await Promise.all(
    numbers.map(async (n) => ({ id: n.id, number: n.phone_enc ? await openField(k, 'phone', n.phone_enc, n.sealed_for, scope.practiceId) : null, kind: n.kind, preferred: n.preferred })),
  );
  return {
    ...(await summarise(k, scope.practiceId, row)),
    phones,
    preferredLanguage: row.preferred_language,
    usState: row.us_state,
    timeZone: row.time_zone,
    email: row.email_enc ? await openField(k, 'email', row.email_enc, id, scope.practiceId) : null,
    recallDue: row.recall_due,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export type PatientChange = { ok: true; changed: string[] } | { ok: false; reason: 'not_found' } | { ok: false; reason: 'conflict'; existingId: string };

/**
 * Edits a patient: changed fields re-sealed and re-indexed. New numbers replace the old ones
 * (the first preferred unless one says so). The fields changed (names only) for the audit row.
 */
export async function updatePatient(scope: PracticeScope, k: Keyring, id: string, patch: PatientPatchValue): Promise<PatientChange> {
  // Inside a caller's transaction (the FHIR import's) it runs in that one; otherwise in its own.
  const run = async (trx: Db): Promise<PatientChange> => {
    const current = await trx.selectFrom('patients').select(['first_name_enc', 'last_name_enc', 'dob_enc', 'mrn_enc']).where('id', '=', id).where('practice_id', '=', scope.practiceId).forUpdate().executeTakeFirst();
    if (!current) return { ok: false, reason: 'not_found' } as const;
    const open = (field: SealedField, c: Buffer | null): Promise<string | undefined> => (c ? openField(k, field, c, id, scope.practiceId) : Promise.resolve(undefined));
    // The identifiers after the change: what the indexes and the duplicate check are computed from.
    const next = {
      firstName: patch.firstName === undefined ? await open('first_name', current.first_name_enc) : (patch.firstName ?? undefined),
      lastName: patch.lastName === undefined ? await open('last_name', current.last_name_enc) : (patch.lastName ?? undefined),
      dateOfBirth: patch.dateOfBirth ?? (await openField(k, 'dob', current.dob_enc, id, scope.practiceId)),
      mrn: patch.mrn === undefined ? await open('mrn', current.mrn_enc) : (patch.mrn ?? undefined),
    };
    const txScope = { ...scope, db: trx } as PracticeScope;
    const clash = await findDuplicate(txScope, k, next, id);
    if (clash) return { ok: false, reason: 'conflict', existingId: clash } as const;
    const seal = (field: SealedField, v: string | null | undefined): Promise<Buffer | null> => (v ? sealField(k, field, v, id, scope.practiceId) : Promise.resolve(null));
    const set: Record<string, unknown> = { ...indexesOf(k, next), updated_at: new Date() };
    if (patch.firstName !== undefined) set.first_name_enc = await seal('first_name', patch.firstName);
    if (patch.lastName !== undefined) set.last_name_enc = await seal('last_name', patch.lastName);
    if (patch.dateOfBirth !== undefined) set.dob_enc = await seal('dob', patch.dateOfBirth);
    if (patch.mrn !== undefined) set.mrn_enc = await seal('mrn', patch.mrn ? patch.mrn.toUpperCase() : null);
    if (patch.pin !== undefined) set.pin_hash = pinHash(k, id, patch.pin);
    if (patch.preferredLanguage !== undefined) set.preferred_language = patch.preferredLanguage;
    if (patch.usState !== undefined) set.us_state = patch.usState;
    if (patch.timeZone !== undefined) set.time_zone = patch.timeZone;
    if (patch.recallDue !== undefined) set.recall_due = patch.recallDue;
    if (patch.email !== undefined) {
      set.email_enc = await seal('email', patch.email);
      set.email_index = patch.email ? emailIndex(k, patch.email) : null;
    }
    const phones = phonesOf(patch);
    if (phones) {
      const preferredIndex = phoneIndex(k, phones.phone);
      const preferredEnc = await sealField(k, 'phone', phones.phone, id, scope.practiceId);
      set.phone_index = preferredIndex;
      set.phone_enc = preferredEnc;
      await trx.deleteFrom('patient_phones').where('patient_id', '=', id).where('practice_id', '=', scope.practiceId).execute();
      const rows = [{ practice_id: scope.practiceId, patient_id: id, kind: phones.phoneKind, phone_index: preferredIndex, phone_enc: preferredEnc, sealed_for: id, preferred: true }];
      for (const other of phones.otherPhones) {
        rows.push({ practice_id: scope.practiceId, patient_id: id, kind: other.kind, phone_index: phoneIndex(k, other.phone), phone_enc: await sealField(k, 'phone', other.phone, id, scope.practiceId), sealed_for: id, preferred: false });
      }
      await trx.insertInto('patient_phones').values(rows).execute();
    }
    await trx.updateTable('patients').set(set).where('id', '=', id).where('practice_id', '=', scope.practiceId).execute();
    return { ok: true, changed: Object.keys(patch).sort() } as const;
  };
  return scope.db.isTransaction ? run(scope.db) : scope.db.transaction().execute(run);
}

/** Deactivates a patient (kept, no longer found by number or listed by default); false when there is none. */
export async function deactivatePatient(scope: PracticeScope, id: string): Promise<boolean> {
  const r = await scope.db.updateTable('patients').set({ active: false, updated_at: new Date() }).where('id', '=', id).where('practice_id', '=', scope.practiceId).executeTakeFirst();
  return r.numUpdatedRows > 0n;
}
