/**
 * Benchmarks. Each section starts what it measures plus a baseline in the same run, prints
 * figures and a ratio against the baseline, and cleans up after itself (also on Ctrl-C).
 *
 *   npm run bench              run every section
 *   npm run bench -- webhook   run the named sections only
 *   npm run bench -- --list    list the sections
 *
 * Targets are informational: exit 0 whether they are met or missed; exit 1 when a section
 * failed (errors, wrong status codes, a target that stopped), 2 on bad arguments.
 * Needs PostgreSQL and Redis as for `npm start` (DATABASE_URL, REDIS_URL).
 */
import { Scope } from './bench/scope.js';
import { benchAbort } from './bench/abort.js';
import type { Bench } from './bench/types.js';
import { voicemailBench } from './bench/voicemail.js';
import { webhookBench } from './bench/webhook.js';
import { campaignBench } from './bench/campaign.js';
import { importBench } from './bench/import.js';
import { usageExit, wantsHelp } from './cli-support.js';

/** Add further sections here; they run in this order. */
const benches: Bench[] = [webhookBench, voicemailBench, campaignBench, importBench];

const USAGE = `usage: npm run bench -- [name ...] [--list]\nsections:\n${benches.map((b) => `  ${b.name.padEnd(10)} ${b.description}`).join('\n')}`;

let currentScope: Scope | null = null;
let interruptedAt = 0;

function onSignal(signal: NodeJS.Signals): void {
  if (interruptedAt) {
    // Ctrl-C reaches this process twice (from the terminal and relayed by tsx): only a later one forces the exit.
    if (Date.now() - interruptedAt < 1_500) return;
    process.stderr.write(`\n${signal} again: exiting without finishing the cleanup\n`);
    process.exit(130);
  }
  interruptedAt = Date.now();
  process.stderr.write(`\n${signal}: stopping and cleaning up…\n`);
  benchAbort.abort();
  void (currentScope?.close() ?? Promise.resolve()).finally(() => process.exit(130));
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (wantsHelp(args)) usageExit(USAGE);
  if (args.includes('--list')) {
    console.log(USAGE);
    return 0;
  }
  const unknown = args.filter((a) => !benches.some((b) => b.name === a));
  if (unknown.length) usageExit(USAGE, `unknown bench section${unknown.length > 1 ? 's' : ''} or option: ${unknown.join(', ')}`);
  const selected = args.length ? benches.filter((b) => args.includes(b.name)) : benches;

  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const failed: string[] = [];
  for (const bench of selected) {
    const started = Date.now();
    console.log(`\n== ${bench.name}: ${bench.description}`);
    const scope = new Scope();
    currentScope = scope;
    let problems: string[];
    try {
      problems = await bench.run(scope);
    } catch (err) {
      problems = [err instanceof Error ? err.message : String(err)];
    } finally {
      await scope.close();
      currentScope = null;
    }
    if (interruptedAt) return 130;
    if (problems.length) {
      failed.push(bench.name);
      console.error(`\n${bench.name}: FAILED (any figures above are not meaningful):`);
      for (const p of problems) console.error(`  - ${p}`);
    }
    console.log(`(${bench.name}: ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }
  if (failed.length) {
    console.error(`\nbench failed: ${failed.join(', ')}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
