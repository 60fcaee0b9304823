import { createHash, randomBytes } from 'node:crypto';
import type { AppContext } from '../app-context.js';
import { AuditAction } from '../audit/events.js';
import { decryptField, encryptField } from '../adapters/keyring.js';
import { mailerFor } from '../adapters/mailer.js';
import { logger } from '../log/logger.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { checkPassword, hashPassword, passwordProblem, type PasswordProblem } from './passwords.js';
import { PENDING_IDLE_MS, createSession, destroyUserSessions, rotateSession, sessionHash, type SessionRecord } from './sessions.js';
import { acceptedStep, hashRecoveryCode, newRecoveryCodes, newTotpSecret, totpUri } from './totp.js';
import {
  acceptInvitationRows,
  acceptTotpStep,
  createInvitationAsSystem,
  expirePendingInvitations,
  hasMember,
  activeMemberships,
  createInvitation,
  findInvitationByTokenHash,
  findUserByEmail,
  getUser,
  otherPracticeCount,
  replaceRecoveryCodes,
  setPasswordHash,
  setTotpSecret,
  useRecoveryCode,
  type InvitationRow,
  type MemberRole,
  type MembershipView,
} from './users-store.js';
import { ssoOpenTo } from './sso-store.js';

/**
 * Staff sign-in: password (argon2id), then TOTP, required for every role (each can reach PHI).
 * Sessions live in Redis (./sessions.ts). The routes (src/http/auth-routes.ts, user-routes.ts)
 * parse and render; the decisions and the audit rows are here. Audit actor: `user:<id>` once the
 * person is known, never an e-mail address.
 */

type Ctx = Pick<AppContext, 'db' | 'redis' | 'keyring' | 'audit' | 'clock' | 'config'>;

export const INVITATION_TTL_MS = 7 * 86_400_000;
export const RESET_TTL_S = 3_600;

export const actorOfUser = (userId: string): string => `user:${userId}`;

const tokenHash = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');
const newToken = (): string => randomBytes(32).toString('base64url');
export const LINK_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** The link a person follows (the console's page reads the token from the fragment, never sent to a server log). */
export function linkFor(ctx: Pick<AppContext, 'config'>, kind: 'invitation' | 'reset', token: string): string {
  return `${ctx.config.publicBaseUrl}/console/${kind === 'invitation' ? 'accept-invitation' : 'reset-password'}#token=${token}`;
}

async function mail(ctx: Pick<AppContext, 'config'>, to: string, subject: string, text: string): Promise<boolean> {
  const mailer = mailerFor(ctx.config);
  if (!mailer) return false;
  try {
    await mailer.send({ to, subject, text });
    return true;
  } catch (err) {
    logger.warn('e-mail not sent', { err });
    return false;
  }
}

// --- invitations ---------------------------------------------------------------------------------

export interface Invited {
  invitationId: string;
  /** Only when it was not e-mailed (no SMTP, or the send failed): the admin passes it on. */
  link?: string;
  expiresAt: string;
  emailed: boolean;
}

/**
 * A one-time invitation to the practice; earlier pending ones for the same e-mail there end (the
 * newest link is the only one that works). Nothing says whether the e-mail has an account
 * already: the answer is the same either way.
 */
export async function invite(ctx: Ctx, scope: PracticeScope, input: { email: string; role: MemberRole; providerId: string | null; actor: string }): Promise<Invited> {
  const token = newToken();
  const now = ctx.clock();
  const expiresAt = new Date(now.getTime() + INVITATION_TTL_MS);
  await expirePendingInvitations(scope.db, scope.practiceId, input.email, now);
  const { id } = await createInvitation(scope, { tokenHash: tokenHash(token), email: input.email, role: input.role, providerId: input.providerId, invitedBy: input.actor, createdAt: now, expiresAt });
  const link = linkFor(ctx, 'invitation', token);
  const emailed = await mail(ctx, input.email, 'You are invited to the after-hours line', `You have been invited to sign in to the after-hours line.\n\nAccept within 7 days: ${link}\n\nIf you did not expect this, ignore this message.`);
  await ctx.audit({ action: AuditAction.UserInvited, actor: input.actor, practiceId: scope.practiceId, subjectId: id, details: { role: input.role, emailed, ...(input.providerId ? { providerId: input.providerId } : {}) } });
  return { invitationId: id, ...(emailed ? {} : { link }), expiresAt: expiresAt.toISOString(), emailed };
}

/** The demo practice's admin, invited at each start until they have accepted. */
export const DEMO_ADMIN_EMAIL = 'admin@demo.example';

/**
 * At start in development (SEED_DEMO): while the demo practice has no admin who accepted, a fresh
 * one-time invitation for `DEMO_ADMIN_EMAIL` (earlier ones end), whose link main.ts prints to the
 * console, never to the log. Null once the demo admin has an account there.
 */
export async function demoAdminInvitation(ctx: Pick<AppContext, 'db' | 'config' | 'audit' | 'clock'>, practiceId: string): Promise<string | null> {
  if (await hasMember(ctx.db, practiceId, DEMO_ADMIN_EMAIL)) return null;
  const now = ctx.clock();
  await expirePendingInvitations(ctx.db, practiceId, DEMO_ADMIN_EMAIL, now);
  const token = newToken();
  await createInvitationAsSystem(ctx.db, { practiceId, tokenHash: tokenHash(token), email: DEMO_ADMIN_EMAIL, role: 'admin', invitedBy: 'system:demo-seed', expiresAt: new Date(now.getTime() + INVITATION_TTL_MS) });
  await ctx.audit({ action: AuditAction.UserInvited, actor: 'system:demo-seed', practiceId, details: { role: 'admin', emailed: false } });
  return linkFor(ctx, 'invitation', token);
}

/** What the accept page is told about a link: the practice's name, and whether its person may join through single sign-on (then its slug, where that starts). */
export interface InvitationPreview {
  practiceName: string;
  sso: boolean;
  ssoPractice: string | null;
}

/** The pending invitation a token names (unknown, spent and expired alike: null). */
async function pendingInvitation(ctx: Pick<AppContext, 'db' | 'clock'>, token: string): Promise<InvitationRow | null> {
  const inv = LINK_TOKEN_PATTERN.test(token) ? await findInvitationByTokenHash(ctx.db, tokenHash(token)) : null;
  if (!inv || inv.acceptedAt !== null || inv.expiresAt.getTime() <= ctx.clock().getTime()) return null;
  return inv;
}

/**
 * `POST /api/auth/invitations/inspect`: what the accept page needs before it asks for anything.
 * Only the practice's name and whether single sign-on is open to the invited e-mail (never the
 * e-mail, the role or whether the e-mail has an account); null for a link that cannot be used.
 * A read that changes nothing, so it is not audited; the route limits it per source.
 */
export async function inspectInvitation(ctx: Pick<AppContext, 'db' | 'clock'>, token: string): Promise<InvitationPreview | null> {
  const inv = await pendingInvitation(ctx, token);
  if (!inv) return null;
  const sso = await ssoOpenTo(ctx.db, inv.practiceId, inv.email);
  return { practiceName: inv.practiceName, sso, ssoPractice: sso ? inv.practiceSlug : null };
}

export type AcceptResult =
  | { ok: true; userId: string; created: boolean; practiceId: string }
  | { ok: false; reason: 'details_missing'; missing: Array<'password' | 'displayName'> }
  | { ok: false; reason: 'invalid_token' | 'sign_in_to_accept' | PasswordProblem };

/**
 * Accepts an invitation: a new person with this password and name, or, when the invited e-mail
 * already has an account, that person only while signed in as them (`signedInUserId`, the
 * request's full session). No password of an existing account is ever checked here, so a link
 * is no way to guess one; whoever holds it without that session gets `sign_in_to_accept`.
 * A new person whose practice's single sign-on is open to their e-mail may omit the password:
 * the account has none (a password sign-in answers as for a wrong one; a reset sets one).
 */
export async function acceptInvitation(ctx: Ctx, input: { token: string; password?: string | undefined; displayName?: string | undefined; signedInUserId: string | null }): Promise<AcceptResult> {
  const now = ctx.clock();
  const found = LINK_TOKEN_PATTERN.test(input.token) ? await findInvitationByTokenHash(ctx.db, tokenHash(input.token)) : null;
  const refuse = async (reason: 'invalid_token' | 'sign_in_to_accept'): Promise<AcceptResult> => {
    await ctx.audit({ action: AuditAction.UserInvitationRefused, actor: input.signedInUserId ? actorOfUser(input.signedInUserId) : 'unauthenticated', practiceId: found?.practiceId ?? null, subjectId: found?.id ?? null, details: { reason } });
    return { ok: false, reason };
  };
  const inv = await pendingInvitation(ctx, input.token);
  if (!inv) return refuse('invalid_token');
  const existing = await findUserByEmail(ctx.db, inv.email);
  let result: { userId: string; created: boolean } | null;
  let passwordSet = false;
  if (existing) {
    if (existing.status !== 'active' || existing.id !== input.signedInUserId) return refuse('sign_in_to_accept');
    result = await acceptInvitationRows(ctx.db, inv, { existingUserId: existing.id }, now);
  } else {
    const missing: Array<'password' | 'displayName'> = [];
    if (input.password === undefined && !(await ssoOpenTo(ctx.db, inv.practiceId, inv.email))) missing.push('password');
    if (input.displayName === undefined) missing.push('displayName');
    if (missing.length > 0 || input.displayName === undefined) return { ok: false, reason: 'details_missing', missing };
    const problem = input.password === undefined ? null : passwordProblem(input.password);
    if (problem) return { ok: false, reason: problem };
    passwordSet = input.password !== undefined;
    const passwordHash = input.password === undefined ? null : await hashPassword(input.password);
    result = await acceptInvitationRows(ctx.db, inv, { email: inv.email, displayName: input.displayName, passwordHash }, now);
  }
  if (!result) return refuse('invalid_token');
  await ctx.audit({ action: AuditAction.UserInvitationAccepted, actor: actorOfUser(result.userId), practiceId: inv.practiceId, subjectId: inv.id, details: { role: inv.role, newAccount: result.created, ...(result.created ? { password: passwordSet } : {}) } });
  return { ok: true, userId: result.userId, created: result.created, practiceId: inv.practiceId };
}

// --- sign-in -------------------------------------------------------------------------------------

export type SignInResult = { ok: true; userId: string; sessionId: string; record: SessionRecord; next: 'totp' | 'enrol_totp' } | { ok: false; userId: string | null };

/**
 * The password step. Unknown e-mail, wrong password, a disabled person and one with no practice
 * to act for all answer alike (and an unknown e-mail still verifies a hash: the same time).
 */
export async function signInWithPassword(ctx: Ctx, input: { email: string; password: string }): Promise<SignInResult> {
  const user = await findUserByEmail(ctx.db, input.email);
  const passwordOk = await checkPassword(user?.passwordHash ?? null, input.password);
  const fail = async (reason: string): Promise<SignInResult> => {
    await ctx.audit({ action: AuditAction.UserSignInFailed, actor: user ? actorOfUser(user.id) : 'unauthenticated', subjectId: user?.id ?? null, details: { step: 'password', reason } });
    return { ok: false, userId: user?.id ?? null };
  };
  if (!user) return fail('unknown_account');
  if (!passwordOk) return fail('wrong_password');
  if (user.status !== 'active') return fail('disabled');
  if ((await activeMemberships(ctx.db, user.id)).length === 0) return fail('no_practice');
  const now = ctx.clock();
  const { id, record } = await createSession(ctx.redis, { userId: user.id, practiceId: null, stage: 'password', idleMs: PENDING_IDLE_MS, method: 'password_totp' }, now);
  const next = user.totpConfirmed ? 'totp' : 'enrol_totp';
  await ctx.audit({ action: AuditAction.UserSignedIn, actor: actorOfUser(user.id), subjectId: user.id, details: { step: 'password', next } });
  return { ok: true, userId: user.id, sessionId: id, record, next };
}

/**
 * The session made full: the id replaced, `practiceId` made active (none named: the first practice
 * the person may act for). Null: that practice is not (or no longer) one of theirs, or, none
 * named, none is left; a named practice never falls back to another.
 */
export async function completeSignIn(ctx: Ctx, hash: string, record: SessionRecord, practiceId: string | null = null): Promise<{ id: string; record: SessionRecord; membership: MembershipView } | null> {
  const memberships = await activeMemberships(ctx.db, record.userId);
  const membership = practiceId === null ? memberships[0] : memberships.find((m) => m.practiceId === practiceId);
  if (!membership) return null;
  const idle = await idleMsOf(ctx, membership.practiceId);
  const next = await rotateSession(ctx.redis, hash, record, { stage: 'full', practiceId: membership.practiceId, idleMs: idle }, ctx.clock());
  await ctx.audit({ action: AuditAction.UserSignedIn, actor: actorOfUser(record.userId), practiceId: membership.practiceId, subjectId: record.userId, details: { step: 'complete', method: record.method, role: membership.role } });
  return { ...next, membership };
}

async function idleMsOf(ctx: Pick<AppContext, 'db'>, practiceId: string): Promise<number> {
  const row = await ctx.db.selectFrom('practices').select('idle_logoff_minutes').where('id', '=', practiceId).executeTakeFirst();
  return (row?.idle_logoff_minutes ?? 15) * 60_000;
}

/** Starts (or restarts, while not yet confirmed) TOTP enrolment: the secret and its URI, shown once. */
export async function startTotpEnrolment(ctx: Ctx, record: SessionRecord): Promise<{ ok: true; secret: string; uri: string } | { ok: false; reason: 'already_enrolled' }> {
  const user = await getUser(ctx.db, record.userId);
  if (!user || user.totpConfirmed) return { ok: false, reason: 'already_enrolled' };
  const secret = newTotpSecret();
  if (!(await setTotpSecret(ctx.db, user.id, await encryptField(ctx.keyring, secret, { userId: user.id, field: 'totp_secret' }), ctx.clock()))) return { ok: false, reason: 'already_enrolled' };
  await ctx.audit({ action: AuditAction.UserMfaEnrolStarted, actor: actorOfUser(user.id), subjectId: user.id, details: { factor: 'totp' } });
  return { ok: true, secret, uri: totpUri(secret, user.email) };
}

async function secretOf(ctx: Ctx, user: { id: string; totpSecretEnc: Buffer | null }): Promise<string | null> {
  return user.totpSecretEnc ? decryptField(ctx.keyring, user.totpSecretEnc, { userId: user.id, field: 'totp_secret' }) : null;
}

export type SecondFactorResult = { ok: true; userId: string; recoveryCodes?: string[] } | { ok: false; reason: 'wrong_code' | 'not_enrolled' | 'already_enrolled' };

/** Confirms enrolment with a first code: TOTP on, ten recovery codes made (shown once). */
export async function confirmTotp(ctx: Ctx, record: SessionRecord, code: string): Promise<SecondFactorResult> {
  const user = await getUser(ctx.db, record.userId);
  if (!user) return { ok: false, reason: 'not_enrolled' };
  if (user.totpConfirmed) return { ok: false, reason: 'already_enrolled' };
  const secret = await secretOf(ctx, user);
  if (!secret) return { ok: false, reason: 'not_enrolled' };
  const now = ctx.clock();
  const step = acceptedStep(secret, code, now, user.totpLastStep);
  if (step === null || !(await acceptTotpStep(ctx.db, user.id, step, now, true))) {
    await ctx.audit({ action: AuditAction.UserSignInFailed, actor: actorOfUser(user.id), subjectId: user.id, details: { step: 'totp_confirm', reason: 'wrong_code' } });
    return { ok: false, reason: 'wrong_code' };
  }
  const codes = newRecoveryCodes();
  await replaceRecoveryCodes(ctx.db, user.id, codes.map(hashRecoveryCode));
  await ctx.audit({ action: AuditAction.UserMfaEnrolled, actor: actorOfUser(user.id), subjectId: user.id, details: { factor: 'totp', recoveryCodes: codes.length } });
  return { ok: true, userId: user.id, recoveryCodes: codes };
}

/** The second factor at sign-in: a TOTP code (each accepted once) or one unused recovery code. */
export async function checkSecondFactor(ctx: Ctx, record: SessionRecord, input: { code?: string | undefined; recoveryCode?: string | undefined }): Promise<SecondFactorResult> {
  const user = await getUser(ctx.db, record.userId);
  if (!user?.totpConfirmed) return { ok: false, reason: 'not_enrolled' };
  const now = ctx.clock();
  if (input.recoveryCode !== undefined) {
    if (await useRecoveryCode(ctx.db, user.id, hashRecoveryCode(input.recoveryCode), now)) {
      await ctx.audit({ action: AuditAction.UserRecoveryCodeUsed, actor: actorOfUser(user.id), subjectId: user.id, details: {} });
      return { ok: true, userId: user.id };
    }
  } else if (input.code !== undefined) {
    const secret = await secretOf(ctx, user);
    const step = secret ? acceptedStep(secret, input.code, now, user.totpLastStep) : null;
    if (step !== null && (await acceptTotpStep(ctx.db, user.id, step, now, false))) return { ok: true, userId: user.id };
  }
  await ctx.audit({ action: AuditAction.UserSignInFailed, actor: actorOfUser(user.id), subjectId: user.id, details: { step: 'second_factor', reason: input.recoveryCode !== undefined ? 'wrong_recovery_code' : 'wrong_code' } });
  return { ok: false, reason: 'wrong_code' };
}

/**
 * Where single sign-on (a later task) joins: given an external identity already verified for
 * `practiceId` (the provider's signature, issuer, audience and nonce checked by the caller), a
 * full session for the person it names, if they are an active member of that practice.
 */
export async function startSessionForVerifiedIdentity(ctx: Ctx, input: { userId: string; practiceId: string; method: string }): Promise<{ id: string; record: SessionRecord } | null> {
  const memberships = await activeMemberships(ctx.db, input.userId);
  const user = await getUser(ctx.db, input.userId);
  if (user?.status !== 'active' || !memberships.some((m) => m.practiceId === input.practiceId)) return null;
  const now = ctx.clock();
  const pending = await createSession(ctx.redis, { userId: input.userId, practiceId: null, stage: 'password', idleMs: PENDING_IDLE_MS, method: input.method }, now);
  const done = await completeSignIn(ctx, sessionHash(pending.id), pending.record, input.practiceId);
  return done ? { id: done.id, record: done.record } : null;
}

// --- password reset ------------------------------------------------------------------------------

const resetKey = (hash: string): string => `password-reset:${hash}`;
/** A person's outstanding reset tokens (their hashes): one used ends them all. */
const resetUserKey = (userId: string): string => `password-resets:${userId}`;

/** What a reset token names: the person, and, for a link a practice's admin issued, that practice. */
interface ResetGrant {
  userId: string;
  issuedFor?: string;
}

function parseGrant(text: string | null): ResetGrant | null {
  if (!text) return null;
  try {
    const v = JSON.parse(text) as { userId?: unknown; issuedFor?: unknown };
    return typeof v.userId === 'string' ? { userId: v.userId, ...(typeof v.issuedFor === 'string' ? { issuedFor: v.issuedFor } : {}) } : null;
  } catch {
    return null;
  }
}

/**
 * A one-time reset token for a person (1 hour), kept in Redis by its hash and listed under the
 * person. `issuedFor`: the practice whose admin issued it (its check is made again on use).
 */
export async function issueResetToken(ctx: Pick<AppContext, 'redis' | 'config'>, userId: string, issuedFor?: string): Promise<string> {
  const token = newToken();
  const hash = tokenHash(token);
  const grant: ResetGrant = { userId, ...(issuedFor ? { issuedFor } : {}) };
  await ctx.redis.multi().set(resetKey(hash), JSON.stringify(grant), 'EX', RESET_TTL_S).sadd(resetUserKey(userId), hash).expire(resetUserKey(userId), RESET_TTL_S).exec();
  return linkFor(ctx, 'reset', token);
}

/** Ends every outstanding reset token of the person. */
async function endResetTokens(ctx: Pick<AppContext, 'redis'>, userId: string): Promise<void> {
  const hashes = await ctx.redis.smembers(resetUserKey(userId));
  await ctx.redis.del(resetUserKey(userId), ...hashes.map(resetKey));
}

/** Whether what issuing an admin's link checked still holds: an active member of that practice, and of no other. */
async function grantStillHolds(ctx: Pick<AppContext, 'db'>, grant: ResetGrant): Promise<boolean> {
  if (grant.issuedFor === undefined) return true;
  const memberOfIt = (await activeMemberships(ctx.db, grant.userId)).some((m) => m.practiceId === grant.issuedFor);
  return memberOfIt && (await otherPracticeCount(ctx.db, grant.userId, grant.issuedFor)) === 0;
}

/**
 * `POST /api/auth/password-reset`: always accepted; a link is e-mailed only to an active account,
 * and only with SMTP. The route answers before this runs (the look-up and the send happen after
 * the answer), so how long the answer takes says nothing about whether the account exists.
 */
export async function requestPasswordReset(ctx: Ctx, email: string): Promise<void> {
  const user = await findUserByEmail(ctx.db, email);
  if (!user || user.status !== 'active') {
    await ctx.audit({ action: AuditAction.UserPasswordResetRequested, actor: 'unauthenticated', details: { sent: false } });
    return;
  }
  const sent = mailerFor(ctx.config) ? await mail(ctx, user.email, 'Reset your after-hours line password', `A password reset was asked for your account.\n\nChoose a new password within an hour: ${await issueResetToken(ctx, user.id)}\n\nIf you did not ask for this, ignore this message.`) : false;
  await ctx.audit({ action: AuditAction.UserPasswordResetRequested, actor: actorOfUser(user.id), subjectId: user.id, details: { sent } });
}

/** Sets a new password with a reset token (spent on use, with the person's other tokens); every session of the person ends. */
export async function resetPassword(ctx: Ctx, input: { token: string; password: string }): Promise<{ ok: true } | { ok: false; reason: 'invalid_token' | PasswordProblem }> {
  const problem = passwordProblem(input.password);
  if (!LINK_TOKEN_PATTERN.test(input.token)) return { ok: false, reason: 'invalid_token' };
  if (problem) return { ok: false, reason: problem };
  const grant = parseGrant(await ctx.redis.getdel(resetKey(tokenHash(input.token))));
  if (!grant) return { ok: false, reason: 'invalid_token' };
  // One token used ends the others, whether or not this one is still good.
  await endResetTokens(ctx, grant.userId);
  const user = await getUser(ctx.db, grant.userId);
  if (!user || user.status !== 'active' || !(await grantStillHolds(ctx, grant))) return { ok: false, reason: 'invalid_token' };
  await setPasswordHash(ctx.db, user.id, await hashPassword(input.password), ctx.clock());
  const ended = await destroyUserSessions(ctx.redis, user.id);
  await ctx.audit({ action: AuditAction.UserPasswordReset, actor: actorOfUser(user.id), subjectId: user.id, details: { sessionsEnded: ended } });
  return { ok: true };
}
