import type { Request, Response } from 'express';
import type { Services } from '../services.js';
import { AuditAction } from '../audit/events.js';
import { actorOfUser } from '../auth/accounts.js';
import { csrfMatches, loadSession, type SessionRecord } from '../auth/sessions.js';
import { routeLabel } from '../log/route-label.js';

/**
 * The browser's credential: the `__Host-ahl_session` cookie (HttpOnly, SameSite=Strict, Path=/,
 * no Domain, Secure), and the CSRF checks every state-changing request it
 * authenticates must pass: an Origin equal to PUBLIC_BASE_URL's (or, in development, the
 * request's own host) and the session's token in `X-CSRF-Token`.
 */

export const SESSION_COOKIE = '__Host-ahl_session';
export const CSRF_HEADER = 'x-csrf-token';

export function readSessionCookie(req: Request): string | null {
  const header = req.get('cookie');
  if (!header) return null;
  for (const part of header.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === SESSION_COOKIE) return rest.join('=').slice(0, 100);
  }
  return null;
}

/*
 * Secure always, development too: a browser refuses a `__Host-` cookie without it, and treats
 * http://localhost and http://127.0.0.1 as secure, so `npm start`'s console signs in over plain http.
 */
export function setSessionCookie(_services: Pick<Services, 'config'>, res: Response, id: string): void {
  res.append('Set-Cookie', `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Secure`);
}

export function clearSessionCookie(_services: Pick<Services, 'config'>, res: Response): void {
  res.append('Set-Cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure`);
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
export const changesState = (req: Request): boolean => STATE_CHANGING.has(req.method);

/** Whether the request's Origin is ours: PUBLIC_BASE_URL's origin, or in development the host it was sent to. */
export function originAllowed(services: Pick<Services, 'config'>, req: Request, required: boolean): boolean {
  const origin = req.get('origin');
  if (origin === undefined) return !required;
  if (origin === new URL(services.config.publicBaseUrl).origin) return true;
  return services.config.env === 'development' && origin === `${req.protocol}://${req.get('host') ?? ''}`;
}

/** Both CSRF checks for a cookie-authenticated state change; refused requests are audited and answered 403. */
export async function refuseCsrf(services: Services, req: Request, res: Response, record: SessionRecord): Promise<boolean> {
  if (!changesState(req)) return false;
  const reason = !originAllowed(services, req, true) ? 'origin' : !csrfMatches(record, req.get(CSRF_HEADER)) ? 'token' : null;
  if (!reason) return false;
  await services.audit({ action: AuditAction.UserCsrfRefused, actor: actorOfUser(record.userId), practiceId: record.practiceId, subjectId: record.userId, details: { method: req.method, route: routeLabel(req, '/api'), reason } });
  res.status(403).json({ error: 'forbidden', message: 'cross-site request refused (Origin and X-CSRF-Token must match the session)' });
  return true;
}

export type RequestSession = { ok: true; hash: string; record: SessionRecord } | { ok: false };

/**
 * The request's session, if its cookie names a live one (`full`, or any stage with
 * `allowPending`). An ended one (idle or 12 hours) is audited and its cookie cleared.
 */
export async function requestSession(services: Services, req: Request, res: Response, allowPending: boolean): Promise<RequestSession> {
  const id = readSessionCookie(req);
  if (!id) return { ok: false };
  const found = await loadSession(services.redis, id, services.clock());
  if (!found.ok) {
    if (found.reason !== 'unknown') {
      await services.audit({ action: AuditAction.UserSessionExpired, actor: actorOfUser(found.userId), subjectId: found.userId, details: { reason: found.reason } });
    }
    clearSessionCookie(services, res);
    return { ok: false };
  }
  if (!allowPending && found.record.stage !== 'full') return { ok: false };
  return found;
}
