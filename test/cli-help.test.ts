import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/**
 * Every command-line tool answers `--help` and an unknown option with its usage and exit 2,
 * never a stack trace, and before it touches the database or the network (none is given here).
 */

const SCRIPTS = [
  'migrate',
  'simulate',
  'audit-verify',
  'audit-export',
  'keys-create',
  'keys-list',
  'keys-revoke',
  'practice-create',
  'numbers-connect',
  'numbers-check',
  'flows-check',
  'campaign',
  'patients-import',
  'render-audio',
  'users-disable',
  'bench',
  'build-web',
  'web-types',
] as const;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runScript(script: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    // Nowhere to connect to: a tool that tried would fail rather than do something.
    const env = { ...process.env, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', REDIS_URL: 'redis://127.0.0.1:1', AHL_URL: 'http://127.0.0.1:1' };
    const child = spawn(process.execPath, ['--import', 'tsx', `scripts/${script}.ts`, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('command-line tools', () => {
  it('print their usage and exit 2 for an unknown option (and for --help), without a stack trace', async () => {
    // Every tool once with an unknown option: that proves it parses through cliArgs (whose --help
    // is covered in-process in test/unit/cli-support.test.ts). --help is spawned for the tool the
    // issue named and for the two that read their arguments their own way around it.
    const cases = [
      ...SCRIPTS.map((script) => ({ script, args: ['--no-such-option'] })),
      ...(['keys-create', 'simulate', 'bench'] as const).map((script) => ({ script, args: ['--help'] })),
    ];
    const runs = await Promise.all(cases.map(async (c) => ({ ...c, run: await runScript(c.script, c.args) })));
    for (const { script, args, run } of runs) {
      const out = `${run.stdout}\n${run.stderr}`;
      const where = `${script} ${args.join(' ')}`;
      expect(run.code, where).toBe(2);
      expect(out, where).toMatch(/^usage: npm run /m);
      expect(out, where).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
      if (args[0] === '--no-such-option') expect(run.stderr, where).toContain('--no-such-option');
    }
  }, 120_000);
});
