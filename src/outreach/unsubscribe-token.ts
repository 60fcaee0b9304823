import { hkdfSync } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';
import type { Keyring } from '../adapters/keyring.js';

/**
 * The token of a notice's unsubscribe link (`/u/<token>`): a JWT (HS256, `jose`) carrying ids
 * only: the practice's id and the address's blind index (an HMAC under the service's index key,
 * opaque without it), never the address. Valid for UNSUBSCRIBE_TOKEN_DAYS: a patient may click
 * weeks after the e-mail. The key is derived from the blind-index key (HKDF, its own label), so
 * no new secret is configured, and a token cannot be forged without that key.
 */

export const UNSUBSCRIBE_TOKEN_DAYS = 60;
const ISSUER = 'after-hours-line';
const AUDIENCE = 'email-unsubscribe';
/** The token's shape in a path: three base64url parts. */
export const UNSUBSCRIBE_TOKEN_PATTERN = /^[A-Za-z0-9_-]{10,400}\.[A-Za-z0-9_-]{10,400}\.[A-Za-z0-9_-]{20,100}$/;

const keys = new WeakMap<Keyring, Uint8Array>();

function signingKey(k: Keyring): Uint8Array {
  let key = keys.get(k);
  if (!key) {
    key = new Uint8Array(hkdfSync('sha256', k.indexKey, Buffer.alloc(0), 'ahl/email-unsubscribe/v1', 32));
    keys.set(k, key);
  }
  return key;
}

export interface UnsubscribeClaims {
  practiceId: string;
  /** The blind index of the address (src/patients/identifiers.ts `emailIndex`). */
  emailIndex: string;
}

export async function signUnsubscribeToken(k: Keyring, claims: UnsubscribeClaims, now: Date): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  return new SignJWT({ p: claims.practiceId, a: claims.emailIndex })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + UNSUBSCRIBE_TOKEN_DAYS * 86_400)
    .sign(signingKey(k));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const INDEX = /^[0-9a-f]{64}$/;

/** The claims of a valid token; `expired` for one past its time; null for anything else (never says why). */
export async function verifyUnsubscribeToken(k: Keyring, token: string, now: Date): Promise<UnsubscribeClaims | 'expired' | null> {
  if (!UNSUBSCRIBE_TOKEN_PATTERN.test(token)) return null;
  try {
    const { payload } = await jwtVerify(token, signingKey(k), { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE, currentDate: now, requiredClaims: ['exp', 'iat'] });
    const { p, a } = payload as { p?: unknown; a?: unknown };
    if (typeof p !== 'string' || !UUID.test(p) || typeof a !== 'string' || !INDEX.test(a)) return null;
    return { practiceId: p, emailIndex: a };
  } catch (err) {
    if (err instanceof errors.JWTExpired) return 'expired';
    return null;
  }
}

/** The link a notice carries. */
export function unsubscribeUrl(publicBaseUrl: string, token: string): string {
  return `${publicBaseUrl.replace(/\/+$/, '')}/u/${token}`;
}
