import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type KoaContextWithOIDC } from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeSignIn } from '../src/auth/accounts.js';
import { createApiKey } from '../src/auth/api-keys.js';
import { captureLogs } from '../src/log/logger.js';
import { createSession, sessionHash } from '../src/auth/sessions.js';
import { createPractice } from '../src/practices/store.js';
import { startHarness, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { consoleCall, insertAccount, totpCodeAt, type ConsoleAnswer, type ConsoleRequest } from './support/staff-session.js';

/**
 * Single sign-on through OpenID Connect (issue 13, item 1), against `oidc-provider` running on
 * loopback with our client registered and three accounts: a member of the practice with a
 * verified e-mail, one whose e-mail is unverified, one verified but with no membership. The
 * browser's part is driven by hand: redirects followed one by one, the provider's own cookies
 * kept, its development login form posted. Checked: a sign-in that ends in a session usable on
 * /api/session (at once when the practice attests MFA; after TOTP otherwise), a state used
 * twice, a nonce that does not match, another browser's callback, an unverified e-mail, a
 * person without membership; the audit rows, with no e-mail and no token in them.
 */

let h: Harness;
let idp: http.Server;
let issuer: string;
let practiceId: string;
let otherPracticeId: string;
let adminKey: string;
const CLIENT_ID = 'ahl-sso-test';
const CLIENT_SECRET = 'a-client-secret-for-the-loopback-provider';
const CALLBACK = `${TEST_PUBLIC_BASE_URL}/api/auth/oidc/callback`;
const MEMBER_EMAIL = 'sam.sso@clinic.example';
const ACCOUNTS: Record<string, { email: string; email_verified: boolean }> = {
  member: { email: MEMBER_EMAIL, email_verified: true },
  unverified: { email: 'uma.unverified@clinic.example', email_verified: false },
  outsider: { email: 'olga.outsider@clinic.example', email_verified: true },
  // Another subject at the provider given the member's e-mail (a re-assigned address): not the member.
  impostor: { email: MEMBER_EMAIL, email_verified: true },
};
let memberId: string;
let outsiderId: string;
/** Requests for the provider's discovery document (cached per practice, issuer and client for 10 minutes). */
let discoveries = 0;
/** The service's clock, moved by the discovery cache's test. */
let now = new Date('2026-11-26T03:00:00Z');
/** Everything the service logs during this file, scanned at the end. */
let logs: ReturnType<typeof captureLogs>;
/** The authorization codes the provider issued (each reached our callback in its URL). */
const codes: string[] = [];

beforeAll(async () => {
  logs = captureLogs();
  h = await startHarness('oidc_sso', { RATE_LIMIT_SIGN_IN_PER_SOURCE: '100000' }, { clock: () => now });
  idp = http.createServer();
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [{ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, redirect_uris: [CALLBACK], grant_types: ['authorization_code'], response_types: ['code'] }],
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    findAccount: (_ctx: KoaContextWithOIDC, id: string) => {
      const account = ACCOUNTS[id];
      return account ? { accountId: id, claims: () => ({ sub: id, ...account }) } : undefined;
    },
    // A first-party client: consent is taken as given (the loopback provider's, not ours to test).
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const accountId = ctx.oidc.session?.accountId;
      const clientId = ctx.oidc.client?.clientId;
      if (!accountId || !clientId) return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId, accountId });
      grant.addOIDCScope('openid email');
      await grant.save();
      return grant;
    },
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['loopback-provider-cookie-key'] },
  });
  idp.on('request', (req: http.IncomingMessage) => {
    if (req.url?.startsWith('/.well-known/openid-configuration')) discoveries += 1;
  });
  idp.on('request', provider.callback());

  practiceId = (await createPractice(h.services.db, { slug: 'sso-clinic', name: 'SSO Clinic', timeZone: 'America/New_York', numbers: ['+12025550941'] })).id;
  otherPracticeId = (await createPractice(h.services.db, { slug: 'other-clinic', name: 'Other Clinic', timeZone: 'America/New_York', numbers: ['+12025550942'] })).id;
  adminKey = (await createApiKey(h.services.db, { role: 'admin', practiceId })).key;
  const person = (email: string, ...memberOf: string[]): Promise<string> => insertAccount(h, { email, displayName: 'SSO person', memberships: memberOf.map((id) => ({ practiceId: id, role: 'staff' as const })) });
  // The member belongs to another practice first: the SSO session must land in the SSO practice.
  memberId = await person(MEMBER_EMAIL, otherPracticeId, practiceId);
  await person(ACCOUNTS.unverified?.email ?? '', practiceId);
  outsiderId = await person(ACCOUNTS.outsider?.email ?? '', otherPracticeId);
}, 60_000);

afterAll(async () => {
  logs?.restore();
  await h?.close();
  await new Promise<void>((resolve) => idp?.close(() => resolve()));
});

const api = (method: string, path: string, opts: ConsoleRequest = {}): Promise<ConsoleAnswer> => consoleCall(h, method, path, opts);

const ssoBody = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, allowedDomains: ['clinic.example'], ...extra });

const cookieOf = (res: Response, name: string): string | null => {
  const set = res.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));
  return set ? (new RegExp(`^${name}=([^;]*)`).exec(set)?.[1] ?? null) : null;
};

/** Our start: the provider's authorization URL and the browser-binding cookie. */
async function start(slug = 'sso-clinic'): Promise<{ status: number; location: string; binding: string | null }> {
  const res = await fetch(`${h.baseUrl}/api/auth/oidc/start?practice=${slug}`, { redirect: 'manual' });
  return { status: res.status, location: res.headers.get('location') ?? '', binding: cookieOf(res, '__Host-ahl_oidc') };
}

/**
 * The browser at the provider: redirects followed with the provider's cookies kept, its login
 * form posted for `account` (and consent, should it ask); ends at our callback URL.
 */
async function atProvider(authorizationUrl: string, account: string): Promise<URL> {
  const jar = new Map<string, string>();
  const cookieHeader = (): string => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const keep = (res: Response): void => {
    for (const c of res.headers.getSetCookie()) {
      const [pair = ''] = c.split(';');
      const eq = pair.indexOf('=');
      jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
  };
  let url = authorizationUrl;
  for (let hop = 0; hop < 12; hop++) {
    if (url.startsWith(TEST_PUBLIC_BASE_URL)) return new URL(url);
    const target = new URL(url, issuer);
    let res = await fetch(target, { redirect: 'manual', headers: { cookie: cookieHeader() } });
    keep(res);
    if (res.status === 200 && target.pathname.startsWith('/interaction/')) {
      const page = await res.text();
      const prompt = /name="prompt" value="(\w+)"/.exec(page)?.[1] ?? 'login';
      const form = new URLSearchParams(prompt === 'login' ? { prompt, login: account, password: 'any' } : { prompt });
      res = await fetch(target, { method: 'POST', redirect: 'manual', body: form, headers: { cookie: cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' } });
      keep(res);
    }
    const next = res.headers.get('location');
    if (!next) throw new Error(`the provider stopped at ${target.pathname} with ${res.status}`);
    url = new URL(next, target).href;
  }
  throw new Error('too many redirects at the provider');
}

/** Our callback, as the browser reaches it (our public URL mapped to the test server), with its binding cookie. */
async function callback(at: URL, binding: string | null): Promise<{ status: number; location: string; session: string | null }> {
  const code = at.searchParams.get('code');
  if (code) codes.push(code);
  const res = await fetch(`${h.baseUrl}${at.pathname}${at.search}`, { redirect: 'manual', headers: binding ? { cookie: `__Host-ahl_oidc=${binding}` } : {} });
  return { status: res.status, location: res.headers.get('location') ?? '', session: cookieOf(res, '__Host-ahl_session') };
}

async function signInThrough(account: string): Promise<{ status: number; location: string; session: string | null }> {
  const s = await start();
  expect(s.status).toBe(303);
  return callback(await atProvider(s.location, account), s.binding);
}

async function auditRows(action: string): Promise<Array<{ actor: string; practice_id: string | null; subject_id: string | null; details: Record<string, unknown> }>> {
  return h.services.db.selectFrom('audit_log').select(['actor', 'practice_id', 'subject_id', 'details']).where('action', '=', action).orderBy('seq').execute() as never;
}

describe('the practice admin configures single sign-on', () => {
  it('refuses an issuer that is not https (but for loopback outside production), and a private address', async () => {
    const plain = await api('PUT', `/api/practices/${practiceId}/sso`, { key: adminKey, body: ssoBody({ issuer: 'http://idp.example.org' }) });
    expect(plain.status).toBe(400);
    expect(plain.body.message).toMatch(/^issuer: must be https/);
    const metadata = await api('PUT', `/api/practices/${practiceId}/sso`, { key: adminKey, body: ssoBody({ issuer: 'https://169.254.169.254/' }) });
    expect(metadata.status).toBe(400);
    expect(metadata.body.message).toMatch(/^issuer: must not be a private/);
    const domain = await api('PUT', `/api/practices/${practiceId}/sso`, { key: adminKey, body: ssoBody({ allowedDomains: ['not a domain'] }) });
    expect(domain).toMatchObject({ status: 400, body: { message: expect.stringMatching(/^allowedDomains\.0: /) } });
  });

  it('stores it (the secret encrypted, never returned); auditors read it, staff do not', async () => {
    const put = await api('PUT', `/api/practices/${practiceId}/sso`, { key: adminKey, body: ssoBody({ ssoSatisfiesMfa: true }) });
    expect(put.status, JSON.stringify(put.body)).toBe(201);
    expect(put.body).toMatchObject({ practiceId, issuer, clientId: CLIENT_ID, allowedDomains: ['clinic.example'], ssoSatisfiesMfa: true, enabled: true });
    expect(JSON.stringify(put.body)).not.toContain(CLIENT_SECRET);
    const row = await h.services.db.selectFrom('practice_sso').select('client_secret_enc').where('practice_id', '=', practiceId).executeTakeFirstOrThrow();
    expect(row.client_secret_enc.toString('latin1')).not.toContain(CLIENT_SECRET);
    const auditor = (await createApiKey(h.services.db, { role: 'auditor', practiceId })).key;
    const read = await api('GET', `/api/practices/${practiceId}/sso`, { key: auditor });
    expect(read.status).toBe(200);
    expect(JSON.stringify(read.body)).not.toContain(CLIENT_SECRET);
    const staff = (await createApiKey(h.services.db, { role: 'staff', practiceId })).key;
    expect((await api('GET', `/api/practices/${practiceId}/sso`, { key: staff })).status).toBe(403);
    expect((await api('GET', `/api/practices/${otherPracticeId}/sso`, { key: adminKey })).status).toBe(403);
    const audited = await auditRows('admin.sso_updated');
    expect(audited.at(-1)?.details).toMatchObject({ change: 'created', ssoSatisfiesMfa: true });
    expect(JSON.stringify(audited)).not.toContain(CLIENT_SECRET);
  });
});

describe('signing in through the loopback provider', () => {
  it('a member with a verified e-mail: a full session in the SSO practice, usable on /api/session', async () => {
    const s = await start();
    expect(s.status).toBe(303);
    const auth = new URL(s.location);
    expect(auth.origin).toBe(issuer);
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
    expect(auth.searchParams.get('nonce')).toBeTruthy();
    expect(auth.searchParams.get('state')).toBeTruthy();
    expect(auth.searchParams.get('redirect_uri')).toBe(CALLBACK);
    expect(s.binding).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const back = await callback(await atProvider(s.location, 'member'), s.binding);
    expect(back.status).toBe(303);
    expect(back.location).toBe('/console/');
    expect(back.session).toBeTruthy();
    const session = await api('GET', '/api/session', { cookie: back.session ?? '' });
    expect(session.status, JSON.stringify(session.body)).toBe(200);
    expect(session.body).toMatchObject({ user: { id: memberId }, activePracticeId: practiceId, role: 'staff' });
    const signedIn = (await auditRows('user.signed_in')).filter((r) => r.subject_id === memberId);
    expect(signedIn.map((r) => r.details.step)).toEqual(['complete', 'sso']);
    expect(signedIn[0]?.details.method).toBe('oidc');
    expect(signedIn.every((r) => r.actor === `user:${memberId}` && r.practice_id === practiceId)).toBe(true);
  });

  it("a single sign-on session stays in the provider's practice: switching to another is refused (sign in again)", async () => {
    const back = await signInThrough('member');
    const cookie = back.session ?? '';
    const before = await api('GET', '/api/session', { cookie });
    expect(before.body.activePracticeId).toBe(practiceId);
    // The person is a member of the other clinic too, but the provider vouched for this one only.
    const moved = await api('POST', '/api/session/practice', { cookie, csrf: before.body.csrfToken as string, body: { practiceId: otherPracticeId } });
    expect(moved.status, JSON.stringify(moved.body)).toBe(403);
    expect(moved.body.message).toMatch(/sign in again/);
    expect(moved.setCookie.some((c) => c.startsWith('__Host-ahl_session='))).toBe(false);
    const after = await api('GET', '/api/session', { cookie });
    expect(after).toMatchObject({ status: 200, body: { activePracticeId: practiceId } });
    expect((await auditRows('api.forbidden')).at(-1)).toMatchObject({ actor: `user:${memberId}`, practice_id: practiceId, details: { reason: 'sign_in_again', signInMethod: 'oidc', targetPracticeId: otherPracticeId } });
    // Completing a sign-in for a practice the person is not in refuses; it never lands in their first practice.
    const pending = await createSession(h.services.redis, { userId: outsiderId, practiceId: null, stage: 'password', idleMs: 60_000, method: 'oidc' }, h.services.clock());
    expect(await completeSignIn(h.services, sessionHash(pending.id), pending.record, practiceId)).toBeNull();
  });

  it('the browser-binding cookie is Secure in development too (browsers refuse a __Host- cookie without it)', async () => {
    const config = h.services.config as { env: string };
    const env = config.env;
    config.env = 'development';
    try {
      const res = await fetch(`${h.baseUrl}/api/auth/oidc/start?practice=sso-clinic`, { redirect: 'manual' });
      const set = res.headers.getSetCookie().find((c) => c.startsWith('__Host-ahl_oidc=')) ?? '';
      expect(set.split(/;\s*/)).toEqual(expect.arrayContaining(['Path=/', 'HttpOnly', 'Secure']));
    } finally {
      config.env = env;
    }
  });

  it('a state is spent by its first use: the same callback again is refused', async () => {
    const s = await start();
    const at = await atProvider(s.location, 'member');
    expect((await callback(at, s.binding)).location).toBe('/console/');
    const again = await callback(at, s.binding);
    expect(again).toMatchObject({ status: 303, location: '/console/sign-in?sso=failed', session: null });
    expect((await auditRows('user.sso_failed')).at(-1)?.details).toEqual({ step: 'callback', reason: 'unknown_state' });
  });

  it("another browser's callback (no binding cookie, or another's) is refused, and spends the state", async () => {
    const s = await start();
    const at = await atProvider(s.location, 'member');
    const other = await start();
    expect(await callback(at, other.binding)).toMatchObject({ location: '/console/sign-in?sso=failed', session: null });
    expect((await auditRows('user.sso_failed')).at(-1)?.details).toEqual({ step: 'callback', reason: 'browser_mismatch' });
    expect((await callback(at, s.binding)).location).toBe('/console/sign-in?sso=failed');
    const third = await start();
    expect((await callback(await atProvider(third.location, 'member'), null)).location).toBe('/console/sign-in?sso=failed');
  });

  it('an ID token whose nonce is not the one sent is refused', async () => {
    const s = await start();
    const at = await atProvider(s.location, 'member');
    // The flow kept server-side, its nonce replaced: the provider's ID token carries the original.
    const key = `oidc-flow:${createHash('sha256').update(new URL(s.location).searchParams.get('state') ?? '', 'utf8').digest('hex')}`;
    const flow = JSON.parse((await h.services.redis.get(key)) ?? 'null') as Record<string, unknown> | null;
    expect(flow?.nonce).toBe(new URL(s.location).searchParams.get('nonce'));
    await h.services.redis.set(key, JSON.stringify({ ...flow, nonce: 'not-the-nonce-that-was-sent' }), 'EX', 60);
    expect(await callback(at, s.binding)).toMatchObject({ location: '/console/sign-in?sso=failed', session: null });
    expect((await auditRows('user.sso_failed')).at(-1)?.details).toMatchObject({ step: 'callback', reason: 'code_exchange_failed', code: 'OAUTH_JWT_CLAIM_COMPARISON_FAILED' });
  });

  it('an unverified e-mail is refused', async () => {
    expect(await signInThrough('unverified')).toMatchObject({ location: '/console/sign-in?sso=failed', session: null });
    expect((await auditRows('user.sso_failed')).at(-1)?.details).toEqual({ step: 'callback', reason: 'email_unverified' });
  });

  it('a person with no membership in the practice is refused (no account is made)', async () => {
    expect(await signInThrough('outsider')).toMatchObject({ location: '/console/sign-in?sso=failed', session: null });
    const last = (await auditRows('user.sso_failed')).at(-1);
    expect(last).toMatchObject({ actor: `user:${outsiderId}`, practice_id: practiceId, details: { step: 'callback', reason: 'no_membership' } });
    const users = await h.services.db.selectFrom('users').select('id').execute();
    expect(users).toHaveLength(3);
  });

  it('an e-mail outside the allowed domains is refused', async () => {
    await api('PUT', `/api/practices/${practiceId}/sso`, { key: adminKey, body: ssoBody({ allowedDomains: ['elsewhere.example'], ssoSatisfiesMfa: true }) });
    expect((await signInThrough('member')).location).toBe('/console/sign-in?sso=failed');
    expect((await auditRows('user.sso_failed')).at(-1)?.details).toEqual({ step: 'callback', reason: 'domain_not_allowed' });
  });

  it('without the MFA attestation, the provider is one factor: TOTP is asked, then the session is full in that practice', async () => {
    await api('PUT', `/api/practices/${practiceId}/sso`, { key: adminKey, body: ssoBody({ ssoSatisfiesMfa: false }) });
    const back = await signInThrough('member');
    expect(back.location).toBe('/console/sign-in?sso=enrol_totp');
    const pending = back.session ?? '';
    expect((await api('GET', '/api/session', { cookie: pending })).status).toBe(401);
    const step = await api('GET', '/api/auth/pending', { cookie: pending });
    expect(step.status).toBe(200);
    expect(step.body).toMatchObject({ next: 'enrol_totp', method: 'oidc_totp' });
    const csrf = step.body.csrfToken as string;
    const enrol = await api('POST', '/api/auth/totp/enrol', { cookie: pending, csrf, body: {} });
    expect(enrol.status).toBe(200);
    const done = await api('POST', '/api/auth/totp/confirm', { cookie: pending, csrf, body: { code: totpCodeAt(enrol.body.secret as string, h.services.clock()) } });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    // The SSO practice, not the person's first membership (the other clinic).
    expect(done.body.practiceId).toBe(practiceId);
    const full = done.cookie ?? '';
    expect((await api('GET', '/api/session', { cookie: full })).body.activePracticeId).toBe(practiceId);
  });

  it("the provider's discovery is fetched once per practice and client for 10 minutes, and again when the settings change", async () => {
    await api('PUT', `/api/practices/${practiceId}/sso`, { key: adminKey, body: ssoBody({ ssoSatisfiesMfa: true }) });
    const before = discoveries;
    expect((await start()).status).toBe(303);
    expect(discoveries).toBe(before + 1);
    // A second start and a whole sign-in (start and callback) use the cached document.
    expect((await start()).status).toBe(303);
    expect((await signInThrough('member')).location).toBe('/console/');
    expect(discoveries).toBe(before + 1);
    // Changed settings (another client secret): discovered again.
    await api('PUT', `/api/practices/${practiceId}/sso`, { key: adminKey, body: ssoBody({ ssoSatisfiesMfa: true, clientSecret: `${CLIENT_SECRET}-rotated` }) });
    await api('PUT', `/api/practices/${practiceId}/sso`, { key: adminKey, body: ssoBody({ ssoSatisfiesMfa: true }) });
    expect((await start()).status).toBe(303);
    expect(discoveries).toBe(before + 2);
    // Ten minutes on: stale, discovered again.
    now = new Date(now.getTime() + 10 * 60_000 + 1_000);
    expect((await start()).status).toBe(303);
    expect(discoveries).toBe(before + 3);
    expect((await start()).status).toBe(303);
    expect(discoveries).toBe(before + 3);
  });

  it("the first sign-in binds the person to the provider's subject; the same e-mail with another subject is refused", async () => {
    await api('PUT', `/api/practices/${practiceId}/sso`, { key: adminKey, body: ssoBody({ ssoSatisfiesMfa: true }) });
    const bound = await h.services.db.selectFrom('sso_identities').select(['practice_id', 'issuer', 'subject', 'user_id']).execute();
    expect(bound).toEqual([{ practice_id: practiceId, issuer, subject: 'member', user_id: memberId }]);
    // The impostor's ID token carries the member's verified e-mail, under its own subject.
    expect(await signInThrough('impostor')).toMatchObject({ location: '/console/sign-in?sso=failed', session: null });
    expect((await auditRows('user.sso_failed')).at(-1)).toMatchObject({ actor: `user:${memberId}`, practice_id: practiceId, details: { step: 'callback', reason: 'subject_mismatch' } });
    // The member, whose e-mail at the provider changed meanwhile, is found by the subject.
    const member = ACCOUNTS.member;
    if (!member) throw new Error('no member account');
    member.email = 'sam.renamed@clinic.example';
    try {
      const back = await signInThrough('member');
      expect(back.location).toBe('/console/');
      expect((await api('GET', '/api/session', { cookie: back.session ?? '' })).body).toMatchObject({ user: { id: memberId } });
    } finally {
      member.email = MEMBER_EMAIL;
    }
    expect(await h.services.db.selectFrom('sso_identities').select('subject').execute()).toHaveLength(1);
  });

  it('a disabled configuration, or a practice with none, starts nothing', async () => {
    await api('PUT', `/api/practices/${practiceId}/sso`, { key: adminKey, body: ssoBody({ enabled: false }) });
    expect(await start()).toMatchObject({ status: 303, location: '/console/sign-in?sso=unavailable', binding: null });
    expect(await start('other-clinic')).toMatchObject({ status: 303, location: '/console/sign-in?sso=unavailable' });
    expect((await api('GET', '/api/auth/oidc/start?practice=NOT%20A%20SLUG')).status).toBe(400);
    expect((await api('GET', '/api/auth/oidc/callback')).body.message).toMatch(/^state: /);
    expect((await api('DELETE', `/api/practices/${practiceId}/sso`, { key: adminKey })).status).toBe(204);
    expect((await api('GET', `/api/practices/${practiceId}/sso`, { key: adminKey })).status).toBe(404);
  });

  it('an unreachable provider and a failed exchange are logged without a token, code, e-mail or claim', async () => {
    await api('PUT', `/api/practices/${practiceId}/sso`, { key: adminKey, body: ssoBody({ ssoSatisfiesMfa: true }) });
    // A code the provider never issued (a failed exchange), then a provider that is not there.
    const s = await start();
    const at = await atProvider(s.location, 'member');
    at.searchParams.set('code', `${at.searchParams.get('code') ?? ''}x`);
    expect((await callback(at, s.binding)).location).toBe('/console/sign-in?sso=failed');
    await api('PUT', `/api/practices/${practiceId}/sso`, { key: adminKey, body: ssoBody({ issuer: 'http://127.0.0.1:9' }) });
    expect((await start()).location).toBe('/console/sign-in?sso=unavailable');
    const lines = logs.lines();
    expect(lines.some((l) => l.includes('sso discovery failed'))).toBe(true);
    const text = lines.join('\n');
    expect(codes.length).toBeGreaterThan(5);
    for (const code of codes) expect(text).not.toContain(code);
    for (const account of Object.values(ACCOUNTS)) expect(text).not.toContain(account.email);
    expect(text).not.toContain(CLIENT_SECRET);
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}/);
    expect(text).not.toMatch(/email_verified|"sub"/);
  });

  it('no e-mail, token, code or secret in any audit row', async () => {
    const rows = await h.services.db.selectFrom('audit_log').select(['actor', 'details']).execute();
    const text = JSON.stringify(rows);
    for (const account of Object.values(ACCOUNTS)) expect(text).not.toContain(account.email);
    expect(text).not.toContain(CLIENT_SECRET);
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
  });
});
