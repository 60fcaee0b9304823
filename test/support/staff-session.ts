import { Secret, TOTP } from 'otpauth';
import type { MemberRole } from '../../src/adapters/db-schema.js';
import { startSessionForVerifiedIdentity } from '../../src/auth/accounts.js';
import { TOTP_PERIOD_S } from '../../src/auth/totp.js';
import type { Harness } from './harness.js';
import { until } from './until.js';

/**
 * A staff member's session for tests, and the requests a console makes with it.
 * `walkStaffAccount` goes the whole way a person does (an admin's invitation, accepted with a
 * password, TOTP enrolled and confirmed with a code computed here with otpauth), for tests of
 * what a signed-in person does. It yields the session cookie and its CSRF token. `insertAccount`
 * makes the rows an accepted invitation leaves, for tests that need the person but not the walk;
 * `staffSessionFor` adds a full session as a completed sign-in starts it, for tests whose
 * subject is what the person does next.
 */

export type ConsoleRole = MemberRole;

export interface ConsoleAnswer {
  status: number;
  body: Record<string, unknown>;
  /** The session cookie the answer set, if it set one. */
  cookie: string | null;
  /** Every Set-Cookie of the answer, as sent. */
  setCookie: string[];
}

export interface ConsoleRequest {
  body?: unknown;
  /** The session id (sent as the `__Host-ahl_session` cookie). */
  cookie?: string | null;
  csrf?: string;
  /** An API key, sent as a bearer token. */
  key?: string;
  /** The Origin header: the service's own by default; `null` sends none. */
  origin?: string | null;
}

const SESSION_COOKIE = '__Host-ahl_session';

/** A request as the console (or a script with a key) sends it: cookie, Origin and CSRF token as given. */
export async function consoleCall(h: Pick<Harness, 'baseUrl' | 'config'>, method: string, path: string, opts: ConsoleRequest = {}): Promise<ConsoleAnswer> {
  const headers: Record<string, string> = {};
  if (opts.origin !== null) headers.origin = opts.origin ?? new URL(h.config.publicBaseUrl).origin;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.cookie) headers.cookie = `${SESSION_COOKIE}=${opts.cookie}`;
  if (opts.csrf) headers['x-csrf-token'] = opts.csrf;
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  const res = await fetch(h.baseUrl + path, { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
  const text = await res.text();
  const setCookie = res.headers.getSetCookie();
  const set = setCookie.find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  const cookie = set ? (new RegExp(`^${SESSION_COOKIE}=([^;]*)`).exec(set)?.[1] ?? null) : null;
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, cookie, setCookie };
}

/** The TOTP code an authenticator app shows at `at` for a base32 `secret`. */
export function totpCodeAt(secret: string, at: Date): string {
  return new TOTP({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: TOTP_PERIOD_S }).generate({ timestamp: at.getTime() });
}

/** The invitation token in a link or a mail (`…#token=<43 characters>`). */
export function invitationToken(text: string): string {
  return /#token=([A-Za-z0-9_-]{43})/.exec(text)?.[1] ?? '';
}

export interface StaffSession {
  userId: string;
  cookie: string;
  csrf: string;
  /** Base32 TOTP secret, as the authenticator app holds it. */
  totpSecret: string;
  recoveryCodes: string[];
}

export interface StaffWalk {
  /** An admin API key of the practice the person is invited to. */
  adminKey: string;
  email: string;
  role: ConsoleRole;
  password: string;
  displayName: string;
  /**
   * The captured mails when SMTP is configured: then the invitation's answer must show no link
   * and the token is read from the mail sent to `email`. Without, it is read from the answer.
   */
  mails?: readonly string[];
  /** The code that confirms the enrolment; by default the one for the service's clock now. */
  enrolCode?: (secret: string) => string;
}

function expectStatus(answer: ConsoleAnswer, status: number, what: string): void {
  if (answer.status !== status) throw new Error(`staff-session: ${what} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
}

/**
 * Invited by the admin, accepted with a password, signed in, TOTP enrolled and confirmed: the
 * full session the confirmation leaves. Every step goes through the API; a step that answers
 * otherwise than a person's would throws, naming it.
 */
export async function walkStaffAccount(h: Pick<Harness, 'baseUrl' | 'config' | 'services'>, walk: StaffWalk): Promise<StaffSession> {
  const invited = await consoleCall(h, 'POST', '/api/users/invitations', { key: walk.adminKey, body: { email: walk.email, role: walk.role } });
  expectStatus(invited, 201, 'the invitation');
  let token: string;
  if (walk.mails) {
    const { mails } = walk;
    if (invited.body.link !== undefined) throw new Error('staff-session: SMTP is configured, yet the invitation answered its link');
    token = invitationToken(await until('the invitation e-mail', () => mails.find((m) => m.includes(walk.email) && invitationToken(m) !== '')));
  } else {
    token = invitationToken(String(invited.body.link));
  }
  if (!token) throw new Error('staff-session: no invitation token');
  const accepted = await consoleCall(h, 'POST', '/api/auth/invitations/accept', { body: { token, password: walk.password, displayName: walk.displayName } });
  expectStatus(accepted, 201, 'accepting the invitation');

  const login = await consoleCall(h, 'POST', '/api/auth/login', { body: { email: walk.email, password: walk.password } });
  expectStatus(login, 200, 'the first sign-in');
  if (login.body.next !== 'enrol_totp') throw new Error(`staff-session: expected TOTP enrolment, got ${String(login.body.next)}`);
  const csrf = login.body.csrfToken as string;
  const enrol = await consoleCall(h, 'POST', '/api/auth/totp/enrol', { cookie: login.cookie, csrf });
  expectStatus(enrol, 200, 'TOTP enrolment');
  const secret = enrol.body.secret as string;
  const code = walk.enrolCode ? walk.enrolCode(secret) : totpCodeAt(secret, h.services.clock());
  const confirm = await consoleCall(h, 'POST', '/api/auth/totp/confirm', { cookie: login.cookie, csrf, body: { code } });
  expectStatus(confirm, 200, 'TOTP confirmation');
  if (!confirm.cookie) throw new Error('staff-session: the confirmation set no session cookie');
  return {
    userId: accepted.body.userId as string,
    cookie: confirm.cookie,
    csrf: confirm.body.csrfToken as string,
    totpSecret: secret,
    recoveryCodes: confirm.body.recoveryCodes as string[],
  };
}

export interface AccountRows {
  email: string;
  displayName: string;
  /** A hash from src/auth/passwords.ts, for an account that signs in; none by default. */
  passwordHash?: string | null;
  memberships: Array<{ practiceId: string; role: ConsoleRole }>;
}

/** An active account and its memberships, written directly: as an accepted invitation leaves them. Its id. */
export async function insertAccount(h: Pick<Harness, 'services'>, account: AccountRows): Promise<string> {
  const { db } = h.services;
  const user = await db.insertInto('users').values({ email: account.email, display_name: account.displayName, password_hash: account.passwordHash ?? null }).returning('id').executeTakeFirstOrThrow();
  for (const m of account.memberships) await db.insertInto('memberships').values({ user_id: user.id, practice_id: m.practiceId, role: m.role, disabled_at: null }).execute();
  return user.id;
}

/**
 * A staff account of `practiceId` and a full session for it, made directly: the rows as an
 * accepted invitation leaves them, the session as a verified sign-in starts it.
 */
export async function staffSessionFor(h: Pick<Harness, 'services'>, practiceId: string, person: { email: string; displayName: string }): Promise<{ userId: string; cookie: string; csrf: string }> {
  const userId = await insertAccount(h, { ...person, memberships: [{ practiceId, role: 'staff' }] });
  const started = await startSessionForVerifiedIdentity(h.services, { userId, practiceId, method: 'test' });
  if (!started) throw new Error('staff-session: no session was started');
  return { userId, cookie: started.id, csrf: started.record.csrf };
}
