import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sql } from 'kysely';
import { createApiKey } from '../src/auth/api-keys.js';
import { fallbackNumberFor, preloadFallbackNumbers } from '../src/calls/fallback-numbers.js';
import { captureLogs } from '../src/log/logger.js';
import { heard, type CallResult } from '../devtools/simulator/simulator.js';
import { startHarness, type Harness, asOwner } from './support/harness.js';
import { simulatorFor } from './support/simulate.js';

/**
 * Where the fail-safe answer forwards a caller is known without PostgreSQL: loaded when the
 * service starts, and reloaded (never just dropped) when an admin changes a practice.
 */

const PRACTICE = '+12025550100';
const PRACTICE_FALLBACK = '+12025550199';
const NEW_FALLBACK = '+12025550188';
const DISCLAIMER = 'If this is a medical emergency, hang up and dial 911.';
// Wednesday 2026-11-25 22:00 in New York: closed.
const now = new Date('2026-11-26T03:00:00Z');

let h: Harness;
let practiceId: string;
let logs: ReturnType<typeof captureLogs>;

beforeAll(async () => {
  logs = captureLogs();
  h = await startHarness('fallback_numbers', {}, { clock: () => now });
  if (!h.services.seeded) throw new Error('no demo practice');
  practiceId = h.services.seeded.id;
});
afterAll(async () => {
  await h.close();
  logs.restore();
});

/** A call placed while the practice tables cannot be read (as with PostgreSQL failing). */
async function callWithoutPractices(): Promise<CallResult> {
  await asOwner(h.services.db, sql`ALTER TABLE practice_numbers RENAME TO practice_numbers_gone`);
  try {
    return await simulatorFor(h, () => now).placeCall({ from: '+12025550142', to: PRACTICE, digits: ['1'] });
  } finally {
    await asOwner(h.services.db, sql`ALTER TABLE practice_numbers_gone RENAME TO practice_numbers`);
  }
}

describe('fallback numbers without PostgreSQL', () => {
  it('after a restart, before any call: the first caller is still forwarded to the practice fallback number', async () => {
    await h.restart();
    // What the workers' start does (src/workers.ts), so that nothing depends on calls having come in.
    await preloadFallbackNumbers(h.services);
    expect(fallbackNumberFor(h.services, PRACTICE)).toBe(PRACTICE_FALLBACK);

    const result = await callWithoutPractices();
    expect(result.requests.every((r) => r.status === 200)).toBe(true);
    expect(heard(result)).toContain(DISCLAIMER);
    expect(result.transcript).toContainEqual(expect.objectContaining({ kind: 'dial', numbers: [PRACTICE_FALLBACK] }));
  });

  it('an admin change replaces the number instead of dropping what was known', async () => {
    await preloadFallbackNumbers(h.services);
    const admin = (await createApiKey(h.services.db, { role: 'admin', practiceId })).key;
    const res = await fetch(`${h.baseUrl}/api/practices/${practiceId}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ fallbackNumber: NEW_FALLBACK }),
    });
    expect(res.status).toBe(200);
    // The reload runs behind the admin answer; at no point is the number unknown.
    await vi.waitFor(() => expect(fallbackNumberFor(h.services, PRACTICE)).toBe(NEW_FALLBACK), { timeout: 5_000, interval: 20 });

    const result = await callWithoutPractices();
    expect(heard(result)).toContain(DISCLAIMER);
    expect(result.transcript).toContainEqual(expect.objectContaining({ kind: 'dial', numbers: [NEW_FALLBACK] }));
  });
});
