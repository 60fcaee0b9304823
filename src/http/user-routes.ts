import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import { AuditAction } from '../audit/events.js';
import { API_ROLES } from '../auth/api-keys.js';
import { actorOfUser, completeSignIn, invite, issueResetToken } from '../auth/accounts.js';
import { destroyUserSessions, SESSION_ABSOLUTE_MS } from '../auth/sessions.js';
import { activeMemberships, disableMember, expirePendingInvitations, getMember, getUser, listMembers, listPendingInvitations, otherPracticeCount, providerInPractice, revokeInvitation, setMemberRole, type MemberChange } from '../auth/users-store.js';
import { actorOf, isSessionPrincipal, keyPrincipalOf, permit, principalOf, type SessionPrincipal } from './api-auth.js';
import { badRequest, notFound, zodProblems } from './responses.js';
import { setSessionCookie } from './session-auth.js';
import { setUserPhone } from '../auth/user-phone.js';
import { E164Schema } from '../practices/settings.js';

/**
 * A signed-in person's session (`/api/session`, sign out everywhere) and a practice's people for
 * its admins (`/api/users`). Mounted after the credential check, so a key or a full session;
 * the session routes answer 403 to a key (a key has no session).
 */

const Uuid = z.string().uuid();
export const UserIdParams = z.object({ id: Uuid });
export const InvitationIdParams = z.object({ id: Uuid });
export const InvitationBody = z.strictObject({ email: z.string().trim().min(3).max(254).regex(/^[^\s@]+@[^\s@]+$/, { message: 'expected an e-mail address' }), role: z.enum(API_ROLES), providerId: Uuid.optional() });
export const MembershipPatchBody = z.strictObject({ role: z.enum(API_ROLES) });
export const SwitchPracticeBody = z.strictObject({ practiceId: Uuid });
/** The person's own phone (E.164), where a call back through the practice line rings them; null clears it. */
export const MyPhoneBody = z.strictObject({ phone: E164Schema.nullable() });

export const MemberSchema = z.object({
  userId: z.uuid(),
  email: z.string(),
  displayName: z.string(),
  role: z.enum(API_ROLES),
  status: z.enum(['active', 'disabled']),
  totpEnabled: z.boolean(),
  createdAt: z.iso.datetime(),
});

export const PendingInvitationSchema = z.object({
  invitationId: z.uuid(),
  email: z.string(),
  role: z.enum(API_ROLES),
  providerId: z.uuid().nullable(),
  invitedBy: z.string(),
  createdAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
});

const ANY = ['admin', 'staff', 'provider', 'auditor'] as const;
/** The one sign-in method whose session may change practice (src/auth/sessions.ts `method`). */
const SWITCHABLE_METHOD = 'password_totp';

export function userRouter(services: Services): express.Router {
  const router = express.Router();

  /** The session behind a session route, or 403 for a key (audited by permit first). */
  const sessionOf = (res: express.Response): SessionPrincipal | null => {
    const p = keyPrincipalOf(res);
    if (isSessionPrincipal(p)) return p;
    res.status(403).json({ error: 'forbidden', message: 'an API key has no session: sign in as a person' });
    return null;
  };

  router.get('/session', async (req, res) => {
    if (!(await permit(services, req, res, ANY, null))) return;
    const s = sessionOf(res);
    if (!s) return;
    const user = await getUser(services.db, s.userId);
    if (!user) return notFound(res);
    res.json({
      user: { id: user.id, email: user.email, displayName: user.displayName },
      memberships: await activeMemberships(services.db, s.userId),
      activePracticeId: s.practiceId,
      role: s.role,
      csrfToken: s.session.csrf,
      idleDeadline: new Date(s.session.lastSeenAt + s.session.idleMs).toISOString(),
      // The window left by the service's own clock: a page times its logoff from this, whatever its clock says.
      idleMsLeft: Math.max(0, s.session.lastSeenAt + s.session.idleMs - services.clock().getTime()),
      absoluteDeadline: new Date(s.session.createdAt + SESSION_ABSOLUTE_MS).toISOString(),
    });
  });

  router.post('/session/practice', async (req, res) => {
    const input = SwitchPracticeBody.safeParse(req.body ?? {});
    if (!input.success) return badRequest(res, zodProblems(input.error));
    if (!(await permit(services, req, res, ANY, null))) return;
    const s = sessionOf(res);
    if (!s) return;
    // Only a password + TOTP sign-in is the person's own for every practice; a single sign-on vouched for its practice alone.
    if (s.session.method !== SWITCHABLE_METHOD) {
      await services.audit({ action: AuditAction.ApiForbidden, actor: actorOfUser(s.userId), practiceId: s.practiceId, subjectId: s.userId, details: { method: req.method, route: '/api/session/practice', role: s.role, reason: 'sign_in_again', signInMethod: s.session.method, targetPracticeId: input.data.practiceId } });
      return void res.status(403).json({ error: 'forbidden', message: 'this sign-in is for this practice only: sign in again to act for another' });
    }
    const target = (await activeMemberships(services.db, s.userId)).find((m) => m.practiceId === input.data.practiceId);
    if (!target) return void res.status(403).json({ error: 'forbidden', message: 'you are not a member of that practice' });
    const done = await completeSignIn(services, s.sessionHash, s.session, target.practiceId);
    if (!done) return void res.status(401).json({ error: 'unauthorized', message: 'signed out: sign in again' });
    setSessionCookie(services, res, done.id);
    await services.audit({ action: AuditAction.UserPracticeSwitched, actor: actorOfUser(s.userId), practiceId: target.practiceId, subjectId: s.userId, details: { from: s.practiceId } });
    res.json({ activePracticeId: done.membership.practiceId, role: done.membership.role, csrfToken: done.record.csrf });
  });

  router.post('/auth/logout-everywhere', async (req, res) => {
    if (!(await permit(services, req, res, ANY, null))) return;
    const s = sessionOf(res);
    if (!s) return;
    const ended = await destroyUserSessions(services.redis, s.userId);
    await services.audit({ action: AuditAction.UserSignedOut, actor: actorOfUser(s.userId), practiceId: s.practiceId, subjectId: s.userId, details: { everywhere: true, sessionsEnded: ended } });
    res.json({ sessionsEnded: ended });
  });

  // Sealed on the account; never echoed (the answer says only whether one is set).
  router.put('/me/phone', async (req, res) => {
    const input = MyPhoneBody.safeParse(req.body ?? {});
    if (!input.success) return badRequest(res, zodProblems(input.error));
    if (!(await permit(services, req, res, ['admin', 'staff', 'provider'], principalOf(res).practiceId))) return;
    const s = sessionOf(res);
    if (!s) return;
    if (!(await setUserPhone(services.db, services.keyring, s.userId, input.data.phone, services.clock()))) return notFound(res);
    await services.audit({ action: AuditAction.UserPhoneSet, actor: actorOfUser(s.userId), practiceId: s.practiceId, subjectId: s.userId, details: { set: input.data.phone !== null } });
    res.json({ hasPhone: input.data.phone !== null });
  });

  router.get('/users', async (req, res) => {
    const scope = await permit(services, req, res, ['admin'], principalOf(res).practiceId);
    if (!scope) return;
    res.json({ users: await listMembers(scope), invitations: await listPendingInvitations(scope, services.clock()) });
  });

  router.get('/users/invitations', async (req, res) => {
    const scope = await permit(services, req, res, ['admin'], principalOf(res).practiceId);
    if (!scope) return;
    res.json({ invitations: await listPendingInvitations(scope, services.clock()) });
  });

  router.post('/users/invitations', async (req, res) => {
    const input = InvitationBody.safeParse(req.body ?? {});
    if (!input.success) return badRequest(res, zodProblems(input.error));
    const scope = await permit(services, req, res, ['admin'], principalOf(res).practiceId);
    if (!scope) return;
    const providerId = input.data.providerId ?? null;
    if (providerId && !(await providerInPractice(scope, providerId))) return badRequest(res, 'providerId: no such provider in this practice');
    const invited = await invite(services, scope, { email: input.data.email, role: input.data.role, providerId, actor: actorOf(res) });
    res.status(201).json(invited);
  });

  router.post('/users/invitations/:id/revoke', async (req, res) => {
    const id = InvitationIdParams.safeParse(req.params);
    if (!id.success) return badRequest(res, 'id must be a UUID');
    const scope = await permit(services, req, res, ['admin'], principalOf(res).practiceId, id.data.id);
    if (!scope) return;
    if (!(await revokeInvitation(scope, id.data.id, services.clock()))) return void res.status(404).json({ error: 'not_found', message: 'no pending invitation with this id' });
    await services.audit({ action: AuditAction.UserInvitationRevoked, actor: actorOf(res), practiceId: scope.practiceId, subjectId: id.data.id, details: {} });
    res.json({ invitationId: id.data.id, status: 'revoked' });
  });

  /** 404 for no such member, 409 for a change that would leave the practice without an active admin. */
  const refusedChange = (res: express.Response, change: MemberChange): boolean => {
    if (change === 'done') return false;
    if (change === 'not_found') notFound(res);
    else res.status(409).json({ error: 'last_admin', message: 'the practice would be left without an active admin: make someone else admin first' });
    return true;
  };

  router.patch('/users/:id/membership', async (req, res) => {
    const id = UserIdParams.safeParse(req.params);
    if (!id.success) return badRequest(res, 'id must be a UUID');
    const input = MembershipPatchBody.safeParse(req.body ?? {});
    if (!input.success) return badRequest(res, zodProblems(input.error));
    const scope = await permit(services, req, res, ['admin'], principalOf(res).practiceId, id.data.id);
    if (!scope) return;
    const before = await getMember(scope, id.data.id);
    if (!before) return notFound(res);
    if (refusedChange(res, await setMemberRole(scope, id.data.id, input.data.role, services.clock()))) return;
    // A new role is a new privilege: the person signs in again here (their sessions for other practices go on).
    const ended = await destroyUserSessions(services.redis, id.data.id, scope.practiceId);
    await services.audit({ action: AuditAction.UserRoleChanged, actor: actorOf(res), practiceId: scope.practiceId, subjectId: id.data.id, details: { from: before.role, to: input.data.role, sessionsEnded: ended } });
    res.json({ user: await getMember(scope, id.data.id) });
  });

  router.post('/users/:id/disable', async (req, res) => {
    const id = UserIdParams.safeParse(req.params);
    if (!id.success) return badRequest(res, 'id must be a UUID');
    const scope = await permit(services, req, res, ['admin'], principalOf(res).practiceId, id.data.id);
    if (!scope) return;
    const now = services.clock();
    const member = await getMember(scope, id.data.id);
    if (!member) return notFound(res);
    // The membership is disabled, not the account (other practices may rely on it); its sessions here end, and so do the practice's pending invitations for the person.
    if (refusedChange(res, await disableMember(scope, id.data.id, now))) return;
    await expirePendingInvitations(scope.db, scope.practiceId, member.email, now);
    const ended = await destroyUserSessions(services.redis, id.data.id, scope.practiceId);
    await services.audit({ action: AuditAction.UserDisabled, actor: actorOf(res), practiceId: scope.practiceId, subjectId: id.data.id, details: { sessionsEnded: ended } });
    res.json({ user: await getMember(scope, id.data.id), sessionsEnded: ended });
  });

  router.post('/users/:id/reset-link', async (req, res) => {
    const id = UserIdParams.safeParse(req.params);
    if (!id.success) return badRequest(res, 'id must be a UUID');
    const scope = await permit(services, req, res, ['admin'], principalOf(res).practiceId, id.data.id);
    if (!scope) return;
    const member = await getMember(scope, id.data.id);
    if (!member || member.status !== 'active') return notFound(res);
    // Another practice relies on this password too: its reset is not one practice's admin's to give.
    if ((await otherPracticeCount(services.db, id.data.id, scope.practiceId)) > 0) return void res.status(409).json({ error: 'conflict', message: 'this person belongs to other practices too: they reset their own password (POST /api/auth/password-reset)' });
    const link = await issueResetToken(services, id.data.id, scope.practiceId);
    await services.audit({ action: AuditAction.UserPasswordResetLinkIssued, actor: actorOf(res), practiceId: scope.practiceId, subjectId: id.data.id, details: {} });
    res.status(201).json({ link, expiresInSeconds: 3600 });
  });

  return router;
}
