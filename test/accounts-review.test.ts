import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encryptField } from '../src/adapters/keyring.js';
import { issueResetToken } from '../src/auth/accounts.js';
import { hashPassword } from '../src/auth/passwords.js';
import { newTotpSecret } from '../src/auth/totp.js';
import { setTotpSecret } from '../src/auth/users-store.js';
import { createSession, sessionHash } from '../src/auth/sessions.js';
import { createPractice } from '../src/practices/store.js';
import { startHarness, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';

/**
 * Staff accounts after the second review (issue 13): background polling never keeps a session
 * alive, the per-account sign-in budget cannot be raced, reset tokens end together and have
 * their own budget, a confirmed TOTP secret is never replaced. Time is moved, never waited for.
 */

let h: Harness;
let now = new Date('2026-11-26T03:00:00Z');
const clock = (): Date => now;
const ORIGIN = new URL(TEST_PUBLIC_BASE_URL).origin;
let A: { id: string };
const ACCOUNT_LIMIT = 5;

beforeAll(async () => {
  h = await startHarness('accounts-review', { RATE_LIMIT_SIGN_IN_PER_SOURCE: '100000', RATE_LIMIT_SIGN_IN_FAILURES_PER_ACCOUNT: String(ACCOUNT_LIMIT), TRUSTED_PROXIES: 'loopback' }, { clock });
  A = { id: (await createPractice(h.services.db, { slug: 'review-a', name: 'Review A', timeZone: 'America/New_York', numbers: ['+12025550951'] })).id };
}, 60_000);
afterAll(async () => {
  await h?.close();
});

interface Answer { status: number; body: Record<string, unknown> }

async function call(method: string, path: string, opts: { body?: unknown; cookie?: string; csrf?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { origin: ORIGIN, ...opts.headers };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.cookie) headers.cookie = `__Host-ahl_session=${opts.cookie}`;
  if (opts.csrf) headers['x-csrf-token'] = opts.csrf;
  const res = await fetch(h.baseUrl + path, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

let counter = 0;
const PASSWORD = 'correct horse battery staple';

async function person(practiceId: string): Promise<{ id: string; email: string }> {
  const email = `review-${counter++}@example.org`;
  const u = await h.services.db.insertInto('users').values({ email, display_name: 'Someone', password_hash: await hashPassword(PASSWORD) }).returning('id').executeTakeFirstOrThrow();
  await h.services.db.insertInto('memberships').values({ user_id: u.id, practice_id: practiceId, role: 'staff' }).execute();
  return { id: u.id, email };
}

const MINUTE = 60_000;
const later = (ms: number): void => {
  now = new Date(now.getTime() + ms);
};

describe('background polling and the idle logoff (item 2)', () => {
  const BACKGROUND = { 'x-background': '1' };

  it('background requests never restart the idle clock: past the window the session ends (idle, audited)', async () => {
    await h.services.db.updateTable('practices').set({ idle_logoff_minutes: 5 }).where('id', '=', A.id).execute();
    const p = await person(A.id);
    const s = await createSession(h.services.redis, { userId: p.id, practiceId: A.id, stage: 'full', idleMs: 5 * MINUTE, method: 'password_totp' }, now);
    // The on-call page's poll, once a minute: answered, but not the person's doing.
    for (let i = 0; i < 4; i += 1) {
      later(MINUTE);
      expect((await call('GET', '/api/oncall/now', { cookie: s.id, headers: BACKGROUND })).status).toBe(200);
    }
    const seen = await call('GET', '/api/session', { cookie: s.id, headers: BACKGROUND });
    expect(seen.status).toBe(200);
    expect(seen.body.idleMsLeft).toBe(MINUTE);
    later(MINUTE);
    expect((await call('GET', '/api/oncall/now', { cookie: s.id, headers: BACKGROUND })).status).toBe(401);
    const expired = await h.services.db.selectFrom('audit_log').select(['details']).where('action', '=', 'user.session_expired').where('subject_id', '=', p.id).execute();
    expect(expired.map((r) => r.details)).toEqual([{ reason: 'idle' }]);
  });

  it("the person's own request within the window keeps the session alive", async () => {
    const p = await person(A.id);
    const s = await createSession(h.services.redis, { userId: p.id, practiceId: A.id, stage: 'full', idleMs: 5 * MINUTE, method: 'password_totp' }, now);
    later(4 * MINUTE);
    expect((await call('GET', '/api/oncall/now', { cookie: s.id })).status).toBe(200);
    later(4 * MINUTE);
    expect((await call('GET', '/api/oncall/now', { cookie: s.id, headers: BACKGROUND })).status).toBe(200);
    later(2 * MINUTE);
    expect((await call('GET', '/api/oncall/now', { cookie: s.id, headers: BACKGROUND })).status).toBe(401);
  });
});

describe('the per-account sign-in budget cannot be raced (item 3)', () => {
  const statuses = (answers: Answer[]): Record<number, number> => answers.reduce<Record<number, number>>((n, a) => ({ ...n, [a.status]: (n[a.status] ?? 0) + 1 }), {});

  it('30 wrong codes at once on one pending session, from 30 sources: at most the budget is tried, the rest 429', async () => {
    const p = await person(A.id);
    const secret = newTotpSecret();
    await h.services.db.updateTable('users').set({ totp_secret_enc: await encryptField(h.services.keyring, secret, { userId: p.id, field: 'totp_secret' }), totp_confirmed_at: now }).where('id', '=', p.id).execute();
    const pending = await createSession(h.services.redis, { userId: p.id, practiceId: null, stage: 'password', idleMs: 15 * MINUTE, method: 'password_totp' }, now);
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_v, i) => call('POST', '/api/auth/totp', { cookie: pending.id, csrf: pending.record.csrf, body: { recoveryCode: `not-a-code-${i}` }, headers: { 'x-forwarded-for': `198.51.100.${i + 1}` } })),
    );
    expect(statuses(answers)).toEqual({ 401: ACCOUNT_LIMIT, 429: 30 - ACCOUNT_LIMIT });
    const failed = await h.services.db.selectFrom('audit_log').select('seq').where('action', '=', 'user.sign_in_failed').where('subject_id', '=', p.id).execute();
    expect(failed).toHaveLength(ACCOUNT_LIMIT);
  });

  it('the same for the password step; a right password gives its point back', async () => {
    const p = await person(A.id);
    expect((await call('POST', '/api/auth/login', { body: { email: p.email, password: PASSWORD } })).status).toBe(200);
    expect((await call('POST', '/api/auth/login', { body: { email: p.email, password: PASSWORD } })).status).toBe(200);
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_v, i) => call('POST', '/api/auth/login', { body: { email: p.email, password: `wrong password ${i}` }, headers: { 'x-forwarded-for': `203.0.113.${i + 1}` } })),
    );
    expect(statuses(answers)).toEqual({ 401: ACCOUNT_LIMIT, 429: 30 - ACCOUNT_LIMIT });
    const failed = await h.services.db.selectFrom('audit_log').select('seq').where('action', '=', 'user.sign_in_failed').where('subject_id', '=', p.id).execute();
    expect(failed).toHaveLength(ACCOUNT_LIMIT);
  });
});

describe('a confirmed TOTP secret is never replaced (item 6)', () => {
  it('an enrolment that passed its check before the confirmation does not overwrite the confirmed secret', async () => {
    const p = await person(A.id);
    const confirmedSecret = await encryptField(h.services.keyring, newTotpSecret(), { userId: p.id, field: 'totp_secret' });
    await h.services.db.updateTable('users').set({ totp_secret_enc: confirmedSecret, totp_confirmed_at: now }).where('id', '=', p.id).execute();
    // What startTotpEnrolment writes once its "not yet confirmed" check has passed.
    const replaced = await setTotpSecret(h.services.db, p.id, await encryptField(h.services.keyring, newTotpSecret(), { userId: p.id, field: 'totp_secret' }), now);
    expect(replaced).toBe(false);
    const row = await h.services.db.selectFrom('users').select(['totp_secret_enc', 'totp_confirmed_at']).where('id', '=', p.id).executeTakeFirstOrThrow();
    expect(row.totp_secret_enc?.equals(confirmedSecret)).toBe(true);
    expect(row.totp_confirmed_at).not.toBeNull();
  });
});

describe('reset tokens (item 4)', () => {
  const tokenOf = (link: string): string => /#token=([A-Za-z0-9_-]{43})$/.exec(link)?.[1] ?? '';
  const complete = async (link: string): Promise<number> => (await call('POST', '/api/auth/password-reset/complete', { body: { token: tokenOf(link), password: `a new passphrase ${counter++}` } })).status;

  it("using one reset token ends the person's others", async () => {
    const p = await person(A.id);
    const first = await issueResetToken(h.services, p.id);
    const second = await issueResetToken(h.services, p.id);
    expect(await complete(second)).toBe(204);
    expect(await complete(first)).toBe(404);
  });

  it('an admin-issued link is refused once the person belongs to another practice too (what issuing checked)', async () => {
    const p = await person(A.id);
    const link = await issueResetToken(h.services, p.id, A.id);
    const other = await createPractice(h.services.db, { slug: `review-o${counter++}`, name: 'Review other', timeZone: 'America/New_York', numbers: [`+120255509${60 + counter}`] });
    await h.services.db.insertInto('memberships').values({ user_id: p.id, practice_id: other.id, role: 'staff' }).execute();
    expect(await complete(link)).toBe(404);
    const own = await issueResetToken(h.services, p.id);
    expect(await complete(own)).toBe(204);
  });
});

describe('password resets have their own budget (item 5)', () => {
  it("anyone asking resets for a person's e-mail does not lock that person out of signing in", async () => {
    const p = await person(A.id);
    for (let i = 0; i < ACCOUNT_LIMIT + 2; i += 1) expect((await call('POST', '/api/auth/password-reset', { body: { email: p.email } })).status).toBe(202);
    expect((await call('POST', '/api/auth/login', { body: { email: p.email, password: PASSWORD } })).status).toBe(200);
    // Resets are still limited per account: past the budget none is looked up (so none is audited).
    for (let i = 0; i < 200 && (await resetRequests()).length < ACCOUNT_LIMIT; i += 1) await new Promise((r) => setTimeout(r, 25));
    expect(await h.services.redis.exists(`rl-passwordResetAccount:${createHash('sha256').update(p.email, 'utf8').digest('hex')}`)).toBe(1);
  });
});

async function resetRequests(): Promise<unknown[]> {
  return h.services.db.selectFrom('audit_log').select('seq').where('action', '=', 'user.password_reset_requested').execute();
}

describe('npm run users:disable (item 8)', () => {
  const run = promisify(execFile);
  const cli = (args: string[]): Promise<{ stdout: string; stderr: string }> =>
    run(process.execPath, ['--import', 'tsx', 'scripts/users-disable.ts', ...args], { env: { ...process.env, DATABASE_SCHEMA: h.schema, REDIS_KEY_PREFIX: h.keyPrefix, DATA_DIR: h.config.dataDir } });

  it('disables the account in every practice and ends its sessions, audited in each practice', async () => {
    const B = await createPractice(h.services.db, { slug: 'review-b', name: 'Review B', timeZone: 'America/New_York', numbers: ['+12025550952'] });
    const p = await person(A.id);
    await h.services.db.insertInto('memberships').values({ user_id: p.id, practice_id: B.id, role: 'staff' }).execute();
    const inA = await createSession(h.services.redis, { userId: p.id, practiceId: A.id, stage: 'full', idleMs: 15 * MINUTE, method: 'password_totp' }, now);
    const inB = await createSession(h.services.redis, { userId: p.id, practiceId: B.id, stage: 'full', idleMs: 15 * MINUTE, method: 'password_totp' }, now);
    expect((await call('GET', '/api/session', { cookie: inA.id })).status).toBe(200);
    const done = await cli(['--email', p.email.toUpperCase()]);
    expect(done.stdout).toContain(`Disabled account ${p.id}`);
    expect(done.stdout).not.toContain(p.email);
    const account = await h.services.db.selectFrom('users').select('status').where('id', '=', p.id).executeTakeFirstOrThrow();
    expect(account.status).toBe('disabled');
    expect(await h.services.redis.exists(`session:${sessionHash(inA.id)}`, `session:${sessionHash(inB.id)}`)).toBe(0);
    expect((await call('GET', '/api/session', { cookie: inB.id })).status).toBe(401);
    expect((await call('POST', '/api/auth/login', { body: { email: p.email, password: PASSWORD } })).status).toBe(401);
    const rows = await h.services.db.selectFrom('audit_log').select(['actor', 'practice_id', 'details']).where('action', '=', 'user.disabled').where('subject_id', '=', p.id).execute();
    expect(rows.map((r) => r.practice_id).sort()).toEqual([A.id, B.id].sort());
    expect(rows.every((r) => r.actor === 'cli:users-disable' && (r.details as { scope: string }).scope === 'account')).toBe(true);
    expect(JSON.stringify(rows)).not.toContain(p.email);
    // Again: nothing more to do, said so; an unknown e-mail is refused (exit 2).
    expect((await cli(['--email', p.email])).stdout).toContain('already disabled');
    await expect(cli(['--email', 'nobody@example.org'])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining('--email: no account') as unknown });
    await expect(cli([])).rejects.toMatchObject({ code: 2 });
  }, 60_000);
});
