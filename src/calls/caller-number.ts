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
