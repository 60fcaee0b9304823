import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfig, ConfigError, type Config } from '../src/config.js';
import { createDb, type Db } from '../src/adapters/postgres.js';
import { migrateToLatest } from '../src/adapters/migrate.js';
import { resolvePractice, type Practice } from '../src/practices/store.js';
import type { WebhookDifference } from '../src/practices/lines.js';

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

/** Writes the usage and exits 2: for `--help`, and for anything the tool does not understand (never a stack trace). */
export function usageExit(usage: string, problem?: string): never {
  if (problem === undefined) process.stdout.write(`${usage}\n`);
  else process.stderr.write(`${problem}\n${usage}\n`);
  process.exit(2);
}

/** True when the arguments (before a `--`) ask for help. */
export function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/**
 * Every tool's argument parsing: strict `parseArgs` (an unknown option, a missing value or an
 * unexpected argument is refused), with `--help` / `-h` answered by the usage. Both exit 2.
 */
export function cliArgs<T extends ParseArgsConfig>(usage: string, config: T, args: string[] = process.argv.slice(2)): ReturnType<typeof parseArgs<T>> {
  if (wantsHelp(args)) usageExit(usage);
  try {
    return parseArgs<T>({ strict: true, ...config, args });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    usageExit(usage, message.split('\n')[0] ?? message);
  }
}

/** numbers:connect and numbers:check: one line per field Twilio holds differently, what it should be and what it is. */
export function printDifferences(differences: readonly WebhookDifference[]): void {
  for (const d of differences) process.stdout.write(`  ${d.field.padEnd(20)} expected ${d.expected || '(none)'}, Twilio has ${d.actual || '(none)'}\n`);
}
