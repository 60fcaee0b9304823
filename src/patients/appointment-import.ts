import type { Readable } from 'node:stream';
import { sql } from 'kysely';
import { z } from 'zod';
import type { Db } from '../adapters/postgres.js';
import type { Keyring } from '../adapters/keyring.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { MrnSchema, mrnIndex } from './identifiers.js';
import { APPOINTMENT_STATUSES } from './appointments.js';
import { ImportReportBuilder, runImport, streamRows, type CsvShape, type ImportReport, type ValidRow } from './csv-import.js';
import type { ImportOptions } from './patient-import.js';

/**
 * `POST /api/appointments/import`: appointments from CSV, the patient found by MRN (a merged
 * record's appointments go to its survivor), the provider by id or display name, upserted by
 * patient and start. One transaction, as for patients: an invalid row leaves nothing written.
 */

export const APPOINTMENT_COLUMNS = ['mrn', 'starts_at', 'status', 'provider', 'location'] as const;

const AppointmentRow = z.strictObject({
  mrn: MrnSchema,
  starts_at: z.iso.datetime({ offset: true, message: 'expected an ISO 8601 instant with its offset, such as 2026-12-01T09:30:00-05:00' }),
  status: z.enum(APPOINTMENT_STATUSES).default('booked'),
  provider: z.string().max(120).refine((v) => !v.includes('\u0000'), { message: 'must not contain a NUL character (U+0000)' }).optional(),
  location: z.string().min(1).max(120).refine((v) => !v.includes('\u0000'), { message: 'must not contain a NUL character (U+0000)' }).optional(),
});
type AppointmentRowValue = z.infer<typeof AppointmentRow>;

const SHAPE: CsvShape<AppointmentRowValue> = { columns: APPOINTMENT_COLUMNS, required: ['mrn', 'starts_at'], schema: AppointmentRow };

/** The practice's providers by id and by display name (lower-cased): a handful, read once per import. */
async function providerLookup(db: Db, practiceId: string): Promise<Map<string, string>> {
  const rows = await db.selectFrom('providers').select(['id', 'display_name']).where('practice_id', '=', practiceId).execute();
  const map = new Map<string, string>();
  for (const r of rows) {
    map.set(r.id, r.id);
    map.set(r.display_name.trim().toLowerCase(), r.id);
  }
  return map;
}

export async function importAppointments(scope: PracticeScope, k: Keyring, source: Readable, opts: ImportOptions): Promise<ImportReport> {
  const report = new ImportReportBuilder('appointments', opts.dryRun);
  const seen = new Map<string, number>();
  const run = async (db: Db, write: boolean): Promise<void> => {
    const providers = await providerLookup(db, scope.practiceId);
    await streamRows(source, SHAPE, report, async (batch) => {
      const planned = await planBatch(db, scope.practiceId, k, batch, report, seen, providers);
      if (write && report.report.invalid === 0 && planned.length) await writeBatch(db, planned);
      opts.onBatch?.(report.report.rows);
    });
  };
  return runImport(scope, report, opts.dryRun, run, opts.onCommit);
}

interface PlannedAppointment {
  practice_id: string;
  patient_id: string;
  starts_at: Date;
  status: AppointmentRowValue['status'];
  provider_id: string | null;
  location_name: string | null;
}

async function planBatch(
  db: Db,
  practiceId: string,
  k: Keyring,
  batch: ValidRow<AppointmentRowValue>[],
  report: ImportReportBuilder,
  seen: Map<string, number>,
  providers: Map<string, string>,
): Promise<PlannedAppointment[]> {
  const indexes = batch.map((r) => mrnIndex(k, r.data.mrn));
  const patients = await db
    .selectFrom('patients')
    .select(['id', 'mrn_index', 'active', 'merged_into'])
    .where('practice_id', '=', practiceId)
    .where(sql<boolean>`mrn_index = ANY(${indexes}::text[])`)
    .execute();
  const byMrn = new Map(patients.map((p) => [p.mrn_index, p]));
  const rows: Array<PlannedAppointment & { row: number }> = [];
  batch.forEach((r, i) => {
    const patient = byMrn.get(indexes[i] ?? '');
    const patientId = patient ? (patient.merged_into ?? (patient.active ? patient.id : null)) : null;
    if (!patientId) {
      report.invalid(r.row, [{ field: 'mrn', reason: patient ? 'the patient with this MRN is inactive' : 'no patient with this MRN' }]);
      return;
    }
    const providerId = r.data.provider ? providers.get(r.data.provider.trim().toLowerCase()) : null;
    if (providerId === undefined) {
      report.invalid(r.row, [{ field: 'provider', reason: 'no provider with this id or name' }]);
      return;
    }
    rows.push({ row: r.row, practice_id: practiceId, patient_id: patientId, starts_at: new Date(r.data.starts_at), status: r.data.status, provider_id: providerId, location_name: r.data.location ?? null });
  });
  const existing = new Set(
    rows.length
      ? (
          await db
            .selectFrom('appointments')
            .select(['patient_id', 'starts_at'])
            .where('practice_id', '=', practiceId)
            .where(sql<boolean>`(patient_id, starts_at) IN (SELECT * FROM unnest(${rows.map((r) => r.patient_id)}::uuid[], ${rows.map((r) => r.starts_at.toISOString())}::timestamptz[]))`)
            .execute()
        ).map((a) => `${a.patient_id}@${a.starts_at.toISOString()}`)
      : [],
  );
  const planned: PlannedAppointment[] = [];
  for (const { row, ...a } of rows) {
    const key = `${a.patient_id}@${a.starts_at.toISOString()}`;
    const earlier = seen.get(key);
    if (earlier !== undefined) {
      report.duplicate(row, 'starts_at', `the same patient and start as row ${earlier}`);
      continue;
    }
    seen.set(key, row);
    if (existing.has(key)) report.report.updated += 1;
    else report.report.created += 1;
    planned.push(a);
  }
  return planned;
}

async function writeBatch(db: Db, planned: PlannedAppointment[]): Promise<void> {
  await db
    .insertInto('appointments')
    .values(planned)
    .onConflict((oc) =>
      oc.columns(['practice_id', 'patient_id', 'starts_at']).doUpdateSet((eb) => ({
        status: eb.ref('excluded.status'),
        provider_id: eb.ref('excluded.provider_id'),
        location_name: eb.ref('excluded.location_name'),
        updated_at: new Date(),
      })),
    )
    .execute();
}
