import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey, hashApiKey } from '../src/auth/api-keys.js';
import { captureLogs } from '../src/log/logger.js';
import { createPractice, type Practice } from '../src/practices/store.js';
import { DEFAULT_TEST_NOW, startHarness, type Harness } from './support/harness.js';

/** API key lifecycle: expiry, revocation (API and CLI), listing without secrets, last use. */

let h: Harness;
let demo: Practice;
let other: Practice;
let now = DEFAULT_TEST_NOW;
const at = (ms: number): Date => new Date(DEFAULT_TEST_NOW.getTime() + ms);
let adminKey: string;

beforeAll(async () => {
  h = await startHarness('api_keys', {}, { clock: () => now });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  demo = h.services.seeded;
  other = await createPractice(h.services.db, { slug: 'other', name: 'Other Clinic', timeZone: 'America/Chicago', numbers: ['+13125550111'] });
  adminKey = (await createApiKey(h.services.db, { role: 'admin', practiceId: demo.id, label: 'lifecycle admin' })).key;
});
afterAll(async () => {
  await h.close();
});

async function send(method: string, path: string, key: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(h.baseUrl + path, { method, headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function auditRows(action: string, subjectId?: string): Promise<Array<{ actor: string; practice_id: string | null; subject_id: string | null; details: Record<string, unknown> }>> {
  let q = h.services.db.selectFrom('audit_log').select(['actor', 'practice_id', 'subject_id', 'details']).where('action', '=', action);
  if (subjectId) q = q.where('subject_id', '=', subjectId);
  return (await q.orderBy('seq').execute()) as Array<{ actor: string; practice_id: string | null; subject_id: string | null; details: Record<string, unknown> }>;
}

async function lastRejection(): Promise<Record<string, unknown>> {
  const row = await h.services.db.selectFrom('audit_log').select(['action', 'details']).orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow();
  expect(row.action).toBe('api.auth_rejected');
  return row.details;
}

describe('expiry', () => {
  it('a key works until its expiry and is refused (401, audited as expired) from that instant', async () => {
    now = DEFAULT_TEST_NOW;
    const { key } = await createApiKey(h.services.db, { role: 'staff', practiceId: demo.id, expiresAt: at(3_600_000) });
    try {
      expect((await send('GET', '/api/whoami', key)).status).toBe(200);
      now = at(3_600_000 - 1);
      expect((await send('GET', '/api/whoami', key)).status).toBe(200);
      now = at(3_600_000);
      const res = await send('GET', '/api/whoami', key);
      expect(res.status).toBe(401);
      expect(await lastRejection()).toMatchObject({ reason: 'expired_key' });
    } finally {
      now = DEFAULT_TEST_NOW;
    }
  });

  it('a key made without an expiry keeps working', async () => {
    const { key } = await createApiKey(h.services.db, { role: 'staff', practiceId: demo.id, expiresAt: null });
    try {
      now = at(10 * 365 * 86_400_000);
      expect((await send('GET', '/api/whoami', key)).status).toBe(200);
    } finally {
      now = DEFAULT_TEST_NOW;
    }
  });
});

describe('admin API', () => {
  it("lists the practice's keys, with their state, and never a key or its hash", async () => {
    const made = await createApiKey(h.services.db, { role: 'auditor', practiceId: demo.id, label: 'listed', expiresAt: at(86_400_000) });
    const foreign = await createApiKey(h.services.db, { role: 'admin', practiceId: other.id });
    const res = await send('GET', `/api/practices/${demo.id}/api-keys`, adminKey);
    expect(res.status).toBe(200);
    const keys = res.body.keys as Array<Record<string, unknown>>;
    const listed = keys.find((k) => k.id === made.id);
    expect(listed).toEqual({
      id: made.id,
      role: 'auditor',
      label: 'listed',
      status: 'active',
      createdAt: expect.any(String) as unknown,
      expiresAt: at(86_400_000).toISOString(),
      lastUsedAt: null,
      revokedAt: null,
    });
    expect(keys.some((k) => k.id === foreign.id)).toBe(false);
    const text = JSON.stringify(res.body);
    for (const secret of [adminKey, made.key, hashApiKey(adminKey), hashApiKey(made.key)]) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/ahl_[A-Za-z0-9_-]{43}|[0-9a-f]{64}/);
  });

  it('is for admins of that practice only', async () => {
    const staff = await createApiKey(h.services.db, { role: 'staff', practiceId: demo.id });
    expect((await send('GET', `/api/practices/${demo.id}/api-keys`, staff.key)).status).toBe(403);
    expect((await send('GET', `/api/practices/${other.id}/api-keys`, adminKey)).status).toBe(403);
    const bad = await send('POST', `/api/practices/${demo.id}/api-keys/not-a-uuid/revoke`, adminKey);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('keyId');
  });

  it('revokes a key for good: 401 from then on, audited once, and another practice’s key is not found', async () => {
    const victim = await createApiKey(h.services.db, { role: 'provider', practiceId: demo.id });
    expect((await send('GET', '/api/whoami', victim.key)).status).toBe(200);

    const res = await send('POST', `/api/practices/${demo.id}/api-keys/${victim.id}/revoke`, adminKey);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ result: 'revoked', key: { id: victim.id, status: 'revoked', revokedAt: now.toISOString() } });
    expect(JSON.stringify(res.body)).not.toContain(victim.key);

    const who = await send('GET', '/api/whoami', victim.key);
    expect(who.status).toBe(401);
    expect(await lastRejection()).toMatchObject({ reason: 'revoked_key' });

    const again = await send('POST', `/api/practices/${demo.id}/api-keys/${victim.id}/revoke`, adminKey);
    expect(again.body).toMatchObject({ result: 'already_revoked' });
    const audited = await auditRows('admin.api_key_revoked', victim.id);
    expect(audited).toHaveLength(1);
    expect(audited[0]).toMatchObject({ practice_id: demo.id, details: { role: 'provider', via: 'api' } });
    expect(audited[0]?.actor).toMatch(/^api_key:[0-9a-f-]{36}$/);

    const foreign = await createApiKey(h.services.db, { role: 'admin', practiceId: other.id });
    expect((await send('POST', `/api/practices/${demo.id}/api-keys/${foreign.id}/revoke`, adminKey)).status).toBe(404);
    expect((await send('GET', '/api/whoami', foreign.key)).status).toBe(200);
  });
});

describe('creating a key from the console (POST /api/practices/:practiceId/api-keys)', () => {
  async function create(body: unknown, key = adminKey, practiceId = demo.id): Promise<{ status: number; body: Record<string, unknown>; cache: string | null }> {
    const res = await fetch(`${h.baseUrl}/api/practices/${practiceId}/api-keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, cache: res.headers.get('cache-control') };
  }

  it('returns the secret once (201, no-store), stores only its hash, audits the id and never the secret, and the key works', async () => {
    const logs = captureLogs();
    let made: Awaited<ReturnType<typeof create>>;
    try {
      made = await create({ label: 'EHR bridge', role: 'staff', expiresIn: '90d' });
    } finally {
      logs.restore();
    }
    expect(made.status).toBe(201);
    expect(made.cache).toContain('no-store');
    const secret = made.body.secret as string;
    expect(secret).toMatch(/^ahl_[A-Za-z0-9_-]{43}$/);
    const key = made.body.key as Record<string, unknown>;
    expect(key).toEqual({
      id: expect.any(String) as unknown,
      role: 'staff',
      label: 'EHR bridge',
      status: 'active',
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + 90 * 86_400_000).toISOString(),
      lastUsedAt: null,
      revokedAt: null,
    });
    const row = await h.services.db.selectFrom('api_keys').select(['key_hash', 'practice_id', 'role']).where('id', '=', key.id as string).executeTakeFirstOrThrow();
    expect(row).toEqual({ key_hash: hashApiKey(secret), practice_id: demo.id, role: 'staff' });

    const audited = await auditRows('admin.api_key_created', key.id as string);
    expect(audited).toHaveLength(1);
    expect(audited[0]).toMatchObject({ practice_id: demo.id, details: { role: 'staff', expiresAt: key.expiresAt, via: 'api' } });
    expect(audited[0]?.actor).toMatch(/^api_key:[0-9a-f-]{36}$/);
    // The secret is nowhere but in that one answer: not in the audit log, not in a log line.
    const everyAuditRow = JSON.stringify(await h.services.db.selectFrom('audit_log').selectAll().execute());
    expect(everyAuditRow).not.toContain(secret);
    expect(everyAuditRow).not.toContain(hashApiKey(secret));
    expect(logs.lines().length).toBeGreaterThan(0);
    expect(logs.lines().join('\n')).not.toContain(secret);

    expect(await send('GET', '/api/whoami', secret)).toMatchObject({ status: 200, body: { role: 'staff' } });
    const listed = await send('GET', `/api/practices/${demo.id}/api-keys`, adminKey);
    expect(JSON.stringify(listed.body)).not.toContain(secret);
    expect((listed.body.keys as Array<{ id: string }>).some((k) => k.id === key.id)).toBe(true);
  });

  it('defaults to a year, takes none for a key that never expires, and leaves the label out when none is given', async () => {
    const year = await create({ role: 'auditor' });
    expect(year.status).toBe(201);
    expect(year.body.key).toMatchObject({ label: null, role: 'auditor', expiresAt: new Date(now.getTime() + 365 * 86_400_000).toISOString() });
    const never = await create({ role: 'provider', label: 'pager bridge', expiresIn: 'none' });
    expect(never.body.key).toMatchObject({ expiresAt: null });
  });

  it('refuses bad input with a 400 naming the field, and makes nothing', async () => {
    const before = (await h.services.db.selectFrom('api_keys').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n;
    const cases: Array<[unknown, string]> = [
      [{ role: 'operator' }, 'role'],
      [{ role: 'owner' }, 'role'],
      [{}, 'role'],
      [{ role: 'staff', label: 'a<script>' }, 'label'],
      [{ role: 'staff', label: 'x'.repeat(81) }, 'label'],
      [{ role: 'staff', expiresIn: '6y' }, 'expiresIn'],
      [{ role: 'staff', expiresIn: 'soon' }, 'expiresIn'],
      [{ role: 'staff', practiceId: other.id }, 'practiceId'],
    ];
    for (const [body, field] of cases) {
      const res = await create(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.message as string).toMatch(new RegExp(`^${field}: `));
    }
    const after = (await h.services.db.selectFrom('api_keys').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow()).n;
    expect(after).toBe(before);
  });

  it("is for admins of that practice only: a staff key is refused, another practice's id is refused", async () => {
    const staff = await createApiKey(h.services.db, { role: 'staff', practiceId: demo.id });
    const count = async (): Promise<number> => (await h.services.db.selectFrom('api_keys').select('id').execute()).length;
    const before = await count();
    expect((await create({ role: 'admin' }, staff.key)).status).toBe(403);
    expect((await create({ role: 'admin' }, adminKey, other.id)).status).toBe(403);
    expect(await count()).toBe(before);
  });
});

describe('last use', () => {
  it('is written at most once a minute per key', async () => {
    const { id, key } = await createApiKey(h.services.db, { role: 'staff', practiceId: demo.id });
    const lastUsed = async (): Promise<string | null> =>
      (await h.services.db.selectFrom('api_keys').select('last_used_at').where('id', '=', id).executeTakeFirstOrThrow()).last_used_at?.toISOString() ?? null;
    try {
      expect(await lastUsed()).toBeNull();
      now = at(0);
      expect((await send('GET', '/api/whoami', key)).status).toBe(200);
      expect(await lastUsed()).toBe(at(0).toISOString());
      now = at(59_999);
      expect((await send('GET', '/api/whoami', key)).status).toBe(200);
      expect(await lastUsed()).toBe(at(0).toISOString());
      now = at(60_000);
      expect((await send('GET', '/api/whoami', key)).status).toBe(200);
      expect(await lastUsed()).toBe(at(60_000).toISOString());
      const listed = await send('GET', `/api/practices/${demo.id}/api-keys`, adminKey);
      expect((listed.body.keys as Array<Record<string, unknown>>).find((k) => k.id === id)).toMatchObject({ lastUsedAt: at(60_000).toISOString() });
    } finally {
      now = DEFAULT_TEST_NOW;
    }
  });
});

describe('command line: keys:create --expires-in, keys:list, keys:revoke', () => {
  const run = promisify(execFile);
  const cli = (script: string, args: string[]): Promise<{ stdout: string; stderr: string }> =>
    run(process.execPath, ['--import', 'tsx', `scripts/${script}.ts`, ...args], { env: { ...process.env, DATABASE_SCHEMA: h.schema, DATA_DIR: h.config.dataDir } });

  it('creates a key with an expiry, lists it without the secret and revokes it, each audited', async () => {
    const created = await cli('keys-create', ['--role', 'staff', '--practice', 'demo', '--label', 'cli staff', '--expires-in', '30d']);
    const key = /^(ahl_[A-Za-z0-9_-]{43})$/m.exec(created.stdout)?.[1];
    const id = /key ([0-9a-f-]{36}) for/.exec(created.stdout)?.[1];
    expect(key).toBeDefined();
    expect(id).toBeDefined();
    const row = await h.services.db.selectFrom('api_keys').select(['created_at', 'expires_at']).where('id', '=', id ?? '').executeTakeFirstOrThrow();
    expect((row.expires_at?.getTime() ?? 0) - row.created_at.getTime()).toBe(30 * 86_400_000);
    expect((await auditRows('admin.api_key_created', id))[0]?.details).toEqual({ role: 'staff', expiresAt: row.expires_at?.toISOString() });

    const [listed, listedJson, never] = await Promise.all([
      cli('keys-list', ['--practice', 'demo']),
      cli('keys-list', ['--practice', demo.id, '--json']),
      cli('keys-create', ['--role', 'auditor', '--practice', 'demo', '--expires-in', 'none']),
    ]);
    expect(listed.stdout).toMatch(new RegExp(`${id}\\s+staff\\s+active`));
    expect(listed.stdout).toContain('cli staff');
    for (const out of [listed.stdout, listedJson.stdout]) {
      expect(out).not.toMatch(/ahl_[A-Za-z0-9_-]{43}|[0-9a-f]{64}/);
    }
    expect((JSON.parse(listedJson.stdout) as { keys: Array<{ id: string }> }).keys.some((k) => k.id === id)).toBe(true);
    expect(await auditRows('admin.api_keys_listed')).toHaveLength(2);
    expect(never.stdout).toContain('never expires');

    const revoked = await cli('keys-revoke', ['--key', id ?? '']);
    expect(revoked.stdout).toContain(`Revoked staff key ${id}`);
    expect(await auditRows('admin.api_key_revoked', id)).toEqual([expect.objectContaining({ actor: 'cli:keys-revoke', practice_id: demo.id, details: { role: 'staff', via: 'cli' } })]);
    expect((await send('GET', '/api/whoami', key ?? '')).status).toBe(401);

    const refused = await Promise.all([
      cli('keys-create', ['--role', 'staff', '--practice', 'demo', '--expires-in', 'soon']).catch((e: { code: number; stderr: string }) => e),
      cli('keys-revoke', ['--key', key ?? '']).catch((e: { code: number; stderr: string }) => e),
    ]);
    expect(refused[0]).toMatchObject({ code: 2, stderr: expect.stringContaining('--expires-in: expected a number and a unit') as unknown });
    expect(refused[1]).toMatchObject({ code: 2, stderr: expect.stringContaining('--key: expected a key id') as unknown });
    expect((refused[1] as { stderr: string }).stderr).not.toContain(key);
  });
});
