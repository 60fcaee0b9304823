import { randomBytes, randomInt } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, listApiKeys, revokeApiKey } from '../src/auth/api-keys.js';
import { createPractice, getPractice, listPracticeNumbers, upsertPracticeNumber, type Practice } from '../src/practices/store.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { clearLockout } from '../src/verification/attempts.js';
import { currentLockouts } from '../src/verification/lockout-store.js';
import { retryVoicemail } from '../src/voicemail/pipeline.js';
import { acknowledgeVoicemail, getVoicemail, issuePlaybackToken, listDeadLetter, listVoicemails } from '../src/voicemail/playback-store.js';
import { asOwner, DEFAULT_TEST_NOW, startHarness, type Harness } from './support/harness.js';
import { randomTwilioSid } from './support/twilio-double.js';

/**
 * The voicemail, practice, lockout and API-key routes run under the tenant role: their store
 * functions take the `PracticeScope` that permit() minted, whose connections PostgreSQL's
 * row-level security holds to one practice. Two proofs: a store call given practice A's tenant
 * scope never reaches practice B's rows (even when the scope's own filter is made to name B),
 * and a route's answer changes when a policy narrows what the tenant role (and only it) sees.
 */

let h: Harness;
let a: Practice;
let b: Practice;
let adminKeyA: string;
let keyIdB: string;
const rows: { a: { voicemail: string; failed: string; lockout: string }; b: { voicemail: string; failed: string; lockout: string } } = {
  a: { voicemail: '', failed: '', lockout: '' },
  b: { voicemail: '', failed: '', lockout: '' },
};
const B_NUMBER = '+13125550142';

async function insertVoicemail(practiceId: string, state: 'received' | 'failed'): Promise<string> {
  const row = await h.services.db
    .insertInto('voicemails')
    .values({
      practice_id: practiceId,
      call_sid: randomTwilioSid('CA'),
      recording_sid: randomTwilioSid('RE'),
      reference_code: String(randomInt(100_000, 1_000_000)),
      urgency: 'urgent',
      state,
      last_error: state === 'failed' ? 'store: Error' : null,
      created_at: new Date(DEFAULT_TEST_NOW.getTime() - 3_600_000),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

async function insertLockout(practiceId: string): Promise<string> {
  const row = await h.services.db
    .insertInto('verification_lockouts')
    .values({
      practice_id: practiceId,
      scope: 'number',
      phone_index: randomBytes(32).toString('hex'),
      line: 'patient',
      started_at: new Date(DEFAULT_TEST_NOW.getTime() - 60_000),
      locked_until: new Date(DEFAULT_TEST_NOW.getTime() + 3_600_000),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

async function get(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${h.baseUrl}${path}`, { headers: { authorization: `Bearer ${adminKeyA}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Runs `check` while a restrictive policy hides every row of `table` from the tenant role only (the system role still sees them). */
async function withTenantBlind(table: string, check: () => Promise<void>): Promise<void> {
  await asOwner(h.services.db, sql`CREATE POLICY tenant_blind ON ${sql.id(table)} AS RESTRICTIVE FOR SELECT TO ahl_tenant USING (false)`);
  try {
    await check();
  } finally {
    await asOwner(h.services.db, sql`DROP POLICY tenant_blind ON ${sql.id(table)}`);
  }
}

beforeAll(async () => {
  h = await startHarness('voicemail_tenancy');
  if (!h.services.seeded) throw new Error('the demo practice was not seeded');
  a = h.services.seeded;
  b = await createPractice(h.services.db, { slug: 'other', name: 'Other Clinic', timeZone: 'America/Chicago', numbers: [B_NUMBER] });
  adminKeyA = (await createApiKey(h.services.db, { role: 'admin', practiceId: a.id })).key;
  keyIdB = (await createApiKey(h.services.db, { role: 'admin', practiceId: b.id })).id;
  for (const [side, practice] of [['a', a], ['b', b]] as const) {
    rows[side] = { voicemail: await insertVoicemail(practice.id, 'received'), failed: await insertVoicemail(practice.id, 'failed'), lockout: await insertLockout(practice.id) };
  }
});
afterAll(async () => {
  await h?.close();
});

describe("a store call with practice A's tenant scope", () => {
  it("reads A's rows and none of B's", async () => {
    const scopeA = tenantScope(h.services, a.id);
    const listed = (await listVoicemails(scopeA, { limit: 500 })).map((v) => v.id);
    expect(listed).toEqual(expect.arrayContaining([rows.a.voicemail, rows.a.failed]));
    expect(listed).not.toContain(rows.b.voicemail);
    expect((await listDeadLetter(scopeA)).map((v) => v.id)).toEqual([rows.a.failed]);
    expect(await getVoicemail(scopeA, rows.b.voicemail)).toBeNull();
    expect((await currentLockouts(scopeA, DEFAULT_TEST_NOW)).map((l) => l.id)).toEqual([rows.a.lockout]);
    expect((await listApiKeys(scopeA, DEFAULT_TEST_NOW)).map((k) => k.id)).not.toContain(keyIdB);
    expect((await getPractice(scopeA))?.id).toBe(a.id);
  });

  it("changes nothing of B's: acknowledge, retry, playback token, lockout clear, key revoke, number", async () => {
    const scopeA = tenantScope(h.services, a.id);
    expect(await acknowledgeVoicemail(h.services, scopeA, { id: rows.b.voicemail, by: 'api_key:test', via: 'api' })).toEqual({ result: 'not_found' });
    expect(await retryVoicemail(h.services, scopeA, { id: rows.b.failed, actor: 'api_key:test' })).toEqual({ result: 'not_found' });
    expect(await issuePlaybackToken(scopeA, rows.b.voicemail, 'api_key:test', DEFAULT_TEST_NOW)).toBeNull();
    expect(await clearLockout(h.services, scopeA, { id: rows.b.lockout, by: 'api_key:test', now: DEFAULT_TEST_NOW })).toEqual({ result: 'not_found' });
    expect(await revokeApiKey(scopeA, { keyId: keyIdB, now: DEFAULT_TEST_NOW })).toEqual({ result: 'not_found' });
    // B's number is invisible to A's scope, and still refused: the primary key is not hidden.
    expect(await upsertPracticeNumber(scopeA, B_NUMBER, 'after-hours')).toBe('taken');

    const bVoicemails = await h.services.db.selectFrom('voicemails').select(['id', 'state', 'acknowledged_at']).where('practice_id', '=', b.id).execute();
    expect(bVoicemails.find((v) => v.id === rows.b.voicemail)?.acknowledged_at).toBeNull();
    expect(bVoicemails.find((v) => v.id === rows.b.failed)?.state).toBe('failed');
    const tokens = await h.services.db.selectFrom('playback_tokens').select('token_hash').where('voicemail_id', '=', rows.b.voicemail).execute();
    expect(tokens).toEqual([]);
    const lockout = await h.services.db.selectFrom('verification_lockouts').select('cleared_at').where('id', '=', rows.b.lockout).executeTakeFirstOrThrow();
    expect(lockout.cleared_at).toBeNull();
    const key = await h.services.db.selectFrom('api_keys').select('revoked_at').where('id', '=', keyIdB).executeTakeFirstOrThrow();
    expect(key.revoked_at).toBeNull();
    expect((await listPracticeNumbers(tenantScope(h.services, b.id))).map((n) => n.e164)).toEqual([B_NUMBER]);
  });

  it("holds even when the scope's own filter names B: row-level security, not the query, decides", async () => {
    // A scope forged to say "B" over A's tenant connections: the explicit practice filter is
    // wrong on purpose, so only PostgreSQL stands between the query and B's rows.
    const forged = { ...tenantScope(h.services, a.id), practiceId: b.id };
    expect(await listVoicemails(forged, { limit: 500 })).toEqual([]);
    expect(await getVoicemail(forged, rows.b.voicemail)).toBeNull();
    expect(await currentLockouts(forged, DEFAULT_TEST_NOW)).toEqual([]);
    expect(await getPractice(forged)).toBeNull();
  });
});

describe('the routes run under the tenant role', () => {
  // Each route sees its rows, then none once the tenant role (only) is blind to the table: had
  // it read through the system pool (services.db), the rows would still be there.
  it('GET /api/voicemails and /api/voicemails/dead-letter', async () => {
    const before = await get('/api/voicemails');
    expect(before.status).toBe(200);
    expect((before.body.voicemails as Array<{ id: string }>).map((v) => v.id)).toContain(rows.a.voicemail);
    await withTenantBlind('voicemails', async () => {
      expect((await get('/api/voicemails')).body).toEqual({ voicemails: [] });
      expect((await get('/api/voicemails/dead-letter')).body).toEqual({ voicemails: [] });
      expect((await get(`/api/voicemails/${rows.a.voicemail}/audio`)).status).toBe(404);
    });
  });

  it('GET /api/lockouts', async () => {
    expect(((await get('/api/lockouts')).body.lockouts as Array<{ id: string }>).map((l) => l.id)).toEqual([rows.a.lockout]);
    await withTenantBlind('verification_lockouts', async () => {
      expect((await get('/api/lockouts')).body).toEqual({ lockouts: [] });
    });
  });

  it('GET /api/practices/:id/api-keys and GET /api/practices/:id', async () => {
    expect(((await get(`/api/practices/${a.id}/api-keys`)).body.keys as unknown[]).length).toBeGreaterThan(0);
    expect((await get(`/api/practices/${a.id}`)).status).toBe(200);
    await withTenantBlind('api_keys', async () => {
      expect((await get(`/api/practices/${a.id}/api-keys`)).body).toEqual({ keys: [] });
    });
    await withTenantBlind('practices', async () => {
      expect((await get(`/api/practices/${a.id}`)).status).toBe(404);
    });
  });
});
