import type { Services } from './services.js';
import { isLastAttempt, startWorker } from './adapters/queue.js';
import { preloadFallbackNumbers } from './calls/fallback-numbers.js';
import { processPageJob, type PageJobData } from './oncall/paging.js';
import { startVoicemailWorker } from './voicemail/worker.js';
import { startVoicemailRecovery } from './voicemail/recovery.js';
import { processMaintenanceJob, scheduleMaintenance, type MaintenanceJobData } from './maintenance.js';
import { processDropJob } from './drops/drop-worker.js';
import type { DropJobData } from './drops/campaigns.js';
import { processFhirSyncJob, type FhirSyncJobData } from './fhir/schedule.js';
import { processImportJob } from './patients/import-worker.js';
import type { ImportJobData } from './patients/import-requests.js';

/**
 * What this instance runs besides answering requests (Medplum's workers/index.ts): the fallback
 * numbers preloaded, the job workers on every queue, the repeating maintenance jobs registered,
 * and the voicemail recovery loop. Started after `startServices` (./services.ts), by src/main.ts
 * and by the test harness; `close()` stops them before the adapters close.
 *
 * Where the other background pieces live: the audit checkpoints (audit/checkpoints.ts) and the
 * metrics' sources stay with the adapters in services.ts, since every instance that writes audit
 * rows or serves /metrics needs them, whether or not it runs workers.
 */

export interface WorkerOptions {
  /** Run the job workers and the voicemail recovery in this process (default true). */
  workers?: boolean;
  /** Register the repeating maintenance jobs (reconciler, retention, sweeps); default true. Only with workers. */
  schedule?: boolean;
}

export interface RunningWorkers {
  /** Stops the recovery loop, then the workers (each finishes or gives back its job). Call before `services.close()`. */
  close(): Promise<void>;
}

export async function startWorkers(services: Services, opts: WorkerOptions = {}): Promise<RunningWorkers> {
  const closers: Array<() => Promise<void>> = [];
  const close = async (): Promise<void> => {
    for (const stop of closers.reverse()) await stop().catch(() => undefined);
    closers.length = 0;
  };
  try {
    // Every practice number's fallback, in memory before the first call: a PostgreSQL outage
    // still forwards callers to their practice's fallback line.
    await preloadFallbackNumbers(services);
    if (opts.workers !== false) {
      const { config, metrics } = services;
      const pages = startWorker<PageJobData>(config, 'pages', async (job) => processPageJob(services, job.data));
      // Its own backoff; a job out of attempts (or failed for good) dead-letters itself.
      const voicemail = startVoicemailWorker(services);
      const maintenance = startWorker<MaintenanceJobData>(config, 'maintenance', async (job) => processMaintenanceJob(services, job.data), 1);
      // Drops: the worker knows when BullMQ will not try a job again, so a provider error on the
      // last attempt becomes the drop's recorded failure rather than a silent dead job.
      const drops = startWorker<DropJobData>(
        config,
        'drops',
        async (job) => processDropJob(services, job.data, isLastAttempt(job)),
        2,
      );
      // FHIR server syncs queued by the schedule's sweep: one practice's at a time here (each holds its run in memory).
      const fhir = startWorker<FhirSyncJobData>(config, 'fhir', async (job) => processFhirSyncJob(services, job.data), 1);
      // CSV imports received by the API: one at a time here (each holds one transaction, and a system connection, for its whole file).
      const imports = startWorker<ImportJobData>(config, 'imports', async (job) => processImportJob(services, job.data, isLastAttempt(job)), 1);
      for (const [name, worker] of [['pages', pages], ['voicemail', voicemail], ['maintenance', maintenance], ['drops', drops], ['fhir', fhir], ['imports', imports]] as const) metrics.watchWorker(name, worker);
      // Workers stop first, before the pools they use (services.close(), after this handle's close).
      closers.push(() => pages.close(), () => voicemail.close(), () => maintenance.close(), () => drops.close(), () => fhir.close(), () => imports.close());
      if (opts.schedule !== false) await scheduleMaintenance(services);
      // Start-up recovery (what a crash left), spool replay and reconcile-on-recovery; stops before the workers.
      const recovery = startVoicemailRecovery(services);
      closers.push(() => recovery.close());
    }
    return { close };
  } catch (err) {
    await close();
    throw err;
  }
}
