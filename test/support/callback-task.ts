import { randomUUID } from 'node:crypto';
import type { CallReason } from '../../src/adapters/db-schema.js';
import { sealTaskField } from '../../src/tasks/sealed.js';
import { asOwner, type Harness } from './harness.js';

/**
 * An open callback task with the patient's number sealed, as the voicemail job's task intake
 * leaves one: for tests of what staff do with a task (call the patient back), not of how it was
 * made. Written as the tables' owner, as the intake's own transaction would; its id.
 */
export async function openTaskWithNumber(h: Pick<Harness, 'services'>, practiceId: string, task: { callback: string; reason: CallReason; urgency: 'urgent' | 'routine'; dueAt: Date }): Promise<string> {
  const id = randomUUID();
  const callbackEnc = await sealTaskField(h.services.keyring, 'callback', task.callback, id, practiceId);
  await asOwner(
    h.services.db,
    h.services.db.insertInto('callback_tasks').values({ id, practice_id: practiceId, source: 'voicemail', source_id: randomUUID(), call_sid: null, reason: task.reason, urgency: task.urgency, callback_enc: callbackEnc, callback_index: null, patient_id: null, match: 'unknown', due_at: task.dueAt }),
  );
  return id;
}
