import type { OutreachSendStatus } from '../adapters/db-schema.js';

/**
 * Where a ledger row may move (pure). planned → queued → sent → delivered | undelivered | failed;
 * planned → refused | skipped | failed. A provider's callbacks may arrive out of order (a `sent`
 * after `delivered`): a row only ever moves forward, and a final status is final.
 */

const RANK: Readonly<Record<OutreachSendStatus, number>> = {
  planned: 0,
  queued: 1,
  sent: 2,
  delivered: 3,
  undelivered: 3,
  failed: 3,
  refused: 3,
  skipped: 3,
};

export const FINAL_SEND_STATUSES: readonly OutreachSendStatus[] = ['delivered', 'undelivered', 'failed', 'refused', 'skipped'];

/** Pure: may a row in `from` move to `to`? Only to a later stage; never out of a final status. */
export function advances(from: OutreachSendStatus, to: OutreachSendStatus): boolean {
  return RANK[to] > RANK[from];
}

/** Twilio's MessageStatus values a status callback maps onto the ledger; others (accepted, scheduled, read…) change nothing. */
export const TWILIO_MESSAGE_STATUSES = { queued: 'queued', sending: 'queued', sent: 'sent', delivered: 'delivered', undelivered: 'undelivered', failed: 'failed' } as const;
export type TwilioMessageStatus = keyof typeof TWILIO_MESSAGE_STATUSES;
