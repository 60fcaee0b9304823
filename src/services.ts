import type { Redis } from 'ioredis';
import type { Config } from './config.js';
import { createDb, pingDb, type Db } from './adapters/postgres.js';
import { migrateToLatest } from './adapters/migrate.js';
import { preloadFallbackNumbers } from './calls/fallback-numbers.js';
import { createRedis, pingRedis } from './adapters/redis.js';
import { createStorage, type Storage } from './adapters/storage.js';
import { createKeyring, type Keyring } from './adapters/keyring.js';
import { auditWriter, type AuditWriter } from './audit/store.js';
import { startCheckpoints } from './audit/checkpoints.js';
import { seedDemoIfEmpty } from './practices/seed.js';
import type { Practice } from './practices/store.js';
import type { Flow } from './calls/flow-types.js';
import { loadFlows } from './calls/flow-loader.js';
import { createQueues, isLastAttempt, startWorker, type Queues } from './adapters/queue.js';
import { createTwilioRest, type TwilioRest } from './adapters/twilio-rest.js';
import { processPageJob, type PageJobData } from './oncall/paging.js';
import { startVoicemailWorker } from './voicemail/worker.js';
import { processMaintenanceJob, scheduleMaintenance, type MaintenanceJobData } from './maintenance.js';
import { processDropJob } from './rvm/drop-worker.js';
import type { DropJobData } from './rvm/campaigns.js';
import { createMetrics, type Metrics } from './adapters/metrics.js';
import { metricsSources } from './adapters/metrics-sources.js';
import { createRecordingSpool, type RecordingSpool } from './voicemail/spool.js';
import { startVoicemailRecovery } from './voicemail/recovery.js';

/** Everything the service talks to, started in order and closed in reverse (Medplum's initAppServices). */
export interface Services {
  config: Config;
  db: Db;
  redis: Redis;
  storage: Storage;
  keyring: Keyring;
  flows: Map<string, Flow>;
  audit: AuditWriter;
  twilio: TwilioRest;
  queues: Queues;
  /** Prometheus metrics of this instance (src/adapters/metrics.ts), served at /metrics. */
  metrics: Metrics;
  /** Recording callbacks kept on local disk while PostgreSQL cannot take them (voicemail/spool.ts). */
  recordingSpool: RecordingSpool;
  clock: () => Date;
  seeded: Practice | null;
  readiness(): Promise<{ ready: boolean; checks: Record<string, string> }>;
  close(): Promise<void>;
}

export interface StartOptions {
  clock?: () => Date;
  migrate?: boolean;
  /** Run the job workers in this process (default true). */
  workers?: boolean;
  /** Register the repeating maintenance jobs (reconciler, retention); default true. */
  schedule?: boolean;
  twilio?: TwilioRest;
}

export async function startServices(config: Config, opts: StartOptions = {}): Promise<Services> {
  const clock = opts.clock ?? ((): Date => new Date());
  const closers: Array<() => Promise<void>> = [];
  try {
    // Bad flows stop the start, naming the file, the node and the problem.
    const flows = await loadFlows(config.callflowsDir, { audioDir: config.audioDir });
    const keyring = await createKeyring(config);

    const db = createDb(config.database.url, config.database.schema);
    closers.push(() => db.destroy());
    if (opts.migrate !== false) {
      // Migrations on a pool of their own, without the service's statement timeouts: a long one must finish.
      const migrationDb = createDb(config.database.url, config.database.schema, 1, { statementMs: 0, queryMs: 0 });
      try {
        await migrateToLatest(migrationDb, config.database.schema);
      } finally {
        await migrationDb.destroy();
      }
    }

    const redis = createRedis(config.redis.url, config.redis.keyPrefix);
    closers.push(async () => {
      redis.disconnect();
    });
    await redis.connect();

    const storage = createStorage(config);
    await storage.init();
    closers.push(() => storage.close());

    const metrics = createMetrics();
    const audit = auditWriter(db, clock, { onBatch: (size, ms) => metrics.observeAuditBatch(size, ms / 1000) });
    // Chain heads checkpointed at start, every minute and on the way out (before the pool closes).
    const checkpoints = startCheckpoints(db, config, clock);
    closers.push(() => checkpoints.stop());
    const twilio = opts.twilio ?? createTwilioRest(config);
    const queues = createQueues(config);
    closers.push(() => queues.close());
    metrics.setSources(metricsSources(db, queues));
    const seeded = config.seedDemo ? await seedDemoIfEmpty(db, keyring, audit, clock()) : null;

    const check = async (fn: () => Promise<void>): Promise<string> => {
      try {
        await fn();
        return 'ok';
      } catch (err) {
        const msg = err instanceof Error ? err.message || err.name : 'unreachable';
        return `error: ${msg.slice(0, 120)}`;
      }
    };

    const services: Services = {
      config,
      db,
      redis,
      storage,
      keyring,
      flows,
      audit,
      twilio,
      queues,
      metrics,
      recordingSpool: createRecordingSpool(config.dataDir),
      clock,
      seeded,
      readiness: async () => {
        const [postgres, redisCheck, storageCheck] = await Promise.all([
          check(() => pingDb(db)),
          check(() => pingRedis(redis)),
          check(() => storage.check()),
        ]);
        const checks = { postgres, redis: redisCheck, storage: storageCheck };
        return { ready: Object.values(checks).every((v) => v === 'ok'), checks };
      },
      close: async () => {
        for (const close of closers.reverse()) await close().catch(() => undefined);
      },
    };
    // Every practice number's fallback, in memory before the first call: a PostgreSQL outage
    // still forwards callers to their practice's fallback line.
    await preloadFallbackNumbers(services);
    if (opts.workers !== false) {
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
      for (const [name, worker] of [['pages', pages], ['voicemail', voicemail], ['maintenance', maintenance], ['drops', drops]] as const) metrics.watchWorker(name, worker);
      if (opts.schedule !== false) await scheduleMaintenance(services);
      // Workers stop first, before the pools they use.
      closers.push(() => pages.close(), () => voicemail.close(), () => maintenance.close(), () => drops.close());
      // Start-up recovery (what a crash left), spool replay and reconcile-on-recovery; stops before the workers.
      const recovery = startVoicemailRecovery(services);
      closers.push(() => recovery.close());
    }
    return services;
  } catch (err) {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    throw err;
  }
}
