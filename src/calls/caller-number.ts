import { decryptFieldCached, encryptFieldCached, type EncryptionContext, type Keyring } from '../adapters/keyring.js';

/**
 * The caller's number on the call record: sealed by envelope encryption with the practice in the
 * encryption context (ids only: the context is stored in clear), so a sealed number copied to
 * another practice does not open. Its blind index (`calls.from_index`) is what the service looks
 * numbers up by; this is what staff call back.
 *
 * Why the context no longer names the call: sealing is on the first webhook's path, and a context
 * naming the CallSid is different for every call, so no data key could be reused: one keyring
 * (KMS) request per call, which halved the webhook's throughput. With `{ practiceId, purpose }`
 * the data key is cached (src/adapters/keyring.ts FIELD_KEY_CACHE: 5 minutes, 1,000 numbers).
 * What that gives up: the ciphertext itself no longer says which call it belongs to, so a sealed
 * number copied from one call row to another of the same practice would open there. The row binds
 * it instead: the ciphertext is only ever stored in, and read from, its own call's row (keyed by
 * the CallSid, held to the practice by row-level security), and moving it takes write access to
 * the table, which already allows far worse. Rows sealed before (context `{ table, field, call,
 * practice }`) still open, checked against that context.
 */

function callerContext(practiceId: string): EncryptionContext {
  return { practiceId, purpose: 'caller_number' };
}

/** The context numbers were sealed under before data-key caching (still accepted on read). */
function legacyCallerContext(callSid: string, practiceId: string): EncryptionContext {
  return { table: 'calls', field: 'from', call: callSid, practice: practiceId };
}

export function sealCallerNumber(k: Keyring, e164: string, practiceId: string): Promise<Buffer> {
  return encryptFieldCached(k, e164, callerContext(practiceId));
}

export function openCallerNumber(k: Keyring, sealed: Buffer, callSid: string, practiceId: string): Promise<string> {
  return decryptFieldCached(k, sealed, [callerContext(practiceId), legacyCallerContext(callSid, practiceId)]);
}
