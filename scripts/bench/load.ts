import autocannon from 'autocannon';
import { benchAbort, throwIfAborted } from './abort.js';

/** One autocannon run's figures, reduced to what the benches print and check. */
export interface LoadFigures {
  label: string;
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  total: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  /** 2xx answers whose body failed the check (e.g. a fail-safe answer instead of the real one). */
  mismatches: number;
  errors: number;
  timeouts: number;
}

export interface LoadSpec {
  url: string;
  label: string;
  durationSec: number;
  connections?: number;
  /** Requests per second across all connections; unset: as fast as the target answers. */
  overallRate?: number;
  requests: autocannon.Request[];
  verifyBody?: (body: string) => boolean;
  /**
   * With `overallRate`, autocannon's latency correction assumes 1 ms between a connection's
   * requests (it computes ceil(1 / per-connection rate per second)), which invents samples;
   * set this to record the measured latencies only.
   */
  ignoreCoordinatedOmission?: boolean;
}

/** Runs autocannon; on abort (SIGINT) the run stops early and its promise rejects. */
export function runLoad(spec: LoadSpec): Promise<LoadFigures> {
  throwIfAborted();
  return new Promise<LoadFigures>((resolve, reject) => {
    const instance = autocannon(
      {
        url: spec.url,
        connections: spec.connections ?? 10,
        duration: spec.durationSec,
        ...(spec.overallRate !== undefined ? { overallRate: spec.overallRate } : {}),
        requests: spec.requests,
        ...(spec.ignoreCoordinatedOmission ? { ignoreCoordinatedOmission: true } : {}),
        ...(spec.verifyBody ? { verifyBody: (body) => spec.verifyBody?.(String(body)) ?? true } : {}),
        timeout: 10,
      },
      (err: unknown, result: autocannon.Result) => {
        benchAbort.signal.removeEventListener('abort', onAbort);
        if (benchAbort.signal.aborted) {
          reject(new Error('interrupted'));
          return;
        }
        if (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        const statusCodes: Record<string, number> = {};
        for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stat.count ?? 0;
        resolve({
          label: spec.label,
          requestsPerSec: result.requests.average,
          p50Ms: result.latency.p50,
          p99Ms: result.latency.p99,
          total: result.requests.total,
          non2xx: result.non2xx,
          statusCodes,
          mismatches: result.mismatches,
          errors: result.errors,
          timeouts: result.timeouts,
        });
      },
    );
    const onAbort = (): void => instance.stop();
    benchAbort.signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Problems a run must not have: connection errors, timeouts, non-2xx answers, unexpected bodies. */
export function loadProblems(
  target: string,
  f: Pick<LoadFigures, 'label' | 'total' | 'non2xx' | 'statusCodes' | 'mismatches' | 'errors'> & { timeouts?: number },
): string[] {
  const problems: string[] = [];
  if (f.total === 0) problems.push(`${target} ${f.label}: no responses at all`);
  if (f.non2xx > 0) {
    const codes = Object.entries(f.statusCodes)
      .filter(([code]) => !code.startsWith('2'))
      .map(([code, n]) => `${n}× ${code}`)
      .join(', ');
    problems.push(`${target} ${f.label}: ${f.non2xx} non-2xx responses (${codes})`);
  }
  if (f.mismatches > 0) problems.push(`${target} ${f.label}: ${f.mismatches} responses with an unexpected body`);
  if (f.errors > 0) problems.push(`${target} ${f.label}: ${f.errors} connection errors${f.timeouts ? ` (${f.timeouts} timeouts)` : ''}`);
  return problems;
}
