import { verifyChain } from '../src/audit/store.js';
import { cliConfig, cliDb } from './cli-support.js';

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
