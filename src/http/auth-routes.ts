import { createHash } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import { AuditAction } from '../audit/events.js';
import { acceptInvitation, actorOfUser, checkSecondFactor, completeSignIn, confirmTotp, inspectInvitation, requestPasswordReset, resetPassword, signInWithPassword, startTotpEnrolment } from '../auth/accounts.js';
import { PASSWORD_MAX, PASSWORD_MESSAGES } from '../auth/passwords.js';
import { destroySession } from '../auth/sessions.js';
import { apiJsonBody } from './api-auth.js';
import { logger } from '../log/logger.js';
import { refuseNulBytes } from './input-guard.js';
import { consumeLimit, limitersFor, refundLimit, refuseRateLimited, requestSource } from './rate-limit.js';
import { badRequest, zodProblems } from './responses.js';
import { clearSessionCookie, originAllowed, refuseCsrf, requestSession, setSessionCookie } from './session-auth.js';

/**
 * Signing in, mounted before the API-key check: the routes a person reaches without a full
 * session (password, second factor and its enrolment, invitations, password reset, sign-out).
 * Each route parses its own body (nothing of another path's request is read here), is limited
 * per source, and, where a session cookie authenticates it, passes the CSRF checks.
 */

const Email = z.string().trim().min(3).max(254).regex(/^[^\s@]+@[^\s@]+$/, { message: 'expected an e-mail address' });
/** Length is checked by the password rules (a clear answer), not here; only a bound on what is read. */
const Password = z.string().min(1).max(PASSWORD_MAX * 4);
const Token = z.string().min(1).max(200);
export const LoginBody = z.strictObject({ email: Email, password: Password });
export const SecondFactorBody = z.union([z.strictObject({ code: z.string().regex(/^\d{6}$/, { message: 'expected 6 digits' }) }), z.strictObject({ recoveryCode: z.string().min(8).max(40) })]);
export const TotpConfirmBody = z.strictObject({ code: z.string().regex(/^\d{6}$/, { message: 'expected 6 digits' }) });
export const InspectInvitationBody = z.strictObject({ token: Token });
/**
 * Password and name make a new account (the password may be left out when the practice's single
 * sign-on is open to the invited e-mail); a signed-in person joining another practice sends the token alone.
 */
export const AcceptInvitationBody = z.strictObject({ token: Token, password: Password.optional(), displayName: z.string().trim().min(1).max(120).optional() });
export const PasswordResetBody = z.strictObject({ email: Email });
export const PasswordResetCompleteBody = z.strictObject({ token: Token, password: Password });

const UNAUTHORIZED = { error: 'unauthorized', message: 'wrong e-mail or password' } as const;

const accountKey = (email: string): string => createHash('sha256').update(email.trim().toLowerCase(), 'utf8').digest('hex');

export function authRouter(services: Services): express.Router {
  const router = express.Router();
  const limiters = limitersFor(services);
  // Per source, then the body (per route: a request for another path is never read here).
  const body = [
    async (req: Request, res: Response, next: NextFunction): Promise<void> => {
      const verdict = await consumeLimit(limiters.signInSource, requestSource(req));
      if (!verdict.ok) return refuseRateLimited(services, req, res, 'signInSource', verdict, 'json');
      // A browser's sign-in from another site is refused (login CSRF); a client that sends no Origin is not a browser.
      if (!originAllowed(services, req, false)) return void res.status(403).json({ error: 'forbidden', message: 'cross-site request refused' });
      next();
    },
    apiJsonBody(services),
    refuseNulBytes(),
  ];

  router.post('/auth/login', ...body, async (req, res) => {
    const input = LoginBody.safeParse(req.body ?? {});
    if (!input.success) return badRequest(res, zodProblems(input.error));
    const account = accountKey(input.data.email);
    const counted = await consumeLimit(limiters.signInAccount, account);
    if (!counted.ok) return refuseRateLimited(services, req, res, 'signInAccount', counted, 'json');
    const result = await signInWithPassword(services, input.data);
    if (!result.ok) return void res.status(401).json(UNAUTHORIZED);
    await refundLimit(limiters.signInAccount, account);
    setSessionCookie(services, res, result.sessionId);
    res.json({ next: result.next, csrfToken: result.record.csrf });
  });

  /** The pending session (password done) of a second-factor route, CSRF-checked; null when answered. */
  const pending = async (req: Request, res: Response): Promise<Awaited<ReturnType<typeof requestSession>> & { ok: true } | null> => {
    const found = await requestSession(services, req, res, true);
    if (!found.ok) return void res.status(401).json({ error: 'unauthorized', message: 'sign in with your password first' }), null;
    if (await refuseCsrf(services, req, res, found.record)) return null;
    return found;
  };

  router.post('/auth/totp/enrol', ...body, async (req, res) => {
    const s = await pending(req, res);
    if (!s) return;
    if (s.record.stage !== 'password') return void res.status(409).json({ error: 'conflict', message: 'already signed in' });
    const started = await startTotpEnrolment(services, s.record);
    if (!started.ok) return void res.status(409).json({ error: 'conflict', message: 'TOTP is already set up; sign in with a code' });
    res.json({ secret: started.secret, uri: started.uri });
  });

  router.post('/auth/totp/confirm', ...body, async (req, res) => {
    const input = TotpConfirmBody.safeParse(req.body ?? {});
    if (!input.success) return badRequest(res, zodProblems(input.error));
    const s = await pending(req, res);
    if (!s) return;
    if (s.record.stage !== 'password') return void res.status(409).json({ error: 'conflict', message: 'already signed in' });
    const counted = await consumeLimit(limiters.signInAccount, s.record.userId);
    if (!counted.ok) return refuseRateLimited(services, req, res, 'signInAccount', counted, 'json');
    const confirmed = await confirmTotp(services, s.record, input.data.code);
    if (!confirmed.ok) return void res.status(confirmed.reason === 'wrong_code' ? 401 : 409).json({ error: confirmed.reason === 'wrong_code' ? 'unauthorized' : 'conflict', message: confirmed.reason === 'wrong_code' ? 'wrong code' : 'start enrolment first' });
    await refundLimit(limiters.signInAccount, s.record.userId);
    // A single sign-on's pending session names its practice; a password's names none (the first membership).
    const done = await completeSignIn(services, s.hash, s.record, s.record.practiceId);
    if (!done) return void res.status(401).json(UNAUTHORIZED);
    setSessionCookie(services, res, done.id);
    res.json({ next: 'done', recoveryCodes: confirmed.recoveryCodes ?? [], csrfToken: done.record.csrf, practiceId: done.membership.practiceId, role: done.membership.role });
  });

  router.post('/auth/totp', ...body, async (req, res) => {
    const input = SecondFactorBody.safeParse(req.body ?? {});
    if (!input.success) return badRequest(res, 'code: expected 6 digits, or recoveryCode: one of your recovery codes');
    const s = await pending(req, res);
    if (!s) return;
    if (s.record.stage !== 'password') return void res.status(409).json({ error: 'conflict', message: 'already signed in' });
    const counted = await consumeLimit(limiters.signInAccount, s.record.userId);
    if (!counted.ok) return refuseRateLimited(services, req, res, 'signInAccount', counted, 'json');
    const checked = await checkSecondFactor(services, s.record, 'code' in input.data ? { code: input.data.code } : { recoveryCode: input.data.recoveryCode });
    if (!checked.ok) return void res.status(401).json({ error: 'unauthorized', message: checked.reason === 'not_enrolled' ? 'set up TOTP first' : 'wrong code' });
    await refundLimit(limiters.signInAccount, s.record.userId);
    // A single sign-on's pending session names its practice; a password's names none (the first membership).
    const done = await completeSignIn(services, s.hash, s.record, s.record.practiceId);
    if (!done) return void res.status(401).json(UNAUTHORIZED);
    setSessionCookie(services, res, done.id);
    res.json({ next: 'done', csrfToken: done.record.csrf, practiceId: done.membership.practiceId, role: done.membership.role });
  });

  router.post('/auth/logout', ...body, async (req, res) => {
    const s = await pending(req, res);
    if (!s) return;
    await destroySession(services.redis, s.hash, s.record.userId);
    clearSessionCookie(services, res);
    await services.audit({ action: AuditAction.UserSignedOut, actor: actorOfUser(s.record.userId), practiceId: s.record.practiceId, subjectId: s.record.userId, details: { everywhere: false } });
    res.status(204).end();
  });

  // What the accept page may know before it asks for anything: the practice's name and whether single sign-on is open to the invited person.
  router.post('/auth/invitations/inspect', ...body, async (req, res) => {
    const input = InspectInvitationBody.safeParse(req.body ?? {});
    if (!input.success) return badRequest(res, zodProblems(input.error));
    const preview = await inspectInvitation(services, input.data.token);
    if (!preview) return void res.status(404).json({ error: 'not_found', message: 'this invitation is unknown, spent or expired' });
    res.json(preview);
  });

  router.post('/auth/invitations/accept', ...body, async (req, res) => {
    const input = AcceptInvitationBody.safeParse(req.body ?? {});
    if (!input.success) return badRequest(res, zodProblems(input.error));
    // An e-mail that has an account already is accepted only in that person's own full session (CSRF-checked).
    const session = await requestSession(services, req, res, false);
    if (session.ok && (await refuseCsrf(services, req, res, session.record))) return;
    const accepted = await acceptInvitation(services, { ...input.data, signedInUserId: session.ok ? session.record.userId : null });
    if (!accepted.ok) {
      if (accepted.reason === 'too_short' || accepted.reason === 'too_long' || accepted.reason === 'common') return badRequest(res, PASSWORD_MESSAGES[accepted.reason]);
      if (accepted.reason === 'details_missing') return badRequest(res, accepted.missing.map((f) => `${f}: required for a new account`).join('; '));
      if (accepted.reason === 'sign_in_to_accept') return void res.status(409).json({ error: 'sign_in_to_accept', message: 'sign in first, then open the link again to accept' });
      return void res.status(404).json({ error: 'not_found', message: 'this invitation is unknown, spent or expired' });
    }
    res.status(accepted.created ? 201 : 200).json({ userId: accepted.userId, practiceId: accepted.practiceId, created: accepted.created });
  });

  router.post('/auth/password-reset', ...body, async (req, res) => {
    const input = PasswordResetBody.safeParse(req.body ?? {});
    if (!input.success) return badRequest(res, zodProblems(input.error));
    // Its own budget (not the sign-in's): anyone may ask for someone's reset, and that must not lock them out.
    const counted = await consumeLimit(limiters.passwordResetAccount, accountKey(input.data.email));
    // The same answer whatever the e-mail, given before the account is looked up or anything is sent: neither the answer nor its timing reveals an account.
    res.status(202).json({ status: 'accepted' });
    if (!counted.ok) return;
    await requestPasswordReset(services, input.data.email).catch((err: unknown) => logger.warn('password reset request failed', { err }));
  });

  router.post('/auth/password-reset/complete', ...body, async (req, res) => {
    const input = PasswordResetCompleteBody.safeParse(req.body ?? {});
    if (!input.success) return badRequest(res, zodProblems(input.error));
    const reset = await resetPassword(services, input.data);
    if (!reset.ok) {
      if (reset.reason === 'invalid_token') return void res.status(404).json({ error: 'not_found', message: 'this link is unknown, spent or expired' });
      return badRequest(res, PASSWORD_MESSAGES[reset.reason]);
    }
    res.status(204).end();
  });

  return router;
}
