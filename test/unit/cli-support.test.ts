import { afterEach, describe, expect, it, vi } from 'vitest';
import { cliArgs, wantsHelp } from '../../scripts/cli-support.js';

/** The shared argument parsing of every tool in scripts/: usage and exit 2, never a stack trace. */

class Exited extends Error {
  constructor(readonly code: number | undefined) {
    super(`exit ${code}`);
  }
}

function capture(fn: () => unknown): { code: number | undefined; stdout: string; stderr: string; result?: unknown } {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process, 'exit').mockImplementation((code?: string | number | null) => {
    throw new Exited(typeof code === 'number' ? code : undefined);
  });
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  try {
    const result = fn();
    return { code: undefined, stdout, stderr, result };
  } catch (err) {
    if (err instanceof Exited) return { code: err.code, stdout, stderr };
    throw err;
  } finally {
    vi.restoreAllMocks();
  }
}

const USAGE = 'usage: npm run thing -- --name <text>';
const config = { options: { name: { type: 'string' } } } as const;

afterEach(() => {
  vi.restoreAllMocks();
});

describe('cliArgs', () => {
  it('answers --help and -h with the usage on standard output, exit 2', () => {
    for (const args of [['--help'], ['-h'], ['--name', 'x', '--help']]) {
      expect(capture(() => cliArgs(USAGE, config, args))).toEqual({ code: 2, stdout: `${USAGE}\n`, stderr: '' });
    }
  });

  it('refuses an unknown option, a missing value and a stray argument with the problem and the usage on standard error, exit 2', () => {
    for (const [args, problem] of [
      [['--nmae', 'x'], "Unknown option '--nmae'"],
      [['--name'], "Option '--name <value>' argument missing"],
      [['extra'], "Unexpected argument 'extra'"],
    ] as const) {
      const run = capture(() => cliArgs(USAGE, config, [...args]));
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain(problem);
      expect(run.stderr.endsWith(`${USAGE}\n`)).toBe(true);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('passes good arguments through', () => {
    expect(capture(() => cliArgs(USAGE, config, ['--name', 'x'])).result).toMatchObject({ values: { name: 'x' } });
  });

  it('does not read --help after --', () => {
    expect(wantsHelp(['--', '--help'])).toBe(false);
    expect(wantsHelp(['a', '-h'])).toBe(true);
  });
});
