import type { Services } from '../services.js';
import { logger } from '../log/logger.js';

/**
 * Where the fail-safe answer forwards a caller, by the practice number they called: kept in
 * memory so that a PostgreSQL (or Redis) outage still puts callers through to a human.
 *
 * The map is loaded whole when the service starts (`preloadFallbackNumbers`), kept current
 * by every successful practice lookup (`rememberFallbackNumber`), and reloaded after an admin
 * change (`refreshFallbackNumbers`). A reload replaces the map only once the new one has been
 * read: a failed reload keeps what was known, so the map is never left empty by a change.
 */

/** Practice number (E.164) → its practice's fallback number (null: the practice has none). */
type FallbackMap = Map<string, string | null>;

interface Entry {
  map: FallbackMap;
  /** Reloads are numbered so that an older one finishing late cannot undo a newer one. */
  started: number;
  applied: number;
}

/** One map per running service (tests run several side by side in one process). */
const entries = new WeakMap<Services, Entry>();

function entryOf(services: Services): Entry {
  let entry = entries.get(services);
  if (!entry) {
    entry = { map: new Map(), started: 0, applied: 0 };
    entries.set(services, entry);
  }
  return entry;
}

/** Reads every practice number with its fallback number and replaces the map with it. */
async function refreshFallbackNumbers(services: Services): Promise<number> {
  const entry = entryOf(services);
  const ticket = (entry.started += 1);
  const rows = await services.db
    .selectFrom('practice_numbers')
    .innerJoin('practices', 'practices.id', 'practice_numbers.practice_id')
    .select(['practice_numbers.e164', 'practices.fallback_number'])
    .execute();
  if (ticket > entry.applied) {
    entry.map = new Map(rows.map((r) => [r.e164, r.fallback_number]));
    entry.applied = ticket;
  }
  return rows.length;
}

/**
 * For the service start: fills the map before the first call arrives. A database that is down
 * at start does not stop the service (it starts not ready, answering fail-safe); the map then
 * fills as lookups succeed and on the next admin change.
 */
export async function preloadFallbackNumbers(services: Services): Promise<number> {
  try {
    return await refreshFallbackNumbers(services);
  } catch (err) {
    logger.warn('fallback numbers: could not load them at start', { err });
    return 0;
  }
}

/** After an admin change: reload in the background; until it is done (or if it fails) the old entries stay. */
export function refreshFallbackNumbersSoon(services: Services): void {
  void refreshFallbackNumbers(services).catch((err: unknown) => logger.warn('fallback numbers: reload failed; keeping the last known ones', { err }));
}

/** A practice lookup just succeeded: its number's entry is current. `null` practice: the number is no longer anyone's. */
export function rememberFallbackNumber(services: Services, number: string, practice: { fallbackNumber: string | null } | null): void {
  const { map } = entryOf(services);
  if (practice) map.set(number, practice.fallbackNumber);
  else map.delete(number);
}

/** The practice's fallback number for a called number, else FALLBACK_NUMBER, else null (the caller is asked to call back). */
export function fallbackNumberFor(services: Services, to: string | undefined): string | null {
  const known = to ? entryOf(services).map.get(to) : undefined;
  return known ?? services.config.fallbackNumber ?? null;
}
