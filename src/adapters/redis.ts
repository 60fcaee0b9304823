import { Redis } from 'ioredis';
import { TIMED_OUT, withDeadline } from './deadline.js';

/**
 * A command without an answer after this long fails: a Redis that hangs (rather than refusing
 * connections) must not hold a webhook past Twilio's 15 s. No blocking commands use this client.
 */
const REDIS_COMMAND_TIMEOUT_MS = 2_000;

/** A client whose every key carries `keyPrefix` (tests use one prefix per file). */
export function createRedis(url: string, keyPrefix: string): Redis {
  const client = new Redis(url, {
    keyPrefix,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    connectTimeout: 2_000,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  // Connection errors surface through commands and /readyz; never crash the process.
  client.on('error', () => undefined);
  return client;
}

export async function pingRedis(client: Redis, timeoutMs = 1_000): Promise<void> {
  if ((await withDeadline(client.ping(), timeoutMs)) === TIMED_OUT) throw new Error('timed out');
}
