import { randomUUID } from 'node:crypto';
import type { Resource } from '@medplum/fhirtypes';
import type { AppContext } from '../app-context.js';
import { AuditAction } from '../audit/events.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { applyAppointments, applyPatients, countsOf, emptyReport, inOneTransaction, type ApplyContext, type FhirImportCounts, type FhirImportEntry, type IncomingResource } from './apply.js';
import type { FhirRecordSink } from './record-sink.js';
import { recordFhirRun } from './run-store.js';
import { createSmartClient, FhirSyncError, type FhirSyncFailure, type SearchPage, type SmartClient } from './smart-client.js';
import { loadFhirSourceForSync, recordFhirAttempt, recordFhirResult, type FhirResourceType, type FhirSourceForSync, type ResumePoint } from './source-store.js';

/**
 * One sync of a practice's FHIR server: Patients, then Appointments (they name patients), each
 * searched `_lastUpdated=ge<cursor>` sorted by lastUpdated, fetched page by page within the run's
 * page budget, then applied in one transaction, so a run that fails anywhere (the token refused,
 * a page unreachable, a next link to another origin) imports nothing and leaves the cursors where
 * they were. The cursors move on only with a commit, and only to the greatest lastUpdated the run
 * committed.
 *
 * A run that spends its budget before a search ends is not a failure: it commits what it fetched,
 * keeps where it stopped (the next link, sealed; and the cursor), says "partial, continuing", and
 * the sweep queues the next run at once; that run goes on from the next link, or (the link gone
 * stale) searches again from the cursor. Appointments wait while Patients are partial: an
 * Appointment whose patient has not come in yet would be refused and passed by.
 *
 * One run per practice at a time (a Redis lock); a second gets `already_running`. Each run is
 * recorded in `fhir_runs` beside the NDJSON imports.
 */

export const SYNC_PAGE_SIZE = 100;
/** Pages a run fetches at most (both types together): a run holds its resources until it commits. */
export const SYNC_PAGE_BUDGET = 500;
const LOCK_MS = 15 * 60_000;
const APPLY_BATCH = 500;
/** A stale next link (the server forgot its paging state): search again from the cursor. */
const STALE_LINK_STATUSES: ReadonlySet<number> = new Set([400, 404, 410]);

export type SyncTrigger = 'api' | 'schedule';

export type SyncOutcome =
  | {
      ok: true;
      /** False when the run spent its page budget: it committed what it fetched and continues on the next run. */
      complete: boolean;
      continuing: boolean;
      patients: FhirImportCounts;
      appointments: FhirImportCounts;
      entries: FhirImportEntry[];
      entriesTruncated: boolean;
      syncedAt: string;
    }
  | { ok: false; reason: FhirSyncFailure | 'not_configured' | 'already_running'; message: string };

export type SyncContext = Pick<AppContext, 'keyring' | 'redis' | 'audit' | 'clock' | 'config'>;

export interface SyncOptions {
  trigger: SyncTrigger;
  actor: string;
  sink: FhirRecordSink;
  /** Pages this run may fetch (default SYNC_PAGE_BUDGET). */
  pageBudget?: number;
}

interface Fetched {
  resources: IncomingResource[];
  /** The greatest meta.lastUpdated among them, or the previous cursor. */
  cursor: string | null;
  /** Whether the search reached its last page. */
  done: boolean;
  /** When not done: the next link to go on from (null: search again from the cursor). */
  next: string | null;
}

function later(a: string | null, b: unknown): string | null {
  if (typeof b !== 'string' || !Number.isFinite(Date.parse(b))) return a;
  return a === null || Date.parse(b) > Date.parse(a) ? b : a;
}

/** The pages of one type: from where the last run stopped, else (or when that link has gone stale) from the cursor. */
async function* pagesOf(client: SmartClient, type: FhirResourceType, since: string | null, resume: string | null): AsyncGenerator<SearchPage> {
  if (resume) {
    let first = true;
    try {
      for await (const page of client.continueFrom(type, resume)) {
        first = false;
        yield page;
      }
      return;
    } catch (err) {
      if (!(first && err instanceof FhirSyncError && err.httpStatus !== undefined && STALE_LINK_STATUSES.has(err.httpStatus))) throw err;
    }
  }
  yield* client.search(type, since, SYNC_PAGE_SIZE);
}

async function fetchChanged(client: SmartClient, type: FhirResourceType, since: string | null, resume: string | null, budget: { pages: number }): Promise<Fetched> {
  const resources: IncomingResource[] = [];
  let cursor = since;
  // No page left for this type: it waits for the next run, from where it was.
  if (budget.pages <= 0) return { resources, cursor, done: false, next: resume };
  for await (const page of pagesOf(client, type, since, resume)) {
    budget.pages -= 1;
    for (const resource of page.resources) {
      resources.push({ origin: { resource: `${type}/${resource.id ?? '?'}` }, resource: resource as Resource & Record<string, unknown> });
      cursor = later(cursor, resource.meta?.lastUpdated);
    }
    // Stop before the next page's request: the generator asks for it only when iterated again.
    if (page.next && budget.pages <= 0) return { resources, cursor, done: false, next: page.next };
  }
  return { resources, cursor, done: true, next: null };
}

async function applyInBatches(ctx: ApplyContext, type: FhirResourceType, resources: IncomingResource[], report: ReturnType<typeof emptyReport>): Promise<void> {
  const apply = type === 'Patient' ? applyPatients : applyAppointments;
  for (let i = 0; i < resources.length; i += APPLY_BATCH) await apply(ctx, resources.slice(i, i + APPLY_BATCH), report);
}

const NOTHING: Fetched = { resources: [], cursor: null, done: false, next: null };

async function runLocked(ctx: SyncContext, scope: PracticeScope, source: FhirSourceForSync, opts: SyncOptions): Promise<Extract<SyncOutcome, { ok: true }>> {
  // Plain http and loopback addresses are for the loopback doubles: development and test only.
  const client = createSmartClient({ ...source, clock: ctx.clock, allowLoopback: ctx.config.env !== 'production' });
  const budget = { pages: opts.pageBudget ?? SYNC_PAGE_BUDGET };
  const resumeFor = (type: FhirResourceType): string | null => (source.resume?.type === type ? source.resume.next : null);
  const patients = await fetchChanged(client, 'Patient', source.cursors.Patient ?? null, resumeFor('Patient'), budget);
  // Appointments only once every changed Patient is in: they name their patients.
  const appointments = patients.done
    ? await fetchChanged(client, 'Appointment', source.cursors.Appointment ?? null, resumeFor('Appointment'), budget)
    : { ...NOTHING, cursor: source.cursors.Appointment ?? null, next: resumeFor('Appointment') };
  const now = ctx.clock();
  const patientReport = emptyReport('Patient', false);
  const appointmentReport = emptyReport('Appointment', false);
  await inOneTransaction(scope, async (tx) => {
    const apply: ApplyContext = { tx, keyring: ctx.keyring, mrnSystem: source.mrnSystem, now, sink: opts.sink, seen: new Set(), skipApplied: true };
    await applyInBatches(apply, 'Patient', patients.resources, patientReport);
    await applyInBatches(apply, 'Appointment', appointments.resources, appointmentReport);
  });
  const cursors = {
    ...(patients.cursor ? { Patient: patients.cursor } : {}),
    ...(appointments.cursor ? { Appointment: appointments.cursor } : {}),
  };
  const complete = patients.done && appointments.done;
  const resume: ResumePoint | null = !patients.done ? (patients.next ? { type: 'Patient', next: patients.next } : null) : appointments.next ? { type: 'Appointment', next: appointments.next } : null;
  const counts = { patients: countsOf(patientReport), appointments: countsOf(appointmentReport) };
  await recordFhirResult(scope, ctx.keyring, { ok: true, at: now, cursors, resume, complete, result: counts });
  const entries = [...patientReport.entries, ...appointmentReport.entries];
  return { ok: true, complete, continuing: !complete, ...counts, entries, entriesTruncated: patientReport.entriesTruncated || appointmentReport.entriesTruncated, syncedAt: now.toISOString() };
}

/** Runs the practice's sync now (the API's `POST /api/fhir/sync`, or the schedule's sweep). Audited and recorded with counts only. */
export async function syncFhirSource(ctx: SyncContext, scope: PracticeScope, opts: SyncOptions): Promise<SyncOutcome> {
  const lockKey = `fhir-sync:${scope.practiceId}`;
  const holder = randomUUID();
  if ((await ctx.redis.set(lockKey, holder, 'PX', LOCK_MS, 'NX')) !== 'OK') {
    return { ok: false, reason: 'already_running', message: 'a sync of this practice is already running' };
  }
  try {
    const source = await loadFhirSourceForSync(scope, ctx.keyring);
    if (!source) return { ok: false, reason: 'not_configured', message: 'no FHIR source: PUT /api/fhir/source first' };
    const startedAt = ctx.clock();
    await recordFhirAttempt(scope, startedAt);
    let outcome: SyncOutcome;
    try {
      outcome = await runLocked(ctx, scope, source, opts);
    } catch (err) {
      if (!(err instanceof FhirSyncError)) throw err;
      outcome = { ok: false, reason: err.reason, message: err.message };
      await recordFhirResult(scope, ctx.keyring, { ok: false, result: { error: err.reason } });
    }
    await recordFhirRun(scope, {
      kind: 'sync',
      trigger: opts.trigger,
      resourceType: null,
      status: outcome.ok ? (outcome.complete ? 'complete' : 'partial') : 'failed',
      reason: outcome.ok ? null : outcome.reason,
      counts: outcome.ok ? { patients: outcome.patients, appointments: outcome.appointments } : {},
      startedAt,
      finishedAt: ctx.clock(),
    });
    await ctx.audit(
      outcome.ok
        ? {
            action: AuditAction.FhirSyncCompleted,
            actor: opts.actor,
            practiceId: scope.practiceId,
            details: { trigger: opts.trigger, complete: outcome.complete, patients: { ...outcome.patients }, appointments: { ...outcome.appointments } },
          }
        : { action: AuditAction.FhirSyncFailed, actor: opts.actor, practiceId: scope.practiceId, details: { trigger: opts.trigger, reason: outcome.reason } },
    );
    return outcome;
  } finally {
    // Only our own lock: compare and delete in one step.
    await ctx.redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end", 1, lockKey, holder);
  }
}
