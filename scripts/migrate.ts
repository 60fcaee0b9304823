import { migrateToLatest } from '../src/adapters/migrate.js';
import { createDb } from '../src/adapters/postgres.js';
import { cliArgs, cliConfig } from './cli-support.js';

cliArgs('usage: npm run migrate\n  Applies pending migrations to DATABASE_URL / DATABASE_SCHEMA.', { options: {} });
const config = cliConfig();
// Without the service's statement timeouts: a long migration must finish.
const db = createDb(config.database.url, config.database.schema, 1, { statementMs: 0, queryMs: 0 });
try {
  const applied = await migrateToLatest(db, config.database.schema);
  process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n');
} finally {
  await db.destroy();
}
