import type { Config } from './config.js';
import type { AppContext } from './app-context.js';
import { createDb, createTenantDbs, pingDb } from './adapters/postgres.js';
import { migrateToLatest } from './adapters/migrate.js';
import { createRedis, pingRedis } from './adapters/redis.js';
import { createStorage } from './adapters/storage.js';
import { createKeyring } from './adapters/keyring.js';
import { auditWriter } from './audit/store.js';
import { startCheckpoints } from './audit/checkpoints.js';
import { seedDemoIfEmpty } from './practices/seed.js';
import type { Practice } from './practices/store.js';
import type { Flow } from './calls/flow-types.js';
import { loadFlows } from './calls/flow-loader.js';
import { createFlowResolver, type FlowResolver } from './calls/flow-resolver.js';
import { createQueues } from './adapters/queue.js';
import { createTwilioRest, type TwilioRest } from './adapters/twilio-rest.js';
import { createMetrics } from './adapters/metrics.js';
import { metricsSources } from './adapters/metrics-sources.js';
import { createRecordingSpool, type RecordingSpool } from './voicemail/spool.js';
import { createPracticeCaches, type PracticeCaches } from './practices/caches.js';

/**
 * The adapters (./app-context.ts) started in order and closed in reverse (Medplum's
 * initAppServices), plus what start-up adds: the loaded call flows, the recording spool, the
 * instance's caches. The job workers are started apart, by `startWorkers` (./workers.ts).
 * Domain functions still taking the whole of `Services` keep compiling; new ones take
 * `Pick<AppContext, …>`.
 */
export interface Services extends AppContext {
  flows: Map<string, Flow>;
  /** The flow a call runs: a built-in one, or a stored version of a practice's own (parsed once, kept). */
  flowResolver: FlowResolver;
  /** Recording callbacks kept on local disk while PostgreSQL cannot take them (voicemail/spool.ts). */
  recordingSpool: RecordingSpool;
  /** Per-instance caches (practices by number, fallback numbers), with their invalidation (practices/caches.ts). */
  caches: PracticeCaches;
  seeded: Practice | null;
  readiness(): Promise<{ ready: boolean; checks: Record<string, string> }>;
  /** Closes the adapters in reverse order. Stop the workers (`startWorkers(…).close()`) first. */
  close(): Promise<void>;
}

export interface StartOptions {
  clock?: () => Date;
  migrate?: boolean;
  twilio?: TwilioRest;
}

export async function startServices(config: Config, opts: StartOptions = {}): Promise<Services> {
  const clock = opts.clock ?? ((): Date => new Date());
  const closers: Array<() => Promise<void>> = [];
  try {
    // Bad flows stop the start, naming the file, the node and the problem.
    const flows = await loadFlows(config.callflowsDir, { audioDir: config.audioDir });
    const keyring = await createKeyring(config);

    if (opts.migrate !== false) {
      // Migrations on a pool of their own, as the connecting user (the tables' owner), without the
      // service's statement timeouts: a long one must finish.
      const migrationDb = createDb(config.database.url, config.database.schema, 1, { statementMs: 0, queryMs: 0 });
      try {
        await migrateToLatest(migrationDb, config.database.schema);
      } finally {
        await migrationDb.destroy();
      }
    }
    // The service itself never runs as the owner: `ahl_system` where it must cross practices,
    // `ahl_tenant` (row-level security, one practice per connection) for a request's own work.
    const db = createDb(config.database.url, config.database.schema, 10, {}, 'ahl_system');
    closers.push(() => db.destroy());
    const tenants = createTenantDbs(config.database.tenantUrl, config.database.schema, 10);
    closers.push(() => tenants.destroy());

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
      tenants,
      redis,
      storage,
      keyring,
      flows,
      flowResolver: createFlowResolver(db, flows, config.audioDir),
      audit,
      twilio,
      queues,
      metrics,
      recordingSpool: createRecordingSpool(config.dataDir),
      caches: createPracticeCaches(db, config),
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
    return services;
  } catch (err) {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    throw err;
  }
}
