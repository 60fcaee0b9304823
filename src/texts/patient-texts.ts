import { randomUUID } from 'node:crypto';
import type { AppContext } from '../app-context.js';
import type { CallMatch } from '../adapters/db-schema.js';
import { decryptField, encryptField, type Keyring } from '../adapters/keyring.js';
import { AuditAction } from '../audit/events.js';
import { phoneIndex } from '../patients/store.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { createTaskFor } from '../tasks/create.js';
import { queueCallbackTask } from '../tasks/queue-task.js';
import { latestOutreachSms, markOutreachReplied, replyReason } from '../outreach/replies.js';
import { getPatientText, insertPatientText, linkPatientTextOutreachSend, linkPatientTextTask } from './store.js';

/**
 * A patient's text to a practice number, kept (issue 13, item 6): sealed and stored before
 * Twilio is answered, then handed on to become a callback task. The sender's number and the
 * text are envelope-encrypted with ids only in the encryption context (the table, the field, the
 * text's id, the practice), so a sealed value copied to another row does not open; the number is
 * found again only through its blind index. Nothing of either is logged or audited.
 */

function textContext(field: 'from' | 'body', textId: string, practiceId: string): Record<string, string> {
  return { table: 'patient_texts', field, text: textId, practice: practiceId };
}

export interface IncomingText {
  messageSid: string;
  /** The sender (E.164). */
  from: string;
  /** The text part ('' for media only). */
  body: string;
  mediaCount: number;
  receivedAt: Date;
  /** The outreach message it replied to (src/outreach/replies.ts): its task is then an outreach reply. */
  outreachSendId?: string | null;
}

export interface StoredText {
  id: string;
  /** False when a retry of the same MessageSid found it stored already. */
  created: boolean;
  match: CallMatch;
  patientId: string | null;
}

/** What making a text's task uses besides the practice's scope: the keyring (sealing, blind index) and the audit log. */
export type TextTaskDeps = Pick<AppContext, 'keyring' | 'audit'>;
/** What storing a text uses: those, and the queue its task's job goes on. */
export type RecordTextDeps = TextTaskDeps & Pick<AppContext, 'queues'>;

/**
 * Seals and stores a text (idempotent per MessageSid and practice), audits its arrival once and
 * queues its task's job (src/tasks/queue-task.ts, ids only). Returns the stored text's id. Throws
 * when it could not be stored: the webhook then does not answer 2xx.
 */
export async function recordPatientText(deps: RecordTextDeps, scope: PracticeScope, text: IncomingText): Promise<StoredText> {
  const id = randomUUID();
  const { practiceId } = scope;
  const [fromEnc, bodyEnc] = await Promise.all([
    encryptField(deps.keyring, text.from, textContext('from', id, practiceId), 'unsigned'),
    text.body === '' ? Promise.resolve(null) : encryptField(deps.keyring, text.body, textContext('body', id, practiceId), 'unsigned'),
  ]);
  const stored = await insertPatientText(scope, {
    id,
    messageSid: text.messageSid,
    fromIndex: phoneIndex(deps.keyring, text.from),
    fromEnc,
    bodyEnc,
    bodyChars: text.body.length,
    mediaCount: text.mediaCount,
    receivedAt: text.receivedAt,
    outreachSendId: text.outreachSendId ?? null,
  });
  if (stored.created) {
    await deps.audit({
      action: AuditAction.PatientTextReceived,
      actor: 'twilio',
      practiceId,
      subjectId: stored.id,
      details: { match: stored.match, mediaCount: text.mediaCount, withText: text.body !== '' },
    });
  }
  // The task is made after the answer: the job (one per text id; a retry queues nothing twice), or the task sweep if it is lost.
  await queueCallbackTask(deps, { source: 'patient_text', practiceId, sourceId: stored.id });
  return stored;
}

/**
 * A stored text becomes a callback task (routine, reason `other`: a text names no menu option),
 * linked back to the text. A reply to outreach is an `outreach_reply` task, its reason from the
 * message type it answered (an appointment reminder's: appointment), so staff see where it came from;
 * that message's ledger row is marked replied here (the text's time). Run after Twilio was answered, by the text's job or the task sweep
 * (`tasks/background.ts`), which makes the task of any text left without one; creation is
 * idempotent by (source, text id).
 */
export async function onPatientTextStored(
  deps: TextTaskDeps,
  scope: PracticeScope,
  text: StoredText & { receivedAt: Date; from: string; outreachSendId?: string | null },
): Promise<void> {
  // A reply to outreach: its ledger row marked replied here, not on the webhook (src/outreach/replies.ts).
  const known = text.outreachSendId
    ? await scope.db.selectFrom('outreach_sends').selectAll().where('practice_id', '=', scope.practiceId).where('id', '=', text.outreachSendId).executeTakeFirst()
    : await latestOutreachSms(scope, phoneIndex(deps.keyring, text.from), text.receivedAt);
  const answered = known ? await markOutreachReplied(deps, scope, known, text.receivedAt) : undefined;
  if (answered && !text.outreachSendId) await linkPatientTextOutreachSend(scope, text.id, answered.id);
  const { task } = await createTaskFor(deps, scope, {
    source: answered ? 'outreach_reply' : 'patient_text',
    sourceId: text.id,
    callSid: null,
    callbackNumber: text.from,
    patientId: text.patientId,
    match: text.match,
    reason: answered ? replyReason(answered.message_type) : 'other',
    urgency: 'routine',
    now: text.receivedAt,
  });
  await linkPatientTextTask(scope, text.id, task.id);
}

/** A stored text opened: its sender and its text (for the task view; never logged). Undefined when not the practice's. */
export async function openPatientText(keyring: Keyring, scope: PracticeScope, id: string): Promise<{ from: string; body: string; mediaCount: number } | undefined> {
  const row = await getPatientText(scope, id);
  if (!row) return undefined;
  const [from, body] = await Promise.all([
    decryptField(keyring, row.fromEnc, textContext('from', row.id, scope.practiceId)),
    row.bodyEnc ? decryptField(keyring, row.bodyEnc, textContext('body', row.id, scope.practiceId)) : Promise.resolve(''),
  ]);
  return { from, body, mediaCount: row.mediaCount };
}
