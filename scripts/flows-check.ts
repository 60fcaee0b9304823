/**
 * Check the call-flow files: `npm run flows:check [-- <dir>]` (default callflows/).
 * Prints `OK <file>: <n> nodes` for each good flow and every problem; exits 1 on any problem.
 */
import { checkFlowDir, problemsOf } from '../src/calls/flow-loader.js';
import { formatFlowProblem } from '../src/calls/flow-schema.js';
import { cliArgs, usageExit } from './cli-support.js';

const USAGE = 'usage: npm run flows:check [-- <dir>]\n  Checks every call flow in <dir> (default callflows/); exit 1 on any problem.';
const { positionals } = cliArgs(USAGE, { options: {}, allowPositionals: true });
if (positionals.length > 1) usageExit(USAGE, 'expected at most one directory');
const dir = positionals[0] ?? 'callflows';
const report = await checkFlowDir(dir);
for (const { file, flow, problems } of report.files) {
  if (flow !== undefined && problems.length === 0) console.log(`OK ${file}: ${Object.keys(flow.nodes).length} nodes`);
}
const problems = problemsOf(report);
for (const problem of problems) console.error(formatFlowProblem(problem));
if (problems.length > 0) {
  console.error(`${problems.length} problem${problems.length === 1 ? '' : 's'} in call flows`);
  process.exitCode = 1;
}
