import { verifyChain } from '../src/audit/store.js';
import { cliArgs, cliConfig, cliDb } from './cli-support.js';

cliArgs('usage: npm run audit:verify\n  Walks the audit hash chain; prints OK or the first bad row (exit 1).', { options: {} });
const config = cliConfig();
const db = cliDb(config);
try {
  const result = await verifyChain(db);
  if (result.ok) {
    process.stdout.write(`OK: ${result.rows} audit rows, chain intact\n`);
  } else {
    process.stdout.write(`BAD: row seq=${result.problem?.seq}: ${result.problem?.reason} (${result.rows} rows before it verified)\n`);
    process.exitCode = 1;
  }
} finally {
  await db.destroy();
}
