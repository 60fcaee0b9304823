import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { hashPassword } from '../src/auth/passwords.js';
import { createSession, destroyUserSessions, sessionHash, touchSession } from '../src/auth/sessions.js';
import { transportOptions } from '../src/adapters/mailer.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { createPractice } from '../src/practices/store.js';
import { startHarness, type Harness } from './support/harness.js';
import { startSmtpCapture, type SmtpCapture } from './support/smtp-capture.js';
import { consoleCall, insertAccount, invitationToken, type ConsoleRequest } from './support/staff-session.js';

/**
 * Staff accounts after review (findings 1, 3–6, 12–14): an invitation for an existing account
 * is no password oracle, an ended session stays ended, one practice's admin acts on that
 * practice only and never leaves it without an admin, invitations end and are revoked, the
 * cookie is always Secure, a reset answers before any e-mail is sent, and SMTP needs TLS in
 * production. Sessions are made in Redis directly (the sign-in itself is accounts.test.ts's).
 */

let h: Harness;
let smtp: SmtpCapture;
let now = new Date('2026-11-26T03:00:00Z');
const clock = (): Date => now;
let A: { id: string; key: string };
let B: { id: string; key: string };

beforeAll(async () => {
  smtp = await startSmtpCapture();
  h = await startHarness('accounts-hardening', { ...smtp.env, RATE_LIMIT_SIGN_IN_PER_SOURCE: '100000' }, { clock });
  const a = await createPractice(h.services.db, { slug: 'hard-a', name: 'Hardening A', timeZone: 'America/New_York', numbers: ['+12025550941'] });
  const b = await createPractice(h.services.db, { slug: 'hard-b', name: 'Hardening B', timeZone: 'America/New_York', numbers: ['+12025550942'] });
  A = { id: a.id, key: (await createApiKey(h.services.db, { role: 'admin', practiceId: a.id })).key };
  B = { id: b.id, key: (await createApiKey(h.services.db, { role: 'admin', practiceId: b.id })).key };
}, 60_000);
afterAll(async () => {
  smtp?.release();
  await h?.close();
  await smtp?.close();
});

const call = (method: string, path: string, opts: ConsoleRequest = {}) => consoleCall(h, method, path, opts);

let counter = 0;
const PASSWORD = 'correct horse battery staple';

/** An active person with a password and memberships (role per practice). */
async function person(memberships: Array<{ practiceId: string; role: 'admin' | 'staff' }>): Promise<{ id: string; email: string }> {
  const email = `person-${counter++}@example.org`;
  const id = await insertAccount(h, { email, displayName: 'Someone', passwordHash: await hashPassword(PASSWORD), memberships });
  return { id, email };
}

/** A full session of the person acting for a practice: its cookie and CSRF token. */
async function sessionFor(userId: string, practiceId: string): Promise<{ cookie: string; csrf: string }> {
  const s = await createSession(h.services.redis, { userId, practiceId, stage: 'full', idleMs: 15 * 60_000, method: 'password_totp' }, now);
  return { cookie: s.id, csrf: s.record.csrf };
}

const lastMailTo = (email: string): string => [...smtp.mails].reverse().find((m) => m.includes(email)) ?? '';

async function invite(key: string, email: string, role = 'staff'): Promise<{ invitationId: string; token: string; body: Record<string, unknown> }> {
  const res = await call('POST', '/api/users/invitations', { key, body: { email, role } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { invitationId: res.body.invitationId as string, token: invitationToken(lastMailTo(email)), body: res.body };
}

async function auditRows(action: string): Promise<Array<{ actor: string; details: unknown }>> {
  return h.services.db.selectFrom('audit_log').select(['actor', 'details']).where('action', '=', action).execute();
}

describe('an invitation for an existing account (finding 1)', () => {
  it('is accepted only in that person’s session; no password is checked, the link is not shown when mailed', async () => {
    const dana = await person([{ practiceId: B.id, role: 'staff' }]);
    const newcomer = `new-${counter++}@example.org`;
    const forExisting = await invite(A.key, dana.email);
    const forNew = await invite(A.key, newcomer);
    // The invite answers alike for both: nothing says the e-mail has an account, and no link when it was mailed.
    expect(Object.keys(forExisting.body).sort()).toEqual(Object.keys(forNew.body).sort());
    expect(forExisting.body.link).toBeUndefined();
    expect(forExisting.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Neither a wrong nor the right password does anything: the same neutral 409.
    const wrong = await call('POST', '/api/auth/invitations/accept', { body: { token: forExisting.token, password: 'not the right password', displayName: 'X' } });
    const right = await call('POST', '/api/auth/invitations/accept', { body: { token: forExisting.token, password: PASSWORD, displayName: 'X' } });
    expect(wrong.status).toBe(409);
    expect(wrong.body.error).toBe('sign_in_to_accept');
    expect(right).toEqual(wrong);
    // Another person's session is not theirs.
    const other = await person([{ practiceId: B.id, role: 'staff' }]);
    const otherSession = await sessionFor(other.id, B.id);
    expect((await call('POST', '/api/auth/invitations/accept', { body: { token: forExisting.token, password: 'x', displayName: 'X' }, ...otherSession })).status).toBe(409);
    expect((await auditRows('user.invitation_refused')).filter((r) => (r.details as { reason: string }).reason === 'sign_in_to_accept')).toHaveLength(3);
    // Signed in as Dana (for B), with the CSRF token: accepted, and Dana's password is unchanged.
    const own = await sessionFor(dana.id, B.id);
    expect((await call('POST', '/api/auth/invitations/accept', { body: { token: forExisting.token, password: 'x', displayName: 'X' }, cookie: own.cookie })).status).toBe(403);
    // The signed-in person sends the token alone (the console's accept page has no password to ask for).
    const accepted = await call('POST', '/api/auth/invitations/accept', { body: { token: forExisting.token }, ...own });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
    expect(accepted.body).toMatchObject({ userId: dana.id, practiceId: A.id, created: false });
    // A new account needs its password and name: a 400 naming each field, the link not spent.
    const bare = await call('POST', '/api/auth/invitations/accept', { body: { token: forNew.token } });
    expect(bare.status).toBe(400);
    expect(bare.body.message).toMatch(/password: /);
    expect(bare.body.message).toMatch(/displayName: /);
    // A new address still makes an account with the link alone.
    expect((await call('POST', '/api/auth/invitations/accept', { body: { token: forNew.token, password: PASSWORD, displayName: 'New' } })).status).toBe(201);
  });
});

describe('sessions (findings 3, 4, 12)', () => {
  it('a request in flight cannot write back a session ended meanwhile', async () => {
    const p = await person([{ practiceId: A.id, role: 'staff' }]);
    const s = await createSession(h.services.redis, { userId: p.id, practiceId: A.id, stage: 'full', idleMs: 15 * 60_000, method: 'password_totp' }, now);
    const hash = sessionHash(s.id);
    expect(await destroyUserSessions(h.services.redis, p.id)).toBe(1);
    // What a request that loaded the session before the sign-out would do next.
    expect(await touchSession(h.services.redis, hash, s.record, now)).toBeNull();
    expect(await h.services.redis.exists(`session:${hash}`)).toBe(0);
    expect((await call('GET', '/api/session', { cookie: s.id })).status).toBe(401);
  });

  it("one practice's role change or disabling ends only that practice's sessions; the account stays", async () => {
    const p = await person([{ practiceId: A.id, role: 'staff' }, { practiceId: B.id, role: 'staff' }]);
    const inA = await sessionFor(p.id, A.id);
    const inB = await sessionFor(p.id, B.id);
    const role = await call('PATCH', `/api/users/${p.id}/membership`, { key: A.key, body: { role: 'auditor' } });
    expect(role.status).toBe(200);
    expect(await h.services.redis.exists(`session:${sessionHash(inA.cookie)}`)).toBe(0);
    expect((await call('GET', '/api/session', { cookie: inB.cookie })).status).toBe(200);
    const inA2 = await sessionFor(p.id, A.id);
    const disabled = await call('POST', `/api/users/${p.id}/disable`, { key: A.key });
    expect(disabled.status).toBe(200);
    expect(disabled.body.sessionsEnded).toBe(1);
    expect((await call('GET', '/api/session', { cookie: inA2.cookie })).status).toBe(401);
    expect((await call('GET', '/api/session', { cookie: inB.cookie })).status).toBe(200);
    const account = await h.services.db.selectFrom('users').select('status').where('id', '=', p.id).executeTakeFirstOrThrow();
    expect(account.status).toBe('active');
    // B can still bring the person into another practice: the account is not "invalid".
    const inv = await invite(B.key, p.email);
    expect(inv.token).not.toBe('');
  });

  it('the session cookie always carries Secure', async () => {
    const p = await person([{ practiceId: A.id, role: 'staff' }]);
    const login = await call('POST', '/api/auth/login', { body: { email: p.email, password: PASSWORD } });
    expect(login.status).toBe(200);
    const cookie = login.setCookie.find((c) => c.startsWith('__Host-ahl_session=')) ?? '';
    expect(cookie.split(/;\s*/)).toContain('Secure');
  });
});

describe("a practice's admins (finding 5)", () => {
  it('refuses (409) to demote or disable the last active admin, including oneself', async () => {
    const c = await createPractice(h.services.db, { slug: 'hard-c', name: 'Hardening C', timeZone: 'America/New_York', numbers: ['+12025550943'] });
    const admin = await person([{ practiceId: c.id, role: 'admin' }]);
    const own = await sessionFor(admin.id, c.id);
    const demote = await call('PATCH', `/api/users/${admin.id}/membership`, { body: { role: 'staff' }, ...own });
    expect(demote.status, JSON.stringify(demote.body)).toBe(409);
    expect(demote.body.error).toBe('last_admin');
    const key = (await createApiKey(h.services.db, { role: 'admin', practiceId: c.id })).key;
    expect((await call('POST', `/api/users/${admin.id}/disable`, { key })).status).toBe(409);
    // With a second admin, the first may step down.
    const second = await person([{ practiceId: c.id, role: 'admin' }]);
    expect((await call('PATCH', `/api/users/${admin.id}/membership`, { key, body: { role: 'staff' } })).status).toBe(200);
    expect((await call('POST', `/api/users/${second.id}/disable`, { key })).status).toBe(409);
  });
});

describe('invitations end (finding 6)', () => {
  it('a re-invitation ends the earlier link; a revoked one stops working; pending ones are listed', async () => {
    const email = `re-${counter++}@example.org`;
    const first = await invite(A.key, email);
    const second = await invite(A.key, email);
    const listed = await call('GET', '/api/users/invitations', { key: A.key });
    const ids = (listed.body.invitations as Array<{ invitationId: string }>).map((i) => i.invitationId);
    expect(ids).toContain(second.invitationId);
    expect(ids).not.toContain(first.invitationId);
    expect(((await call('GET', '/api/users', { key: A.key })).body.invitations as Array<{ invitationId: string }>).map((i) => i.invitationId)).toContain(second.invitationId);
    expect((await call('POST', '/api/auth/invitations/accept', { body: { token: first.token, password: PASSWORD, displayName: 'R' } })).status).toBe(404);
    expect((await call('POST', `/api/users/invitations/${second.invitationId}/revoke`, { key: B.key })).status).toBe(404);
    expect((await call('POST', `/api/users/invitations/${second.invitationId}/revoke`, { key: A.key })).status).toBe(200);
    expect((await call('POST', `/api/users/invitations/${second.invitationId}/revoke`, { key: A.key })).status).toBe(404);
    expect((await call('POST', '/api/auth/invitations/accept', { body: { token: second.token, password: PASSWORD, displayName: 'R' } })).status).toBe(404);
    expect(await auditRows('user.invitation_revoked')).toHaveLength(1);
  });

  it('disabling a membership ends its pending invitations; an older invitation never reinstates it', async () => {
    const p = await person([{ practiceId: A.id, role: 'staff' }, { practiceId: B.id, role: 'staff' }]);
    const pending = await invite(A.key, p.email, 'admin');
    // An invitation made before the disabling, kept pending (as if the expiry had not run), is refused all the same.
    const older = await invite(A.key, `other-${counter++}@example.org`);
    expect((await call('POST', `/api/users/${p.id}/disable`, { key: A.key })).status).toBe(200);
    const row = await h.services.db.selectFrom('invitations').select('expires_at').where('id', '=', pending.invitationId).executeTakeFirstOrThrow();
    expect(row.expires_at.getTime()).toBeLessThanOrEqual(now.getTime());
    await h.services.db.updateTable('invitations').set({ email: p.email, expires_at: new Date(now.getTime() + 86_400_000) }).where('id', '=', older.invitationId).execute();
    const own = await sessionFor(p.id, B.id);
    expect((await call('POST', '/api/auth/invitations/accept', { body: { token: pending.token, password: 'x', displayName: 'X' }, ...own })).status).toBe(404);
    now = new Date(now.getTime() + 1_000);
    expect((await call('POST', '/api/auth/invitations/accept', { body: { token: older.token, password: 'x', displayName: 'X' }, ...own })).status).toBe(404);
    const m = await h.services.db.selectFrom('memberships').select('disabled_at').where('user_id', '=', p.id).where('practice_id', '=', A.id).executeTakeFirstOrThrow();
    expect(m.disabled_at).not.toBeNull();
    // A new invitation, made after the disabling, may bring the person back.
    const fresh = await invite(A.key, p.email);
    expect((await call('POST', '/api/auth/invitations/accept', { body: { token: fresh.token, password: 'x', displayName: 'X' }, ...own })).status).toBe(200);
  });
});

describe('password reset and e-mail (findings 13, 14)', () => {
  it('answers before the e-mail is sent (an existing account answers as an unknown one does)', async () => {
    const p = await person([{ practiceId: A.id, role: 'staff' }]);
    smtp.hold();
    // The relay holds the message: the answer must not wait for it.
    const res = await call('POST', '/api/auth/password-reset', { body: { email: p.email } });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ status: 'accepted' });
    smtp.release();
    for (let i = 0; i < 200 && !(await auditRows('user.password_reset_requested')).some((r) => r.actor === `user:${p.id}`); i += 1) await new Promise((r) => setTimeout(r, 25));
    const rows = await auditRows('user.password_reset_requested');
    expect(rows.find((r) => r.actor === `user:${p.id}`)?.details).toEqual({ sent: true });
  });

  it('SMTP requires TLS in production; clear text only for a relay on this host, when asked', () => {
    const base = { NODE_ENV: 'production', PUBLIC_BASE_URL: 'https://ahl.example.org', TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`, TWILIO_AUTH_TOKEN: 'real-token-0123456789abcdef', SMTP_FROM: 'after-hours@example.org' };
    const prod = loadConfig({ ...base, SMTP_URL: 'smtp://mail.example.org:587' });
    expect(transportOptions(prod.smtp ?? expect.fail('no smtp')).requireTLS).toBe(true);
    const byHost = loadConfig({ ...base, SMTP_HOST: 'mail.example.org' });
    expect(transportOptions(byHost.smtp ?? expect.fail('no smtp')).requireTLS).toBe(true);
    const local = loadConfig({ ...base, SMTP_URL: 'smtp://127.0.0.1:25', SMTP_ALLOW_PLAINTEXT_LOOPBACK: 'true' });
    expect(transportOptions(local.smtp ?? expect.fail('no smtp')).requireTLS).toBe(false);
    expect(() => loadConfig({ ...base, SMTP_URL: 'smtp://mail.example.org:587', SMTP_ALLOW_PLAINTEXT_LOOPBACK: 'true' })).toThrow(ConfigError);
    expect(transportOptions(loadConfig({ SMTP_URL: 'smtp://127.0.0.1:25', SMTP_FROM: 'after-hours@example.org' }).smtp ?? expect.fail('no smtp')).requireTLS).toBe(false);
  });
});
