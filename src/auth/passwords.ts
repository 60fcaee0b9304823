import { readFileSync } from 'node:fs';
import { hash, verify, type Algorithm } from '@node-rs/argon2';

/**
 * Passwords (NIST SP 800-63B 5.1.1.2): at least 12 characters and at most 128, no composition
 * rules, never one of the commonly used values listed in ./common-passwords.txt; stored as
 * argon2id (OWASP's minimum: 19 MiB, 2 passes, 1 lane).
 */

export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 128;

/** `Algorithm.Argon2id` of @node-rs/argon2 (a `const enum`, which isolated modules cannot read). */
const ARGON2ID = 2 as Algorithm;
const OPTIONS = { algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

let common: ReadonlySet<string> | null = null;
function commonPasswords(): ReadonlySet<string> {
  common ??= new Set(
    readFileSync(new URL('./common-passwords.txt', import.meta.url), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#')),
  );
  return common;
}

export type PasswordProblem = 'too_short' | 'too_long' | 'common';

/** Pure but for the list: why a chosen password is refused, or null. Length in code points (a person's characters, not bytes). */
export function passwordProblem(password: string): PasswordProblem | null {
  const length = [...password].length;
  if (length < PASSWORD_MIN) return 'too_short';
  if (length > PASSWORD_MAX) return 'too_long';
  if (commonPasswords().has(password.toLowerCase())) return 'common';
  return null;
}

export const PASSWORD_MESSAGES: Record<PasswordProblem, string> = {
  too_short: `password: at least ${PASSWORD_MIN} characters`,
  too_long: `password: at most ${PASSWORD_MAX} characters`,
  common: 'password: this is a commonly used password; choose another',
};

export function hashPassword(password: string): Promise<string> {
  return hash(password.normalize('NFC'), OPTIONS);
}

/** A hash of nothing anyone knows, verified when the account is unknown, so both answers take as long. */
let dummy: Promise<string> | null = null;

/** Checks a password against a stored hash; with no hash (unknown account, no password set) still does the work, and says no. */
export async function checkPassword(stored: string | null, password: string): Promise<boolean> {
  dummy ??= hashPassword('not a password anyone has: timing only');
  const against = stored ?? (await dummy);
  try {
    const ok = await verify(against, password.normalize('NFC'));
    return stored !== null && ok;
  } catch {
    return false;
  }
}
