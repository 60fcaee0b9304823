import { decryptField, encryptField, type Keyring } from '../adapters/keyring.js';

/**
 * The caller's number on the call record: sealed by envelope encryption, with the table, the
 * call and the practice in the encryption context (ids only: the context is stored in clear),
 * so a sealed number copied to another call or practice does not open. Its blind index
 * (`calls.from_index`) is what the service looks numbers up by; this is what staff call back.
 */

function callerContext(callSid: string, practiceId: string): Record<string, string> {
  return { table: 'calls', field: 'from', call: callSid, practice: practiceId };
}

export function sealCallerNumber(k: Keyring, e164: string, callSid: string, practiceId: string): Promise<Buffer> {
  return encryptField(k, e164, callerContext(callSid, practiceId), 'unsigned');
}

export function openCallerNumber(k: Keyring, sealed: Buffer, callSid: string, practiceId: string): Promise<string> {
  return decryptField(k, sealed, callerContext(callSid, practiceId));
}

/**
 * The number as an auditor sees it: the country code and the last four digits ("+1******0123"),
 * enough to tell calls apart without revealing who called. Shorter numbers keep only the last two.
 */
export function maskCallerNumber(e164: string): string {
  const keep = e164.length > 8 ? 4 : 2;
  const prefix = e164.startsWith('+1') ? '+1' : '+';
  const hidden = e164.length - prefix.length - keep;
  return `${prefix}${'*'.repeat(Math.max(hidden, 0))}${e164.slice(-keep)}`;
}
