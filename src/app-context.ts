import type { Redis } from 'ioredis';
import type { Config } from './config.js';
import type { Db, TenantDbs } from './adapters/postgres.js';
import type { Storage } from './adapters/storage.js';
import type { Keyring } from './adapters/keyring.js';
import type { Queues } from './adapters/queue.js';
import type { TwilioRest } from './adapters/twilio-rest.js';
import type { Metrics } from './adapters/metrics.js';
import type { AuditWriter } from './audit/store.js';

/**
 * The adapters of one running instance: what a domain function may be given. A function takes
 * only the part it uses (`Pick<AppContext, 'db' | 'audit' | 'clock'>`, as GoAlert's stores take
 * their dependencies), so its signature says what it touches.
 *
 * This module holds types only and imports nothing but adapters, the audit writer and the
 * configuration (the layer rule `app-context-is-adapters` in .dependency-cruiser.cjs): a domain
 * may import it without ever closing an import cycle. Built by `startServices` (./services.ts),
 * which returns it extended with what start-up adds (`Services`).
 */
export interface AppContext {
  config: Config;
  /** The `ahl_system` role: crosses practices (workers, sweeps, the lookups that find a practice). */
  db: Db;
  /** `ahl_tenant` connections, one practice each, under row-level security; reached through a `PracticeScope` (src/tenancy/). */
  tenants: TenantDbs;
  redis: Redis;
  storage: Storage;
  keyring: Keyring;
  /** The append-only audit log's writer (src/audit/store.ts): below every domain, above the adapters. */
  audit: AuditWriter;
  twilio: TwilioRest;
  queues: Queues;
  /** Prometheus metrics of this instance (src/adapters/metrics.ts), served at /metrics. */
  metrics: Metrics;
  /** Now, injected: tests move time instead of waiting. */
  clock: () => Date;
}
