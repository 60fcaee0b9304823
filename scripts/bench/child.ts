import { spawn } from 'node:child_process';
import type { Scope } from './scope.js';

export interface ChildServer {
  name: string;
  port: number;
  baseUrl: string;
  /** Why the child has exited, or null while it runs. */
  exitReason(): string | null;
  /** The tails of its standard output and error, for diagnostics. */
  outputTail(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

const LISTENING = /listening on http:\/\/127\.0\.0\.1:(\d+)/;

/**
 * Starts `node --import tsx <script>` in `cwd` and waits until it prints
 * `listening on http://127.0.0.1:<port>`. The child is stopped when `scope` closes.
 */
export async function startChild(
  scope: Scope,
  opts: { name: string; script: string; cwd: string; env: Record<string, string>; startTimeoutMs?: number },
): Promise<ChildServer> {
  const startTimeoutMs = opts.startTimeoutMs ?? 30_000;
  const child = spawn(process.execPath, ['--import', 'tsx', opts.script], {
    cwd: opts.cwd,
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  let exitReason: string | null = null;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitReason = signal ? `killed by ${signal}` : `exit code ${code}`;
      resolve();
    });
  });
  let stopping: Promise<void> | null = null;
  const stop = (graceMs = 5_000): Promise<void> => {
    stopping ??= (async () => {
      if (exitReason === null && child.pid !== undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
    })();
    return stopping;
  };
  scope.defer(`stop ${opts.name}`, () => stop());

  // Keep the tails of both streams; reading them also keeps the child from blocking on a full pipe.
  let stderr = '';
  let stdout = '';
  let listening = false;
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4_000);
  });

  const port = await new Promise<number>((resolve, reject) => {
    const done = (err: Error | null, value?: number): void => {
      clearTimeout(timer);
      child.off('error', onError);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(value ?? 0);
    };
    const failure = (why: string): Error =>
      new Error(`${opts.name} ${why}${stderr.trim() ? `; its stderr:\n${stderr.trim()}` : ''}`);
    const onError = (err: Error): void => done(failure(`could not start: ${err.message}`));
    const onExit = (): void => done(failure(`exited before listening (${exitReason ?? 'unknown'})`));
    const timer = setTimeout(() => done(failure(`did not report its port within ${startTimeoutMs} ms`)), startTimeoutMs);
    child.once('error', onError);
    child.once('exit', onExit);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout = (stdout + chunk).slice(-4_000);
      if (listening) return;
      const m = LISTENING.exec(stdout);
      if (m?.[1]) {
        listening = true;
        done(null, Number(m[1]));
      }
    });
  });
  return {
    name: opts.name,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    exitReason: () => exitReason,
    outputTail: () => [stdout.trim(), stderr.trim()].filter(Boolean).join('\n'),
    stop,
  };
}
