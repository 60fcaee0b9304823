import { checkpointSinks, fileCheckpointSink, readCheckpoints } from '../src/audit/checkpoints.js';
import { SYSTEM_CHAIN } from '../src/audit/events.js';
import { verifyChain } from '../src/audit/store.js';
import { cliArgs, cliConfig, cliDb, cliPractice } from './cli-support.js';

const USAGE = `usage: npm run audit:verify [-- --practice <id|slug|system>] [--checkpoints <file>]
  Walks each audit hash chain (or one) against the checkpoints of its head; prints OK per chain,
  or the first bad row or the rows missing from its end (exit 1).`;
const { values } = cliArgs(USAGE, { options: { practice: { type: 'string' }, checkpoints: { type: 'string' } } });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const config = cliConfig();
const db = cliDb(config);
try {
  // A chain by its practice's id (also of a practice since removed), by slug, or `system`.
  const ref = values.practice;
  const chains = ref === undefined ? undefined : ref === SYSTEM_CHAIN || UUID.test(ref) ? [ref] : [(await cliPractice(db, config, ref)).id];
  const sinks = values.checkpoints ? [fileCheckpointSink(values.checkpoints)] : checkpointSinks(config);
  // A line torn by a crash mid-append is skipped with a warning; the rest still count.
  const checkpoints = await readCheckpoints(sinks, (where, line) => process.stdout.write(`WARNING ${where}: line ${line} is not a checkpoint (skipped)\n`));
  const result = await verifyChain(db, { ...(chains ? { chains } : {}), checkpoints });
  for (const c of result.chains) {
    if (c.ok) process.stdout.write(`OK ${c.chain}: ${c.rows} rows, chain intact\n`);
    else if (c.problem) process.stdout.write(`BAD ${c.chain}: row seq=${c.problem.seq}: ${c.problem.reason} (${c.rows} rows before it verified)\n`);
    else if (c.missing) {
      process.stdout.write(`MISSING ${c.chain}: rows seq=${c.missing.from}..${c.missing.to} (the checkpoint of ${c.missing.checkpointAt} saw them; ${c.rows} rows verified)\n`);
    }
  }
  if (result.chains.length === 0) process.stdout.write('OK: no audit rows\n');
  if (!result.ok) process.exitCode = 1;
} finally {
  await db.destroy();
}
