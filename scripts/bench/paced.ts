import http from 'node:http';
import { benchAbort, throwIfAborted } from './abort.js';

/**
 * An open-loop load at an even pace: request i is due at start + i/rate, whether or not earlier
 * ones have been answered, and its latency is measured from when it was due (so a stalled
 * target is charged for the requests it held up: no coordinated omission).
 *
 * Why not autocannon's `overallRate`: it gives each connection a per-second quota that resets
 * on a 1 s timer, so each connection fires its quota back to back at the start of every second
 * (a burst at full speed, then idle), and its latency correction assumes 1 ms between requests.
 */
export interface PacedSpec {
  url: string;
  label: string;
  ratePerSec: number;
  durationSec: number;
  /** Built per request: path, headers, body. */
  makeRequest: () => { path: string; headers: Record<string, string>; body: string };
  verifyBody?: (body: string) => boolean;
  /** Sockets kept open at most; requests beyond wait in the agent (and that wait is counted). */
  maxSockets?: number;
  timeoutMs?: number;
  /**
   * How long to wait for answers after the last request went out. A target slower than the rate
   * builds a queue; what is still unanswered then is abandoned and counted as `unanswered`, its
   * wait so far entering the percentiles as a lower bound. Keeps the run's length bounded.
   */
  drainMs?: number;
}

export interface PacedFigures {
  label: string;
  /** 2xx answers per second, from the due time of the first request to the last answer. */
  achievedPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  total: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  mismatches: number;
  errors: number;
  /** Still unanswered `drainMs` after the last request was sent (a target that cannot keep up). */
  unanswered: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? Number.NaN;
}

/** On abort (SIGINT) sending stops and the promise rejects. */
export async function runPaced(spec: PacedSpec): Promise<PacedFigures> {
  throwIfAborted();
  const target = new URL(spec.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.maxSockets ?? 64 });
  const count = Math.round(spec.ratePerSec * spec.durationSec);
  const intervalMs = 1000 / spec.ratePerSec;
  const latencies: number[] = [];
  const statusCodes: Record<string, number> = {};
  let non2xx = 0;
  let mismatches = 0;
  let errors = 0;
  let lastDone = 0;
  let answered = 0;
  let abandoned = false;
  const pending = new Map<number, http.ClientRequest>();

  const send = (dueAt: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const settle = (): void => {
        pending.delete(dueAt);
        resolve();
      };
      const { path, headers, body } = spec.makeRequest();
      const req = http.request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          method: 'POST',
          path,
          headers: { ...headers, 'content-length': Buffer.byteLength(body).toString() },
          timeout: spec.timeoutMs ?? 10_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const now = performance.now();
            lastDone = Math.max(lastDone, now);
            const status = res.statusCode ?? 0;
            statusCodes[status] = (statusCodes[status] ?? 0) + 1;
            if (status >= 200 && status < 300) {
              latencies.push(now - dueAt);
              answered++;
              if (spec.verifyBody && !spec.verifyBody(Buffer.concat(chunks).toString('utf8'))) mismatches++;
            } else {
              non2xx++;
            }
            settle();
          });
          res.on('error', () => {
            if (!abandoned) errors++;
            settle();
          });
        },
      );
      pending.set(dueAt, req);
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        if (!abandoned) errors++;
        settle();
      });
      req.end(body);
    });

  const inFlight: Array<Promise<void>> = [];
  const start = performance.now() + 5;
  let sent = 0;
  while (sent < count && !benchAbort.signal.aborted) {
    const now = performance.now();
    // Everything due by now goes out now, each charged from its own due time.
    while (sent < count && start + sent * intervalMs <= now) {
      inFlight.push(send(start + sent * intervalMs));
      sent++;
    }
    const nextDue = start + sent * intervalMs;
    await new Promise((r) => setTimeout(r, Math.max(0, nextDue - performance.now())));
  }
  if (benchAbort.signal.aborted) {
    agent.destroy();
    throw new Error('interrupted');
  }
  const drained = Promise.all(inFlight).then(() => true);
  let drainTimer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((r) => (drainTimer = setTimeout(() => r(false), spec.drainMs ?? 2_000)));
  const allAnswered = await Promise.race([drained, timedOut]);
  clearTimeout(drainTimer);
  let unanswered = 0;
  if (!allAnswered) {
    const now = performance.now();
    unanswered = pending.size;
    abandoned = true;
    for (const [dueAt, req] of pending) {
      latencies.push(now - dueAt);
      req.destroy();
    }
  }
  agent.destroy();
  await drained;

  latencies.sort((a, b) => a - b);
  const total = sent;
  return {
    label: spec.label,
    achievedPerSec: answered && lastDone > start ? (answered / (lastDone - start)) * 1000 : 0,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies.at(-1) ?? Number.NaN,
    total,
    non2xx,
    statusCodes,
    mismatches,
    errors,
    unanswered,
  };
}
