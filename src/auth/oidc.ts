import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as client from 'openid-client';
import type { AppContext } from '../app-context.js';
import { AuditAction } from '../audit/events.js';
import { guardedFetch, refusedEndpoint } from '../adapters/guarded-http.js';
import { logger } from '../log/logger.js';
import { actorOfUser, startSessionForVerifiedIdentity } from './accounts.js';
import { PENDING_IDLE_MS, createSession, type SessionRecord } from './sessions.js';
import { bindSubject, emailDomainAllowed, hasBoundSubject, ssoByPracticeId, ssoBySlug, userBySubject, type SsoForSignIn } from './sso-store.js';
import { activeMemberships, findUserByEmail, getUser, type UserRow } from './users-store.js';

/**
 * Single sign-on through a practice's OpenID Connect provider (issue 13, item 1). `start`
 * discovers the provider, keeps the flow's secrets server-side in Redis (state, nonce, the PKCE
 * verifier, and a hash of a browser-binding cookie; 10 minutes, single use) and answers the
 * provider's authorization URL. `finish` takes the flow back by its state (once), exchanges the
 * code (openid-client checks the ID token's signature, issuer, audience, expiry and nonce, the
 * state, PKCE and RFC 9207's `iss`), then decides who it names: a verified e-mail in one of the
 * practice's domains, of an active person with an active membership in that practice. No one
 * is created on the way (no just-in-time accounts): an admin invites first. The first sign-in
 * binds the person to the provider's subject (`sso_identities`); later ones find them by it, and
 * their e-mail under another subject is refused (an address re-assigned at the provider).
 *
 * The session is the password sign-in's: full at once only when the practice's admin attested
 * that their provider enforces MFA (`ssoSatisfiesMfa`); otherwise a pending one, and TOTP is asked
 * as after a password. Every start, sign-in and failure is audited with a reason code; no token,
 * e-mail or claim is written to the audit or the log.
 */

type Ctx = Pick<AppContext, 'db' | 'redis' | 'keyring' | 'audit' | 'clock' | 'config'>;

export const OIDC_FLOW_TTL_S = 600;
/** Seconds allowed for each request to the provider (discovery, token, keys, userinfo). */
const PROVIDER_TIMEOUT_S = 10;
export const OIDC_CALLBACK_PATH = '/api/auth/oidc/callback';

export type OidcFailure =
  | 'not_configured'
  | 'disabled'
  | 'practice_suspended'
  | 'provider_unreachable'
  | 'unknown_state'
  | 'browser_mismatch'
  | 'provider_error'
  | 'code_exchange_failed'
  | 'email_missing'
  | 'email_unverified'
  | 'domain_not_allowed'
  | 'unknown_account'
  | 'account_disabled'
  | 'no_membership'
  | 'subject_mismatch';

const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');
const flowKey = (state: string): string => `oidc-flow:${sha256(state)}`;

interface StoredFlow {
  practiceId: string;
  nonce: string;
  verifier: string;
  /** SHA-256 of the browser-binding cookie set at the start: the callback must come from that browser. */
  binding: string;
}

/** Loopback and plain http only outside production (the loopback provider of the tests). */
const loopbackAllowed = (ctx: Pick<AppContext, 'config'>): boolean => ctx.config.env !== 'production';

/** Why an issuer an admin gives is refused, or null: the FHIR endpoints' rules (https; no private or metadata address). */
export function refusedIssuer(ctx: Pick<AppContext, 'config'>, issuer: string): string | null {
  const problem = refusedEndpoint(issuer, loopbackAllowed(ctx));
  if (problem) return problem;
  const url = new URL(issuer);
  return url.search || url.hash || url.username || url.password ? 'must not carry a query, a fragment or credentials' : null;
}

/** The most bytes read of any answer of the provider (discovery, keys, tokens, userinfo). */
const PROVIDER_MAX_BYTES = 512 * 1024;

/** How long a provider's discovery document is used before it is fetched again. */
export const DISCOVERY_TTL_MS = 10 * 60_000;

interface CachedDiscovery {
  /** The settings it was discovered for: issuer, client, a hash of the secret, their last change. */
  fingerprint: string;
  config: client.Configuration;
  expiresAt: number;
}

/** Per service (its config object), per practice: each start and callback would otherwise fetch discovery again. */
const discoveryCaches = new WeakMap<object, Map<string, CachedDiscovery>>();

function discoveryCache(ctx: Pick<AppContext, 'config'>): Map<string, CachedDiscovery> {
  let cache = discoveryCaches.get(ctx.config);
  if (!cache) {
    cache = new Map();
    discoveryCaches.set(ctx.config, cache);
  }
  return cache;
}

const fingerprintOf = (sso: SsoForSignIn): string => sha256(JSON.stringify([sso.issuer, sso.clientId, sha256(sso.clientSecret), sso.updatedAt]));

/**
 * Drops a practice's cached discovery: its admin changed or removed the settings (another
 * instance notices by the settings' fingerprint, which includes their last change).
 */
export function forgetDiscovery(ctx: Pick<AppContext, 'config'>, practiceId: string): void {
  discoveryCache(ctx).delete(practiceId);
}

/** The provider's configuration for a practice: cached for DISCOVERY_TTL_MS while its settings stay the same. */
async function discover(ctx: Pick<AppContext, 'config' | 'clock'>, sso: SsoForSignIn): Promise<client.Configuration> {
  const cache = discoveryCache(ctx);
  const fingerprint = fingerprintOf(sso);
  const now = ctx.clock().getTime();
  const hit = cache.get(sso.practiceId);
  if (hit && hit.fingerprint === fingerprint && hit.expiresAt > now) return hit.config;
  const config = await discoverNow(ctx, sso);
  cache.set(sso.practiceId, { fingerprint, config, expiresAt: now + DISCOVERY_TTL_MS });
  return config;
}

async function discoverNow(ctx: Pick<AppContext, 'config'>, sso: SsoForSignIn): Promise<client.Configuration> {
  const allowLoopback = loopbackAllowed(ctx);
  const insecure = new URL(sso.issuer).protocol === 'http:';
  return client.discovery(new URL(sso.issuer), sso.clientId, { client_secret: sso.clientSecret }, client.ClientSecretBasic(sso.clientSecret), {
    // Every URL the provider's metadata names (token, keys, userinfo) goes through the same guard:
    // addresses checked inside the connection's lookup, redirects never followed.
    [client.customFetch]: guardedFetch({ allowLoopback, timeoutMs: PROVIDER_TIMEOUT_S * 1000, maxBytes: PROVIDER_MAX_BYTES }),
    timeout: PROVIDER_TIMEOUT_S,
    // Plain http only reaches here for a loopback issuer outside production (refusedIssuer).
    ...(insecure && allowLoopback ? { execute: [client.allowInsecureRequests] } : {}),
  });
}

const callbackUrl = (ctx: Pick<AppContext, 'config'>): string => `${ctx.config.publicBaseUrl}${OIDC_CALLBACK_PATH}`;

export type StartResult = { ok: true; redirectTo: string; binding: string } | { ok: false; reason: OidcFailure };

/** The first leg: the provider's authorization URL, and the browser-binding value for the cookie. */
export async function startOidcSignIn(ctx: Ctx, slug: string): Promise<StartResult> {
  const sso = await ssoBySlug(ctx.db, ctx.keyring, slug);
  const fail = async (reason: OidcFailure): Promise<StartResult> => {
    await ctx.audit({ action: AuditAction.UserSsoFailed, actor: 'unauthenticated', practiceId: sso?.practiceId ?? null, details: { step: 'start', reason } });
    return { ok: false, reason };
  };
  if (!sso) return fail('not_configured');
  if (!sso.enabled) return fail('disabled');
  if (sso.practiceSuspended) return fail('practice_suspended');
  let config: client.Configuration;
  try {
    config = await discover(ctx, sso);
  } catch (err) {
    logger.warn('sso discovery failed', { errorType: err instanceof Error ? err.name : 'Error' });
    return fail('provider_unreachable');
  }
  const state = client.randomState();
  const nonce = client.randomNonce();
  const verifier = client.randomPKCECodeVerifier();
  const binding = randomBytes(32).toString('base64url');
  const flow: StoredFlow = { practiceId: sso.practiceId, nonce, verifier, binding: sha256(binding) };
  await ctx.redis.set(flowKey(state), JSON.stringify(flow), 'EX', OIDC_FLOW_TTL_S);
  const redirectTo = client.buildAuthorizationUrl(config, {
    redirect_uri: callbackUrl(ctx),
    scope: 'openid email',
    state,
    nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  await ctx.audit({ action: AuditAction.UserSsoStarted, actor: 'unauthenticated', practiceId: sso.practiceId, details: {} });
  return { ok: true, redirectTo: redirectTo.href, binding };
}

export interface CallbackParams {
  state: string;
  code?: string | undefined;
  iss?: string | undefined;
  error?: string | undefined;
}

export type FinishResult =
  | { ok: true; userId: string; practiceId: string; sessionId: string; record: SessionRecord; next: 'done' | 'totp' | 'enrol_totp' }
  | { ok: false; reason: OidcFailure };

/** The claims that decide who signs in (from the ID token, else the userinfo endpoint). */
export interface IdentityClaims {
  email?: unknown;
  email_verified?: unknown;
}

/** Pure: the e-mail a provider's claims vouch for in this practice, or why not. */
export function verifiedEmail(claims: IdentityClaims, allowedDomains: readonly string[]): { ok: true; email: string } | { ok: false; reason: 'email_missing' | 'email_unverified' | 'domain_not_allowed' } {
  if (typeof claims.email !== 'string' || !/^[^\s@]+@[^\s@]+$/.test(claims.email) || claims.email.length > 254) return { ok: false, reason: 'email_missing' };
  // Some providers send "true" as a string; anything else is not a verified address.
  if (claims.email_verified !== true && claims.email_verified !== 'true') return { ok: false, reason: 'email_unverified' };
  const email = claims.email.trim().toLowerCase();
  return emailDomainAllowed(email, allowedDomains) ? { ok: true, email } : { ok: false, reason: 'domain_not_allowed' };
}

/** A code from oauth4webapi (`OAUTH_JWT_CLAIM_COMPARISON_FAILED`…) for the audit; never a message (it can quote a claim). */
function errorCode(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && /^[A-Z0-9_]{1,60}$/.test(code)) return code;
  const error = (err as { error?: unknown }).error;
  return typeof error === 'string' && /^[a-z0-9_]{1,60}$/.test(error) ? error : 'unknown';
}

/** The second leg: the flow taken back (once), the code exchanged, the person found, the session started. */
export async function finishOidcSignIn(ctx: Ctx, params: CallbackParams, bindingCookie: string | null): Promise<FinishResult> {
  // GETDEL: a state is spent by its first use, whatever comes of it (a replay finds nothing).
  const stored = await ctx.redis.getdel(flowKey(params.state));
  const flow = stored ? (JSON.parse(stored) as StoredFlow) : null;
  let actor = 'unauthenticated';
  let userId: string | null = null;
  const fail = async (reason: OidcFailure, extra: Record<string, string> = {}): Promise<FinishResult> => {
    await ctx.audit({ action: AuditAction.UserSsoFailed, actor, practiceId: flow?.practiceId ?? null, subjectId: userId, details: { step: 'callback', reason, ...extra } });
    return { ok: false, reason };
  };
  if (!flow) return fail('unknown_state');
  if (!bindingCookie || !sameHash(sha256(bindingCookie), flow.binding)) return fail('browser_mismatch');
  if (params.error !== undefined) return fail('provider_error', { providerError: /^[a-z_]{1,60}$/.test(params.error) ? params.error : 'other' });
  const sso = await ssoByPracticeId(ctx.db, ctx.keyring, flow.practiceId);
  if (!sso) return fail('not_configured');
  if (!sso.enabled) return fail('disabled');
  if (sso.practiceSuspended) return fail('practice_suspended');

  let claims: IdentityClaims;
  let identity: { issuer: string; subject: string };
  try {
    const config = await discover(ctx, sso);
    const current = new URL(callbackUrl(ctx));
    current.searchParams.set('state', params.state);
    if (params.code !== undefined) current.searchParams.set('code', params.code);
    if (params.iss !== undefined) current.searchParams.set('iss', params.iss);
    const tokens = await client.authorizationCodeGrant(config, current, { pkceCodeVerifier: flow.verifier, expectedState: params.state, expectedNonce: flow.nonce, idTokenExpected: true });
    const idClaims = tokens.claims();
    if (!idClaims) return fail('code_exchange_failed', { code: 'NO_ID_TOKEN' });
    identity = { issuer: idClaims.iss, subject: idClaims.sub };
    claims = { email: idClaims.email, email_verified: idClaims.email_verified };
    // Many providers put the e-mail in the ID token; those that follow OIDC Core 5.4 strictly put it at userinfo.
    if (claims.email === undefined) {
      const info = await client.fetchUserInfo(config, tokens.access_token, idClaims.sub);
      claims = { email: info.email, email_verified: info.email_verified };
    }
  } catch (err) {
    return fail('code_exchange_failed', { code: errorCode(err) });
  }

  // The practice's rule on e-mails holds for everyone; then the provider's subject first: once
  // bound, it names the person whatever address it sends now.
  const verdict = verifiedEmail(claims, sso.allowedDomains);
  if (!verdict.ok) return fail(verdict.reason);
  const boundUserId = await userBySubject(ctx.db, flow.practiceId, identity.issuer, identity.subject);
  const user: UserRow | null = boundUserId !== null ? await getUser(ctx.db, boundUserId) : await findUserByEmail(ctx.db, verdict.email);
  if (!user) return fail('unknown_account');
  actor = actorOfUser(user.id);
  userId = user.id;
  // The person's e-mail under a subject that is not theirs (an address re-assigned at the provider): refused.
  if (boundUserId === null && (await hasBoundSubject(ctx.db, flow.practiceId, identity.issuer, user.id))) return fail('subject_mismatch');
  if (user.status !== 'active') return fail('account_disabled');
  if (!(await activeMemberships(ctx.db, user.id)).some((m) => m.practiceId === flow.practiceId)) return fail('no_membership');
  // A member's first sign-in through this provider: the subject is theirs from now on.
  if (boundUserId === null && !(await bindSubject(ctx.db, flow.practiceId, identity.issuer, identity.subject, user.id, ctx.clock()))) return fail('subject_mismatch');

  if (sso.ssoSatisfiesMfa) {
    const session = await startSessionForVerifiedIdentity(ctx, { userId: user.id, practiceId: flow.practiceId, method: 'oidc' });
    if (!session) return fail('no_membership');
    await ctx.audit({ action: AuditAction.UserSignedIn, actor, practiceId: flow.practiceId, subjectId: user.id, details: { step: 'sso', next: 'done', mfaByProvider: true } });
    return { ok: true, userId: user.id, practiceId: flow.practiceId, sessionId: session.id, record: session.record, next: 'done' };
  }
  // The provider's word is the first factor only: a pending session held to this practice, TOTP next.
  const pending = await createSession(ctx.redis, { userId: user.id, practiceId: flow.practiceId, stage: 'password', idleMs: PENDING_IDLE_MS, method: 'oidc_totp' }, ctx.clock());
  const next = user.totpConfirmed ? 'totp' : 'enrol_totp';
  await ctx.audit({ action: AuditAction.UserSignedIn, actor, practiceId: flow.practiceId, subjectId: user.id, details: { step: 'sso', next, mfaByProvider: false } });
  return { ok: true, userId: user.id, practiceId: flow.practiceId, sessionId: pending.id, record: pending.record, next };
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
