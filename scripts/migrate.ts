import { migrateToLatest } from '../src/adapters/migrate.js';
import { cliConfig, cliDb } from './cli-support.js';

const config = cliConfig();
const db = cliDb(config);
try {
  const applied = await migrateToLatest(db, config.database.schema);
  process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
} finally {
  await db.destroy();
}
