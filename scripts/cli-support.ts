import { loadConfig, ConfigError, type Config } from '../src/config.js';
import { createDb, type Db } from '../src/adapters/postgres.js';

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
