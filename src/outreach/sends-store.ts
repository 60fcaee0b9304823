import { sql, type Selectable, type SelectQueryBuilder } from 'kysely';
import type { Db } from '../adapters/postgres.js';
import type { Database, OutreachSendStatus, OutreachSendsTable } from '../adapters/db-schema.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { advances } from './send-status.js';

/**
 * The send ledger (`outreach_sends`, migration 0032): one row per patient message other than a
 * drop, whatever sent it and on whichever channel (`sms` now; the e-mail sender writes `email`
 * rows; sequences write theirs with origin `sequence:<id>:<step>`). The row is keyed by an
 * idempotency key unique per practice, so a retried job finds the row it wrote and never sends
 * twice. It holds ids, states and codes only: no body, no number (the number's blind index).
 */

export type OutreachSendRow = Selectable<OutreachSendsTable>;

export interface PlannedSend {
  patientId: string;
  channel: string;
  messageType: string;
  origin: string;
  idempotencyKey: string;
  recipientIndex: string | null;
  /** The appointment an appointment message speaks of (a "C" reply confirms it: ./replies.ts). */
  appointmentId?: string | null;
}

/** The row for this key, created `planned` if there was none. */
export async function planSend(scope: PracticeScope, s: PlannedSend, now: Date): Promise<OutreachSendRow> {
  await scope.db
    .insertInto('outreach_sends')
    .values({
      practice_id: scope.practiceId,
      patient_id: s.patientId,
      channel: s.channel,
      message_type: s.messageType,
      origin: s.origin,
      idempotency_key: s.idempotencyKey,
      recipient_index: s.recipientIndex,
      appointment_id: s.appointmentId ?? null,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.columns(['practice_id', 'idempotency_key']).doNothing())
    .execute();
  return scope.db
    .selectFrom('outreach_sends')
    .selectAll()
    .where('practice_id', '=', scope.practiceId)
    .where('idempotency_key', '=', s.idempotencyKey)
    .executeTakeFirstOrThrow();
}

/** A planned row refused or skipped before any send, with the reason (and the cell, when the matrix refused). */
export async function closeUnsent(
  scope: PracticeScope,
  id: string,
  status: Extract<OutreachSendStatus, 'refused' | 'skipped' | 'failed'>,
  reason: string,
  now: Date,
  extra: { matrixCell?: string; matrixVersion?: number } = {},
): Promise<boolean> {
  const r = await scope.db
    .updateTable('outreach_sends')
    .set({ status, reason, updated_at: now, ...(extra.matrixCell ? { matrix_cell: extra.matrixCell } : {}), ...(extra.matrixVersion !== undefined ? { matrix_version: extra.matrixVersion } : {}) })
    .where('id', '=', id)
    .where('practice_id', '=', scope.practiceId)
    .where('status', '=', 'planned')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Claims a planned row as `queued` (handed to the provider next) with what allowed it; false when another run did. */
export async function claimSend(
  scope: PracticeScope,
  id: string,
  allowed: { consentId: string | null; matrixCell: string; matrixVersion: number; segments: number; optOutAppended: boolean },
  now: Date,
): Promise<boolean> {
  const r = await scope.db
    .updateTable('outreach_sends')
    .set({
      status: 'queued',
      consent_id: allowed.consentId,
      matrix_cell: allowed.matrixCell,
      matrix_version: allowed.matrixVersion,
      segments: allowed.segments,
      opt_out_appended: allowed.optOutAppended,
      sent_at: now,
      updated_at: now,
    })
    .where('id', '=', id)
    .where('practice_id', '=', scope.practiceId)
    .where('status', '=', 'planned')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** A claimed row the provider did not take goes back to planned, for the job's retry. */
export async function unclaimSend(scope: PracticeScope, id: string, now: Date): Promise<void> {
  await scope.db.updateTable('outreach_sends').set({ status: 'planned', sent_at: null, updated_at: now }).where('id', '=', id).where('practice_id', '=', scope.practiceId).where('status', '=', 'queued').execute();
}

/** The provider took the message: its reference (MessageSid). */
export async function setSendRef(scope: PracticeScope, id: string, providerRef: string, now: Date): Promise<void> {
  await scope.db.updateTable('outreach_sends').set({ provider_ref: providerRef, updated_at: now }).where('id', '=', id).where('practice_id', '=', scope.practiceId).execute();
}

/** The provider refused the message outright (no MessageSid): failed, with its error code. */
export async function failSend(scope: PracticeScope, id: string, reason: string, errorCode: string | null, now: Date): Promise<void> {
  await scope.db
    .updateTable('outreach_sends')
    .set({ status: 'failed', reason, error_code: errorCode, updated_at: now })
    .where('id', '=', id)
    .where('practice_id', '=', scope.practiceId)
    .where('status', 'in', ['planned', 'queued'])
    .execute();
}

/**
 * A provider's status callback: moves the row with this reference to `status` only forward
 * (send-status.ts); an out-of-order callback changes nothing. The row before and after, or
 * undefined when no row has this reference. By reference alone (the callback names no
 * practice): the system role, under a row lock.
 */
export async function applySendStatus(
  db: Db,
  providerRef: string,
  status: Extract<OutreachSendStatus, 'queued' | 'sent' | 'delivered' | 'undelivered' | 'failed'>,
  errorCode: string | null,
  now: Date,
): Promise<{ row: OutreachSendRow; moved: boolean } | undefined> {
  return db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('outreach_sends').selectAll().where('provider_ref', '=', providerRef).forUpdate().executeTakeFirst();
    if (!row) return undefined;
    if (!advances(row.status, status)) return { row, moved: false };
    const updated = await trx
      .updateTable('outreach_sends')
      .set({
        status,
        updated_at: now,
        ...(errorCode ? { error_code: errorCode, reason: `carrier_error_${errorCode}` } : {}),
        ...(status === 'delivered' ? { delivered_at: now } : {}),
      })
      .where('id', '=', row.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { row: updated, moved: true };
  });
}

/** When this practice last sent an SMS to the number with this blind index (any origin), or null. */
export async function lastSmsTo(scope: PracticeScope, recipientIndex: string, exceptId: string): Promise<Date | null> {
  const row = await scope.db
    .selectFrom('outreach_sends')
    .select((eb) => eb.fn.max('sent_at').as('last'))
    .where('practice_id', '=', scope.practiceId)
    .where('channel', '=', 'sms')
    .where('recipient_index', '=', recipientIndex)
    .where('id', '!=', exceptId)
    .where('status', 'in', ['queued', 'sent', 'delivered', 'undelivered'])
    .executeTakeFirst();
  const last = row?.last as unknown;
  return last instanceof Date ? last : typeof last === 'string' ? new Date(last) : null;
}

/**
 * The practice's SMS sent since `since` (after it), by any origin, with their patient: what counts
 * against the caps. `recentSmsOf` narrows it to a list of patients, a large campaign's joined read
 * (src/drops/campaign-store.ts) to the campaign's recipients.
 */
export function smsSentSince(scope: PracticeScope, since: Date): SelectQueryBuilder<Database, 'outreach_sends', Pick<OutreachSendRow, 'patient_id' | 'sent_at'>> {
  return scope.db
    .selectFrom('outreach_sends')
    .select(['patient_id', 'sent_at'])
    .where('practice_id', '=', scope.practiceId)
    .where('channel', '=', 'sms')
    .where('status', 'in', ['queued', 'sent', 'delivered', 'undelivered', 'failed'])
    .where('sent_at', '>', since);
}

/** The SMS these patients (at most a few thousand) were sent since `since`, by any origin: the caps' facts. */
export async function recentSmsOf(scope: PracticeScope, patientIds: readonly string[], since: Date): Promise<Array<{ patient_id: string; sent_at: Date }>> {
  if (patientIds.length === 0) return [];
  const rows = await smsSentSince(scope, since).where(sql<boolean>`patient_id = ANY(${patientIds}::uuid[])`).execute();
  return rows.flatMap((r) => (r.sent_at ? [{ patient_id: r.patient_id, sent_at: r.sent_at }] : []));
}

/** Rows of one origin by status (a campaign's SMS: delivered, undelivered, failed…). */
export async function sendCountsByOrigin(scope: PracticeScope, origin: string): Promise<Partial<Record<OutreachSendStatus, number>>> {
  const rows = await scope.db
    .selectFrom('outreach_sends')
    .select(['status', (eb) => eb.fn.countAll<string>().as('n')])
    .where('practice_id', '=', scope.practiceId)
    .where('origin', '=', origin)
    .groupBy('status')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/** A message handed over in one step (a notice e-mail the mailer accepted): planned → sent. */
export async function markSent(scope: PracticeScope, id: string, now: Date): Promise<boolean> {
  const r = await scope.db
    .updateTable('outreach_sends')
    .set({ status: 'sent', sent_at: now, updated_at: now })
    .where('id', '=', id)
    .where('practice_id', '=', scope.practiceId)
    .where('status', '=', 'planned')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
