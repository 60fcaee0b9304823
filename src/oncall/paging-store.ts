import { sql, type Selectable } from 'kysely';
import type { Db } from '../adapters/postgres.js';
import type { CallReason, PageDeliveriesTable, PagesTable, TaskStatus, VoicemailState } from '../adapters/db-schema.js';
import type { PracticeScope } from '../tenancy/scope.js';

/**
 * The paging domain's query module: pages, their per-recipient deliveries, and the page legs
 * written to the call's timeline. paging.ts decides; every read and write of these tables
 * happens here. What a practice's staff reach (list, find, acknowledge) takes the practice's
 * scope and names the practice in its query; the worker's reads and writes by page id take the
 * database (the `ahl_system` role: the job carries only the page id).
 */

export type PageRow = Selectable<PagesTable>;

/** A delivery is still to be sent (or sent again) while it is in one of these. */
const WAITING = ['queued', 'retrying'] as const;

/** The key of one recipient's delivery of one round. */
export interface DeliveryKey {
  page_id: string;
  round: number;
  provider_id: string;
}

export async function findPageByCall(db: Db, callSid: string): Promise<Pick<PageRow, 'id' | 'status' | 'rounds_sent' | 'reference_code'> | undefined> {
  return db.selectFrom('pages').select(['id', 'status', 'rounds_sent', 'reference_code']).where('call_sid', '=', callSid).executeTakeFirst();
}

/**
 * Inserts a page with a reference code; undefined when the call already has one or the code is
 * taken, by another page or by a voicemail of another call (one code names one page and the
 * voicemail it announces: src/voicemail/store.ts draws its codes the same way).
 */
export async function insertPage(db: Db, page: { practiceId: string; callSid: string; policyId: string | null; referenceCode: string }): Promise<string | undefined> {
  const row = await db
    .insertInto('pages')
    .columns(['practice_id', 'call_sid', 'policy_id', 'reference_code'])
    .expression(
      db
        .selectNoFrom([
          sql<string>`${page.practiceId}::uuid`.as('practice_id'),
          sql<string>`${page.callSid}::text`.as('call_sid'),
          sql<string | null>`${page.policyId}::uuid`.as('policy_id'),
          sql<string>`${page.referenceCode}::text`.as('reference_code'),
        ])
        .where(({ not, exists, selectFrom }) =>
          not(exists(selectFrom('voicemails').select('id').where('reference_code', '=', page.referenceCode).where('call_sid', '<>', page.callSid))),
        ),
    )
    .onConflict((oc) => oc.doNothing())
    .returning('id')
    .executeTakeFirst();
  return row?.id;
}

/** The reference code of a voicemail the call has left already (a recording before its page): the page takes it. */
export async function voicemailCodeOfCall(db: Db, callSid: string): Promise<string | undefined> {
  const row = await db.selectFrom('voicemails').select('reference_code').where('call_sid', '=', callSid).orderBy('created_at').limit(1).executeTakeFirst();
  return row?.reference_code;
}

export async function getPage(db: Db, pageId: string): Promise<PageRow | undefined> {
  return db.selectFrom('pages').selectAll().where('id', '=', pageId).executeTakeFirst();
}

/** A practice's page by id, by reference code, or (neither given) its latest open one. */
export async function findPracticePage(scope: PracticeScope, by: { pageId?: string; referenceCode?: string }): Promise<PageRow | undefined> {
  let q = scope.db.selectFrom('pages').selectAll().where('practice_id', '=', scope.practiceId);
  if (by.pageId) q = q.where('id', '=', by.pageId);
  else if (by.referenceCode) q = q.where('reference_code', '=', by.referenceCode);
  else q = q.where('status', '=', 'open').orderBy('created_at', 'desc').limit(1);
  return q.executeTakeFirst();
}

/** A practice's latest pages (at most 200), newest first, optionally of one status. */
export async function listPages(scope: PracticeScope, status?: 'open' | 'acknowledged'): Promise<PageRow[]> {
  let q = scope.db.selectFrom('pages').selectAll().where('practice_id', '=', scope.practiceId).orderBy('created_at', 'desc').limit(200);
  if (status) q = q.where('status', '=', status);
  return q.execute();
}

/** Claims a round: true for exactly one caller per round. */
export async function claimRound(db: Db, pageId: string, round: number, escalateToAdmins: boolean): Promise<boolean> {
  const claimed = await db
    .updateTable('pages')
    .set({ rounds_sent: round + 1, ...(escalateToAdmins ? { admin_paged: true } : {}) })
    .where('id', '=', pageId)
    .where('rounds_sent', '<=', round)
    .returning('id')
    .executeTakeFirst();
  return claimed !== undefined;
}

/** Marks an open page of the practice acknowledged; false when it was no longer open (or is not the practice's). */
export async function markAcknowledged(scope: PracticeScope, pageId: string, by: string, at: Date): Promise<boolean> {
  const updated = await scope.db
    .updateTable('pages')
    .set({ status: 'acknowledged', acknowledged_at: at, acknowledged_by: by })
    .where('practice_id', '=', scope.practiceId)
    .where('id', '=', pageId)
    .where('status', '=', 'open')
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) > 0;
}

/** Open pages that may still send a round, oldest first. */
export async function listOpenPages(db: Db, maxRounds: number, limit: number): Promise<Array<Pick<PageRow, 'id' | 'rounds_sent'>>> {
  return db
    .selectFrom('pages')
    .select(['id', 'rounds_sent'])
    .where('status', '=', 'open')
    .where('rounds_sent', '<', maxRounds)
    .orderBy('created_at')
    .limit(limit)
    .execute();
}

/** Adds a round's deliveries; a retried round adds nobody twice. */
export async function insertDeliveries(db: Db, rows: ReadonlyArray<DeliveryKey & { number_tried: string; created_at: Date; updated_at: Date }>): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insertInto('page_deliveries')
    .values([...rows])
    .onConflict((oc) => oc.columns(['page_id', 'round', 'provider_id']).doNothing())
    .execute();
}

/** The recipients of a round whose delivery still waits to be sent. */
export async function waitingRecipients(db: Db, pageId: string, round: number): Promise<string[]> {
  const rows = await db.selectFrom('page_deliveries').select('provider_id').where('page_id', '=', pageId).where('round', '=', round).where('status', 'in', WAITING).execute();
  return rows.map((r) => r.provider_id);
}

/** Waiting deliveries of open pages (the sweep's list). */
export async function waitingDeliveriesOfOpenPages(db: Db, limit: number): Promise<DeliveryKey[]> {
  return db
    .selectFrom('page_deliveries')
    .innerJoin('pages', 'pages.id', 'page_deliveries.page_id')
    .select(['page_deliveries.page_id', 'page_deliveries.round', 'page_deliveries.provider_id'])
    .where('pages.status', '=', 'open')
    .where('page_deliveries.status', 'in', WAITING)
    .limit(limit)
    .execute();
}

export async function getDelivery(db: Db, key: DeliveryKey): Promise<Selectable<PageDeliveriesTable> | undefined> {
  return db
    .selectFrom('page_deliveries')
    .selectAll()
    .where((eb) => eb.and({ ...key }))
    .executeTakeFirst();
}

/** Settles a still-waiting delivery without sending it. */
export async function settleWaitingDelivery(db: Db, key: DeliveryKey, status: 'cancelled' | 'superseded', at: Date): Promise<void> {
  await db
    .updateTable('page_deliveries')
    .set({ status, updated_at: at })
    .where((eb) => eb.and({ ...key }))
    .where('status', 'in', WAITING)
    .execute();
}

/** Counts one more try of a waiting delivery; undefined when it is no longer waiting. */
export async function countDeliveryAttempt(db: Db, key: DeliveryKey, at: Date): Promise<number | undefined> {
  const tried = await db
    .updateTable('page_deliveries')
    .set({ attempts: sql<number>`attempts + 1`, updated_at: at })
    .where((eb) => eb.and({ ...key }))
    .where('status', 'in', WAITING)
    .returning('attempts')
    .executeTakeFirst();
  return tried?.attempts;
}

export async function recordDeliveryFailure(db: Db, key: DeliveryKey, final: boolean, errorCode: string, at: Date): Promise<void> {
  await db
    .updateTable('page_deliveries')
    .set({ status: final ? 'failed' : 'retrying', error_code: errorCode, updated_at: at })
    .where((eb) => eb.and({ ...key }))
    .execute();
}

export async function recordDeliverySent(db: Db, key: DeliveryKey, messageSid: string, at: Date): Promise<void> {
  await db
    .updateTable('page_deliveries')
    .set({ status: 'sent', message_sid: messageSid, error_code: null, updated_at: at })
    .where((eb) => eb.and({ ...key }))
    .execute();
}

/** A page SMS on the call's timeline (call_legs, kind 'page'). */
export async function insertPageLeg(
  db: Db,
  page: Pick<PageRow, 'call_sid' | 'practice_id'>,
  numberTried: string,
  leg: { round: number; providerId: string; sid: string | null; outcome: 'sent' | 'failed'; at: Date },
): Promise<void> {
  await db
    .insertInto('call_legs')
    .values({
      call_sid: page.call_sid,
      leg_sid: leg.sid,
      practice_id: page.practice_id,
      kind: 'page',
      round: leg.round,
      provider_id: leg.providerId,
      number_tried: numberTried,
      outcome: leg.outcome,
      started_at: leg.at,
    })
    .execute();
}

/** The active provider who texts from `from` to one of a practice's numbers (`to`): who an SMS "ACK" comes from. */
export async function providerBySmsSender(db: Db, to: string, from: string): Promise<{ providerId: string; practiceId: string } | undefined> {
  return db
    .selectFrom('practice_numbers')
    .innerJoin('providers', 'providers.practice_id', 'practice_numbers.practice_id')
    .select(['providers.id as providerId', 'providers.practice_id as practiceId'])
    .where('practice_numbers.e164', '=', to)
    .where((eb) => eb.or([eb('providers.phone', '=', from), eb('providers.sms_phone', '=', from)]))
    .where('providers.active', '=', true)
    .executeTakeFirst();
}

/** What the page view shows of the voicemail a page announces, and of that voicemail's callback task. */
export interface PageVoicemailLink {
  voicemail_id: string;
  voicemail_state: VoicemailState;
  urgency: 'urgent' | 'routine';
  task_id: string | null;
  task_status: TaskStatus | null;
  task_reason: CallReason | null;
  callback_enc: Buffer | null;
}

/**
 * The voicemail a practice's page announces: the call's own (its first), else the one that shares
 * the page's reference code; with its callback task, if it has become one.
 */
export async function pageVoicemail(scope: PracticeScope, page: Pick<PageRow, 'call_sid' | 'reference_code'>): Promise<PageVoicemailLink | undefined> {
  return scope.db
    .selectFrom('voicemails as v')
    .leftJoin('callback_tasks as t', (j) =>
      j.onRef('t.practice_id', '=', 'v.practice_id').on('t.source', 'in', ['voicemail', 'message']).on(sql<boolean>`t.source_id = v.id::text`),
    )
    .select(['v.id as voicemail_id', 'v.state as voicemail_state', 'v.urgency', 't.id as task_id', 't.status as task_status', 't.reason as task_reason', 't.callback_enc'])
    .where('v.practice_id', '=', scope.practiceId)
    .where((eb) => eb.or([eb('v.call_sid', '=', page.call_sid), eb('v.reference_code', '=', page.reference_code)]))
    .orderBy(sql`(v.call_sid = ${page.call_sid})`, 'desc')
    .orderBy('v.created_at')
    .limit(1)
    .executeTakeFirst();
}

/** The caller's sealed number and the reason of the path taken, from the call a practice's page is for. */
export async function pageCall(scope: PracticeScope, callSid: string): Promise<{ from_enc: Buffer | null; reason: CallReason | null } | undefined> {
  return scope.db.selectFrom('calls').select(['from_enc', 'reason']).where('practice_id', '=', scope.practiceId).where('call_sid', '=', callSid).executeTakeFirst();
}
