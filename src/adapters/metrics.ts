import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Worker } from 'bullmq';
import { TIMED_OUT, withDeadline } from './deadline.js';
import { QUEUE_NAMES, type QueueName } from './queue.js';

/**
 * Prometheus metrics, one registry per service instance (tests start several services in one
 * process, so never prom-client's global registry). Other code calls the named functions below;
 * gauges that describe stored state (queue depth, voicemails by state, drops by status) are read
 * by scrape() before it renders, each source within SOURCE_TIMEOUT_MS: a slow database cannot
 * hang a scrape.
 *
 * Labels are bounded, closed sets: route PATTERNS (never raw paths), method, status code or
 * class, queue name, state, reason. Never ids, phone numbers, paths or anything a caller sent.
 */

/** A gauge source that has not answered by then is reported down for this scrape. */
export const SOURCE_TIMEOUT_MS = 2_000;

/** Why a fail-safe answer was given; anything else is counted as `other` (the label set stays closed). */
export const FAIL_SAFE_REASONS = [
  'malformed',
  'unusable_request',
  'error',
  'deadline',
  'unknown_flow',
  'stale_action',
  'no_state',
  'duplicate_unanswered',
  'max_steps',
  'twilio_fallback',
  'unknown_route',
  'last_resort',
  'practice_suspended',
] as const;
export type FailSafeReason = (typeof FAIL_SAFE_REASONS)[number];

/** Twilio callbacks answered 200 although their effect could not be stored (Twilio does not resend them). */
export const UNPROCESSED_ROUTES = ['sms_incoming', 'call_status', 'rvm_status', 'call_back_dialed'] as const;
export type UnprocessedRoute = (typeof UNPROCESSED_ROUTES)[number];

/** Which line a verification lockout started on. */
export type LockoutLine = 'caller' | 'access_line';

export const JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;
export type JobState = (typeof JOB_STATES)[number];

export const VOICEMAIL_STATES = ['received', 'stored', 'complete', 'failed', 'expired'] as const;
export const DROP_STATUSES = ['pending', 'queued', 'sent', 'delivered', 'failed', 'skipped', 'cancelled'] as const;

/** Read on scrape; each returns counts by a closed set of keys (unknown keys are dropped). */
export interface MetricsSources {
  queueCounts(queue: QueueName): Promise<Partial<Record<string, number>>>;
  voicemailStates(): Promise<Partial<Record<string, number>>>;
  dropStatuses(): Promise<Partial<Record<string, number>>>;
}

export interface Metrics {
  readonly registry: Registry;
  /** One HTTP answer: method, route pattern (or `unmatched`), status code, seconds taken. */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  countFailSafe(reason: FailSafeReason | (string & {})): void;
  /** One committed audit batch: rows written, seconds from its start to its commit. */
  observeAuditBatch(rows: number, seconds: number): void;
  countLockout(line: LockoutLine): void;
  /** A Twilio callback answered without its effect stored (an error or the route's deadline): to alert on. */
  countUnprocessed(route: UnprocessedRoute): void;
  countJobOutcome(queue: QueueName, outcome: 'completed' | 'retried' | 'failed'): void;
  /** Counts a BullMQ worker's job outcomes from its events. */
  watchWorker(queue: QueueName, worker: Worker): void;
  /** The gauges read on scrape; until set they report nothing. */
  setSources(sources: MetricsSources): void;
  /** The exposition text and its content type. */
  scrape(): Promise<{ contentType: string; body: string }>;
}

const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const REASONS: ReadonlySet<string> = new Set(FAIL_SAFE_REASONS);

/** Twilio gives up at 15 s; a flow webhook answers fail-safe after 9 s. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 9, 15];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
}

/** Counts by key, for the keys of a closed set only (zero for the ones absent). */
function closedCounts(keys: readonly string[], counts: Partial<Record<string, number>>): Array<[string, number]> {
  return keys.map((k) => [k, Number(counts[k] ?? 0)]);
}

export function createMetrics(opts: { sourceTimeoutMs?: number } = {}): Metrics {
  const timeoutMs = opts.sourceTimeoutMs ?? SOURCE_TIMEOUT_MS;
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  let sources: MetricsSources | null = null;
  let inflight: Promise<void> | null = null;

  // Every metric goes into this service's registry only; these keep each registration to its name, help and labels.
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]): Counter<L> => new Counter({ name, help, labelNames, registers });
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]): Gauge<L> => new Gauge({ name, help, labelNames, registers });
  const histogram = <L extends string>(name: string, help: string, buckets: number[], labelNames: readonly L[] = []): Histogram<L> =>
    new Histogram({ name, help, labelNames, buckets, registers });

  const sourceUp = gauge('ahl_metrics_source_up', 'Whether a scrape-time source (queues, voicemails, drops) answered within its time limit on the last scrape', ['source']);
  /** Runs a source within the time limit; null (and source down) when it failed or was late. */
  const read = async <T>(source: string, work: () => Promise<T>): Promise<T | null> => {
    try {
      const result = await withDeadline(work(), timeoutMs, { unref: true });
      sourceUp.set({ source }, result === TIMED_OUT ? 0 : 1);
      return result === TIMED_OUT ? null : result;
    } catch {
      sourceUp.set({ source }, 0);
      return null;
    }
  };

  const requestSeconds = histogram(
    'ahl_http_request_duration_seconds',
    'Time to answer an HTTP request (Twilio webhooks included), by method, route pattern and status class',
    LATENCY_BUCKETS,
    ['method', 'route', 'status_class'],
  );
  const responses = counter('ahl_http_responses_total', 'HTTP answers by method, route pattern and status code', ['method', 'route', 'status']);
  const failSafe = counter('ahl_failsafe_answers_total', 'Fail-safe TwiML answers (emergency disclaimer, then the fallback line) by reason', ['reason']);
  const unprocessed = counter(
    'ahl_twilio_unprocessed_total',
    'Twilio callbacks answered although their effect could not be stored (Twilio does not resend them): text messages, call and drop status',
    ['route'],
  );
  const auditRows = histogram('ahl_audit_batch_rows', 'Audit rows committed per batch (group commit)', BATCH_BUCKETS);
  const auditSeconds = histogram('ahl_audit_batch_duration_seconds', 'Time from the start of an audit batch to its commit', LATENCY_BUCKETS);
  const lockouts = counter('ahl_verification_lockouts_total', 'Verification lockouts started (a caller number locked out after repeated failures), by line', ['line']);
  const jobOutcomes = counter(
    'ahl_queue_job_outcomes_total',
    'Job attempts by queue and outcome: completed, retried (will run again) or failed (no attempt left)',
    ['queue', 'outcome'],
  );

  const queueJobs = gauge('ahl_queue_jobs', 'Jobs in each queue by state, read on scrape', ['queue', 'state']);
  const voicemails = gauge('ahl_voicemails', 'Voicemails by pipeline state, read on scrape', ['state']);
  const drops = gauge('ahl_rvm_drops', 'Ringless-voicemail drops by status, read on scrape', ['status']);
  /** Reads every source at once (each within the time limit); a source that did not answer leaves its gauge empty. */
  const refresh = async (): Promise<void> => {
    const current = sources;
    if (!current) return;
    const [queues, vm, dr] = await Promise.all([
      read('queues', () => Promise.all(QUEUE_NAMES.map(async (q) => [q, await current.queueCounts(q)] as const))),
      read('voicemails', () => current.voicemailStates()),
      read('drops', () => current.dropStatuses()),
    ]);
    queueJobs.reset();
    for (const [queue, counts] of queues ?? []) {
      for (const [state, n] of closedCounts(JOB_STATES, counts)) queueJobs.set({ queue, state }, n);
    }
    voicemails.reset();
    if (vm) for (const [state, n] of closedCounts(VOICEMAIL_STATES, vm)) voicemails.set({ state }, n);
    drops.reset();
    if (dr) for (const [status, n] of closedCounts(DROP_STATUSES, dr)) drops.set({ status }, n);
  };

  const countJobOutcome = (queue: QueueName, outcome: 'completed' | 'retried' | 'failed'): void => {
    jobOutcomes.inc({ queue, outcome });
  };

  return {
    registry,
    observeRequest: (method, route, status, seconds) => {
      const m = METHODS.has(method) ? method : 'OTHER';
      requestSeconds.observe({ method: m, route, status_class: statusClass(status) }, seconds);
      responses.inc({ method: m, route, status: String(status >= 100 && status < 600 ? status : 0) });
    },
    countFailSafe: (reason) => {
      failSafe.inc({ reason: REASONS.has(reason) ? reason : 'other' });
    },
    observeAuditBatch: (rows, seconds) => {
      auditRows.observe(rows);
      auditSeconds.observe(seconds);
    },
    countLockout: (line) => {
      lockouts.inc({ line });
    },
    countUnprocessed: (route) => {
      unprocessed.inc({ route });
    },
    countJobOutcome,
    watchWorker: (queue, worker) => {
      worker.on('completed', () => countJobOutcome(queue, 'completed'));
      // BullMQ sets finishedOn only when the job will not run again (out of attempts, or
      // UnrecoverableError); no job at all is one that stalled too often, which is final too.
      worker.on('failed', (job) => countJobOutcome(queue, !job || typeof job.finishedOn === 'number' ? 'failed' : 'retried'));
    },
    setSources: (s) => {
      sources = s;
    },
    scrape: async () => {
      // Concurrent scrapes share one read: a slow database is not asked again while it is still answering.
      inflight ??= refresh().finally(() => {
        inflight = null;
      });
      await inflight;
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
