import { Redis } from 'ioredis';

/** A client whose every key carries `keyPrefix` (tests use one prefix per file). */
export function createRedis(url: string, keyPrefix: string): Redis {
  const client = new Redis(url, {
    keyPrefix,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    connectTimeout: 2_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
  // Connection errors surface through commands and /readyz; never crash the process.
  client.on('error', () => undefined);
  return client;
}

export async function pingRedis(client: Redis, timeoutMs = 1_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), timeoutMs);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}
