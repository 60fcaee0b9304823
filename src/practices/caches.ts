import type { Db } from '../adapters/postgres.js';
import type { Config } from '../config.js';
import { logger } from '../log/logger.js';
import { findPracticeByNumber, listFallbackNumbers, type NumberLookup } from './store.js';

/**
 * The per-instance caches of practice data, in one place: built with the service
 * (`startServices` puts them at `services.caches`), and invalidated by one call,
 * `caches.invalidate()`, after an admin change on this instance. Other instances follow within
 * PRACTICE_CACHE_MS (the practices) or at their next successful lookup (the fallback numbers).
 *
 * - `practices`: practices by called number, fresh for PRACTICE_CACHE_MS: saves a database
 *   round trip on every webhook. Invalidation clears it.
 * - `fallbackNumbers`: where the fail-safe answer forwards a caller, by the number they called,
 *   so that a PostgreSQL (or Redis) outage still puts callers through to a human. Loaded whole
 *   at start (`preload`, from src/workers.ts), kept current by every successful practice lookup
 *   (`remember`), and reloaded after an admin change. A reload replaces the map only once the
 *   new one has been read: a failed reload keeps what was known, so invalidation never empties it.
 */

export const PRACTICE_CACHE_MS = 5_000;

export type PracticeLookup = NumberLookup;

export interface PracticeLookupCache {
  /** The practice that owns a number: from the cache when fresh, else from the database (and remembered). */
  lookup(number: string): Promise<PracticeLookup | null>;
  clear(): void;
}

export interface FallbackNumbers {
  /** Fills the map before the first call; a database that is down only logs (the map then fills as lookups succeed). */
  preload(): Promise<number>;
  /** Reloads in the background; until it is done (or if it fails) the old entries stay. */
  refreshSoon(): void;
  /** A practice lookup just succeeded: its number's entry is current. `null` practice: the number is no longer anyone's. */
  remember(number: string, practice: { fallbackNumber: string | null } | null): void;
  /** The practice's fallback number for a called number, else FALLBACK_NUMBER, else null (the caller is asked to call back). */
  numberFor(to: string | undefined): string | null;
}

export interface PracticeCaches {
  practices: PracticeLookupCache;
  fallbackNumbers: FallbackNumbers;
  /** After an admin change: fresh practice lookups from now on; the fallback numbers are reloaded, not dropped. */
  invalidate(): void;
}

export function createFallbackNumbers(db: Db, config: Pick<Config, 'fallbackNumber'>): FallbackNumbers {
  /** Practice number (E.164) → its practice's fallback number (null: the practice has none). */
  let map = new Map<string, string | null>();
  // Reloads are numbered so that an older one finishing late cannot undo a newer one.
  let started = 0;
  let applied = 0;

  const refresh = async (): Promise<number> => {
    const ticket = (started += 1);
    const rows = await listFallbackNumbers(db);
    if (ticket > applied) {
      map = new Map(rows.map((r) => [r.number, r.fallbackNumber]));
      applied = ticket;
    }
    return rows.length;
  };

  return {
    preload: async () => {
      try {
        return await refresh();
      } catch (err) {
        logger.warn('fallback numbers: could not load them at start', { err });
        return 0;
      }
    },
    refreshSoon: () => {
      void refresh().catch((err: unknown) => logger.warn('fallback numbers: reload failed; keeping the last known ones', { err }));
    },
    remember: (number, practice) => {
      if (practice) map.set(number, practice.fallbackNumber);
      else map.delete(number);
    },
    numberFor: (to) => {
      const known = to ? map.get(to) : undefined;
      return known ?? config.fallbackNumber ?? null;
    },
  };
}

export function createPracticeLookupCache(db: Db, fallbackNumbers: FallbackNumbers): PracticeLookupCache {
  const entries = new Map<string, { found: PracticeLookup; at: number }>();
  return {
    // Every lookup also refreshes the number's fallback entry.
    lookup: async (number) => {
      const cached = entries.get(number);
      if (cached && Date.now() - cached.at < PRACTICE_CACHE_MS) return cached.found;
      const found = await findPracticeByNumber(db, number);
      if (found) entries.set(number, { found, at: Date.now() });
      else entries.delete(number);
      fallbackNumbers.remember(number, found?.practice ?? null);
      return found;
    },
    clear: () => entries.clear(),
  };
}

export function createPracticeCaches(db: Db, config: Pick<Config, 'fallbackNumber'>): PracticeCaches {
  const fallbackNumbers = createFallbackNumbers(db, config);
  const practices = createPracticeLookupCache(db, fallbackNumbers);
  return {
    practices,
    fallbackNumbers,
    invalidate: () => {
      practices.clear();
      fallbackNumbers.refreshSoon();
    },
  };
}
