import { sql } from 'kysely';
import type { Db } from '../adapters/postgres.js';
import type { MemberRole } from '../adapters/db-schema.js';
import type { PracticeScope } from '../tenancy/scope.js';

/**
 * The queries of staff accounts (migration 0020). Two kinds, as for API keys:
 * - identity, on the system pool (`Db`): a person found by e-mail at sign-in, the session's
 *   person and membership at each request, an invitation found by its token, TOTP and
 *   recovery codes. These find who is acting before any practice scope exists; `users` and
 *   `recovery_codes` belong to no practice and are never opened to the tenant role.
 * - a practice's people, through its scope: members (read through `ahl_practice_members()`),
 *   roles, disabling, invitations.
 */

export type { MemberRole };

export interface UserRow {
  id: string;
  email: string;
  displayName: string;
  passwordHash: string | null;
  status: 'active' | 'disabled';
  totpSecretEnc: Buffer | null;
  totpConfirmed: boolean;
  totpLastStep: number | null;
}

const userColumns = ['id', 'email', 'display_name', 'password_hash', 'status', 'totp_secret_enc', 'totp_confirmed_at', 'totp_last_step'] as const;

function toUser(r: { id: string; email: string; display_name: string; password_hash: string | null; status: 'active' | 'disabled'; totp_secret_enc: Buffer | null; totp_confirmed_at: Date | null; totp_last_step: string | null }): UserRow {
  return {
    id: r.id,
    email: r.email,
    displayName: r.display_name,
    passwordHash: r.password_hash,
    status: r.status,
    totpSecretEnc: r.totp_secret_enc,
    totpConfirmed: r.totp_confirmed_at !== null,
    totpLastStep: r.totp_last_step === null ? null : Number(r.totp_last_step),
  };
}

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

export async function findUserByEmail(db: Db, email: string): Promise<UserRow | null> {
  const r = await db.selectFrom('users').select(userColumns).where('email', '=', normaliseEmail(email)).executeTakeFirst();
  return r ? toUser(r) : null;
}

export async function getUser(db: Db, userId: string): Promise<UserRow | null> {
  const r = await db.selectFrom('users').select(userColumns).where('id', '=', userId).executeTakeFirst();
  return r ? toUser(r) : null;
}

export interface MembershipView {
  practiceId: string;
  practiceName: string;
  role: MemberRole;
}

/** The practices a person may act for now: memberships not disabled, practices not suspended; oldest first. */
export async function activeMemberships(db: Db, userId: string): Promise<MembershipView[]> {
  const rows = await db
    .selectFrom('memberships')
    .innerJoin('practices', 'practices.id', 'memberships.practice_id')
    .select(['memberships.practice_id', 'practices.name', 'memberships.role'])
    .where('memberships.user_id', '=', userId)
    .where('memberships.disabled_at', 'is', null)
    .where('practices.suspended_at', 'is', null)
    .orderBy('memberships.created_at')
    .orderBy('memberships.practice_id')
    .execute();
  return rows.map((r) => ({ practiceId: r.practice_id, practiceName: r.name, role: r.role }));
}

/** What a session's request needs at once: is the person active, their role in the practice (null: none now), its idle logoff. */
export async function sessionIdentity(db: Db, userId: string, practiceId: string | null): Promise<{ active: boolean; role: MemberRole | null; idleLogoffMinutes: number | null } | null> {
  const user = await db.selectFrom('users').select(['status']).where('id', '=', userId).executeTakeFirst();
  if (!user) return null;
  if (practiceId === null) return { active: user.status === 'active', role: null, idleLogoffMinutes: null };
  const m = await db
    .selectFrom('memberships')
    .innerJoin('practices', 'practices.id', 'memberships.practice_id')
    .select(['memberships.role', 'memberships.disabled_at', 'practices.suspended_at', 'practices.idle_logoff_minutes'])
    .where('memberships.user_id', '=', userId)
    .where('memberships.practice_id', '=', practiceId)
    .executeTakeFirst();
  const usable = m && m.disabled_at === null && m.suspended_at === null;
  return { active: user.status === 'active', role: usable ? m.role : null, idleLogoffMinutes: m?.idle_logoff_minutes ?? null };
}

/**
 * A new (unconfirmed) TOTP secret, only while none is confirmed: an enrolment whose check ran
 * before a confirmation landed cannot replace the confirmed secret. False: already confirmed.
 */
export async function setTotpSecret(db: Db, userId: string, enc: Buffer, now: Date): Promise<boolean> {
  const r = await db.updateTable('users').set({ totp_secret_enc: enc, totp_confirmed_at: null, totp_last_step: null, updated_at: now }).where('id', '=', userId).where('totp_confirmed_at', 'is', null).executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

/** Records `step` as the last accepted code (and confirms enrolment), only if no later or equal step was: false means a replay. */
export async function acceptTotpStep(db: Db, userId: string, step: number, now: Date, confirm: boolean): Promise<boolean> {
  const r = await db
    .updateTable('users')
    .set({ totp_last_step: step, updated_at: now, ...(confirm ? { totp_confirmed_at: now } : {}) })
    .where('id', '=', userId)
    .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', String(step))]))
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

export async function replaceRecoveryCodes(db: Db, userId: string, hashes: string[]): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
    await trx.insertInto('recovery_codes').values(hashes.map((code_hash) => ({ user_id: userId, code_hash }))).execute();
  });
}

/** Uses one recovery code (once): true when it was the person's and unused. */
export async function useRecoveryCode(db: Db, userId: string, hash: string, now: Date): Promise<boolean> {
  const r = await db.updateTable('recovery_codes').set({ used_at: now }).where('user_id', '=', userId).where('code_hash', '=', hash).where('used_at', 'is', null).executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

export async function setPasswordHash(db: Db, userId: string, passwordHash: string, now: Date): Promise<void> {
  await db.updateTable('users').set({ password_hash: passwordHash, updated_at: now }).where('id', '=', userId).execute();
}

/**
 * The account disabled (status `disabled`: no sign-in, no session, in any practice), in one
 * statement so two operators cannot both "disable" it. The practices it belongs to (their ids,
 * for an audit row each); null when it was disabled already.
 */
export async function setAccountDisabled(db: Db, userId: string, now: Date): Promise<string[] | null> {
  const r = await db.updateTable('users').set({ status: 'disabled', updated_at: now }).where('id', '=', userId).where('status', '<>', 'disabled').executeTakeFirst();
  if (r.numUpdatedRows === 0n) return null;
  const rows = await db.selectFrom('memberships').select('practice_id').where('user_id', '=', userId).orderBy('practice_id').execute();
  return rows.map((m) => m.practice_id);
}

/** How many practices besides `practiceId` the person belongs to (an admin may not reset a password another practice relies on). */
export async function otherPracticeCount(db: Db, userId: string, practiceId: string): Promise<number> {
  const r = await db.selectFrom('memberships').select((eb) => eb.fn.countAll<string>().as('n')).where('user_id', '=', userId).where('practice_id', '<>', practiceId).executeTakeFirstOrThrow();
  return Number(r.n);
}

// --- invitations ------------------------------------------------------------------------------

export interface InvitationRow {
  id: string;
  practiceId: string;
  email: string;
  role: MemberRole;
  providerId: string | null;
  expiresAt: Date;
  acceptedAt: Date | null;
  createdAt: Date;
  /** The inviting practice's name and slug: what the accept page shows, and where its single sign-on starts. */
  practiceName: string;
  practiceSlug: string;
}

export async function createInvitation(
  scope: PracticeScope,
  input: { tokenHash: string; email: string; role: MemberRole; providerId: string | null; invitedBy: string; createdAt: Date; expiresAt: Date },
): Promise<{ id: string }> {
  return scope.db
    .insertInto('invitations')
    .values({ practice_id: scope.practiceId, token_hash: input.tokenHash, email: normaliseEmail(input.email), role: input.role, provider_id: input.providerId, invited_by: input.invitedBy, created_at: input.createdAt, expires_at: input.expiresAt })
    .returning('id')
    .executeTakeFirstOrThrow();
}

/** Whether a provider id is one of the scope's practice's providers. */
export async function providerInPractice(scope: PracticeScope, providerId: string): Promise<boolean> {
  const r = await scope.db.selectFrom('providers').select('id').where('id', '=', providerId).where('practice_id', '=', scope.practiceId).executeTakeFirst();
  return r !== undefined;
}

/** An invitation found by its token (which practice it is for is what the lookup finds: the system pool). */
export async function findInvitationByTokenHash(db: Db, tokenHash: string): Promise<InvitationRow | null> {
  const r = await db
    .selectFrom('invitations')
    .innerJoin('practices', 'practices.id', 'invitations.practice_id')
    .select(['invitations.id', 'invitations.practice_id', 'invitations.email', 'invitations.role', 'invitations.provider_id', 'invitations.expires_at', 'invitations.accepted_at', 'invitations.created_at', 'practices.name', 'practices.slug'])
    .where('token_hash', '=', tokenHash)
    .where('practices.suspended_at', 'is', null)
    .executeTakeFirst();
  return r ? { id: r.id, practiceId: r.practice_id, email: r.email, role: r.role, providerId: r.provider_id, expiresAt: r.expires_at, acceptedAt: r.accepted_at, createdAt: r.created_at, practiceName: r.name, practiceSlug: r.slug } : null;
}

/**
 * Accepts an invitation in one transaction: a new person (with `passwordHash`, null for one who
 * joins through single sign-on) or an existing one (`existingUserId`), the membership, the
 * provider's link, the invitation spent. Null when it was spent meanwhile, or when an admin disabled the person's membership after it was made
 * (an older invitation never reinstates a disabled membership; a new one may).
 */
export async function acceptInvitationRows(
  db: Db,
  inv: InvitationRow,
  who: { existingUserId: string } | { email: string; displayName: string; passwordHash: string | null },
  now: Date,
): Promise<{ userId: string; created: boolean } | null> {
  return db.transaction().execute(async (trx) => {
    const spent = await trx.updateTable('invitations').set({ accepted_at: now }).where('id', '=', inv.id).where('accepted_at', 'is', null).executeTakeFirst();
    if (spent.numUpdatedRows === 0n) return null;
    if ('existingUserId' in who) {
      const m = await trx.selectFrom('memberships').select('disabled_at').where('user_id', '=', who.existingUserId).where('practice_id', '=', inv.practiceId).forUpdate().executeTakeFirst();
      if (m?.disabled_at && m.disabled_at.getTime() >= inv.createdAt.getTime()) return null;
    }
    let userId: string;
    let created = false;
    if ('existingUserId' in who) userId = who.existingUserId;
    else {
      const row = await trx.insertInto('users').values({ email: normaliseEmail(who.email), display_name: who.displayName, password_hash: who.passwordHash }).returning('id').executeTakeFirstOrThrow();
      userId = row.id;
      created = true;
    }
    await trx
      .insertInto('memberships')
      .values({ user_id: userId, practice_id: inv.practiceId, role: inv.role })
      .onConflict((oc) => oc.columns(['user_id', 'practice_id']).doUpdateSet({ role: inv.role, disabled_at: null, updated_at: now }))
      .execute();
    await trx.updateTable('invitations').set({ accepted_user_id: userId }).where('id', '=', inv.id).execute();
    if (inv.providerId) await trx.updateTable('providers').set({ user_id: userId }).where('id', '=', inv.providerId).where('practice_id', '=', inv.practiceId).execute();
    return { userId, created };
  });
}

/** Whether the practice has an invitation for this e-mail not yet accepted (the demo seed's question). */
export async function pendingInvitationFor(db: Db, practiceId: string, email: string, now: Date): Promise<boolean> {
  const r = await db.selectFrom('invitations').select('id').where('practice_id', '=', practiceId).where('email', '=', normaliseEmail(email)).where('accepted_at', 'is', null).where('expires_at', '>', now).executeTakeFirst();
  return r !== undefined;
}

export async function hasMember(db: Db, practiceId: string, email: string): Promise<boolean> {
  const r = await db.selectFrom('memberships').innerJoin('users', 'users.id', 'memberships.user_id').select('users.id').where('memberships.practice_id', '=', practiceId).where('users.email', '=', normaliseEmail(email)).executeTakeFirst();
  return r !== undefined;
}

/** Ends the practice's pending invitations for an e-mail (a new one replaces them). */
export async function expirePendingInvitations(db: Db, practiceId: string, email: string, now: Date): Promise<void> {
  await db.updateTable('invitations').set({ expires_at: now }).where('practice_id', '=', practiceId).where('email', '=', normaliseEmail(email)).where('accepted_at', 'is', null).where('expires_at', '>', now).execute();
}

/** A system-pool invitation (the demo seed's, for its first admin). */
export async function createInvitationAsSystem(db: Db, input: { practiceId: string; tokenHash: string; email: string; role: MemberRole; invitedBy: string; expiresAt: Date }): Promise<void> {
  await db.insertInto('invitations').values({ practice_id: input.practiceId, token_hash: input.tokenHash, email: normaliseEmail(input.email), role: input.role, provider_id: null, invited_by: input.invitedBy, expires_at: input.expiresAt }).execute();
}

// --- a practice's people (through the scope) -------------------------------------------------

export interface Member {
  userId: string;
  email: string;
  displayName: string;
  role: MemberRole;
  status: 'active' | 'disabled';
  totpEnabled: boolean;
  createdAt: string;
}

interface MemberRow {
  user_id: string;
  email: string;
  display_name: string;
  user_status: string;
  role: MemberRole;
  disabled_at: Date | null;
  totp_enabled: boolean;
  created_at: Date;
}

const toMember = (r: MemberRow): Member => ({
  userId: r.user_id,
  email: r.email,
  displayName: r.display_name,
  role: r.role,
  status: r.disabled_at === null && r.user_status === 'active' ? 'active' : 'disabled',
  totpEnabled: r.totp_enabled,
  createdAt: r.created_at.toISOString(),
});

export async function listMembers(scope: PracticeScope): Promise<Member[]> {
  const r = await sql<MemberRow>`SELECT * FROM ahl_practice_members() ORDER BY created_at, user_id`.execute(scope.db);
  return r.rows.map(toMember);
}

export async function getMember(scope: PracticeScope, userId: string): Promise<Member | null> {
  const r = await sql<MemberRow>`SELECT * FROM ahl_practice_members() WHERE user_id = ${userId}`.execute(scope.db);
  return r.rows[0] ? toMember(r.rows[0]) : null;
}

export type MemberChange = 'done' | 'not_found' | 'last_admin';

/** Whether, `userId` aside, the practice keeps an active admin (one whose membership and account are active). */
async function otherActiveAdmin(db: Db, userId: string): Promise<boolean> {
  const r = await sql<{ one: number }>`SELECT 1 AS one FROM ahl_practice_members() WHERE user_id <> ${userId} AND role = 'admin' AND disabled_at IS NULL AND user_status = 'active' LIMIT 1`.execute(db);
  return r.rows.length > 0;
}

/**
 * A new role for a member, or their membership disabled (the account itself stays: other
 * practices may rely on it). Refused (`last_admin`) when it would leave the practice with no
 * active admin; the practice's admin changes are serialised (an advisory lock), so two admins
 * demoting each other at once cannot both pass.
 */
async function changeMember(scope: PracticeScope, userId: string, change: { role: MemberRole } | { disable: true }, now: Date): Promise<MemberChange> {
  return scope.db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtext(${`practice_admins:${scope.practiceId}`}))`.execute(trx);
    const m = await trx.selectFrom('memberships').select(['role', 'disabled_at']).where('practice_id', '=', scope.practiceId).where('user_id', '=', userId).executeTakeFirst();
    if (!m) return 'not_found';
    const losesAdmin = m.role === 'admin' && m.disabled_at === null && ('disable' in change || change.role !== 'admin');
    if (losesAdmin && !(await otherActiveAdmin(trx, userId))) return 'last_admin';
    const update = trx.updateTable('memberships').where('practice_id', '=', scope.practiceId).where('user_id', '=', userId);
    if ('disable' in change) await update.set({ disabled_at: now, updated_at: now }).where('disabled_at', 'is', null).execute();
    else await update.set({ role: change.role, updated_at: now }).execute();
    return 'done';
  });
}

export async function setMemberRole(scope: PracticeScope, userId: string, role: MemberRole, now: Date): Promise<MemberChange> {
  return changeMember(scope, userId, { role }, now);
}

export async function disableMember(scope: PracticeScope, userId: string, now: Date): Promise<MemberChange> {
  return changeMember(scope, userId, { disable: true }, now);
}

// --- a practice's pending invitations (through the scope) --------------------------------------

export interface PendingInvitation {
  invitationId: string;
  email: string;
  role: MemberRole;
  providerId: string | null;
  invitedBy: string;
  createdAt: string;
  expiresAt: string;
}

/** The practice's invitations neither accepted, expired nor revoked; newest first. */
export async function listPendingInvitations(scope: PracticeScope, now: Date): Promise<PendingInvitation[]> {
  const rows = await scope.db
    .selectFrom('invitations')
    .select(['id', 'email', 'role', 'provider_id', 'invited_by', 'created_at', 'expires_at'])
    .where('practice_id', '=', scope.practiceId)
    .where('accepted_at', 'is', null)
    .where('expires_at', '>', now)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ invitationId: r.id, email: r.email, role: r.role, providerId: r.provider_id, invitedBy: r.invited_by, createdAt: r.created_at.toISOString(), expiresAt: r.expires_at.toISOString() }));
}

/** Revokes a pending invitation (its link ends now): false when it is not the practice's or not pending. */
export async function revokeInvitation(scope: PracticeScope, invitationId: string, now: Date): Promise<boolean> {
  const r = await scope.db.updateTable('invitations').set({ expires_at: now }).where('id', '=', invitationId).where('practice_id', '=', scope.practiceId).where('accepted_at', 'is', null).where('expires_at', '>', now).executeTakeFirst();
  return r.numUpdatedRows > 0n;
}
