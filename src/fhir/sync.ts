import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import type { AppContext } from '../app-context.js';
import { AuditAction } from '../audit/events.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { applyAppointments, applyPatients, countsOf, emptyReport, inOneTransaction, type ApplyContext, type FhirImportCounts, type FhirImportEntry, type IncomingResource } from './apply.js';
import type { FhirRecordSink } from './record-sink.js';
import { createSmartClient, FhirSyncError, type FhirSyncFailure, type SmartClient } from './smart-client.js';
import { loadFhirSourceForSync, recordFhirAttempt, recordFhirResult, type FhirResourceType, type FhirSourceForSync } from './source-store.js';

/**
 * One sync of a practice's FHIR server: Patients, then Appointments (they name patients), each
 * updated since its own cursor, fetched page by page, then applied in one transaction, so a run
 * that fails anywhere (the token refused, a page unreachable, a next link to another origin)
 * imports nothing and leaves the cursors where they were. The cursors move on only with a commit.
 * One run per practice at a time (a Redis lock); a second gets `already_running`.
 */

export const SYNC_PAGE_SIZE = 100;
/** A run holds its resources until it commits: bounded (an initial load this large belongs in an NDJSON import). */
export const SYNC_MAX_PAGES = 500;
const LOCK_MS = 15 * 60_000;
const APPLY_BATCH = 500;

export type SyncTrigger = 'api' | 'schedule';

export type SyncOutcome =
  | { ok: true; patients: FhirImportCounts; appointments: FhirImportCounts; entries: FhirImportEntry[]; entriesTruncated: boolean; syncedAt: string }
  | { ok: false; reason: FhirSyncFailure | 'not_configured' | 'already_running'; message: string };

export type SyncContext = Pick<AppContext, 'keyring' | 'redis' | 'audit' | 'clock'>;

interface Fetched {
  resources: IncomingResource[];
  /** The greatest meta.lastUpdated among them, or the previous cursor. */
  cursor: string | null;
}

function later(a: string | null, b: unknown): string | null {
  if (typeof b !== 'string' || !Number.isFinite(Date.parse(b))) return a;
  return a === null || Date.parse(b) > Date.parse(a) ? b : a;
}

async function fetchChanged(client: SmartClient, type: FhirResourceType, since: string | null): Promise<Fetched> {
  const resources: IncomingResource[] = [];
  let cursor = since;
  for await (const page of client.search(type, since, SYNC_PAGE_SIZE)) {
    for (const resource of page) {
      resources.push({ origin: { resource: `${type}/${resource.id ?? '?'}` }, resource: resource as Resource & Record<string, unknown> });
      cursor = later(cursor, resource.meta?.lastUpdated);
    }
  }
  return { resources, cursor };
}

async function applyInBatches(ctx: ApplyContext, type: FhirResourceType, resources: IncomingResource[], report: ReturnType<typeof emptyReport>): Promise<void> {
  const apply = type === 'Patient' ? applyPatients : applyAppointments;
  for (let i = 0; i < resources.length; i += APPLY_BATCH) await apply(ctx, resources.slice(i, i + APPLY_BATCH), report);
}

async function runLocked(ctx: SyncContext, scope: PracticeScope, source: FhirSourceForSync, sink: FhirRecordSink): Promise<SyncOutcome> {
  const client = createSmartClient({ ...source, clock: ctx.clock, maxPages: SYNC_MAX_PAGES });
  const patients = await fetchChanged(client, 'Patient', source.cursors.Patient ?? null);
  const appointments = await fetchChanged(client, 'Appointment', source.cursors.Appointment ?? null);
  const now = ctx.clock();
  const patientReport = emptyReport('Patient', false);
  const appointmentReport = emptyReport('Appointment', false);
  await inOneTransaction(scope, async (tx) => {
    const apply: ApplyContext = { tx, keyring: ctx.keyring, mrnSystem: source.mrnSystem, now, sink, seen: new Set() };
    await applyInBatches(apply, 'Patient', patients.resources, patientReport);
    await applyInBatches(apply, 'Appointment', appointments.resources, appointmentReport);
  });
  const cursors = {
    ...(patients.cursor ? { Patient: patients.cursor } : {}),
    ...(appointments.cursor ? { Appointment: appointments.cursor } : {}),
  };
  const counts = { patients: countsOf(patientReport), appointments: countsOf(appointmentReport) };
  await recordFhirResult(scope, { ok: true, at: now, cursors, result: counts });
  const entries = [...patientReport.entries, ...appointmentReport.entries];
  return { ok: true, ...counts, entries, entriesTruncated: patientReport.entriesTruncated || appointmentReport.entriesTruncated, syncedAt: now.toISOString() };
}

/** Runs the practice's sync now (the API's `POST /api/fhir/sync`, or the schedule's sweep). Audited with counts only. */
export async function syncFhirSource(ctx: SyncContext, scope: PracticeScope, opts: { trigger: SyncTrigger; actor: string; sink: FhirRecordSink }): Promise<SyncOutcome> {
  const lockKey = `fhir-sync:${scope.practiceId}`;
  const holder = randomUUID();
  if ((await ctx.redis.set(lockKey, holder, 'PX', LOCK_MS, 'NX')) !== 'OK') {
    return { ok: false, reason: 'already_running', message: 'a sync of this practice is already running' };
  }
  try {
    const source = await loadFhirSourceForSync(scope, ctx.keyring);
    if (!source) return { ok: false, reason: 'not_configured', message: 'no FHIR source: PUT /api/fhir/source first' };
    await recordFhirAttempt(scope, ctx.clock());
    let outcome: SyncOutcome;
    try {
      outcome = await runLocked(ctx, scope, source, opts.sink);
    } catch (err) {
      if (!(err instanceof FhirSyncError)) throw err;
      outcome = { ok: false, reason: err.reason, message: err.message };
      await recordFhirResult(scope, { ok: false, result: { error: err.reason } });
    }
    await ctx.audit(
      outcome.ok
        ? { action: AuditAction.FhirSyncCompleted, actor: opts.actor, practiceId: scope.practiceId, details: { trigger: opts.trigger, patients: { ...outcome.patients }, appointments: { ...outcome.appointments } } }
        : { action: AuditAction.FhirSyncFailed, actor: opts.actor, practiceId: scope.practiceId, details: { trigger: opts.trigger, reason: outcome.reason } },
    );
    return outcome;
  } finally {
    // Only our own lock: compare and delete in one step.
    await ctx.redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end", 1, lockKey, holder);
  }
}
