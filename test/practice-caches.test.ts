import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDb } from '../src/adapters/postgres.js';
import { fallbackNumberFor } from '../src/calls/fallback-numbers.js';
import { captureLogs } from '../src/log/logger.js';
import { createFallbackNumbers } from '../src/practices/caches.js';
import { startHarness, type Harness } from './support/harness.js';

/**
 * The per-instance practice caches (src/practices/caches.ts): one home, one invalidation. A
 * practice lookup is cached until `caches.invalidate()`; the fallback numbers are loaded when the
 * workers start (src/workers.ts), and an invalidation reloads them without ever emptying them.
 */

const PRACTICE = '+12025550100';
const PRACTICE_FALLBACK = '+12025550199';
const NEW_FALLBACK = '+12025550177';

let h: Harness;
let practiceId: string;
let logs: ReturnType<typeof captureLogs>;

beforeAll(async () => {
  logs = captureLogs();
  h = await startHarness('practice_caches');
  if (!h.services.seeded) throw new Error('no demo practice');
  practiceId = h.services.seeded.id;
});
afterAll(async () => {
  await h.close();
  logs.restore();
});

describe('practice caches', () => {
  it('startWorkers loads the fallback numbers before any call or lookup', () => {
    // Nothing has looked the practice up yet: only the preload in startWorkers can know it.
    expect(fallbackNumberFor(h.services, PRACTICE)).toBe(PRACTICE_FALLBACK);
  });

  it('serves a practice lookup from the cache until invalidate(), then reads it afresh', async () => {
    const { practices } = h.services.caches;
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const first = await practices.lookup(PRACTICE);
      expect(first?.practice.id).toBe(practiceId);
      await h.services.db.updateTable('practices').set({ greeting_name: 'Renamed Clinic' }).where('id', '=', practiceId).execute();
      // Date is frozen: the entry is fresh, so the change is not seen.
      expect((await practices.lookup(PRACTICE))?.practice.greetingName).toBe(first?.practice.greetingName);
      h.services.caches.invalidate();
      expect((await practices.lookup(PRACTICE))?.practice.greetingName).toBe('Renamed Clinic');
    } finally {
      vi.useRealTimers();
    }
  });

  it('invalidate() reloads the fallback numbers and never leaves a number unknown meanwhile', async () => {
    await h.services.db.updateTable('practices').set({ fallback_number: NEW_FALLBACK }).where('id', '=', practiceId).execute();
    h.services.caches.invalidate();
    // Until the reload lands, the last known number answers (never FALLBACK_NUMBER or nothing).
    expect([PRACTICE_FALLBACK, NEW_FALLBACK]).toContain(fallbackNumberFor(h.services, PRACTICE));
    await vi.waitFor(() => expect(fallbackNumberFor(h.services, PRACTICE)).toBe(NEW_FALLBACK), { timeout: 5_000, interval: 20 });
  });

  it('a reload that fails keeps the numbers it had', async () => {
    // A pool on a schema without the practice tables: every reload fails.
    const broken = createDb(h.config.database.url, `${h.schema}_missing`, 1);
    try {
      const numbers = createFallbackNumbers(broken, { fallbackNumber: '+12025550111' });
      expect(await numbers.preload()).toBe(0);
      numbers.remember(PRACTICE, { fallbackNumber: PRACTICE_FALLBACK });
      numbers.refreshSoon();
      await vi.waitFor(() => expect(logs.lines().some((l) => l.includes('fallback numbers: reload failed'))).toBe(true), { timeout: 5_000, interval: 20 });
      expect(numbers.numberFor(PRACTICE)).toBe(PRACTICE_FALLBACK);
      // A number nobody looked up gets the service-wide FALLBACK_NUMBER.
      expect(numbers.numberFor('+12025550999')).toBe('+12025550111');
    } finally {
      await broken.destroy();
    }
  });
});
