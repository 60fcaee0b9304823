import { sql } from 'kysely';
import type { Db } from '../adapters/postgres.js';
import { decryptField, encryptField, type Keyring } from '../adapters/keyring.js';
import type { PracticeScope } from '../tenancy/scope.js';

/**
 * A practice's single sign-on (`practice_sso`, migration 0024). An admin's routes read and write
 * it through the practice's scope; the sign-in, which learns the practice from the `?practice=`
 * slug before anyone is known, reads it on the system pool (as an invitation is found by its
 * token). The client secret goes in encrypted and comes out only to exchange a code.
 */

export interface SsoInput {
  issuer: string;
  clientId: string;
  clientSecret: string;
  allowedDomains: string[];
  ssoSatisfiesMfa: boolean;
  enabled: boolean;
}

/** What the API shows: never the secret. */
export interface SsoView {
  practiceId: string;
  issuer: string;
  clientId: string;
  allowedDomains: string[];
  ssoSatisfiesMfa: boolean;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

/** What a sign-in needs: the view, the secret, and the practice's state. */
export interface SsoForSignIn extends SsoView {
  clientSecret: string;
  practiceSuspended: boolean;
}

const secretContext = (practiceId: string): Record<string, string> => ({ table: 'practice_sso', field: 'client_secret', practice: practiceId });

const VIEW_COLUMNS = ['practice_id', 'issuer', 'client_id', 'allowed_domains', 'sso_satisfies_mfa', 'enabled', 'created_at', 'updated_at'] as const;

type ViewRow = { practice_id: string; issuer: string; client_id: string; allowed_domains: string[]; sso_satisfies_mfa: boolean; enabled: boolean; created_at: Date; updated_at: Date };

const toView = (r: ViewRow): SsoView => ({
  practiceId: r.practice_id,
  issuer: r.issuer,
  clientId: r.client_id,
  allowedDomains: r.allowed_domains,
  ssoSatisfiesMfa: r.sso_satisfies_mfa,
  enabled: r.enabled,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

export async function putSso(scope: PracticeScope, keyring: Keyring, input: SsoInput, now: Date): Promise<{ change: 'created' | 'updated'; sso: SsoView }> {
  const values = {
    issuer: input.issuer,
    client_id: input.clientId,
    client_secret_enc: await encryptField(keyring, input.clientSecret, secretContext(scope.practiceId)),
    allowed_domains: input.allowedDomains,
    sso_satisfies_mfa: input.ssoSatisfiesMfa,
    enabled: input.enabled,
    updated_at: now,
  };
  const row = await scope.db
    .insertInto('practice_sso')
    .values({ practice_id: scope.practiceId, ...values, created_at: now })
    .onConflict((oc) => oc.column('practice_id').doUpdateSet(values))
    .returning([...VIEW_COLUMNS, sql<boolean>`(xmax = 0)`.as('inserted')])
    .executeTakeFirstOrThrow();
  return { change: row.inserted ? 'created' : 'updated', sso: toView(row) };
}

export async function getSso(scope: PracticeScope): Promise<SsoView | null> {
  const row = await scope.db.selectFrom('practice_sso').select(VIEW_COLUMNS).where('practice_id', '=', scope.practiceId).executeTakeFirst();
  return row ? toView(row) : null;
}

export async function deleteSso(scope: PracticeScope): Promise<boolean> {
  const r = await scope.db.deleteFrom('practice_sso').where('practice_id', '=', scope.practiceId).executeTakeFirst();
  return r.numDeletedRows > 0n;
}

/** The practice a sign-in's slug names, with its single sign-on (secret decrypted); null when it has none. */
export async function ssoBySlug(db: Db, keyring: Keyring, slug: string): Promise<SsoForSignIn | null> {
  const row = await db
    .selectFrom('practice_sso')
    .innerJoin('practices', 'practices.id', 'practice_sso.practice_id')
    .select(['practice_sso.practice_id', 'issuer', 'client_id', 'client_secret_enc', 'allowed_domains', 'sso_satisfies_mfa', 'enabled', 'practice_sso.created_at', 'practice_sso.updated_at', 'practices.suspended_at'])
    .where('practices.slug', '=', slug)
    .executeTakeFirst();
  return row ? withSecret(keyring, row) : null;
}

/** The same by practice id (the callback, which knows the practice from its stored flow). */
export async function ssoByPracticeId(db: Db, keyring: Keyring, practiceId: string): Promise<SsoForSignIn | null> {
  const row = await db
    .selectFrom('practice_sso')
    .innerJoin('practices', 'practices.id', 'practice_sso.practice_id')
    .select(['practice_sso.practice_id', 'issuer', 'client_id', 'client_secret_enc', 'allowed_domains', 'sso_satisfies_mfa', 'enabled', 'practice_sso.created_at', 'practice_sso.updated_at', 'practices.suspended_at'])
    .where('practice_sso.practice_id', '=', practiceId)
    .executeTakeFirst();
  return row ? withSecret(keyring, row) : null;
}

async function withSecret(keyring: Keyring, row: ViewRow & { client_secret_enc: Buffer; suspended_at: Date | null }): Promise<SsoForSignIn> {
  return { ...toView(row), clientSecret: await decryptField(keyring, row.client_secret_enc, secretContext(row.practice_id)), practiceSuspended: row.suspended_at !== null };
}

/** Pure: whether an e-mail's domain is one of the practice's allowed ones (what a single sign-on requires of the provider's e-mail). */
export function emailDomainAllowed(email: string, allowedDomains: readonly string[]): boolean {
  const normal = email.trim().toLowerCase();
  return allowedDomains.includes(normal.slice(normal.lastIndexOf('@') + 1));
}

/**
 * Whether the person invited with this e-mail could sign in to the practice through its single
 * sign-on: one configured and enabled, the practice not suspended, the e-mail's domain allowed.
 * System pool: an invitation's token, the only credential, names the practice.
 */
export async function ssoOpenTo(db: Db, practiceId: string, email: string): Promise<boolean> {
  const row = await db
    .selectFrom('practice_sso')
    .innerJoin('practices', 'practices.id', 'practice_sso.practice_id')
    .select(['enabled', 'allowed_domains', 'practices.suspended_at'])
    .where('practice_sso.practice_id', '=', practiceId)
    .executeTakeFirst();
  return row !== undefined && row.enabled && row.suspended_at === null && emailDomainAllowed(email, row.allowed_domains);
}

/** The person a provider's subject was bound to in this practice, or null (system pool: no one is known yet). */
export async function userBySubject(db: Db, practiceId: string, issuer: string, subject: string): Promise<string | null> {
  const row = await db.selectFrom('sso_identities').select('user_id').where('practice_id', '=', practiceId).where('issuer', '=', issuer).where('subject', '=', subject).executeTakeFirst();
  return row?.user_id ?? null;
}

/** Whether this person is bound to some subject of this provider in this practice already. */
export async function hasBoundSubject(db: Db, practiceId: string, issuer: string, userId: string): Promise<boolean> {
  const row = await db.selectFrom('sso_identities').select('subject').where('practice_id', '=', practiceId).where('issuer', '=', issuer).where('user_id', '=', userId).executeTakeFirst();
  return row !== undefined;
}

/**
 * Binds the person to the subject at their first sign-in through the provider. False when a
 * concurrent first sign-in bound them (or the subject) first: the caller refuses rather than guess.
 */
export async function bindSubject(db: Db, practiceId: string, issuer: string, subject: string, userId: string, now: Date): Promise<boolean> {
  const inserted = await db.insertInto('sso_identities').values({ practice_id: practiceId, issuer, subject, user_id: userId, created_at: now }).onConflict((oc) => oc.doNothing()).returning('user_id').executeTakeFirst();
  return inserted !== undefined;
}
