import type { Readable } from 'node:stream';
import { sql } from 'kysely';
import { z } from 'zod';
import type { Db } from '../adapters/postgres.js';
import type { Keyring } from '../adapters/keyring.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { DateOfBirthSchema, E164Schema, EmailSchema, LanguageSchema, MrnSchema, NameSchema, normaliseMrn, RecallDueSchema, TimeZoneSchema, UsStateSchema } from './identifiers.js';
import { indexesOf, sealPatient, type NewPatient } from './store.js';
import { ImportReportBuilder, runImport, streamRows, type CsvShape, type ImportReport, type ValidRow } from './csv-import.js';

/**
 * `POST /api/patients/import` and `npm run patients:import`: patients from CSV, upserted by MRN.
 * One transaction per import, so a failure (or any invalid row) leaves nothing written; a dry run
 * reads the same way and writes nothing. A row is `updated` when its MRN is on file, `created`
 * when it is new, `duplicate` when its MRN repeats an earlier row or, with a new MRN, its name and
 * date of birth are an active patient's (that patient's id in the report) or an earlier row's.
 */

export const PATIENT_COLUMNS = ['mrn', 'first_name', 'last_name', 'date_of_birth', 'phone', 'home_phone', 'preferred_phone', 'preferred_language', 'us_state', 'time_zone', 'email', 'recall_due'] as const;

const PatientRow = z
  .strictObject({
    mrn: MrnSchema,
    first_name: NameSchema.optional(),
    last_name: NameSchema.optional(),
    date_of_birth: DateOfBirthSchema,
    phone: E164Schema.optional(),
    home_phone: E164Schema.optional(),
    preferred_phone: z.enum(['mobile', 'home']).optional(),
    preferred_language: LanguageSchema.optional(),
    us_state: UsStateSchema.optional(),
    time_zone: TimeZoneSchema.optional(),
    email: EmailSchema.optional(),
    recall_due: RecallDueSchema.optional(),
  })
  .superRefine((v, ctx) => {
    if (!v.phone && !v.home_phone) ctx.addIssue({ code: 'custom', path: ['phone'], message: 'a phone or home_phone is required' });
    if (v.preferred_phone === 'home' && !v.home_phone) ctx.addIssue({ code: 'custom', path: ['preferred_phone'], message: 'home is preferred but home_phone is empty' });
  });
type PatientRowValue = z.infer<typeof PatientRow>;

const SHAPE: CsvShape<PatientRowValue> = { columns: PATIENT_COLUMNS, required: ['mrn', 'date_of_birth'], schema: PatientRow };

function toNewPatient(practiceId: string, r: PatientRowValue): NewPatient {
  const homePreferred = r.preferred_phone === 'home' || !r.phone;
  const preferred = homePreferred ? { phone: r.home_phone ?? '', phoneKind: 'home' as const } : { phone: r.phone ?? '', phoneKind: 'mobile' as const };
  const other = homePreferred ? (r.phone ? [{ phone: r.phone, kind: 'mobile' as const }] : []) : r.home_phone ? [{ phone: r.home_phone, kind: 'home' as const }] : [];
  return {
    practiceId,
    ...preferred,
    otherPhones: other,
    dateOfBirth: r.date_of_birth,
    mrn: normaliseMrn(r.mrn),
    ...(r.first_name ? { firstName: r.first_name } : {}),
    ...(r.last_name ? { lastName: r.last_name } : {}),
    ...(r.preferred_language ? { preferredLanguage: r.preferred_language } : {}),
    ...(r.us_state ? { usState: r.us_state } : {}),
    ...(r.time_zone ? { timeZone: r.time_zone } : {}),
    ...(r.email ? { email: r.email } : {}),
    ...(r.recall_due ? { recallDue: r.recall_due } : {}),
  };
}

export interface ImportOptions {
  dryRun: boolean;
  /** Called after each batch with the rows read so far (progress; the tests watch memory with it). */
  onBatch?: (rowsRead: number) => void;
  /** Runs in the import's transaction, after the last row, when it is about to commit (see runImport). */
  onCommit?: (db: Db, report: ImportReport) => Promise<void>;
}

export async function importPatients(scope: PracticeScope, k: Keyring, source: Readable, opts: ImportOptions): Promise<ImportReport> {
  const report = new ImportReportBuilder('patients', opts.dryRun);
  // Rows seen so far, by blind index only: an MRN's first row, a name-and-birth-date's first row.
  const seenMrn = new Map<string, number>();
  const seenPerson = new Map<string, number>();

  const run = async (db: Db, write: boolean): Promise<void> => {
    await streamRows(source, SHAPE, report, async (batch) => {
      const planned = await planBatch(db, scope.practiceId, k, batch, report, seenMrn, seenPerson);
      // Once a row is invalid nothing will be committed: keep reading (to report) but stop sealing.
      if (write && report.report.invalid === 0 && planned.length) await writeBatch(db, scope.practiceId, k, planned);
      opts.onBatch?.(report.report.rows);
    });
  };

  return runImport(scope, report, opts.dryRun, run, opts.onCommit);
}

interface PlannedRow {
  id: string;
  existing: boolean;
  patient: NewPatient;
}

/** Decides each row's outcome (created, updated, duplicate) from the blind indexes; counts it. */
async function planBatch(
  db: Db,
  practiceId: string,
  k: Keyring,
  batch: ValidRow<PatientRowValue>[],
  report: ImportReportBuilder,
  seenMrn: Map<string, number>,
  seenPerson: Map<string, number>,
): Promise<PlannedRow[]> {
  const withIndexes = batch.map((r) => {
    const patient = toNewPatient(practiceId, r.data);
    return { ...r, patient, ix: indexesOf(k, patient) };
  });
  const mrns = withIndexes.map((r) => r.ix.mrn_index ?? '');
  const byMrn = new Map(
    (await db.selectFrom('patients').select(['id', 'mrn_index']).where('practice_id', '=', practiceId).where(sql<boolean>`mrn_index = ANY(${mrns}::text[])`).execute()).map((r) => [r.mrn_index, r.id]),
  );
  const people = withIndexes.filter((r) => r.ix.full_name_index).map((r) => `${r.ix.full_name_index}:${r.ix.dob_index}`);
  const byPerson = new Map(
    (
      await db
        .selectFrom('patients')
        .select(['id', 'full_name_index', 'dob_index'])
        .where('practice_id', '=', practiceId)
        .where('active', '=', true)
        .where(sql<boolean>`(full_name_index || ':' || dob_index) = ANY(${people}::text[])`)
        .orderBy('created_at')
        .execute()
    )
      .reverse()
      .map((r) => [`${r.full_name_index}:${r.dob_index}`, r.id]),
  );

  const planned: PlannedRow[] = [];
  for (const r of withIndexes) {
    const mrn = r.ix.mrn_index ?? '';
    const earlier = seenMrn.get(mrn);
    if (earlier !== undefined) {
      report.duplicate(r.row, 'mrn', `the same MRN as row ${earlier}`);
      continue;
    }
    seenMrn.set(mrn, r.row);
    const existingId = byMrn.get(mrn);
    const person = r.ix.full_name_index ? `${r.ix.full_name_index}:${r.ix.dob_index}` : null;
    if (!existingId && person) {
      const stored = byPerson.get(person);
      if (stored) {
        report.duplicate(r.row, 'mrn', 'a new MRN, but the same name and date of birth as a patient on file', stored);
        continue;
      }
      const earlierPerson = seenPerson.get(person);
      if (earlierPerson !== undefined) {
        report.duplicate(r.row, 'mrn', `a new MRN, but the same name and date of birth as row ${earlierPerson}`);
        continue;
      }
    }
    if (person && !seenPerson.has(person)) seenPerson.set(person, r.row);
    if (existingId) report.report.updated += 1;
    else report.report.created += 1;
    planned.push({ id: existingId ?? crypto.randomUUID(), existing: existingId !== undefined, patient: r.patient });
  }
  return planned;
}

/**
 * Rows of a batch sealed at once. Every field is its own Encryption SDK message: measured on an
 * idle machine, about 675 µs each one after another and about 300 µs each with 50 in flight (the
 * SDK's awaits overlap). A whole batch at once (500 rows, 2,500 messages) only adds memory and
 * scheduling. A row's fields are sealed together, so about five times this many messages are in flight.
 */
export const SEAL_CONCURRENCY = 32;

/** `fn` over `items` with at most `limit` in flight; results in the order of `items`. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next;
      next += 1;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

/** Seals and upserts one batch: one INSERT … ON CONFLICT for the patients, one for their numbers. */
async function writeBatch(db: Db, practiceId: string, k: Keyring, planned: PlannedRow[]): Promise<void> {
  const sealed = await mapBounded(planned, SEAL_CONCURRENCY, (p) => sealPatient(k, p.id, p.patient));
  const written = await db
    .insertInto('patients')
    .values(sealed.map((s) => s.patient))
    .onConflict((oc) =>
      oc
        .constraint('patients_mrn_unique')
        .doUpdateSet((eb) => ({
          first_name_enc: eb.ref('excluded.first_name_enc'),
          last_name_enc: eb.ref('excluded.last_name_enc'),
          dob_enc: eb.ref('excluded.dob_enc'),
          mrn_enc: eb.ref('excluded.mrn_enc'),
          phone_enc: eb.ref('excluded.phone_enc'),
          phone_index: eb.ref('excluded.phone_index'),
          family_name_index: eb.ref('excluded.family_name_index'),
          full_name_index: eb.ref('excluded.full_name_index'),
          dob_index: eb.ref('excluded.dob_index'),
          preferred_language: eb.ref('excluded.preferred_language'),
          us_state: eb.ref('excluded.us_state'),
          time_zone: eb.ref('excluded.time_zone'),
          email_enc: eb.ref('excluded.email_enc'),
          email_index: eb.ref('excluded.email_index'),
          recall_due: eb.ref('excluded.recall_due'),
          updated_at: new Date(),
        }))
        // The ciphertexts name the id they were sealed for: a row taken meanwhile by another id is not overwritten.
        .whereRef('patients.id', '=', 'excluded.id'),
    )
    .returning('id')
    .execute();
  if (written.length !== planned.length) throw new Error('patients import: a record changed meanwhile; try again');
  const existing = planned.filter((p) => p.existing).map((p) => p.id);
  if (existing.length) {
    await db.updateTable('patient_phones').set({ preferred: false }).where('practice_id', '=', practiceId).where(sql<boolean>`patient_id = ANY(${existing}::uuid[])`).execute();
  }
  await db
    .insertInto('patient_phones')
    .values(sealed.flatMap((s) => s.phones))
    .onConflict((oc) =>
      oc.columns(['patient_id', 'phone_index']).doUpdateSet((eb) => ({
        kind: eb.ref('excluded.kind'),
        preferred: eb.ref('excluded.preferred'),
        phone_enc: eb.ref('excluded.phone_enc'),
        sealed_for: eb.ref('excluded.sealed_for'),
      })),
    )
    .execute();
}
