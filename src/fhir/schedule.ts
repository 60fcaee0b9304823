import type { AppContext } from '../app-context.js';
import { systemScope } from '../tenancy/system-scope.js';
import { patientStoreSink } from './patient-sink.js';
import { dueFhirSources } from './source-store.js';
import { syncFhirSource, type SyncOutcome } from './sync.js';

/**
 * Each practice's FHIR server synced on its own schedule (`intervalMinutes` of its source): a
 * sweep every minute (src/maintenance.ts) queues a job for each source whose last attempt is an
 * interval old, and for each one continuing a run that spent its page budget (whatever its
 * interval, even none: it goes on until it has caught up); the `fhir` queue's worker runs it. The job carries the practice id only, and its
 * id is the practice's, so a source already queued is not queued twice.
 */

export const FHIR_SWEEP_EVERY_MS = 60_000;
export const FHIR_SYNC_JOB = 'fhir-sync';

export interface FhirSyncJobData {
  practiceId: string;
}

export function fhirSyncJobId(practiceId: string): string {
  return `${FHIR_SYNC_JOB}-${practiceId}`;
}

export async function sweepDueFhirSources(ctx: Pick<AppContext, 'db' | 'queues' | 'clock'>): Promise<{ queued: number }> {
  const due = await dueFhirSources(ctx.db, ctx.clock());
  for (const practiceId of due) {
    // One attempt: a failed sync is recorded on the source and audited, and the schedule tries again.
    await ctx.queues.fhir.add(FHIR_SYNC_JOB, { practiceId } satisfies FhirSyncJobData, { jobId: fhirSyncJobId(practiceId), attempts: 1, removeOnComplete: true, removeOnFail: true });
  }
  return { queued: due.length };
}

/** The worker's part: the practice's sync, as the schedule (a system scope: the job carries a practice id a sweep found). */
export async function processFhirSyncJob(ctx: Pick<AppContext, 'db' | 'keyring' | 'redis' | 'audit' | 'clock' | 'config'>, data: FhirSyncJobData): Promise<SyncOutcome> {
  return syncFhirSource(ctx, systemScope(ctx, data.practiceId), { trigger: 'schedule', actor: 'system:fhir-schedule', sink: patientStoreSink });
}
