import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../adapters/postgres.js';
import type { ApiRole } from '../adapters/db-schema.js';

export const API_ROLES = ['admin', 'staff', 'provider', 'auditor'] as const satisfies readonly ApiRole[];
export type { ApiRole };

const KEY_PREFIX = 'ahl_';
const KEY_PATTERN = /^ahl_[A-Za-z0-9_-]{43}$/;

export interface ApiPrincipal {
  keyId: string;
  role: ApiRole;
  practiceId: string;
}

/** 256 random bits. Shown once; only the SHA-256 is stored (a high-entropy key needs no slow hash). */
export function generateApiKey(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export async function createApiKey(
  db: Db,
  input: { role: ApiRole; practiceId: string; label?: string },
): Promise<{ id: string; key: string }> {
  const key = generateApiKey();
  const row = await db
    .insertInto('api_keys')
    .values({ key_hash: hashApiKey(key), role: input.role, practice_id: input.practiceId, label: input.label ?? null })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id: row.id, key };
}

/** Looks a presented key up by its hash (an equality match on a digest leaks nothing useful by timing). */
export async function authenticateApiKey(db: Db, presented: string): Promise<ApiPrincipal | null> {
  if (!KEY_PATTERN.test(presented)) return null;
  const row = await db
    .selectFrom('api_keys')
    .select(['id', 'role', 'practice_id'])
    .where('key_hash', '=', hashApiKey(presented))
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return row ? { keyId: row.id, role: row.role, practiceId: row.practice_id } : null;
}

/** Pure: may this principal act on this practice with one of these roles? */
export function authorise(
  principal: ApiPrincipal,
  allowed: readonly ApiRole[],
  practiceId: string | null,
): { ok: true } | { ok: false; reason: 'role' | 'practice' } {
  if (!allowed.includes(principal.role)) return { ok: false, reason: 'role' };
  if (practiceId !== null && practiceId !== principal.practiceId) return { ok: false, reason: 'practice' };
  return { ok: true };
}
