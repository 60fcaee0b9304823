import type { Page } from 'playwright-core';
import { createApiKey } from '../../src/auth/api-keys.js';
import { totpStep, TOTP_PERIOD_S } from '../../src/auth/totp.js';
import { DEMO, seedDemoIfEmpty } from '../../src/practices/seed.js';
import type { ConsoleBrowser } from './browser.js';
import type { Harness } from './harness.js';
import { consoleCall, totpCodeAt, walkStaffAccount, type ConsoleRole } from './staff-session.js';

export type { ConsoleRole };

/**
 * A person who can sign in to the console, made through the real API as a practice would make
 * one: an admin's invitation (an admin API key of the harness's), accepted with a password,
 * TOTP enrolled and confirmed (the walk of test/support/staff-session.ts). `signIn` then drives the
 * real sign-in page in Chromium (the browser harness runs the service as `npm start` does, in
 * development, where the CSRF check takes the request's own origin: test/support/browser.ts).
 *
 * The service refuses a TOTP step at or before the last one it accepted, and tests run on a fixed
 * clock, so each user has three steps (the clock's, one either side): enrolment takes the one
 * before, and each sign-in the next one left — two sign-ins per user. Make another user for more.
 */

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

/** The code for a TOTP step (computed at the middle of it). */
export function totpCodeForStep(secret: string, step: number): string {
  return totpCodeAt(secret, new Date((step * TOTP_PERIOD_S + TOTP_PERIOD_S / 2) * 1000));
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
  // Enrolment takes the step before the clock's, leaving two for sign-ins.
  const enrolStep = totpStep(h.services.clock()) - 1;
  const session = await walkStaffAccount(h, { adminKey: key, email, role, password, displayName: opts.displayName ?? `Console ${role}`, enrolCode: (secret) => totpCodeForStep(secret, enrolStep) });
  const user: ConsoleUser = {
    id: session.userId,
    practiceId,
    role,
    email,
    password,
    totpSecret: session.totpSecret,
    recoveryCodes: session.recoveryCodes,
    lastStep: enrolStep,
    clock: () => h.services.clock(),
  };
  // Sign the API's session out: the browser makes its own.
  const out = await consoleCall(h, 'POST', '/api/auth/logout', { cookie: session.cookie, csrf: session.csrf });
  if (out.status !== 204) throw new Error(`console-user: signing out answered ${out.status}`);
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

/** The demo practice (src/practices/seed.ts), seeded at `now` when the schema is empty: its id. */
export async function seededDemoPractice(h: Pick<Harness, 'services'>, now: Date): Promise<string> {
  const { db, keyring, audit } = h.services;
  await seedDemoIfEmpty(db, keyring, audit, now);
  return (await db.selectFrom('practices').select('id').where('slug', '=', DEMO.slug).executeTakeFirstOrThrow()).id;
}

/**
 * A new tab of `b` signed in as `user` through the sign-in page, and what the tab complained of
 * (test/support/browser.ts `newPage`). `timeoutMs`: the tab's default wait, when given.
 */
export async function signedInPage(b: ConsoleBrowser, user: ConsoleUser, opts: { timeoutMs?: number } = {}): Promise<{ page: Page; problems: string[] }> {
  const opened = await b.newPage();
  if (opts.timeoutMs !== undefined) opened.page.setDefaultTimeout(opts.timeoutMs);
  await signIn(opened.page, b.harness.baseUrl, user);
  return opened;
}
