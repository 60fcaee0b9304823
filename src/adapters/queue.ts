import { Queue, Worker, type ConnectionOptions, type Job, type JobsOptions, type Processor, type WorkerOptions } from 'bullmq';
import type { Config } from '../config.js';
import { TIMED_OUT, withDeadline } from './deadline.js';

/**
 * BullMQ queues and workers. BullMQ namespaces its keys with its own `prefix` (it does not
 * honour an ioredis keyPrefix), so the configured key prefix is passed as BullMQ's prefix:
 * every key a queue writes still starts with REDIS_KEY_PREFIX.
 * Job payloads carry ids only, never PHI: BullMQ stores them in clear text.
 */

export const QUEUE_NAMES = ['pages', 'voicemail', 'maintenance', 'drops', 'fhir', 'imports'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export function bullPrefix(config: Config): string {
  return config.redis.keyPrefix.replace(/:$/, '');
}

/** Connection options (not a client), so BullMQ opens and closes its own connections. */
export function bullConnection(config: Config): ConnectionOptions {
  const u = new URL(config.redis.url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.pathname.length > 1 ? { db: Number(u.pathname.slice(1)) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
  };
}

/** Retries with exponential backoff and jitter; permanent failures throw UnrecoverableError. */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 2_000, jitter: 0.5 },
  removeOnComplete: { age: 24 * 3600, count: 1000 },
  removeOnFail: false,
};

export interface Queues {
  pages: Queue;
  voicemail: Queue;
  maintenance: Queue;
  drops: Queue;
  /** A practice's FHIR server sync (src/fhir/), queued by the schedule's sweep. */
  fhir: Queue;
  /** CSV imports received by the API, run by the worker (src/patients/import-worker.ts). */
  imports: Queue;
  close(): Promise<void>;
}

export function createQueues(config: Config): Queues {
  const make = (name: QueueName): Queue => {
    const q = new Queue(name, { connection: bullConnection(config), prefix: bullPrefix(config), defaultJobOptions: DEFAULT_JOB_OPTIONS });
    q.on('error', () => undefined);
    return q;
  };
  const pages = make('pages');
  const voicemail = make('voicemail');
  const maintenance = make('maintenance');
  const drops = make('drops');
  const fhir = make('fhir');
  const imports = make('imports');
  return {
    pages,
    voicemail,
    maintenance,
    drops,
    fhir,
    imports,
    close: async () => {
      await Promise.all([pages.close(), voicemail.close(), maintenance.close(), drops.close(), fhir.close(), imports.close()]);
    },
  };
}

/** `settings`: the worker's own advanced settings, such as a custom backoff strategy. */
export function startWorker<T>(config: Config, name: QueueName, processor: Processor<T>, concurrency = 4, settings?: WorkerOptions['settings']): Worker<T> {
  const worker = new Worker<T>(name, processor, {
    connection: bullConnection(config),
    prefix: bullPrefix(config),
    concurrency,
    autorun: true,
    ...(settings ? { settings } : {}),
  });
  worker.on('error', () => undefined);
  return worker;
}

/** True when BullMQ will not try the job again should this attempt fail (attemptsMade counts the attempts before it). */
export function isLastAttempt(job: Job): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

export type { Job };

/**
 * How long a webhook waits on a BullMQ command. BullMQ's connections retry for ever and queue
 * commands while Redis is away (maxRetriesPerRequest: null); a webhook must not wait on that.
 */
export const QUEUE_COMMAND_MS = 2_000;

/** Redis (for this queue) is unreachable or did not answer in time: nothing was queued. */
export class QueueUnavailableError extends Error {
  constructor(readonly reason: 'not_connected' | 'timed_out') {
    super(`queue unavailable: ${reason}`);
    this.name = 'QueueUnavailableError';
  }
}

/** Whether the queue's connection is up now (never waits on a reconnect). */
export async function queueIsReady(queue: Queue): Promise<boolean> {
  const client = await withDeadline(queue.getBackend().client, 50);
  return client !== TIMED_OUT && client.status === 'ready';
}

/**
 * Runs BullMQ commands only on a connection that is up, within `ms`: with Redis down this fails at
 * once instead of waiting in the offline queue; with Redis hung it fails after `ms` (the commands
 * may still run later: callers use idempotent jobIds).
 */
export async function queueCommand<T>(queue: Queue, work: () => Promise<T>, ms = QUEUE_COMMAND_MS): Promise<T> {
  const fail = (reason: QueueUnavailableError['reason']): never => {
    LAST_FAILURE.set(queue, Date.now());
    throw new QueueUnavailableError(reason);
  };
  if (!(await queueIsReady(queue))) fail('not_connected');
  const result = await withDeadline(work(), ms);
  if (result === TIMED_OUT) return fail('timed_out');
  return result;
}

const LAST_FAILURE = new WeakMap<Queue, number>();

/** When queueCommand last failed on this queue (epoch ms; 0: never): what was not queued then is owed. */
export function lastQueueFailureAt(queue: Queue): number {
  return LAST_FAILURE.get(queue) ?? 0;
}
