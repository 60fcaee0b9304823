import type { Services } from '../services.js';

/**
 * Where the fail-safe answer forwards a caller, by the practice number they called. The map
 * itself is one of the instance's practice caches (../practices/caches.ts, at
 * `services.caches.fallbackNumbers`): preloaded at start (src/workers.ts), kept current by every
 * practice lookup, reloaded after an admin change. These functions are the call path's names for it.
 */

type WithFallbacks = Pick<Services, 'caches'>;

/** For the service start: fills the map before the first call arrives (a database that is down only logs). */
export async function preloadFallbackNumbers(services: WithFallbacks): Promise<number> {
  return services.caches.fallbackNumbers.preload();
}


/** The practice's fallback number for a called number, else FALLBACK_NUMBER, else null (the caller is asked to call back). */
export function fallbackNumberFor(services: WithFallbacks, to: string | undefined): string | null {
  return services.caches.fallbackNumbers.numberFor(to);
}
