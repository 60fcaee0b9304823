import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emailIndex } from '../src/patients/identifiers.js';
import { signUnsubscribeToken } from '../src/outreach/unsubscribe-token.js';
import type { Practice } from '../src/practices/store.js';
import { startHarness, type Harness } from './support/harness.js';

/**
 * The public unsubscribe link (`/u/<token>`) has a rate limit of its own, per source: within the
 * minute the budget's requests are answered (their opt-outs recorded), the next one gets 429 with
 * Retry-After before its token is read, and what was recorded stays recorded.
 */

const LIMIT = 3;
let h: Harness;
let practice: Practice;

const tokenFor = (address: string): Promise<string> => signUnsubscribeToken(h.services.keyring, { practiceId: practice.id, emailIndex: emailIndex(h.services.keyring, address) }, h.services.clock());
const optOuts = async (): Promise<string[]> => (await h.services.db.selectFrom('email_opt_outs').select('email_index').where('practice_id', '=', practice.id).execute()).map((r) => r.email_index).sort();

beforeAll(async () => {
  h = await startHarness('unsubscribe_limit', { RATE_LIMIT_UNSUBSCRIBE_PER_SOURCE: String(LIMIT) });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practice = h.services.seeded;
});

afterAll(async () => {
  await h?.close();
});

describe('the unsubscribe link', () => {
  it(`answers ${LIMIT} requests a minute per source, then 429 with Retry-After; nothing recorded is lost`, async () => {
    const addresses = Array.from({ length: LIMIT + 1 }, (_, i) => `limit${i}@example.org`);
    const tokens = await Promise.all(addresses.map(tokenFor));
    for (const token of tokens.slice(0, LIMIT)) {
      const res = await fetch(`${h.baseUrl}/u/${token}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
      expect(res.status).toBe(200);
    }
    const recorded = addresses.slice(0, LIMIT).map((a) => emailIndex(h.services.keyring, a)).sort();
    expect(await optOuts()).toEqual(recorded);

    const refused = await fetch(`${h.baseUrl}/u/${tokens[LIMIT] ?? ''}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // The page is limited too.
    expect((await fetch(`${h.baseUrl}/u/${tokens[0] ?? ''}`)).status).toBe(429);
    // The refused request recorded nothing, and the earlier opt-outs are all still there.
    expect(await optOuts()).toEqual(recorded);
  });
});
