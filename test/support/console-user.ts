import { Secret, TOTP } from 'otpauth';
import type { Page } from 'playwright-core';
import { createApiKey } from '../../src/auth/api-keys.js';
import { totpStep, TOTP_PERIOD_S } from '../../src/auth/totp.js';
import type { Harness } from './harness.js';

/**
 * A person who can sign in to the console, made through the real API as a practice would make
 * one: an admin's invitation (an admin API key of the harness's), accepted with a password,
 * TOTP enrolled and confirmed with a code computed here with otpauth. `signIn` then drives the
 * real sign-in page in Chromium (the browser harness runs the service as `npm start` does, in
 * development, where the CSRF check takes the request's own origin: test/support/browser.ts).
 *
 * The service refuses a TOTP step at or before the last one it accepted, and tests run on a fixed
 * clock, so each user has three steps (the clock's, one either side): enrolment takes the one
 * before, and each sign-in the next one left — two sign-ins per user. Make another user for more.
 */

export type ConsoleRole = 'admin' | 'staff' | 'provider' | 'auditor';

export interface ConsoleUser {
  id: string;
  practiceId: string;
  role: ConsoleRole;
  email: string;
  password: string;
  /** Base32 TOTP secret, as the authenticator app holds it. */
  totpSecret: string;
  recoveryCodes: string[];
  /** The last TOTP step the service accepted for this user (replays refused). */
  lastStep: number;
  /** The service's clock (TOTP codes are computed for its time). */
  clock: () => Date;
}

let made = 0;

interface Answer { status: number; body: Record<string, unknown>; cookie: string | null }

async function call(h: Harness, method: string, path: string, opts: { body?: unknown; cookie?: string | null; csrf?: string; key?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { origin: new URL(h.config.publicBaseUrl).origin };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.cookie) headers.cookie = `__Host-ahl_session=${opts.cookie}`;
  if (opts.csrf) headers['x-csrf-token'] = opts.csrf;
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  const res = await fetch(h.baseUrl + path, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
  const text = await res.text();
  const set = res.headers.getSetCookie().find((c) => c.startsWith('__Host-ahl_session='));
  const cookie = set ? (/^__Host-ahl_session=([^;]*)/.exec(set)?.[1] ?? null) : null;
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, cookie };
}

function expectStatus(answer: Answer, status: number, what: string): void {
  if (answer.status !== status) throw new Error(`console-user: ${what} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
}

/** The code for a TOTP step (computed at the middle of it). */
export function totpCodeForStep(secret: string, step: number): string {
  return new TOTP({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: TOTP_PERIOD_S }).generate({ timestamp: (step * TOTP_PERIOD_S + TOTP_PERIOD_S / 2) * 1000 });
}

/** The next code the service will accept for this user now, and the step it uses up. */
export function nextTotpCode(user: ConsoleUser): string {
  const now = totpStep(user.clock());
  const step = Math.max(now - 1, user.lastStep + 1);
  if (step > now + 1) throw new Error('console-user: this user has used every TOTP step the fixed clock allows; make another user');
  user.lastStep = step;
  return totpCodeForStep(user.totpSecret, step);
}

/**
 * Invites, accepts and enrols a user of `practiceId` with `role`, through the API (an admin key
 * made for the purpose). The e-mail and display name are synthetic, never a test patient's.
 */
export async function createConsoleUser(h: Harness, practiceId: string, role: ConsoleRole, opts: { email?: string; displayName?: string; password?: string } = {}): Promise<ConsoleUser> {
  made += 1;
  const email = opts.email ?? `console.${role}.${made}.${Date.now().toString(36)}@example.org`;
  const password = opts.password ?? 'a long console test passphrase';
  const { key } = await createApiKey(h.services.db, { role: 'admin', practiceId });

  const invited = await call(h, 'POST', '/api/users/invitations', { key, body: { email, role } });
  expectStatus(invited, 201, 'the invitation');
  const token = /#token=([A-Za-z0-9_-]+)$/.exec(String(invited.body.link))?.[1];
  if (!token) throw new Error('console-user: the invitation answered no link');
  const accepted = await call(h, 'POST', '/api/auth/invitations/accept', { body: { token, password, displayName: opts.displayName ?? `Console ${role}` } });
  expectStatus(accepted, 201, 'accepting the invitation');

  const login = await call(h, 'POST', '/api/auth/login', { body: { email, password } });
  expectStatus(login, 200, 'the first sign-in');
  if (login.body.next !== 'enrol_totp') throw new Error(`console-user: expected TOTP enrolment, got ${String(login.body.next)}`);
  const csrf = login.body.csrfToken as string;
  const enrol = await call(h, 'POST', '/api/auth/totp/enrol', { cookie: login.cookie, csrf });
  expectStatus(enrol, 200, 'TOTP enrolment');
  const secret = enrol.body.secret as string;
  const user: ConsoleUser = {
    id: '',
    practiceId,
    role,
    email,
    password,
    totpSecret: secret,
    recoveryCodes: [],
    lastStep: Number.NEGATIVE_INFINITY,
    clock: () => h.services.clock(),
  };
  const confirm = await call(h, 'POST', '/api/auth/totp/confirm', { cookie: login.cookie, csrf, body: { code: nextTotpCode(user) } });
  expectStatus(confirm, 200, 'TOTP confirmation');
  user.recoveryCodes = confirm.body.recoveryCodes as string[];
  const session = await call(h, 'GET', '/api/session', { cookie: confirm.cookie });
  expectStatus(session, 200, 'the session');
  user.id = String((session.body.user as { id?: string } | undefined)?.id ?? session.body.userId ?? '');
  // Sign the API's session out: the browser makes its own.
  await call(h, 'POST', '/api/auth/logout', { cookie: confirm.cookie, csrf: confirm.body.csrfToken as string });
  return user;
}

/**
 * Signs `page` in through the console's sign-in page (e-mail, password, then the authenticator
 * code). If the page is already on sign-in (a deep link that sent it there), it stays, so the
 * console returns to that link afterwards; otherwise it opens `/console/sign-in`. Resolves once
 * the console has left the sign-in page.
 */
export async function signIn(page: Page, baseUrl: string, user: ConsoleUser): Promise<void> {
  if (!new URL(page.url(), baseUrl).pathname.startsWith('/console/sign-in')) await page.goto(`${baseUrl}/console/sign-in`);
  await page.getByLabel(/^E-mail/).fill(user.email);
  await page.getByLabel(/^Password/).fill(user.password);
  await page.getByRole('button', { name: 'Continue' }).click();
  const code = page.getByLabel(/^Authenticator code/);
  await code.waitFor();
  await code.fill(nextTotpCode(user));
  await page.getByRole('button', { name: 'Verify' }).click();
  await page.waitForURL((url) => !url.pathname.startsWith('/console/sign-in'));
}
