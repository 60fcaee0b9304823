import type { NextFunction, Request, Response } from 'express';
import { AuditAction } from '../audit/events.js';
import { authenticateApiKey, authorise, type ApiPrincipal, type ApiRole } from '../auth/api-keys.js';
import type { Services } from '../services.js';

export function principalOf(res: Response): ApiPrincipal {
  const p = res.locals.principal as ApiPrincipal | undefined;
  if (!p) throw new Error('route mounted without requireApiKey');
  return p;
}

/** Bearer-key authentication for /api/*: 401 without a valid key, audited either way. */
export function requireApiKey(services: Services) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const match = /^Bearer ([^\s]{1,200})$/.exec(req.get('authorization') ?? '');
    const principal = match?.[1] ? await authenticateApiKey(services.db, match[1]) : null;
    if (!principal) {
      await services.audit({
        action: AuditAction.ApiAuthRejected,
        actor: 'unauthenticated',
        details: { method: req.method, route: req.path.slice(0, 120), reason: match ? 'invalid_key' : 'missing_key' },
      });
      res.setHeader('WWW-Authenticate', 'Bearer realm="api"');
      res.status(401).json({ error: 'unauthorized', message: 'a valid API key is required (Authorization: Bearer <key>)' });
      return;
    }
    res.locals.principal = principal;
    next();
  };
}

/**
 * Role and practice check for one request. Audits the access (allowed or not) and sends
 * 403 when it does not fit; returns whether the handler may go on.
 */
export async function permit(
  services: Services,
  req: Request,
  res: Response,
  roles: readonly ApiRole[],
  practiceId: string | null,
  subjectId: string | null = null,
): Promise<boolean> {
  const principal = principalOf(res);
  const verdict = authorise(principal, roles, practiceId);
  const actor = `api_key:${principal.keyId}`;
  const base = { method: req.method, route: (req.route as { path?: string } | undefined)?.path ?? req.path.slice(0, 120), role: principal.role };
  if (!verdict.ok) {
    await services.audit({
      action: AuditAction.ApiForbidden,
      actor,
      practiceId: principal.practiceId,
      subjectId,
      details: { ...base, reason: verdict.reason, ...(practiceId ? { targetPracticeId: practiceId } : {}) },
    });
    res.status(403).json({ error: 'forbidden', message: verdict.reason === 'role' ? 'your role may not do this' : 'this belongs to another practice' });
    return false;
  }
  await services.audit({ action: AuditAction.ApiRequest, actor, practiceId: practiceId ?? principal.practiceId, subjectId, details: base });
  return true;
}
