import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { issueResetToken } from '../src/auth/accounts.js';
import { createPractice } from '../src/practices/store.js';
import { startHarness, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';

/**
 * Joining through single sign-on without a password: the accept page asks
 * `POST /api/auth/invitations/inspect` what it may know (the practice's name, whether single
 * sign-on is open to the invited person; never the e-mail), and a new account may then be made
 * without a password. Such an account refuses a password sign-in with the wrong-password answer,
 * and a password reset still gives it one. Against the real service, PostgreSQL and Redis.
 */

const ORIGIN = new URL(TEST_PUBLIC_BASE_URL).origin;
const DOMAIN = 'riverside-peds.example';

let h: Harness;
let practiceId: string;
let adminKey: string;
let counter = 0;

interface Answer {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

async function call(method: string, path: string, opts: { body?: unknown; key?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { origin: ORIGIN };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  const res = await fetch(h.baseUrl + path, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, text };
}

/** A fresh invitation (no SMTP: the link is in the answer); its e-mail and token. */
async function invite(domain = DOMAIN): Promise<{ email: string; token: string }> {
  const email = `joiner-${counter++}@${domain}`;
  const res = await call('POST', '/api/users/invitations', { key: adminKey, body: { email, role: 'staff' } });
  expect(res.status).toBe(201);
  const token = /#token=([A-Za-z0-9_-]+)$/.exec(String(res.body.link))?.[1];
  if (!token) throw new Error('no link in the invitation');
  return { email, token };
}

async function setSso(enabled: boolean): Promise<void> {
  const res = await call('PUT', `/api/practices/${practiceId}/sso`, {
    key: adminKey,
    body: { issuer: 'https://login.riverside-peds.example', clientId: 'after-hours-line', clientSecret: 'the-secret-the-provider-issued', allowedDomains: [DOMAIN], ssoSatisfiesMfa: false, enabled },
  });
  expect([200, 201]).toContain(res.status);
}

beforeAll(async () => {
  h = await startHarness('invitation_sso', { RATE_LIMIT_SIGN_IN_PER_SOURCE: '100000' });
  const practice = await createPractice(h.services.db, { slug: 'riverside', name: 'Riverside Pediatrics', timeZone: 'America/New_York', numbers: ['+12025550941'] });
  practiceId = practice.id;
  adminKey = (await createApiKey(h.services.db, { role: 'admin', practiceId })).key;
}, 60_000);
afterAll(async () => {
  await h?.close();
});

describe('POST /api/auth/invitations/inspect', () => {
  it("names the practice and says whether single sign-on is open, never the e-mail; 404 for an unknown or spent link; 400 naming the token", async () => {
    const { email, token } = await invite();
    const off = await call('POST', '/api/auth/invitations/inspect', { body: { token } });
    expect(off.status).toBe(200);
    expect(off.body).toEqual({ practiceName: 'Riverside Pediatrics', sso: false, ssoPractice: null });
    expect(off.text).not.toContain(email);

    expect((await call('POST', '/api/auth/invitations/inspect', { body: { token: 'x'.repeat(43) } })).status).toBe(404);
    const bad = await call('POST', '/api/auth/invitations/inspect', { body: {} });
    expect(bad.status).toBe(400);
    expect(String(bad.body.message)).toContain('token');

    // Accepted: the link is spent.
    expect((await call('POST', '/api/auth/invitations/accept', { body: { token, password: 'a long enough passphrase here', displayName: 'Spent' } })).status).toBe(201);
    expect((await call('POST', '/api/auth/invitations/inspect', { body: { token } })).status).toBe(404);
  });
});

describe('accepting without a password', () => {
  it("is refused with 400 naming the password when the practice's single sign-on is off", async () => {
    const { token } = await invite();
    const refused = await call('POST', '/api/auth/invitations/accept', { body: { token, displayName: 'Dana Reyes' } });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toBe('password: required for a new account');
  });

  it('is refused while the single sign-on is configured but disabled, and for an e-mail outside its domains', async () => {
    await setSso(false);
    const disabled = await invite();
    expect((await call('POST', '/api/auth/invitations/inspect', { body: { token: disabled.token } })).body.sso).toBe(false);
    expect((await call('POST', '/api/auth/invitations/accept', { body: { token: disabled.token, displayName: 'Dana Reyes' } })).status).toBe(400);
    await setSso(true);
    const outside = await invite('elsewhere.example');
    expect((await call('POST', '/api/auth/invitations/inspect', { body: { token: outside.token } })).body).toEqual({ practiceName: 'Riverside Pediatrics', sso: false, ssoPractice: null });
    const refused = await call('POST', '/api/auth/invitations/accept', { body: { token: outside.token, displayName: 'Dana Reyes' } });
    expect(refused).toMatchObject({ status: 400, body: { message: 'password: required for a new account' } });
  });

  it('makes an account with no password when single sign-on is open; its password sign-in answers as a wrong password; a reset gives it one', async () => {
    await setSso(true);
    const { email, token } = await invite();
    const inspected = await call('POST', '/api/auth/invitations/inspect', { body: { token } });
    expect(inspected.body).toEqual({ practiceName: 'Riverside Pediatrics', sso: true, ssoPractice: 'riverside' });

    // The name is still required.
    expect(await call('POST', '/api/auth/invitations/accept', { body: { token } })).toMatchObject({ status: 400, body: { message: 'displayName: required for a new account' } });
    const accepted = await call('POST', '/api/auth/invitations/accept', { body: { token, displayName: 'Dana Reyes' } });
    expect(accepted.status).toBe(201);
    expect(accepted.body).toMatchObject({ practiceId, created: true });
    const userId = String(accepted.body.userId);
    const user = await h.services.db.selectFrom('users').select('password_hash').where('id', '=', userId).executeTakeFirstOrThrow();
    expect(user.password_hash).toBeNull();
    const membership = await h.services.db.selectFrom('memberships').select('role').where('user_id', '=', userId).where('practice_id', '=', practiceId).executeTakeFirstOrThrow();
    expect(membership.role).toBe('staff');
    const audited = await h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'user.invitation_accepted').where('actor', '=', `user:${userId}`).executeTakeFirstOrThrow();
    expect(audited.details).toMatchObject({ newAccount: true, password: false });

    // A password sign-in of the account answers exactly as a wrong password of an account that has one.
    const noPassword = await call('POST', '/api/auth/login', { body: { email, password: 'any password at all, really' } });
    const other = await invite();
    await call('POST', '/api/auth/invitations/accept', { body: { token: other.token, password: 'a long enough passphrase here', displayName: 'Other' } });
    const wrong = await call('POST', '/api/auth/login', { body: { email: other.email, password: 'not the passphrase at all' } });
    expect(wrong.status).toBe(401);
    expect(noPassword).toEqual(wrong);
    const failed = await h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'user.sign_in_failed').where('subject_id', '=', userId).executeTakeFirstOrThrow();
    expect(failed.details).toMatchObject({ step: 'password', reason: 'wrong_password' });

    // A password reset sets one; then the password sign-in goes on to the second factor.
    const link = await issueResetToken(h.services, userId);
    const resetToken = /#token=(.+)$/.exec(link)?.[1] ?? '';
    expect((await call('POST', '/api/auth/password-reset/complete', { body: { token: resetToken, password: 'a chosen passphrase later on' } })).status).toBe(204);
    const signedIn = await call('POST', '/api/auth/login', { body: { email, password: 'a chosen passphrase later on' } });
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.next).toBe('enrol_totp');
  });
});
