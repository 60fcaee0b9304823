import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import { AuditAction } from '../audit/events.js';
import { finishOidcSignIn, forgetDiscovery, OIDC_FLOW_TTL_S, refusedIssuer, startOidcSignIn } from '../auth/oidc.js';
import { deleteSso, getSso, putSso } from '../auth/sso-store.js';
import { SLUG_PATTERN } from '../practices/onboarding.js';
import { actorOf, permit } from './api-auth.js';
import { refuseNulBytes } from './input-guard.js';
import { consumeLimit, limitersFor, refuseRateLimited, requestSource } from './rate-limit.js';
import { badRequest, zodProblems } from './responses.js';
import { requestSession, setSessionCookie } from './session-auth.js';
import { getUser } from '../auth/users-store.js';

/**
 * Single sign-on (OpenID Connect) per practice:
 * - `GET /api/auth/oidc/start?practice=<slug>` and `GET /api/auth/oidc/callback`: a browser's
 *   navigations (no key, no session), mounted before the credential check; each answers a
 *   redirect (303), to the provider, then to the console.
 * - `PUT|GET|DELETE /api/practices/:practiceId/sso`: the practice's provider, for its admins
 *   (the client secret goes in, never comes out).
 * The decisions and the audit rows are in src/auth/oidc.ts.
 */

/** Ties the callback to the browser that started the flow (login CSRF): Lax, so the provider's redirect back carries it. */
export const OIDC_BINDING_COOKIE = '__Host-ahl_oidc';

const PRINTABLE = /^[\x21-\x7e]+$/;
const Domain = z
  .string()
  .trim()
  .toLowerCase()
  .max(253)
  .regex(/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, { message: 'expected a domain such as example.org' });

export const SsoParams = z.object({ practiceId: z.string().uuid() });
export const SsoBody = z.strictObject({
  issuer: z.url({ protocol: /^https?$/ }).max(500).meta({ description: "the provider's issuer identifier (https); discovery reads its /.well-known/openid-configuration" }),
  clientId: z.string().min(1).max(200).regex(PRINTABLE, { message: 'expected printable characters' }),
  clientSecret: z.string().min(1).max(500).regex(PRINTABLE, { message: 'expected printable characters' }).meta({ description: 'stored encrypted, never returned' }),
  allowedDomains: z
    .array(Domain)
    .min(1)
    .max(20)
    .refine((d) => new Set(d).size === d.length, { message: 'domains must not repeat' })
    .meta({ description: "a verified e-mail must be in one of these domains (and belong to one of the practice's members)" }),
  ssoSatisfiesMfa: z.boolean().default(false).meta({ description: "true: the admin attests the provider enforces MFA, so its sign-in is both factors; false (default): TOTP is asked after it" }),
  enabled: z.boolean().default(true),
});
export const SsoView = z.object({
  practiceId: z.uuid(),
  issuer: z.string(),
  clientId: z.string(),
  allowedDomains: z.array(z.string()),
  ssoSatisfiesMfa: z.boolean(),
  enabled: z.boolean(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});

export const OidcStartQuery = z.object({ practice: z.string().regex(SLUG_PATTERN, { message: 'expected the practice code, such as riverside-peds' }) });
/** What a provider's redirect back carries (RFC 6749 4.1.2, RFC 9207's iss); other parameters are ignored. */
export const OidcCallbackQuery = z.looseObject({
  state: z.string().min(1).max(500),
  code: z.string().min(1).max(4000).optional(),
  iss: z.string().max(500).optional(),
  error: z.string().max(200).optional(),
});

/** Where the console takes over after a callback: signed in, the second factor next, or refused. */
export const SSO_LANDING = { done: '/console/', totp: '/console/sign-in?sso=totp', enrol_totp: '/console/sign-in?sso=enrol_totp', failed: '/console/sign-in?sso=failed', unavailable: '/console/sign-in?sso=unavailable' } as const;

function bindingCookie(req: Request): string | null {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === OIDC_BINDING_COOKIE) return rest.join('=').slice(0, 100);
  }
  return null;
}

function setBindingCookie(_services: Pick<Services, 'config'>, res: Response, value: string, maxAge: number): void {
  // Always Secure, as the session cookie: browsers refuse a `__Host-` cookie without it (and treat http://localhost as secure).
  res.append('Set-Cookie', `${OIDC_BINDING_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}; Secure`);
}

/** The browser's two legs, mounted before the credential check. */
export function oidcSignInRouter(services: Services): express.Router {
  const router = express.Router();
  const limiters = limitersFor(services);
  const perSource = async (req: Request, res: Response, next: express.NextFunction): Promise<void> => {
    const verdict = await consumeLimit(limiters.signInSource, requestSource(req));
    if (!verdict.ok) return refuseRateLimited(services, req, res, 'signInSource', verdict, 'json');
    next();
  };

  router.get('/auth/oidc/start', perSource, refuseNulBytes(), async (req, res) => {
    const q = OidcStartQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, zodProblems(q.error));
    const started = await startOidcSignIn(services, q.data.practice);
    if (!started.ok) return void res.redirect(303, SSO_LANDING.unavailable);
    setBindingCookie(services, res, started.binding, OIDC_FLOW_TTL_S);
    res.redirect(303, started.redirectTo);
  });

  router.get('/auth/oidc/callback', perSource, refuseNulBytes(), async (req, res) => {
    const q = OidcCallbackQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, zodProblems(q.error));
    const finished = await finishOidcSignIn(services, { state: q.data.state, code: q.data.code, iss: q.data.iss, error: q.data.error }, bindingCookie(req));
    setBindingCookie(services, res, '', 0);
    if (!finished.ok) return void res.redirect(303, SSO_LANDING.failed);
    setSessionCookie(services, res, finished.sessionId);
    res.redirect(303, SSO_LANDING[finished.next]);
  });

  /**
   * The pending session's next step and CSRF token: after a single sign-on that asks for TOTP,
   * the console has no login answer to read them from. A GET (another site cannot read it).
   */
  router.get('/auth/pending', perSource, async (req, res) => {
    const found = await requestSession(services, req, res, true);
    if (!found.ok || found.record.stage !== 'password') return void res.status(401).json({ error: 'unauthorized', message: 'no sign-in under way' });
    const user = await getUser(services.db, found.record.userId);
    if (!user) return void res.status(401).json({ error: 'unauthorized', message: 'no sign-in under way' });
    res.json({ next: user.totpConfirmed ? 'totp' : 'enrol_totp', csrfToken: found.record.csrf, method: found.record.method });
  });

  return router;
}

/** The practice's provider, for its admins (auditors read it). */
export function ssoAdminRouter(services: Services): express.Router {
  const router = express.Router();

  router.put('/practices/:practiceId/sso', async (req, res) => {
    const id = SsoParams.safeParse(req.params);
    if (!id.success) return badRequest(res, 'practiceId must be a UUID');
    const scope = await permit(services, req, res, ['admin'], id.data.practiceId, id.data.practiceId);
    if (!scope) return;
    const body = SsoBody.safeParse(req.body ?? {});
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const problem = refusedIssuer(services, body.data.issuer);
    if (problem) return badRequest(res, `issuer: ${problem}`);
    const { change, sso } = await putSso(scope, services.keyring, body.data, services.clock());
    forgetDiscovery(services, scope.practiceId);
    await services.audit({
      action: AuditAction.AdminSsoUpdated,
      actor: actorOf(res),
      practiceId: scope.practiceId,
      subjectId: scope.practiceId,
      details: { change, enabled: sso.enabled, ssoSatisfiesMfa: sso.ssoSatisfiesMfa, domains: sso.allowedDomains.length },
    });
    res.status(change === 'created' ? 201 : 200).json(sso);
  });

  router.get('/practices/:practiceId/sso', async (req, res) => {
    const id = SsoParams.safeParse(req.params);
    if (!id.success) return badRequest(res, 'practiceId must be a UUID');
    const scope = await permit(services, req, res, ['admin', 'auditor'], id.data.practiceId, id.data.practiceId);
    if (!scope) return;
    const sso = await getSso(scope);
    if (!sso) return void res.status(404).json({ error: 'not_found', message: 'no single sign-on: PUT /api/practices/{id}/sso' });
    res.json(sso);
  });

  router.delete('/practices/:practiceId/sso', async (req, res) => {
    const id = SsoParams.safeParse(req.params);
    if (!id.success) return badRequest(res, 'practiceId must be a UUID');
    const scope = await permit(services, req, res, ['admin'], id.data.practiceId, id.data.practiceId);
    if (!scope) return;
    if (!(await deleteSso(scope))) return void res.status(404).json({ error: 'not_found' });
    forgetDiscovery(services, scope.practiceId);
    await services.audit({ action: AuditAction.AdminSsoUpdated, actor: actorOf(res), practiceId: scope.practiceId, subjectId: scope.practiceId, details: { change: 'removed' } });
    res.status(204).end();
  });

  return router;
}
