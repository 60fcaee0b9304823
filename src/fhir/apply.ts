import type { Appointment, Patient } from '@medplum/fhirtypes';
import type { Keyring } from '../adapters/keyring.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { mapAppointment, mapPatient, type MappedAppointment, type MappedPatient, type MapProblem } from './map.js';
import { linkedIds, saveLinks, type ResourceLink } from './source-store.js';
import type { FhirRecordSink } from './record-sink.js';

/**
 * Mapped FHIR resources applied to our records, one batch at a time, inside the caller's
 * transaction (an NDJSON file or a whole sync run commits at once or not at all). Shared by the
 * NDJSON import and the server sync: the same mapping, the same links, the same report.
 *
 * A server sync asks for what changed at or after its cursor (`ge`), so resources it applied at
 * the cursor's instant come again: a link that already holds a resource's meta.lastUpdated (or a
 * later one) makes it `unchanged`, counted apart and not applied again. An NDJSON file is applied
 * whole, as asked (an admin may import a file again to restore what it says).
 *
 * The report names where a resource was (its NDJSON line, or `Patient/<id>` on a server), the FHIR
 * element at fault and why: never a value.
 */

/** Entries (invalid, duplicate, skipped resources) listed in a report; beyond, only counted. */
export const MAX_REPORT_ENTRIES = 1000;

export type FhirImportResource = 'Patient' | 'Appointment';

export interface FhirImportEntry {
  /** The NDJSON line (files), or the resource (`Patient/<id>`, server sync). */
  line?: number;
  resource?: string;
  outcome: 'invalid' | 'duplicate' | 'skipped';
  field: string;
  reason: string;
}

export interface FhirImportCounts {
  resources: number;
  created: number;
  updated: number;
  duplicate: number;
  invalid: number;
  skipped: number;
  /** Already applied at this version (a sync's search at its cursor's instant): neither created nor updated again. */
  unchanged: number;
}

export interface FhirImportReport extends FhirImportCounts {
  resourceType: FhirImportResource;
  dryRun: boolean;
  /** Whether the records were written (not on a dry run, nor when the file was refused). */
  committed: boolean;
  entries: FhirImportEntry[];
  entriesTruncated: boolean;
}

export function emptyReport(resourceType: FhirImportResource, dryRun: boolean): FhirImportReport {
  return { resourceType, dryRun, committed: false, resources: 0, created: 0, updated: 0, duplicate: 0, invalid: 0, skipped: 0, unchanged: 0, entries: [], entriesTruncated: false };
}

/** The counts alone: what an audit row or a source's last result may hold. */
export function countsOf(r: FhirImportReport): FhirImportCounts {
  return { resources: r.resources, created: r.created, updated: r.updated, duplicate: r.duplicate, invalid: r.invalid, skipped: r.skipped, unchanged: r.unchanged };
}

/** Where a resource came from: its line in a file, or its id on a server. */
export type Origin = { line: number } | { resource: string };

export interface IncomingResource {
  origin: Origin;
  resource: Record<string, unknown>;
}

function note(report: FhirImportReport, origin: Origin, outcome: FhirImportEntry['outcome'], problem: MapProblem): void {
  report[outcome] += 1;
  if (report.entries.length >= MAX_REPORT_ENTRIES) {
    report.entriesTruncated = true;
    return;
  }
  report.entries.push({ ...origin, outcome, field: problem.field, reason: problem.reason });
}

/** What a batch needs besides its resources: the practice's transaction, the keyring, the MRN system, the sink. */
export interface ApplyContext {
  tx: PracticeScope;
  keyring: Keyring;
  mrnSystem: string;
  now: Date;
  sink: FhirRecordSink;
  /** What this import has already seen (resource ids, MRNs): a second sighting is a duplicate. */
  seen: Set<string>;
  /** A server sync: a resource whose version its link already holds is `unchanged`, not applied again. */
  skipApplied: boolean;
}

/** A resource's meta.lastUpdated, when it is an instant. */
function lastUpdatedOf(resource: Record<string, unknown>): string | null {
  const meta = resource.meta;
  const value = meta && typeof meta === 'object' ? (meta as { lastUpdated?: unknown }).lastUpdated : undefined;
  return typeof value === 'string' && Number.isFinite(Date.parse(value)) ? value : null;
}

/** Whether this version (or a later one) of the resource was applied already: only for a sync. */
function alreadyApplied(ctx: ApplyContext, link: ResourceLink | undefined, lastUpdated: string | null): boolean {
  return ctx.skipApplied && !!link?.lastUpdated && lastUpdated !== null && Date.parse(lastUpdated) <= link.lastUpdated.getTime();
}

/** A file or run names each resource once: a second one with the same id or MRN is a duplicate, not applied. */
function firstSighting(ctx: ApplyContext, keys: readonly string[]): boolean {
  if (keys.some((k) => ctx.seen.has(k))) return false;
  for (const k of keys) ctx.seen.add(k);
  return true;
}

export async function applyPatients(ctx: ApplyContext, batch: readonly IncomingResource[], report: FhirImportReport): Promise<void> {
  const records: Array<{ origin: Origin; record: MappedPatient; lastUpdated: string | null }> = [];
  for (const { origin, resource } of batch) {
    report.resources += 1;
    const mapped = mapPatient(resource as unknown as Patient, { mrnSystem: ctx.mrnSystem, now: ctx.now });
    if (mapped.kind === 'invalid') note(report, origin, 'invalid', mapped.problem);
    else if (mapped.kind === 'skipped') note(report, origin, 'skipped', { field: 'resource', reason: mapped.reason });
    else if (!firstSighting(ctx, [`mrn:${mapped.record.mrn}`, ...(mapped.record.resourceId ? [`Patient/${mapped.record.resourceId}`] : [])])) {
      note(report, origin, 'duplicate', { field: 'identifier', reason: 'this MRN or Patient id appears earlier in the same import' });
    } else records.push({ origin, record: mapped.record, lastUpdated: lastUpdatedOf(resource) });
  }
  const { practiceId } = ctx.tx;
  const links = await linkedIds(ctx.tx.db, practiceId, 'Patient', records.flatMap((r) => (r.record.resourceId ? [r.record.resourceId] : [])));
  const newLinks: Array<{ resourceId: string; localId: string; lastUpdated: string | null }> = [];
  for (const { origin, record, lastUpdated } of records) {
    const link = record.resourceId ? links.get(record.resourceId) : undefined;
    if (alreadyApplied(ctx, link, lastUpdated)) {
      report.unchanged += 1;
      continue;
    }
    const written = await ctx.sink.patient(ctx.tx, ctx.keyring, record, link?.localId ?? null);
    if (!('patientId' in written)) {
      note(report, origin, written.outcome, { field: written.field, reason: written.reason });
      continue;
    }
    report[written.outcome] += 1;
    if (record.resourceId) newLinks.push({ resourceId: record.resourceId, localId: written.patientId, lastUpdated });
  }
  await saveLinks(ctx.tx.db, practiceId, 'Patient', newLinks);
}

/** The patient an Appointment names: through the link its Patient resource made, or by MRN. */
async function patientIdFor(ctx: ApplyContext, record: MappedAppointment, byReference: Map<string, ResourceLink>): Promise<string | null> {
  if ('reference' in record.patient) return byReference.get(record.patient.reference.slice('Patient/'.length))?.localId ?? null;
  return ctx.sink.patientIdByMrn(ctx.tx, ctx.keyring, record.patient.mrn);
}

export async function applyAppointments(ctx: ApplyContext, batch: readonly IncomingResource[], report: FhirImportReport): Promise<void> {
  const records: Array<{ origin: Origin; record: MappedAppointment; lastUpdated: string | null }> = [];
  for (const { origin, resource } of batch) {
    report.resources += 1;
    const mapped = mapAppointment(resource as unknown as Appointment, { mrnSystem: ctx.mrnSystem });
    if (mapped.kind === 'invalid') note(report, origin, 'invalid', mapped.problem);
    else if (mapped.kind === 'skipped') note(report, origin, 'skipped', { field: 'status', reason: mapped.reason });
    else if (!firstSighting(ctx, [`Appointment/${mapped.record.resourceId}`])) {
      note(report, origin, 'duplicate', { field: 'id', reason: 'this Appointment id appears earlier in the same import' });
    } else records.push({ origin, record: mapped.record, lastUpdated: lastUpdatedOf(resource) });
  }
  const { practiceId } = ctx.tx;
  const references = records.flatMap((r) => ('reference' in r.record.patient ? [r.record.patient.reference.slice('Patient/'.length)] : []));
  const patients = await linkedIds(ctx.tx.db, practiceId, 'Patient', references);
  const links = await linkedIds(ctx.tx.db, practiceId, 'Appointment', records.map((r) => r.record.resourceId));
  const newLinks: Array<{ resourceId: string; localId: string; lastUpdated: string | null }> = [];
  for (const { origin, record, lastUpdated } of records) {
    const link = links.get(record.resourceId);
    if (alreadyApplied(ctx, link, lastUpdated)) {
      report.unchanged += 1;
      continue;
    }
    const patientId = await patientIdFor(ctx, record, patients);
    if (!patientId) {
      note(report, origin, 'invalid', { field: 'participant', reason: 'its patient has not been imported (import Patient.ndjson first)' });
      continue;
    }
    const written = await ctx.sink.appointment(ctx.tx, { ...record, patientId }, link?.localId ?? null);
    if (!('appointmentId' in written)) {
      note(report, origin, written.outcome, { field: written.field, reason: written.reason });
      continue;
    }
    report[written.outcome] += 1;
    newLinks.push({ resourceId: record.resourceId, localId: written.appointmentId, lastUpdated });
  }
  await saveLinks(ctx.tx.db, practiceId, 'Appointment', newLinks);
}

/** Runs `work` in one transaction of the practice's own connection: everything it writes commits together, or nothing does. */
export async function inOneTransaction<T>(scope: PracticeScope, work: (tx: PracticeScope) => Promise<T>): Promise<T> {
  // The transaction's scope is the same practice on the same (tenant or system) connection: only its handle differs.
  return scope.db.transaction().execute(async (trx) => work({ ...scope, db: trx }));
}

/** Thrown inside a dry run's transaction to roll it back once the report is complete. */
export class DryRunRollback extends Error {
  constructor() {
    super('dry run: rolled back');
    this.name = 'DryRunRollback';
  }
}
