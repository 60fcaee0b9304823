import { loadConfig, type Config } from '../../src/config.js';
import { startServices, type Services } from '../../src/services.js';
import { loadLogModeTwilio } from '../../src/log-mode.js';
import type { Practice } from '../../src/practices/store.js';
import { dropIsolation } from '../../test/support/harness.js';
import { benchIsolation, type Scope } from './scope.js';

/**
 * The service with its adapters (no HTTP, no workers) in a schema, Redis prefix and data folder
 * of its own, with the demo practice seeded: what the in-process benches (campaign, import)
 * measure against. Twilio is log mode's stand-in, as for `npm start` with no Twilio account.
 * Everything is dropped when `scope` closes.
 */
export async function startSeededService(
  scope: Scope,
  opts: { clock?: () => Date } = {},
): Promise<{ config: Config; services: Services; practice: Practice; schema: string; keyPrefix: string; dataDir: string }> {
  const { schema, keyPrefix, dataDir } = await benchIsolation(scope);
  const config = loadConfig({
    ...(process.env as Record<string, string>),
    NODE_ENV: 'development',
    DATABASE_SCHEMA: schema,
    REDIS_KEY_PREFIX: keyPrefix,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'error',
    SEED_DEMO: 'true',
  });
  scope.defer(`drop schema ${schema} and Redis keys ${keyPrefix}*`, () => dropIsolation(config, schema, keyPrefix));
  const twilio = await loadLogModeTwilio(config);
  const services = await startServices(config, { ...(opts.clock ? { clock: opts.clock } : {}), ...(twilio === undefined ? {} : { twilio }) });
  scope.defer('close services', () => services.close());
  const practice = services.seeded;
  if (!practice) throw new Error('demo practice was not seeded');
  return { config, services, practice, schema, keyPrefix, dataDir };
}
