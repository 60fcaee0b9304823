import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { DEMO_ADMIN_EMAIL, demoAdminInvitation } from '../src/auth/accounts.js';
import { createPractice } from '../src/practices/store.js';
import { startHarness, type Harness } from './support/harness.js';
import { startSmtpCapture, type SmtpCapture } from './support/smtp-capture.js';
import { consoleCall, invitationToken, totpCodeAt, type ConsoleRequest } from './support/staff-session.js';

/**
 * Staff accounts end to end (issue 13, items 1–2): an admin's invitation e-mailed through a
 * loopback SMTP server, accepted with a password that must pass the rules, sign-in with the
 * password and TOTP (codes computed here with otpauth), a session cookie on a practice route,
 * CSRF, idle and absolute logoff on a moved clock, sign out everywhere, disabling, the limit on
 * failed sign-ins, and audit rows that name the person.
 */

let h: Harness;
let smtp: SmtpCapture;
let now = new Date('2026-11-26T03:00:00Z');
const clock = (): Date => now;
let practiceId: string;
let adminKey: string;
const EMAIL = 'dana.nurse@example.org';
const PASSWORD = 'correct horse battery staple';

beforeAll(async () => {
  smtp = await startSmtpCapture();
  h = await startHarness('accounts', { ...smtp.env, RATE_LIMIT_SIGN_IN_FAILURES_PER_ACCOUNT: '5', RATE_LIMIT_SIGN_IN_PER_SOURCE: '100000' }, { clock });
  const practice = await createPractice(h.services.db, { slug: 'accounts', name: 'Accounts Clinic', timeZone: 'America/New_York', numbers: ['+12025550931'] });
  practiceId = practice.id;
  adminKey = (await createApiKey(h.services.db, { role: 'admin', practiceId })).key;
}, 60_000);
afterAll(async () => {
  await h?.close();
  await smtp?.close();
});

/** A browser-like request: the session cookie, our Origin and the CSRF token unless told otherwise. */
const call = (method: string, path: string, opts: ConsoleRequest = {}) => consoleCall(h, method, path, opts);

async function auditRows(action: string): Promise<Array<{ actor: string; subject_id: string | null; details: unknown }>> {
  await new Promise((r) => setTimeout(r, 50));
  return h.services.db.selectFrom('audit_log').select(['actor', 'subject_id', 'details']).where('action', '=', action).execute();
}

let userId: string;
let secret: string;
let recoveryCodes: string[];

/** Password then a TOTP code: a full session's cookie and CSRF token. */
async function signIn(): Promise<{ cookie: string; csrf: string }> {
  const login = await call('POST', '/api/auth/login', { body: { email: EMAIL, password: PASSWORD } });
  expect(login.status).toBe(200);
  expect(login.body.next).toBe('totp');
  now = new Date(now.getTime() + 30_000);
  const second = await call('POST', '/api/auth/totp', { body: { code: totpCodeAt(secret, now) }, cookie: login.cookie, csrf: login.body.csrfToken as string });
  expect(second.status, JSON.stringify(second.body)).toBe(200);
  return { cookie: second.cookie ?? '', csrf: second.body.csrfToken as string };
}

describe('invitation → password → TOTP → session', () => {
  let token: string;

  it('an admin invites by e-mail; the link is mailed, not shown', async () => {
    const res = await call('POST', '/api/users/invitations', { key: adminKey, body: { email: EMAIL, role: 'staff' } });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.emailed).toBe(true);
    expect(res.body.link).toBeUndefined();
    token = invitationToken(smtp.mails.find((m) => m.includes(EMAIL)) ?? '');
    expect(token).not.toBe('');
    const invited = await auditRows('user.invited');
    expect(JSON.stringify(invited)).not.toContain(EMAIL);
  });

  it('refuses a short or a common password, then accepts a good one', async () => {
    const short = await call('POST', '/api/auth/invitations/accept', { body: { token, password: 'short pass', displayName: 'Dana' } });
    expect(short.status).toBe(400);
    expect(short.body.message).toMatch(/at least 12/);
    const common = await call('POST', '/api/auth/invitations/accept', { body: { token, password: 'password1234', displayName: 'Dana' } });
    expect(common.status).toBe(400);
    expect(common.body.message).toMatch(/commonly used/);
    const ok = await call('POST', '/api/auth/invitations/accept', { body: { token, password: PASSWORD, displayName: 'Dana' } });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    userId = ok.body.userId as string;
    const again = await call('POST', '/api/auth/invitations/accept', { body: { token, password: PASSWORD, displayName: 'Dana' } });
    expect(again.status).toBe(404);
  });

  it('a wrong password and an unknown e-mail answer alike', async () => {
    const wrong = await call('POST', '/api/auth/login', { body: { email: EMAIL, password: 'not the password at all' } });
    const unknown = await call('POST', '/api/auth/login', { body: { email: 'nobody@example.org', password: 'not the password at all' } });
    expect(wrong.status).toBe(401);
    expect(unknown).toEqual(wrong);
  });

  it('signs in with the password, must enrol TOTP, then has a full session', async () => {
    const login = await call('POST', '/api/auth/login', { body: { email: EMAIL, password: PASSWORD } });
    expect(login.status).toBe(200);
    expect(login.body.next).toBe('enrol_totp');
    expect(login.cookie).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const csrf = login.body.csrfToken as string;
    // A half session reaches no practice route.
    expect((await call('GET', `/api/practices/${practiceId}`, { cookie: login.cookie })).status).toBe(401);
    const enrol = await call('POST', '/api/auth/totp/enrol', { cookie: login.cookie, csrf });
    expect(enrol.status).toBe(200);
    secret = enrol.body.secret as string;
    expect(enrol.body.uri).toMatch(/^otpauth:\/\/totp\//);
    expect((await call('POST', '/api/auth/totp/confirm', { body: { code: '000000' }, cookie: login.cookie, csrf })).status).toBe(401);
    const confirm = await call('POST', '/api/auth/totp/confirm', { body: { code: totpCodeAt(secret, now) }, cookie: login.cookie, csrf });
    expect(confirm.status, JSON.stringify(confirm.body)).toBe(200);
    recoveryCodes = confirm.body.recoveryCodes as string[];
    expect(recoveryCodes).toHaveLength(10);
    expect(confirm.cookie).not.toBe(login.cookie);
    // The old id is gone (rotated at sign-in).
    expect((await call('GET', '/api/session', { cookie: login.cookie })).status).toBe(401);
    const session = await call('GET', '/api/session', { cookie: confirm.cookie });
    expect(session.status).toBe(200);
    expect(session.body.activePracticeId).toBe(practiceId);
    expect(session.body.role).toBe('staff');
    const practice = await call('GET', `/api/practices/${practiceId}`, { cookie: confirm.cookie });
    expect(practice.status).toBe(200);
    expect(practice.body.idleLogoffMinutes).toBe(15);
  });

  it('refuses a TOTP code used twice (replay)', async () => {
    const login = await call('POST', '/api/auth/login', { body: { email: EMAIL, password: PASSWORD } });
    const csrf = login.body.csrfToken as string;
    now = new Date(now.getTime() + 60_000);
    const code = totpCodeAt(secret, now);
    expect((await call('POST', '/api/auth/totp', { body: { code }, cookie: login.cookie, csrf })).status).toBe(200);
    const login2 = await call('POST', '/api/auth/login', { body: { email: EMAIL, password: PASSWORD } });
    expect((await call('POST', '/api/auth/totp', { body: { code }, cookie: login2.cookie, csrf: login2.body.csrfToken as string })).status).toBe(401);
    // A recovery code works once.
    const rc = recoveryCodes[0] ?? '';
    expect((await call('POST', '/api/auth/totp', { body: { recoveryCode: rc }, cookie: login2.cookie, csrf: login2.body.csrfToken as string })).status).toBe(200);
    const login3 = await call('POST', '/api/auth/login', { body: { email: EMAIL, password: PASSWORD } });
    expect((await call('POST', '/api/auth/totp', { body: { recoveryCode: rc }, cookie: login3.cookie, csrf: login3.body.csrfToken as string })).status).toBe(401);
    expect((await auditRows('user.recovery_code_used')).map((r) => r.actor)).toEqual([`user:${userId}`]);
  });

  it('refuses a state change without the CSRF token or from another Origin', async () => {
    const { cookie, csrf } = await signIn();
    const patch = { body: { greetingName: 'Accounts greeting' }, cookie };
    // A staff member may not patch the practice; the CSRF checks come first.
    expect((await call('PATCH', `/api/practices/${practiceId}`, { ...patch })).status).toBe(403);
    expect((await call('PATCH', `/api/practices/${practiceId}`, { ...patch, csrf: 'x'.repeat(43) })).status).toBe(403);
    expect((await call('PATCH', `/api/practices/${practiceId}`, { ...patch, csrf, origin: 'https://evil.example.com' })).status).toBe(403);
    const csrfRows = await auditRows('user.csrf_refused');
    expect(csrfRows.map((r) => (r.details as { reason: string }).reason).sort()).toEqual(['origin', 'token', 'token']);
    // With both, the request reaches permit, which names the person.
    const staffed = await call('PATCH', `/api/practices/${practiceId}`, { ...patch, csrf });
    expect(staffed.status).toBe(403);
    const forbidden = await auditRows('api.forbidden');
    expect(forbidden.some((r) => r.actor === `user:${userId}`)).toBe(true);
  });

  it('signs out after the idle time and after 12 hours in any case', async () => {
    const a = await signIn();
    now = new Date(now.getTime() + 14 * 60_000);
    expect((await call('GET', '/api/session', { cookie: a.cookie })).status).toBe(200);
    now = new Date(now.getTime() + 15 * 60_000 + 1);
    expect((await call('GET', '/api/session', { cookie: a.cookie })).status).toBe(401);
    const b = await signIn();
    for (let i = 0; i < 60; i += 1) {
      now = new Date(now.getTime() + 14 * 60_000);
      const s = await call('GET', '/api/session', { cookie: b.cookie });
      if (s.status !== 200) break;
    }
    expect((await call('GET', '/api/session', { cookie: b.cookie })).status).toBe(401);
    const expired = await auditRows('user.session_expired');
    expect(expired.map((r) => (r.details as { reason: string }).reason).sort()).toEqual(['absolute', 'idle']);
  });

  it('signs out everywhere', async () => {
    const a = await signIn();
    const b = await signIn();
    const out = await call('POST', '/api/auth/logout-everywhere', { cookie: a.cookie, csrf: a.csrf });
    expect(out.status).toBe(200);
    expect(out.body.sessionsEnded).toBeGreaterThanOrEqual(2);
    expect((await call('GET', '/api/session', { cookie: b.cookie })).status).toBe(401);
  });

  it('an admin lists, changes the role of and disables the person; with no practice left they cannot sign in', async () => {
    const list = await call('GET', '/api/users', { key: adminKey });
    expect(list.status).toBe(200);
    expect((list.body.users as Array<{ userId: string }>).map((u) => u.userId)).toContain(userId);
    const role = await call('PATCH', `/api/users/${userId}/membership`, { key: adminKey, body: { role: 'auditor' } });
    expect(role.status).toBe(200);
    const s = await signIn();
    const disable = await call('POST', `/api/users/${userId}/disable`, { key: adminKey });
    expect(disable.status).toBe(200);
    expect((await call('GET', '/api/session', { cookie: s.cookie })).status).toBe(401);
    const login = await call('POST', '/api/auth/login', { body: { email: EMAIL, password: PASSWORD } });
    expect(login.status).toBe(401);
    const failed = await auditRows('user.sign_in_failed');
    expect(failed.some((r) => r.actor === `user:${userId}` && (r.details as { reason: string }).reason === 'no_practice')).toBe(true);
  });

  it('limits failed sign-ins per account', async () => {
    const email = 'limited@example.org';
    const answers: number[] = [];
    for (let i = 0; i < 7; i += 1) answers.push((await call('POST', '/api/auth/login', { body: { email, password: 'wrong password here' } })).status);
    expect(answers.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(answers.slice(5)).toEqual([429, 429]);
  });

  it('never writes an e-mail address or a password into the audit log', async () => {
    const rows = await h.services.db.selectFrom('audit_log').select(['actor', 'details']).execute();
    const text = JSON.stringify(rows);
    expect(text).not.toContain(EMAIL);
    expect(text).not.toContain(PASSWORD);
    expect(text).toContain(`user:${userId}`);
  });

  it('the idle logoff is a practice setting of 5 to 60 minutes', async () => {
    expect((await call('PATCH', `/api/practices/${practiceId}`, { key: adminKey, body: { idleLogoffMinutes: 4 } })).status).toBe(400);
    expect((await call('PATCH', `/api/practices/${practiceId}`, { key: adminKey, body: { idleLogoffMinutes: 61 } })).status).toBe(400);
    const ok = await call('PATCH', `/api/practices/${practiceId}`, { key: adminKey, body: { idleLogoffMinutes: 30 } });
    expect(ok.status).toBe(200);
    expect(ok.body.idleLogoffMinutes).toBe(30);
  });

  it("the demo admin's link: a fresh one until accepted, none after", async () => {
    const first = await demoAdminInvitation(h.services, practiceId);
    const second = await demoAdminInvitation(h.services, practiceId);
    const tokenOf = (link: string | null): string => /#token=(.+)$/.exec(link ?? '')?.[1] ?? '';
    // The link opens the console's own page (served under /console/), the token in the fragment only.
    expect(first?.startsWith(`${h.config.publicBaseUrl}/console/accept-invitation#token=`)).toBe(true);
    // The earlier link ended when the next was made.
    expect((await call('POST', '/api/auth/invitations/accept', { body: { token: tokenOf(first), password: 'demo admin passphrase', displayName: 'Demo Admin' } })).status).toBe(404);
    expect((await call('POST', '/api/auth/invitations/accept', { body: { token: tokenOf(second), password: 'demo admin passphrase', displayName: 'Demo Admin' } })).status).toBe(201);
    expect(await demoAdminInvitation(h.services, practiceId)).toBeNull();
    const list = await call('GET', '/api/users', { key: adminKey });
    expect((list.body.users as Array<{ email: string; role: string }>).find((u) => u.email === DEMO_ADMIN_EMAIL)?.role).toBe('admin');
  });
});
