import { z } from 'zod';
import type { AppContext } from '../app-context.js';
import { AuditAction } from '../audit/events.js';
import { applySendStatus } from '../outreach/sends-store.js';
import { TWILIO_MESSAGE_STATUSES, type TwilioMessageStatus } from '../outreach/send-status.js';
import { finishDrop, type DropFinishDeps } from './drop-worker.js';

/**
 * Twilio's delivery status callbacks for patient SMS (`POST /twilio/sms/status`): MessageStatus
 * queued, sent, delivered, undelivered or failed (with the carrier's ErrorCode) moves the ledger
 * row with that MessageSid forward only (src/outreach/send-status.ts); an SMS campaign's row
 * (its drop) gets its final state from delivered / undelivered / failed. Pure parse, then I/O.
 */

export const MessageSidSchema = z.string().regex(/^(?:SM|MM)[0-9a-f]{32}$/);

export const SmsStatusParams = z.object({
  MessageSid: MessageSidSchema,
  MessageStatus: z.string().regex(/^[a-z_-]{1,20}$/),
  ErrorCode: z
    .string()
    .regex(/^\d{1,6}$/)
    .optional(),
});

export type SmsStatusResult =
  /** The request is not a status callback we can read: 400. */
  | { kind: 'malformed'; fields: string[] }
  /** A status we do not track (accepted, scheduled, read…), or no message of ours: nothing to store, 200. */
  | { kind: 'ignored'; why: 'untracked_status' | 'unknown_message' }
  /** Stored (or already further along): 200. */
  | { kind: 'stored'; moved: boolean };

const isTracked = (s: string): s is TwilioMessageStatus => Object.hasOwn(TWILIO_MESSAGE_STATUSES, s);

export async function handleSmsStatus(services: DropFinishDeps & Pick<AppContext, 'db'>, body: unknown): Promise<SmsStatusResult> {
  const parsed = SmsStatusParams.safeParse(body);
  if (!parsed.success) return { kind: 'malformed', fields: [...new Set(parsed.error.issues.map((i) => String(i.path[0] ?? 'body')))] };
  const { MessageSid, MessageStatus, ErrorCode } = parsed.data;
  if (!isTracked(MessageStatus)) return { kind: 'ignored', why: 'untracked_status' };
  const status = TWILIO_MESSAGE_STATUSES[MessageStatus];
  const errorCode = ErrorCode && ErrorCode !== '0' && (status === 'undelivered' || status === 'failed') ? ErrorCode : null;
  const result = await applySendStatus(services.db, MessageSid, status, errorCode, services.clock());
  if (!result) return { kind: 'ignored', why: 'unknown_message' };
  if (!result.moved) return { kind: 'stored', moved: false };
  const row = result.row;
  await services.audit({
    action: AuditAction.SmsStatus,
    actor: 'twilio',
    practiceId: row.practice_id,
    subjectId: row.id,
    details: { status, errorCode, origin: row.origin },
  });
  // An SMS campaign's recipient row: its final state from the message's.
  const dropId = row.idempotency_key.startsWith('drop:') ? row.idempotency_key.slice('drop:'.length) : null;
  if (dropId && row.origin.startsWith('campaign:')) {
    if (status === 'delivered') await finishDrop(services, dropId, 'delivered', 'delivered', ['sent']);
    else if (status === 'undelivered' || status === 'failed') await finishDrop(services, dropId, 'failed', errorCode ? `${status}_${errorCode}` : status, ['sent']);
  }
  return { kind: 'stored', moved: true };
}
