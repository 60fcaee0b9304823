import type { Services } from './services.js';
import { logger } from './log/logger.js';
import { applyRetention, reconcileRecordings, RECONCILE_EVERY_MS, RETENTION_EVERY_MS, sweepVoicemails, VOICEMAIL_SWEEP_EVERY_MS } from './voicemail/maintenance.js';
import { sweepPages } from './oncall/paging.js';
import { sweepSentDrops } from './drops/drop-worker.js';
import { DISPATCH_EVERY_MS, dispatchDueDrops } from './drops/dispatcher.js';
import { runDueSteps, SEQUENCE_SWEEP_EVERY_MS } from './sequences/sweep.js';
import { flushRefusalSummaries } from './audit/refusals.js';
import { FHIR_SWEEP_EVERY_MS, sweepDueFhirSources } from './fhir/schedule.js';
import { IMPORT_SWEEP_EVERY_MS, sweepImports } from './patients/import-worker.js';
import { sweepOverdueTasks, TASK_SWEEP_EVERY_MS } from './tasks/overdue.js';
import { purgeClosedTasks } from './tasks/retention.js';
import { MORNING_SWEEP_EVERY_MS, sweepMorningReports } from './reports/morning.js';
import { processCallbackTaskJob, settleStaleCallBacks, sweepMissingAbandonedCallTasks, sweepMissingTextTasks, sweepMissingVoicemailTasks } from './tasks/background.js';
import type { CallbackTaskJobData } from './tasks/queue-task.js';

/**
 * The repeating upkeep jobs of every domain, on one BullMQ queue ('maintenance'): what each
 * task runs and how often. Each task is idempotent; a scheduler id per task makes registering
 * them again (every start of every instance) a no-op.
 */

/** One step of the task sweep: its result, or nothing when it failed (logged; the next sweep tries again). */
async function taskSweepStep<T extends object>(step: string, run: () => Promise<T>): Promise<Partial<T>> {
  try {
    return await run();
  } catch (err) {
    logger.error('task sweep step failed', { err, step });
    return {};
  }
}

const TASKS = {
  /** Twilio's recordings compared with ours: any callback that never came is queued. */
  reconcile: { everyMs: RECONCILE_EVERY_MS, run: reconcileRecordings },
  /** Voicemail audio past the practice's retention deleted (Twilio's copy first); then closed callback tasks' sealed numbers, notes and texts past it erased (src/tasks/retention.ts). */
  retention: {
    everyMs: RETENTION_EVERY_MS,
    run: async (services) => ({
      ...(await taskSweepStep('voicemail-audio', () => applyRetention(services))),
      tasksPurged: await taskSweepStep('closed-tasks', () => purgeClosedTasks(services)),
    }),
  },
  /** Voicemails stranded without a job, or dead-lettered for a passing reason, queued again. */
  'voicemail-sweep': { everyMs: VOICEMAIL_SWEEP_EVERY_MS, run: sweepVoicemails },
  /** Open pages whose next round or sends were never queued, queued again. */
  'page-sweep': { everyMs: 5 * 60_000, run: sweepPages },
  /** Drops sent with no final word from the provider for a day, closed as failed. */
  'drop-sweep': { everyMs: 30 * 60_000, run: sweepSentDrops },
  /** The dispatcher: queued drops due within the next two minutes get their jobs, in bounded batches (src/drops/dispatcher.ts). */
  'drop-dispatch': { everyMs: DISPATCH_EVERY_MS, run: (services) => dispatchDueDrops(services) },
  /** Sequences: each recipient whose next step is due has it decided and sent, skipped or stopped (src/sequences/sequences.ts). */
  'sequence-steps': { everyMs: SEQUENCE_SWEEP_EVERY_MS, run: (services) => runDueSteps(services) },
  /** Refused requests' per-source minutes that have closed, summarised (one audit row each). */
  'refusal-summaries': { everyMs: 60_000, run: (services) => flushRefusalSummaries(services) },
  /** Practices' FHIR servers whose sync is due on their schedule, queued (src/fhir/schedule.ts). */
  'fhir-sync-sweep': { everyMs: FHIR_SWEEP_EVERY_MS, run: sweepDueFhirSources },
  /** CSV imports' stored uploads left after they finished deleted; imports unfinished after a day failed (src/patients/import-worker.ts). */
  'import-sweep': { everyMs: IMPORT_SWEEP_EVERY_MS, run: sweepImports },
  /** Stored voicemails, texts and abandoned calls without a callback task (a job or webhook that stopped in between) get theirs; then overdue tasks alert once (src/tasks/). */
  'task-sweep': {
    everyMs: TASK_SWEEP_EVERY_MS,
    // Each step on its own: one that fails is logged and the later ones (the overdue alerts) still run.
    run: async (services) => ({
      ...(await taskSweepStep('voicemail-tasks', () => sweepMissingVoicemailTasks(services))),
      ...(await taskSweepStep('text-tasks', () => sweepMissingTextTasks(services))),
      ...(await taskSweepStep('abandoned-call-tasks', () => sweepMissingAbandonedCallTasks(services))),
      ...(await taskSweepStep('stale-call-backs', () => settleStaleCallBacks(services))),
      ...(await taskSweepStep('overdue-alerts', () => sweepOverdueTasks(services))),
    }),
  },
  /** At each practice's opening time, the morning report's summary to its admins, once per period (src/reports/morning.ts). */
  'morning-report': { everyMs: MORNING_SWEEP_EVERY_MS, run: sweepMorningReports },
} as const satisfies Record<string, { everyMs: number; run: (services: Services) => Promise<unknown> }>;

type MaintenanceTask = keyof typeof TASKS;
/** A repeating upkeep task, or a one-off callback task a webhook queued (src/tasks/queue-task.ts). */
export type MaintenanceJobData = { task: MaintenanceTask } | CallbackTaskJobData;

export async function processMaintenanceJob(services: Services, data: MaintenanceJobData): Promise<unknown> {
  if (data.task === 'callback-task') return processCallbackTaskJob(services, data);
  const task = TASKS[data.task] as (typeof TASKS)[MaintenanceTask] | undefined;
  if (!task) throw new Error('unknown maintenance task');
  return task.run(services);
}

/** Registers the repeating jobs (idempotent: a scheduler id per task). */
export async function scheduleMaintenance(services: Services): Promise<void> {
  for (const [name, task] of Object.entries(TASKS)) {
    await services.queues.maintenance.upsertJobScheduler(name, { every: task.everyMs }, { name, data: { task: name } satisfies { task: string } });
  }
}
