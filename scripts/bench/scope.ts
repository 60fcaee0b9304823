import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * Cleanup for a benchmark: everything a bench starts or creates registers how to undo it here,
 * and the runner undoes it all (newest first) in a `finally` or on SIGINT/SIGTERM.
 */
export class Scope {
  private readonly undo: Array<{ label: string; fn: () => Promise<void> | void }> = [];
  private closing: Promise<void> | null = null;

  defer(label: string, fn: () => Promise<void> | void): void {
    this.undo.push({ label, fn });
  }

  /** Runs every deferred step once, newest first; a failing step is reported and the rest still run. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (let step = this.undo.pop(); step; step = this.undo.pop()) {
        try {
          await step.fn();
        } catch (err) {
          console.error(`bench cleanup: ${step.label} failed: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    })();
    return this.closing;
  }
}

/** Where one bench run keeps its data: its own schema, Redis key prefix and data directory (removed when the scope closes). */
export async function benchIsolation(scope: Scope): Promise<{ schema: string; keyPrefix: string; dataDir: string }> {
  const tag = randomBytes(4).toString('hex');
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ahl-bench-'));
  scope.defer(`remove ${dataDir}`, () => rm(dataDir, { recursive: true, force: true }));
  return { schema: `bench_${tag}`, keyPrefix: `bench-${tag}:`, dataDir };
}
