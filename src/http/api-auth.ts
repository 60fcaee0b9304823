import express, { type NextFunction, type Request, type Response } from 'express';
import { AuditAction, type AuditEvent } from '../audit/events.js';
import { authorise, checkApiKey, isOperator, lastUsedIsStale, touchApiKey, type ApiPrincipal, type ApiRole, type KeyPrincipal } from '../auth/api-keys.js';
import { actorOfUser } from '../auth/accounts.js';
import { destroySession, touchSession, type SessionRecord } from '../auth/sessions.js';
import { sessionIdentity } from '../auth/users-store.js';
import { clearSessionCookie, readSessionCookie, refuseCsrf, requestSession } from './session-auth.js';
import type { Services } from '../services.js';
import type { AppContext } from '../app-context.js';
import { feedTokenHash } from '../oncall/feed.js';
import { findProviderByFeedTokenHash, type Provider } from '../oncall/store.js';
import { logger } from '../log/logger.js';
import { verifyUnsubscribeToken, type UnsubscribeClaims } from '../outreach/unsubscribe-token.js';
import { platformScope, tenantScope } from '../tenancy/mint.js';
import type { PlatformScope, PracticeScope } from '../tenancy/scope.js';
import { routeLabel } from '../log/route-label.js';
import { consumeLimit, countRefusal, limitSpent, limitersFor, refuseRateLimited, requestSource } from './rate-limit.js';

/** Set once the request's access has been audited (by permit or one of the handlers below). */
const AUDITED = 'apiAudited';

/** A signed-in person (src/auth/sessions.ts): their role in the session's active practice. */
export interface SessionPrincipal {
  userId: string;
  role: ApiRole;
  practiceId: string;
  sessionHash: string;
  session: SessionRecord;
}

/** Whoever authenticated the request: a key (a practice's or the operator's) or a person's session. */
export type RequestPrincipal = KeyPrincipal | SessionPrincipal;

export function isSessionPrincipal(p: RequestPrincipal): p is SessionPrincipal {
  return 'userId' in p;
}

/** Whoever the request's key or session names. */
export function keyPrincipalOf(res: Response): RequestPrincipal {
  const p = res.locals.principal as RequestPrincipal | undefined;
  if (!p) throw new Error('route mounted without requireApiKey');
  return p;
}

/**
 * The practice key or person behind a practice-data route. An operator key never gets this far:
 * `refuseOperatorKeys` answers it 403 before any practice-data route runs.
 */
export function principalOf(res: Response): ApiPrincipal | SessionPrincipal {
  const p = keyPrincipalOf(res);
  if (!isSessionPrincipal(p) && isOperator(p)) throw new Error('practice route mounted before refuseOperatorKeys');
  return p;
}

/** The audit actor of a principal: `user:<id>` for a person, `api_key:<id>` for a key. */
function actorName(p: RequestPrincipal): string {
  return isSessionPrincipal(p) ? actorOfUser(p.userId) : `api_key:${p.keyId}`;
}

/** The audit actor of the request: the person (`user:<id>`) or the key (`api_key:<id>`). */
export function actorOf(res: Response): string {
  return actorName(keyPrincipalOf(res));
}

/** `/api/...` as an audit route: the matched pattern, or the path's shape (our route words; other segments as placeholders). */
function apiRoute(req: Request): string {
  return routeLabel(req, '/api');
}

type AuditInput = Parameters<Services['audit']>[0];

/**
 * The `api.request` row for an answer given without permit(): who asked (the key, if any), the
 * method and route, and the status sent, with the reason when it is not the handler's own.
 */
function apiRequestEvent(req: Request, principal: RequestPrincipal | undefined, status: number, reason?: 'unreadable_body' | 'not_found'): AuditEvent {
  return {
    action: AuditAction.ApiRequest,
    actor: principal ? actorName(principal) : 'unauthenticated',
    practiceId: principal?.practiceId ?? null,
    details: { method: req.method, route: apiRoute(req), role: principal?.role ?? null, status, ...(reason ? { reason } : {}) },
  };
}

async function auditQuietly(services: Services, event: AuditInput): Promise<void> {
  try {
    await services.audit(event);
  } catch (err) {
    logger.error('audit write failed', { err });
  }
}

/** last_used_at, at most once a minute per key; a failed write costs the request nothing. */
async function recordKeyUse(services: Services, keyId: string, now: Date): Promise<void> {
  try {
    await touchApiKey(services.db, keyId, now);
  } catch (err) {
    logger.warn('api key last-use not recorded', { err });
  }
}

/**
 * Bearer-key authentication for /api/*: 401 without a valid key, audited either way. It runs
 * before the body is parsed, so nothing about an unauthenticated request is read but its line.
 * A request that passes is audited once whatever happens next: by permit(), by the handlers
 * below, or, for an answer given without either (a 400 before the permission check, an
 * error), when its response finishes.
 */
export function requireApiKey(services: Services) {
  const limiters = limitersFor(services);
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    // Per source first (every request), then the source's failed-key budget, before any lookup.
    const source = requestSource(req);
    const perSource = await consumeLimit(limiters.apiSource, source);
    if (!perSource.ok) return refuseRateLimited(services, req, res, 'apiSource', perSource, 'json');
    const failures = await limitSpent(limiters.authFailures, source);
    if (!failures.ok) return refuseRateLimited(services, req, res, 'authFailures', failures, 'json');
    // No Authorization header but a session cookie: a signed-in person (a key wins when both are sent).
    if (req.get('authorization') === undefined && readSessionCookie(req) !== null) return authenticateSession(services, req, res, next);
    const match = /^Bearer ([^\s]{1,200})$/.exec(req.get('authorization') ?? '');
    const now = services.clock();
    const check = match?.[1] ? await checkApiKey(services.db, match[1], now) : null;
    const principal = check?.ok ? check.principal : null;
    if (!principal || !check?.ok) {
      const reason = check && !check.ok ? check.reason : 'missing_key';
      await consumeLimit(limiters.authFailures, source);
      await countRefusal(services, {
        source,
        kind: `${AuditAction.ApiAuthRejected}:${reason}`,
        event: { action: AuditAction.ApiAuthRejected, actor: 'unauthenticated', details: { method: req.method, route: apiRoute(req), reason } },
      });
      res.setHeader('WWW-Authenticate', 'Bearer realm="api"');
      res.status(401).json({ error: 'unauthorized', message: 'a valid API key (Authorization: Bearer <key>) or a signed-in session is required' });
      return;
    }
    const perKey = await consumeLimit(limiters.apiKey, principal.keyId);
    if (!perKey.ok) return refuseRateLimited(services, req, res, 'apiKey', perKey, 'json');
    if (lastUsedIsStale(check.lastUsedAt, now)) await recordKeyUse(services, principal.keyId, now);
    // A suspended practice's keys are known, valid and refused: 403, audited, before any route runs.
    if (check.practiceSuspended) return refusePracticeSuspended(services, req, res, principal);
    res.locals.principal = principal;
    res.on('finish', () => {
      if (res.locals[AUDITED] === true) return;
      void auditQuietly(services, apiRequestEvent(req, principal, res.statusCode));
    });
    next();
  };
}

/** The header the console sends on a fetch it made by itself (a poll, a refetch), not at the person's asking. */
export const BACKGROUND_HEADER = 'x-background';

function isBackgroundRequest(req: Request): boolean {
  return req.get(BACKGROUND_HEADER) === '1';
}

/**
 * A request with the session cookie: a full session whose person is active and still a member
 * of its practice, and, for a state change, the CSRF checks; the idle clock restarts, unless the
 * request is a background one (`X-Background: 1`, the console's polling), which never keeps a
 * session alive (automatic logoff). Anything else is 401 (the cookie cleared) or 403 (CSRF), audited.
 */
async function authenticateSession(services: Services, req: Request, res: Response, next: NextFunction): Promise<void> {
  const limiters = limitersFor(services);
  const found = await requestSession(services, req, res, false);
  const identity = found.ok ? await sessionIdentity(services.db, found.record.userId, found.record.practiceId) : null;
  if (!found.ok || !identity?.active || !identity.role || found.record.practiceId === null) {
    if (found.ok) {
      await destroySession(services.redis, found.hash, found.record.userId);
      clearSessionCookie(services, res);
    }
    await countRefusal(services, {
      source: requestSource(req),
      kind: `${AuditAction.ApiAuthRejected}:no_session`,
      event: { action: AuditAction.ApiAuthRejected, actor: found.ok ? actorOfUser(found.record.userId) : 'unauthenticated', details: { method: req.method, route: apiRoute(req), reason: 'no_session' } },
    });
    res.status(401).json({ error: 'unauthorized', message: 'signed out: sign in again' });
    return;
  }
  if (await refuseCsrf(services, req, res, found.record)) return;
  const perUser = await consumeLimit(limiters.apiKey, `user:${found.record.userId}`);
  if (!perUser.ok) return refuseRateLimited(services, req, res, 'apiKey', perUser, 'json');
  // A page's own poll is no sign of a person: answered, the idle limit checked above, the idle clock left as it was.
  const record = isBackgroundRequest(req) ? found.record : await touchSession(services.redis, found.hash, found.record, services.clock(), (identity.idleLogoffMinutes ?? 15) * 60_000);
  if (!record) {
    // Ended while this request was on its way (signed out meanwhile): nothing is written back.
    clearSessionCookie(services, res);
    res.status(401).json({ error: 'unauthorized', message: 'signed out: sign in again' });
    return;
  }
  const principal: SessionPrincipal = { userId: record.userId, role: identity.role, practiceId: found.record.practiceId, sessionHash: found.hash, session: record };
  res.locals.principal = principal;
  res.on('finish', () => {
    if (res.locals[AUDITED] === true) return;
    void auditQuietly(services, apiRequestEvent(req, principal, res.statusCode));
  });
  next();
}

/**
 * JSON bodies for /api, mounted after requireApiKey. A body that cannot be read gets 400 and is
 * audited; neither the log nor the audit row carries the parser's message (it quotes the body).
 */
export function apiJsonBody(services: Services) {
  const parse = express.json({ limit: '256kb' });
  return (req: Request, res: Response, next: NextFunction): void => {
    parse(req, res, (err?: unknown) => {
      if (err === undefined || err === null) {
        next();
        return;
      }
      const type = typeof (err as { type?: unknown }).type === 'string' ? (err as { type: string }).type : 'unknown';
      const status = (err as { status?: unknown }).status;
      const code = typeof status === 'number' && status >= 400 && status < 500 ? status : 400;
      // Mounted after requireApiKey, so there is a principal; should it ever not be, still answer.
      const principal = res.locals.principal as RequestPrincipal | undefined;
      logger.warn('api body refused', { route: apiRoute(req), errorType: type, statusCode: code });
      res.locals[AUDITED] = true;
      void auditQuietly(services, apiRequestEvent(req, principal, code, 'unreadable_body')).then(() => {
        res.status(code).json({ error: 'bad_request', message: 'the request body could not be read as JSON' });
      });
    });
  };
}

/** The last /api handler: 404 for a path no route serves, audited (by the path's shape, never the path). */
export function apiNotFound(services: Services) {
  return async (req: Request, res: Response): Promise<void> => {
    const principal = keyPrincipalOf(res);
    res.locals[AUDITED] = true;
    // Counted per source; one row each only while the source's minute has in-full budget.
    await countRefusal(services, { source: requestSource(req), kind: 'api.request:not_found', event: apiRequestEvent(req, principal, 404, 'not_found') });
    res.status(404).json({ error: 'not_found' });
  };
}

/**
 * Role and practice check for one request. Audits the access (allowed or not) and sends
 * 403 when it does not fit. When it fits, mints the request's `PracticeScope` (the practice
 * checked, or the key's own when none is named): the only way a route reaches a practice's
 * rows, through `ahl_tenant` connections that row-level security holds to that practice.
 */
export async function permit(
  services: Services,
  req: Request,
  res: Response,
  roles: readonly ApiRole[],
  practiceId: string | null,
  subjectId: string | null = null,
): Promise<PracticeScope | null> {
  const principal = keyPrincipalOf(res);
  const verdict = authorise(principal, roles, practiceId);
  const actor = actorName(principal);
  const base = { method: req.method, route: apiRoute(req), role: principal.role };
  res.locals[AUDITED] = true;
  // authorise refuses an operator key; the second test only tells the compiler so.
  if (!verdict.ok || principal.practiceId === null) {
    const reason = verdict.ok ? 'role' : verdict.reason;
    await services.audit({
      action: AuditAction.ApiForbidden,
      actor,
      practiceId: principal.practiceId,
      subjectId,
      details: { ...base, reason, ...(practiceId ? { targetPracticeId: practiceId } : {}) },
    });
    res.status(403).json({ error: 'forbidden', message: reason === 'role' ? 'your role may not do this' : 'this belongs to another practice' });
    return null;
  }
  // A key's practice or the session's active one: the same scope either way.
  const scoped = practiceId ?? principal.practiceId;
  await services.audit({ action: AuditAction.ApiRequest, actor, practiceId: scoped, subjectId, details: base });
  return tenantScope(services, scoped);
}

/**
 * The other credential: a provider's calendar-feed token (`GET /feeds/oncall.ics?token=`, for
 * calendar apps, which cannot send an API key). The active provider it belongs to, and the scope
 * of that provider's practice, minted here as permit mints a key's; null when the token names no
 * active provider (the route answers 404 and audits the refusal).
 */
export async function permitFeedToken(services: Pick<AppContext, 'db' | 'keyring' | 'tenants'>, token: string): Promise<{ provider: Provider; scope: PracticeScope } | null> {
  // Which practice the token belongs to is what this lookup finds, so it crosses practices (the system role).
  const provider = await findProviderByFeedTokenHash(services.db, feedTokenHash(services.keyring, token));
  if (!provider?.active) return null;
  return { provider, scope: tenantScope(services, provider.practiceId) };
}

/**
 * A third: the signed token of a notice e-mail's unsubscribe link (`/u/<token>`,
 * src/outreach/unsubscribe-token.ts). Its signature establishes the practice, whose scope is
 * minted here; `expired` for a token past its time, null for anything else.
 */
export async function permitUnsubscribeToken(services: Pick<AppContext, 'keyring' | 'tenants' | 'clock'>, token: string): Promise<{ claims: UnsubscribeClaims; scope: PracticeScope } | 'expired' | null> {
  const claims = await verifyUnsubscribeToken(services.keyring, token, services.clock());
  if (claims === null || claims === 'expired') return claims;
  return { claims, scope: tenantScope(services, claims.practiceId) };
}

async function refusePracticeSuspended(services: Services, req: Request, res: Response, principal: KeyPrincipal): Promise<void> {
  await services.audit({
    action: AuditAction.ApiForbidden,
    actor: `api_key:${principal.keyId}`,
    practiceId: principal.practiceId,
    details: { method: req.method, route: apiRoute(req), role: principal.role, reason: 'practice_suspended' },
  });
  res.status(403).json({ error: 'forbidden', message: 'practice suspended' });
}

/**
 * Mounted after the platform routes and before every practice-data route: an operator key
 * reads no practice's data, so whatever else it asks for is 403 (audited), never a route of a
 * practice. `permit` refuses it as well, should a route ever be mounted before this.
 */
export function refuseOperatorKeys(services: Services) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const principal = keyPrincipalOf(res);
    if (isSessionPrincipal(principal) || !isOperator(principal)) return next();
    res.locals[AUDITED] = true;
    await services.audit({
      action: AuditAction.ApiForbidden,
      actor: `api_key:${principal.keyId}`,
      practiceId: null,
      details: { method: req.method, route: apiRoute(req), role: principal.role, reason: 'role' },
    });
    res.status(403).json({ error: 'forbidden', message: 'your role may not do this' });
  };
}

/**
 * The platform routes' check: an operator key passes (audited, `api.request`) and gets the
 * `PlatformScope` that crosses practices; any practice key gets 403 (audited, `api.forbidden`).
 */
export async function permitOperator(services: Services, req: Request, res: Response, subjectId: string | null = null): Promise<PlatformScope | null> {
  const principal = keyPrincipalOf(res);
  const actor = actorName(principal);
  const base = { method: req.method, route: apiRoute(req), role: principal.role };
  res.locals[AUDITED] = true;
  if (isSessionPrincipal(principal) || !isOperator(principal)) {
    await services.audit({ action: AuditAction.ApiForbidden, actor, practiceId: principal.practiceId, subjectId, details: { ...base, reason: 'role' } });
    res.status(403).json({ error: 'forbidden', message: 'only a platform operator key may do this' });
    return null;
  }
  await services.audit({ action: AuditAction.ApiRequest, actor, practiceId: null, subjectId, details: base });
  return platformScope(services);
}

/**
 * The operator acting on one practice's rows (connecting its lines): checked as `permitOperator`
 * checks, then held to that practice as a practice key is, through the practice's tenant scope,
 * so row-level security keeps the work inside it.
 */
export async function permitOperatorFor(services: Services, req: Request, res: Response, practiceId: string): Promise<PracticeScope | null> {
  const platform = await permitOperator(services, req, res, practiceId);
  return platform ? tenantScope(services, practiceId) : null;
}
