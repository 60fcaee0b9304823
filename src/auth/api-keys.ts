import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../adapters/postgres.js';
import type { ApiKeyRole, ApiRole } from '../adapters/db-schema.js';
import type { PracticeScope } from '../tenancy/scope.js';

/** A practice's roles: every key with one of them belongs to exactly one practice. */
export const API_ROLES = ['admin', 'staff', 'provider', 'auditor'] as const satisfies readonly ApiRole[];
/** The platform role: a key with no practice that creates, lists, suspends and reactivates practices, and reads no practice's data. */
export const OPERATOR_ROLE = 'operator' as const satisfies ApiKeyRole;
export type { ApiKeyRole, ApiRole };

export const KEY_STATUSES = ['active', 'expired', 'revoked'] as const;
export type KeyStatus = (typeof KEY_STATUSES)[number];

const KEY_PREFIX = 'ahl_';
const KEY_PATTERN = /^ahl_[A-Za-z0-9_-]{43}$/;

/** A practice's key: what every practice-data route deals with. */
export interface ApiPrincipal {
  keyId: string;
  role: ApiRole;
  practiceId: string;
}

/** The platform operator's key: no practice; only the platform routes (src/http/platform-routes.ts) accept it. */
export interface OperatorPrincipal {
  keyId: string;
  role: typeof OPERATOR_ROLE;
  practiceId: null;
}

/** Whoever a valid key names. */
export type KeyPrincipal = ApiPrincipal | OperatorPrincipal;

export function isOperator(principal: KeyPrincipal | { role: ApiKeyRole }): principal is OperatorPrincipal {
  return principal.role === OPERATOR_ROLE;
}

/** What a new key is for: a practice's role and its practice, or the operator role and none (the table's CHECK agrees). */
export type KeyOwner = { role: ApiRole; practiceId: string } | { role: typeof OPERATOR_ROLE; practiceId: null };

/** 256 random bits. Shown once; only the SHA-256 is stored (a high-entropy key needs no slow hash). */
export function generateApiKey(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export async function createApiKey(
  db: Db,
  input: KeyOwner & { label?: string; expiresAt?: Date | null; now?: Date },
): Promise<{ id: string; key: string }> {
  const key = generateApiKey();
  const row = await db
    .insertInto('api_keys')
    .values({
      key_hash: hashApiKey(key),
      role: input.role,
      practice_id: input.practiceId,
      label: input.label ?? null,
      expires_at: input.expiresAt ?? null,
      ...(input.now ? { created_at: input.now } : {}),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id: row.id, key };
}

/** Why a presented key was refused (audited; the caller only ever hears 401). */
export type KeyRefusal = 'invalid_key' | 'revoked_key' | 'expired_key';

export type KeyCheck =
  | { ok: true; principal: KeyPrincipal; lastUsedAt: Date | null; /** The key's practice is suspended (its key gets 403). */ practiceSuspended: boolean }
  | { ok: false; reason: KeyRefusal };

/** Pure: the principal a stored key names; null for a row the table's CHECK would never hold (a practice role without a practice). */
function principalOfRow(row: { id: string; role: ApiKeyRole; practice_id: string | null }): KeyPrincipal | null {
  if (row.role === OPERATOR_ROLE) return { keyId: row.id, role: row.role, practiceId: null };
  return row.practice_id === null ? null : { keyId: row.id, role: row.role, practiceId: row.practice_id };
}

/**
 * Pure: may a stored key authenticate a request at `now`? A revoked key never does; a key with
 * an expiry does until that instant (exclusive).
 */
export function keyState(row: { revoked_at: Date | null; expires_at: Date | null }, now: Date): KeyStatus {
  if (row.revoked_at !== null) return 'revoked';
  if (row.expires_at !== null && row.expires_at.getTime() <= now.getTime()) return 'expired';
  return 'active';
}

/** Looks a presented key up by its hash (an equality match on a digest leaks nothing useful by timing). */
export async function checkApiKey(db: Db, presented: string, now: Date): Promise<KeyCheck> {
  if (!KEY_PATTERN.test(presented)) return { ok: false, reason: 'invalid_key' };
  const row = await db
    .selectFrom('api_keys')
    .leftJoin('practices', 'practices.id', 'api_keys.practice_id')
    .select(['api_keys.id', 'api_keys.role', 'api_keys.practice_id', 'api_keys.revoked_at', 'api_keys.expires_at', 'api_keys.last_used_at', 'practices.suspended_at'])
    .where('key_hash', '=', hashApiKey(presented))
    .executeTakeFirst();
  const principal = row ? principalOfRow(row) : null;
  if (!row || !principal) return { ok: false, reason: 'invalid_key' };
  const state = keyState(row, now);
  if (state === 'revoked') return { ok: false, reason: 'revoked_key' };
  if (state === 'expired') return { ok: false, reason: 'expired_key' };
  return { ok: true, principal, lastUsedAt: row.last_used_at, practiceSuspended: row.suspended_at !== null };
}

/** Pure: may this principal act on this practice with one of these roles? An operator key never may: it reads no practice's data. */
export function authorise(
  principal: { role: ApiKeyRole; practiceId: string | null },
  allowed: readonly ApiRole[],
  practiceId: string | null,
): { ok: true } | { ok: false; reason: 'role' | 'practice' } {
  if (principal.role === OPERATOR_ROLE || !allowed.includes(principal.role)) return { ok: false, reason: 'role' };
  if (practiceId !== null && practiceId !== principal.practiceId) return { ok: false, reason: 'practice' };
  return { ok: true };
}

/** last_used_at is written at most this often per key. */
export const LAST_USED_RESOLUTION_MS = 60_000;

/** Pure: should a request at `now` record itself as the key's last use? */
export function lastUsedIsStale(lastUsedAt: Date | null, now: Date): boolean {
  return lastUsedAt === null || now.getTime() - lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS;
}

/**
 * Records a key's use at `now`, at most once a minute: the caller skips it while the value it
 * read is fresh, and the WHERE clause keeps concurrent requests from writing it twice.
 */
export async function touchApiKey(db: Db, keyId: string, now: Date): Promise<boolean> {
  const cutoff = new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
  const result = await db
    .updateTable('api_keys')
    .set({ last_used_at: now })
    .where('id', '=', keyId)
    .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<=', cutoff)]))
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** A key as shown to admins: never the key, never its hash. */
export interface ApiKeySummary {
  id: string;
  role: ApiKeyRole;
  label: string | null;
  status: KeyStatus;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** The scope's practice's keys, newest first, with their state at `now`. */
export async function listApiKeys(scope: PracticeScope, now: Date): Promise<ApiKeySummary[]> {
  const rows = await scope.db
    .selectFrom('api_keys')
    .select(['id', 'role', 'label', 'created_at', 'expires_at', 'last_used_at', 'revoked_at'])
    .where('practice_id', '=', scope.practiceId)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    role: r.role,
    label: r.label,
    status: keyState(r, now),
    createdAt: r.created_at.toISOString(),
    expiresAt: r.expires_at?.toISOString() ?? null,
    lastUsedAt: r.last_used_at?.toISOString() ?? null,
    revokedAt: r.revoked_at?.toISOString() ?? null,
  }));
}

export type RevokeResult =
  | { result: 'revoked'; key: ApiKeySummary; practiceId: string | null }
  | { result: 'already_revoked'; key: ApiKeySummary; practiceId: string | null }
  | { result: 'not_found' };

/**
 * Revokes one of the scope's practice's keys at `now` (for good: a revoked key is never valid
 * again); an unknown id and another practice's key are both `not_found`.
 */
export async function revokeApiKey(scope: PracticeScope, input: { keyId: string; now: Date }): Promise<RevokeResult> {
  return revokeKey(scope.db, { ...input, practiceId: scope.practiceId });
}

/** The command line's revoke (`npm run keys:revoke -- --key <id>`): any practice's key, found by its id alone. */
export async function revokeAnyApiKey(db: Db, input: { keyId: string; now: Date }): Promise<RevokeResult> {
  return revokeKey(db, input);
}

async function revokeKey(db: Db, input: { keyId: string; practiceId?: string; now: Date }): Promise<RevokeResult> {
  return db.transaction().execute(async (trx) => {
    let q = trx.selectFrom('api_keys').select(['id', 'role', 'label', 'practice_id', 'created_at', 'expires_at', 'last_used_at', 'revoked_at']).where('id', '=', input.keyId);
    if (input.practiceId !== undefined) q = q.where('practice_id', '=', input.practiceId);
    const row = await q.forUpdate().executeTakeFirst();
    if (!row) return { result: 'not_found' } as const;
    const already = row.revoked_at !== null;
    const revokedAt = row.revoked_at ?? input.now;
    if (!already) await trx.updateTable('api_keys').set({ revoked_at: revokedAt }).where('id', '=', row.id).where('practice_id', '=', row.practice_id).execute();
    const key: ApiKeySummary = {
      id: row.id,
      role: row.role,
      label: row.label,
      status: 'revoked',
      createdAt: row.created_at.toISOString(),
      expiresAt: row.expires_at?.toISOString() ?? null,
      lastUsedAt: row.last_used_at?.toISOString() ?? null,
      revokedAt: revokedAt.toISOString(),
    };
    return { result: already ? 'already_revoked' : 'revoked', key, practiceId: row.practice_id } as const;
  });
}

const EXPIRY_UNITS_MS = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: 365 * 86_400_000 } as const;
/** The longest expiry a key may be given: five years. */
export const MAX_KEY_LIFETIME_MS = 5 * EXPIRY_UNITS_MS.y;
export const DEFAULT_KEY_LIFETIME = '1y';

/**
 * Pure: `--expires-in` (`12h`, `90d`, `6w`, `1y`, or `none`) as milliseconds, `null` for a key
 * that never expires, or an error message. At most five years.
 */
export function parseExpiresIn(text: string): { ok: true; ms: number | null } | { ok: false; message: string } {
  if (text === 'none') return { ok: true, ms: null };
  const m = /^([1-9]\d{0,4})([hdwy])$/.exec(text);
  if (!m) return { ok: false, message: 'expected a number and a unit (h, d, w or y), such as 90d or 1y, or none' };
  const ms = Number(m[1]) * EXPIRY_UNITS_MS[m[2] as keyof typeof EXPIRY_UNITS_MS];
  if (ms > MAX_KEY_LIFETIME_MS) return { ok: false, message: 'expected at most 5y' };
  return { ok: true, ms };
}
