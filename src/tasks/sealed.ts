import { decryptField, encryptField, type Keyring } from '../adapters/keyring.js';

/**
 * What a callback task keeps sealed (envelope encryption, ids only in the context: the table,
 * the field, the task or attempt, the practice): the number to call back and staff's notes.
 * A value copied to another task or practice does not open.
 */

export type TaskField = 'callback' | 'close_note' | 'attempt_note';

function context(field: TaskField, ownerId: string, practiceId: string): Record<string, string> {
  return { table: field === 'attempt_note' ? 'callback_task_attempts' : 'callback_tasks', field, id: ownerId, practice: practiceId };
}

export function sealTaskField(k: Keyring, field: TaskField, value: string, ownerId: string, practiceId: string): Promise<Buffer> {
  return encryptField(k, value, context(field, ownerId, practiceId), 'unsigned');
}

export function openTaskField(k: Keyring, field: TaskField, sealed: Buffer, ownerId: string, practiceId: string): Promise<string> {
  return decryptField(k, sealed, context(field, ownerId, practiceId));
}
