import { loadConfig, ConfigError, type Config } from '../src/config.js';
import { createDb, type Db } from '../src/adapters/postgres.js';
import { migrateToLatest } from '../src/adapters/migrate.js';
import { resolvePractice, type Practice } from '../src/practices/store.js';

/** Shared start-up for the command-line tools: config (or a clear error), a database handle. */
export function cliConfig(): Config {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

export function cliDb(config: Config): Db {
  return createDb(config.database.url, config.database.schema, 2);
}

export function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

/** For a tool that works on one practice: the schema brought up to date, then the practice named by `--practice` (id or slug), or exit 2. */
export async function cliPractice(db: Db, config: Config, ref: string): Promise<Practice> {
  await migrateToLatest(db, config.database.schema);
  const practice = await resolvePractice(db, ref);
  if (!practice) fail(`--practice: no practice "${ref}"`);
  return practice;
}
