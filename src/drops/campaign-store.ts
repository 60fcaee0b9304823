import { sql, type Selectable, type Transaction } from 'kysely';
import type { Db } from '../adapters/postgres.js';
import type { CampaignsTable, ConsentChannel, Database, DropStatus, DropVendor, DropsTable, OutreachCampaignChannel } from '../adapters/db-schema.js';
import { latestConsents, optedOutNumbers } from '../consent/store.js';
import { smsSentSince } from '../outreach/sends-store.js';
import type { PracticeScope } from '../tenancy/scope.js';
import type { TemplatePlaceholder } from './types.js';

/**
 * The ringless-voicemail domain's query module for campaigns and their drops: campaigns.ts plans
 * and commands, drop-worker.ts sends, the API lists; every read and write of `campaigns` and
 * `drops` for them happens here. It also reads `patients` for what eligibility needs: in bulk by
 * id, or for a large campaign in one statement joined with the consent, opt-out and send-ledger
 * queries their stores define (`waitingRecipientFacts`). Bulk statements work in chunks of CHUNK
 * rows (a campaign may have 100,000 recipients).
 *
 * What the API reaches takes the practice's `PracticeScope` and names the practice in every
 * filter (row-level security holds a request's scope to it as well). What only the drop worker,
 * the sweep and the providers' callbacks reach goes by a drop's or campaign's id on the system
 * role: they find the practice through the row.
 *
 * Over 400 lines because campaigns and their drops are one pair of tables, planned, sent and
 * dispatched (./dispatcher.ts) together; splitting the drops' queries off would split the rules
 * about one row's states across files.
 */

export const CHUNK = 5_000;

export type CampaignRow = Selectable<CampaignsTable>;
export type DropRow = Selectable<DropsTable>;

// ---------------------------------------------------------------------------
// Campaigns

export async function campaignOf(scope: PracticeScope, id: string): Promise<CampaignRow | undefined> {
  return scope.db.selectFrom('campaigns').selectAll().where('id', '=', id).where('practice_id', '=', scope.practiceId).executeTakeFirst();
}

/** A campaign by id alone: for workers, which carry the id of a campaign they were given. */
export async function loadCampaign(db: Db, id: string): Promise<CampaignRow | undefined> {
  return db.selectFrom('campaigns').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function insertCampaign(
  scope: PracticeScope,
  c: {
    name: string;
    templateId: string;
    templateParams: Partial<Record<TemplatePlaceholder, string>>;
    provider: DropVendor;
    humanAnswer: 'message' | 'hangup';
    ratePerMinute: number;
    audioFile: string | null;
    createdBy: string;
    channel: OutreachCampaignChannel;
  },
): Promise<string> {
  const row = await scope.db
    .insertInto('campaigns')
    .values({
      practice_id: scope.practiceId,
      name: c.name,
      template_id: c.templateId,
      template_params: JSON.stringify(c.templateParams),
      provider: c.provider,
      human_answer: c.humanAnswer,
      rate_per_minute: c.ratePerMinute,
      audio_file: c.audioFile,
      created_by: c.createdBy,
      channel: c.channel,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** Moves a campaign from the state it was read in; false when it changed meanwhile. */
export async function transitionCampaign(
  scope: PracticeScope,
  id: string,
  from: string,
  to: 'running' | 'paused' | 'cancelled',
  at: Date,
  started: boolean,
): Promise<boolean> {
  const updated = await scope.db
    .updateTable('campaigns')
    .set({ state: to, updated_at: at, ...(started ? { started_at: at } : {}) })
    .where('id', '=', id)
    .where('practice_id', '=', scope.practiceId)
    .where('state', '=', from as CampaignRow['state'])
    .executeTakeFirst();
  return Number(updated.numUpdatedRows) > 0;
}

/** Completes a running campaign; true when this call did (once). */
export async function markCompleted(scope: PracticeScope, id: string, at: Date): Promise<boolean> {
  const done = await scope.db
    .updateTable('campaigns')
    .set({ state: 'completed', updated_at: at })
    .where('id', '=', id)
    .where('practice_id', '=', scope.practiceId)
    .where('state', '=', 'running')
    .executeTakeFirst();
  return Number(done.numUpdatedRows) > 0;
}

export async function listCampaignRows(scope: PracticeScope): Promise<Array<Pick<CampaignRow, 'id' | 'name' | 'state' | 'provider' | 'channel' | 'created_at'>>> {
  return scope.db.selectFrom('campaigns').select(['id', 'name', 'state', 'provider', 'channel', 'created_at']).where('practice_id', '=', scope.practiceId).orderBy('created_at', 'desc').limit(200).execute();
}

/** Per campaign: its drops, and how many reached a final status (the list's progress), in one statement. */
export async function dropTotals(scope: PracticeScope, campaignIds: readonly string[]): Promise<Map<string, { total: number; done: number }>> {
  if (campaignIds.length === 0) return new Map();
  const rows = await scope.db
    .selectFrom('drops')
    .select(['campaign_id', (eb) => eb.fn.countAll<string>().as('total'), sql<string>`count(*) filter (where status in ('delivered', 'failed', 'skipped', 'cancelled'))`.as('done')])
    .where('practice_id', '=', scope.practiceId)
    .where('campaign_id', 'in', campaignIds)
    .groupBy('campaign_id')
    .execute();
  return new Map(rows.map((r) => [r.campaign_id, { total: Number(r.total), done: Number(r.done) }]));
}

// ---------------------------------------------------------------------------
// Recipients and eligibility facts

/** Which of these ids are patients of the practice. */
export async function knownPatientIds(scope: PracticeScope, ids: readonly string[]): Promise<Set<string>> {
  const known = new Set<string>();
  for (let i = 0; i < ids.length; i += CHUNK) {
    const rows = await scope.db
      .selectFrom('patients')
      .select('id')
      .where('practice_id', '=', scope.practiceId)
      .where(sql<boolean>`id = ANY(${ids.slice(i, i + CHUNK)}::uuid[])`)
      .execute();
    for (const r of rows) known.add(r.id);
  }
  return known;
}

/** Adds drops for these patients, each with the appointment it is about if named (a patient already a recipient is skipped); the patients added. */
export async function insertDrops(
  scope: PracticeScope,
  campaign: { id: string; provider: DropVendor },
  recipients: ReadonlyArray<{ patientId: string; appointmentId: string | null }>,
): Promise<Set<string>> {
  const inserted = new Set<string>();
  for (let i = 0; i < recipients.length; i += CHUNK) {
    const rows = await scope.db
      .insertInto('drops')
      .values(
        recipients
          .slice(i, i + CHUNK)
          .map((r) => ({ campaign_id: campaign.id, practice_id: scope.practiceId, patient_id: r.patientId, appointment_id: r.appointmentId, provider: campaign.provider })),
      )
      .onConflict((oc) => oc.columns(['campaign_id', 'patient_id']).doNothing())
      .returning('patient_id')
      .execute();
    for (const r of rows) inserted.add(r.patient_id);
  }
  return inserted;
}

export interface PatientContactFacts {
  id: string;
  phone_index: string;
  has_phone: boolean;
  us_state: string | null;
  time_zone: string | null;
}

/** What eligibility needs from `patients` (at most CHUNK ids): no PHI, only whether a phone is on file. */
export async function patientContactFacts(scope: PracticeScope, ids: readonly string[]): Promise<PatientContactFacts[]> {
  return scope.db
    .selectFrom('patients')
    .select(['id', 'phone_index', sql<boolean>`phone_enc IS NOT NULL`.as('has_phone'), 'us_state', 'time_zone'])
    .where('practice_id', '=', scope.practiceId)
    .where(sql<boolean>`id = ANY(${ids}::uuid[])`)
    .execute();
}

/** A patient's number as its blind index (what opt-outs and the send ledger key on), or null. */
export async function phoneIndexOf(scope: PracticeScope, patientId: string): Promise<string | null> {
  const row = await scope.db.selectFrom('patients').select('phone_index').where('id', '=', patientId).where('practice_id', '=', scope.practiceId).executeTakeFirst();
  return row?.phone_index ?? null;
}

/**
 * The drops of the practice sent since `since` (after it), with their patient, by any
 * ringless-voicemail campaign. An SMS campaign's rows are not counted here: its messages are in
 * the send ledger (src/outreach/sends-store.ts, smsSentSince), with every other SMS.
 */
function dropsSentSince(scope: PracticeScope, since: Date) {
  return scope.db
    .selectFrom('drops')
    .innerJoin('campaigns', 'campaigns.id', 'drops.campaign_id')
    .select(['drops.patient_id', 'drops.sent_at'])
    .where('drops.practice_id', '=', scope.practiceId)
    .where('campaigns.channel', '=', 'rvm')
    .where('drops.status', 'in', ['sent', 'delivered', 'failed'])
    .where('drops.sent_at', '>', since);
}

/** `dropsSentSince` for these patients (at most CHUNK). */
export async function recentDropsOf(scope: PracticeScope, ids: readonly string[], since: Date): Promise<Array<Pick<DropRow, 'patient_id' | 'sent_at'>>> {
  return dropsSentSince(scope, since).where(sql<boolean>`drops.patient_id = ANY(${ids}::uuid[])`).execute();
}

/** One waiting recipient's facts as the joined read finds them (`waitingRecipientFacts`); the number's blind index stays in the database, where its opt-out is looked up. */
export interface WaitingRecipientFacts extends Omit<PatientContactFacts, 'phone_index'> {
  /** The latest consent entry of the channel (null: none). */
  consent: 'granted' | 'revoked' | null;
  consent_id: string | null;
  opted_out: boolean;
  /** Send times since `since`, in no order: ringless-voicemail drops, and SMS. */
  drops_sent: Date[];
  sms_sent: Date[];
}

/**
 * What eligibility needs about each waiting recipient of a campaign (of the practice), in one
 * statement keyed by the campaign: the patient (as `patientContactFacts`), the current consent of
 * the channel (`latestConsents`), whether the number opted out (`optedOutNumbers`: every channel),
 * and the drops and SMS sent since `since` (`dropsSentSince`, `smsSentSince`). The same
 * definitions as the per-chunk reads, so the same facts; for a large campaign, where round after
 * round of CHUNK-sized id lists cost more than the reads themselves. A recipient who is not a
 * patient of the practice is absent, as there.
 */
export async function waitingRecipientFacts(scope: PracticeScope, campaignId: string, since: Date, channel: ConsentChannel): Promise<WaitingRecipientFacts[]> {
  return scope.db
    .transaction()
    .setAccessMode('read only')
    .execute(async (trx) => {
      // Each read below is of a whole campaign's recipients; estimated from statistics that may
      // not know them yet (a campaign just loaded), the planner may choose to probe a table once
      // per recipient in nested loops, 100,000 times over. Hash joins over the whole set are never far
      // from the best plan here: for this transaction only, it gets no nested loops.
      await sql`SET LOCAL enable_nestloop = off`.execute(trx);
      const tx = { ...scope, db: trx };
      // Each read keeps to the campaign's recipients (a practice may have many more patients).
      const recipients = waitingOf(tx, campaignId).select('patient_id');
      const rows = await sql<WaitingRecipientFacts>`
        SELECT p.id, p.phone_enc IS NOT NULL AS has_phone, p.us_state, p.time_zone,
               c.action AS consent, c.id AS consent_id,
               coalesce(p.phone_index IN (${optedOutNumbers(tx)}), false) AS opted_out,
               coalesce(d.sent, '{}') AS drops_sent, coalesce(s.sent, '{}') AS sms_sent
        FROM (${recipients}) AS w
        JOIN patients p ON p.id = w.patient_id AND p.practice_id = ${scope.practiceId}
        LEFT JOIN (${latestConsents(tx, channel).where('patient_id', 'in', recipients)}) AS c ON c.patient_id = p.id
        LEFT JOIN (
          SELECT r.patient_id, array_agg(r.sent_at) AS sent FROM (${dropsSentSince(tx, since).where('drops.patient_id', 'in', recipients)}) AS r GROUP BY r.patient_id
        ) AS d ON d.patient_id = p.id
        LEFT JOIN (
          SELECT r.patient_id, array_agg(r.sent_at) AS sent FROM (${smsSentSince(tx, since).where('patient_id', 'in', recipients)}) AS r GROUP BY r.patient_id
        ) AS s ON s.patient_id = p.id
      `.execute(trx);
      return rows.rows;
    });
}

// ---------------------------------------------------------------------------
// Drops

export interface WaitingDrop {
  id: string;
  patient_id: string;
  appointment_id: string | null;
}

/** A campaign's drops, only ever of the scope's practice. */
function campaignDrops(scope: PracticeScope, campaignId: string) {
  return scope.db.selectFrom('drops').where('campaign_id', '=', campaignId).where('practice_id', '=', scope.practiceId);
}

/** A campaign's drops still waiting to be planned or sent. */
function waitingOf(scope: PracticeScope, campaignId: string) {
  return campaignDrops(scope, campaignId).where('status', 'in', ['pending', 'queued']);
}

export async function waitingDrops(scope: PracticeScope, campaignId: string): Promise<WaitingDrop[]> {
  return waitingOf(scope, campaignId).select(['id', 'patient_id', 'appointment_id']).execute();
}

export async function hasRecipients(scope: PracticeScope, campaignId: string): Promise<boolean> {
  return (await campaignDrops(scope, campaignId).select('id').limit(1).executeTakeFirst()) !== undefined;
}

/** Whether a campaign still has a drop to send or to hear about. */
export async function hasUnfinishedDrops(scope: PracticeScope, campaignId: string): Promise<boolean> {
  const left = await campaignDrops(scope, campaignId).select('id').where('status', 'in', ['pending', 'queued', 'sent']).limit(1).executeTakeFirst();
  return left !== undefined;
}

/** Rows per statement of the plan's bulk writes: fewer, larger statements, each well inside the statement timeout. */
export const PLAN_CHUNK = 10_000;

/**
 * Replaces a campaign's schedule (migration 0044) with these drops at these times, in one
 * transaction: the old rows go; drops already given a job (queued) go back to pending with a new
 * schedule version, so their jobs find themselves stale and the dispatcher queues them afresh at
 * their new time; then one narrow row per drop, PLAN_CHUNK a statement. `skipping`: the drops
 * planning is skipping meanwhile on another connection, left to it (the two never wait on each
 * other's rows, so never deadlock).
 */
export async function replaceSchedule(
  scope: PracticeScope,
  campaignId: string,
  plan: { ids: readonly string[]; at: readonly Date[]; skipping: readonly string[] },
  now: Date,
): Promise<void> {
  const { ids, at, skipping } = plan;
  await scope.db.transaction().execute(async (trx) => {
    await unplan(trx, scope.practiceId, campaignId, now, skipping);
    for (let i = 0; i < ids.length; i += PLAN_CHUNK) {
      await sql`
        INSERT INTO drop_schedule (drop_id, campaign_id, practice_id, at)
        SELECT u.id, ${campaignId}::uuid, ${scope.practiceId}::uuid, u.at
        FROM unnest(${ids.slice(i, i + PLAN_CHUNK)}::uuid[], ${at.slice(i, i + PLAN_CHUNK).map((t) => t.toISOString())}::timestamptz[]) AS u(id, at)
      `.execute(trx);
    }
  });
}

/** Throws away a campaign's schedule (it was cancelled: nothing more goes). */
export async function clearSchedule(scope: PracticeScope, campaignId: string): Promise<void> {
  await scope.db.deleteFrom('drop_schedule').where('campaign_id', '=', campaignId).where('practice_id', '=', scope.practiceId).execute();
}

/**
 * A paused campaign's plan undone, in one transaction: its schedule rows gone, its queued drops
 * pending again with a new schedule version (their jobs stale). Resume plans afresh from now at
 * the campaign's rate, and nothing planned before the pause, long due by then, can be taken at
 * once in the moment between resume's commit and its plan.
 */
export async function unscheduleCampaign(scope: PracticeScope, campaignId: string, now: Date): Promise<void> {
  await scope.db.transaction().execute((trx) => unplan(trx, scope.practiceId, campaignId, now, []));
}

/**
 * A campaign's plan undone (in the caller's transaction): its schedule rows gone, its queued drops
 * (but those in `skipping`) pending again with no time and a new schedule version, their jobs stale.
 */
async function unplan(trx: Transaction<Database>, practiceId: string, campaignId: string, now: Date, skipping: readonly string[]): Promise<void> {
  await trx.deleteFrom('drop_schedule').where('campaign_id', '=', campaignId).where('practice_id', '=', practiceId).execute();
  await trx
    .updateTable('drops')
    .set((eb) => ({ status: 'pending', schedule_version: eb('schedule_version', '+', 1), scheduled_for: null, updated_at: now }))
    .where('campaign_id', '=', campaignId)
    .where('practice_id', '=', practiceId)
    .where('status', '=', 'queued')
    .where(sql<boolean>`NOT (id = ANY(${skipping}::uuid[]))`)
    .execute();
}

/** Schedule rows of campaigns that will never send again (cancelled or completed; a plan that committed after the cancel): thrown away. */
export async function dropFinishedSchedules(db: Db): Promise<number> {
  const gone = await sql`
    DELETE FROM drop_schedule s USING campaigns c WHERE c.id = s.campaign_id AND c.state IN ('cancelled', 'completed')
  `.execute(db);
  return Number(gone.numAffectedRows ?? 0);
}

/** Gives waiting drops (at most PLAN_CHUNK) one final status, each its reason; the drops it changed. */
export async function finishWaitingDrops(
  scope: PracticeScope,
  status: Extract<DropStatus, 'skipped' | 'cancelled'>,
  drops: ReadonlyArray<{ id: string; reason: string }>,
  now: Date,
): Promise<Array<{ id: string; reason: string }>> {
  const rows = await sql<{ id: string; reason: string }>`
    UPDATE drops SET status = ${status}, reason = u.reason, final_at = ${now}, updated_at = ${now}
    FROM unnest(${drops.map((d) => d.id)}::uuid[], ${drops.map((d) => d.reason)}::text[]) AS u(id, reason)
    WHERE drops.id = u.id AND drops.id = ANY(${drops.map((d) => d.id)}::uuid[]) AND drops.practice_id = ${scope.practiceId} AND drops.status IN ('pending', 'queued')
    RETURNING drops.id, u.reason
  `.execute(scope.db);
  return rows.rows;
}

/** A campaign's drops by status and reason. */
export async function dropCounts(scope: PracticeScope, campaignId: string): Promise<Array<{ status: DropStatus; reason: string | null; n: string }>> {
  return campaignDrops(scope, campaignId)
    .select(['status', 'reason', (eb) => eb.fn.countAll<string>().as('n')])
    .groupBy(['status', 'reason'])
    .execute();
}

/**
 * The first and last send times of a campaign's drops still to go: queued (with their jobs) or
 * pending with a row in the schedule.
 */
export async function queuedSpan(scope: PracticeScope, campaignId: string): Promise<{ next: unknown; last: unknown } | undefined> {
  const row = await sql<{ next: unknown; last: unknown }>`
    SELECT min(t) AS next, max(t) AS last FROM (
      SELECT scheduled_for AS t FROM drops WHERE campaign_id = ${campaignId} AND practice_id = ${scope.practiceId} AND status = 'queued'
      UNION ALL
      SELECT s.at FROM drop_schedule s JOIN drops d ON d.id = s.drop_id AND d.campaign_id = ${campaignId} AND d.status = 'pending'
      WHERE s.campaign_id = ${campaignId} AND s.practice_id = ${scope.practiceId}
    ) AS times
  `.execute(scope.db);
  return row.rows[0];
}

/** How many of a campaign's pending drops have a send time in the schedule (the progress counts them queued). */
export async function scheduledCount(scope: PracticeScope, campaignId: string): Promise<number> {
  const row = await sql<{ n: string }>`
    SELECT count(DISTINCT s.drop_id) AS n FROM drop_schedule s JOIN drops d ON d.id = s.drop_id AND d.campaign_id = ${campaignId} AND d.status = 'pending'
    WHERE s.campaign_id = ${campaignId} AND s.practice_id = ${scope.practiceId}
  `.execute(scope.db);
  return Number(row.rows[0]?.n ?? 0);
}

/**
 * A page of a campaign's drops, oldest first, optionally of one status. A pending drop with a
 * send time in the schedule reads as queued at that time (as the progress counts it): to the
 * people reading the list, it is planned to go then.
 */
export async function listDrops(scope: PracticeScope, campaignId: string, page: { limit: number; offset: number; status?: DropStatus | undefined }): Promise<DropRow[]> {
  const planned = sql<boolean>`drops.id IN (SELECT s.drop_id FROM drop_schedule s WHERE s.campaign_id = ${campaignId})`;
  let query = campaignDrops(scope, campaignId).selectAll().orderBy('created_at').orderBy('id').limit(page.limit).offset(page.offset);
  if (page.status === 'queued') query = query.where((eb) => eb.or([eb('status', '=', 'queued'), eb.and([eb('status', '=', 'pending'), planned])]));
  else if (page.status === 'pending') query = query.where('status', '=', 'pending').where(sql<boolean>`NOT ${planned}`);
  else if (page.status) query = query.where('status', '=', page.status);
  const rows = await query.execute();
  const pendingIds = rows.filter((r) => r.status === 'pending').map((r) => r.id);
  if (pendingIds.length === 0) return rows;
  const times = await scope.db
    .selectFrom('drop_schedule')
    .select(['drop_id', (eb) => eb.fn.min('at').as('at')])
    .where('campaign_id', '=', campaignId)
    .where('practice_id', '=', scope.practiceId)
    .where('drop_id', 'in', pendingIds)
    .groupBy('drop_id')
    .execute();
  const at = new Map(times.map((t) => [t.drop_id, t.at]));
  return rows.map((r) => {
    const when = r.status === 'pending' ? at.get(r.id) : undefined;
    return when ? { ...r, status: 'queued', scheduled_for: when } : r;
  });
}

export async function loadDrop(db: Db, id: string): Promise<DropRow | undefined> {
  return db.selectFrom('drops').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Gives a drop a final status if it is still in one of `from`; what the audit needs when it did. */
export async function finishDropRow(
  db: Db,
  id: string,
  status: Extract<DropStatus, 'delivered' | 'failed' | 'skipped' | 'cancelled'>,
  reason: string | null,
  from: readonly DropStatus[],
  at: Date,
  providerRef?: string,
): Promise<Pick<DropRow, 'campaign_id' | 'practice_id' | 'attempts'> | undefined> {
  return db
    .updateTable('drops')
    .set({ status, reason, final_at: at, updated_at: at, ...(providerRef ? { provider_ref: providerRef } : {}) })
    .where('id', '=', id)
    .where('status', 'in', [...from])
    .returning(['campaign_id', 'practice_id', 'attempts'])
    .executeTakeFirst();
}

/** Moves a queued drop of this schedule version to a new time; false when it was no longer that. */
export async function rescheduleDrop(db: Db, id: string, version: number, at: Date, now: Date): Promise<boolean> {
  const moved = await db
    .updateTable('drops')
    // The worker queues the new version's job once this has landed (./drop-worker.ts, reschedule);
    // a stop between the two is repaired by the dispatcher's overdue pass (./dispatcher.ts).
    .set({ schedule_version: version + 1, scheduled_for: at, updated_at: now })
    .where('id', '=', id)
    .where('status', '=', 'queued')
    .where('schedule_version', '=', version)
    .executeTakeFirst();
  return Number(moved.numUpdatedRows) > 0;
}

/** Takes the patient's drop lock for the rest of the transaction: one drop decision per patient at a time. */
export async function lockPatientForDrop(trx: Transaction<Database>, patientId: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`drop-patient:${patientId}`}, 0))`.execute(trx);
}

/**
 * Claims a queued drop of this version as sent (in the caller's transaction), recording the
 * appointment its message speaks of; false when another run did.
 */
export async function claimDropSent(trx: Transaction<Database>, id: string, version: number, attempts: number, at: Date, appointmentId: string | null): Promise<boolean> {
  const claimed = await trx
    .updateTable('drops')
    .set({ status: 'sent', sent_at: at, attempts, updated_at: at, ...(appointmentId ? { appointment_id: appointmentId } : {}) })
    .where('id', '=', id)
    .where('status', '=', 'queued')
    .where('schedule_version', '=', version)
    .executeTakeFirst();
  return Number(claimed.numUpdatedRows) === 1;
}

export async function setProviderRef(db: Db, id: string, providerRef: string, at: Date): Promise<void> {
  await db.updateTable('drops').set({ provider_ref: providerRef, updated_at: at }).where('id', '=', id).execute();
}

/** A sent drop the provider did not place goes back to queued (same version) for BullMQ's retry. */
export async function unclaimDrop(db: Db, id: string, at: Date): Promise<void> {
  await db.updateTable('drops').set({ status: 'queued', sent_at: null, updated_at: at }).where('id', '=', id).where('status', '=', 'sent').execute();
}

/** Drops still 'sent' since before the cutoff (at most 1000). */
export async function staleSentDrops(db: Db, cutoff: Date): Promise<string[]> {
  const rows = await db.selectFrom('drops').select('id').where('status', '=', 'sent').where('sent_at', '<', cutoff).limit(1000).execute();
  return rows.map((r) => r.id);
}

/** A drop with its campaign's human-answer choice: what Twilio's answer callback needs. */
export async function dropForAnswer(
  db: Db,
  id: string,
): Promise<(Pick<DropRow, 'id' | 'status' | 'provider_ref' | 'practice_id' | 'campaign_id' | 'patient_id' | 'appointment_id'> & Pick<CampaignRow, 'human_answer'>) | undefined> {
  return db
    .selectFrom('drops')
    .innerJoin('campaigns', 'campaigns.id', 'drops.campaign_id')
    .select(['drops.id', 'drops.status', 'drops.provider_ref', 'drops.practice_id', 'drops.campaign_id', 'drops.patient_id', 'drops.appointment_id', 'campaigns.human_answer'])
    .where('drops.id', '=', id)
    .executeTakeFirst();
}

/** A drop with what decides its final state from Twilio's status callback. */
export async function dropForStatus(db: Db, id: string): Promise<(Pick<DropRow, 'id' | 'provider_ref' | 'answered_by'> & Pick<CampaignRow, 'human_answer'>) | undefined> {
  return db
    .selectFrom('drops')
    .innerJoin('campaigns', 'campaigns.id', 'drops.campaign_id')
    .select(['drops.id', 'drops.provider_ref', 'drops.answered_by', 'campaigns.human_answer'])
    .where('drops.id', '=', id)
    .executeTakeFirst();
}

export async function setAnsweredBy(db: Db, id: string, answeredBy: string, at: Date): Promise<void> {
  await db.updateTable('drops').set({ answered_by: answeredBy, updated_at: at }).where('id', '=', id).execute();
}

export async function dropProviderOf(db: Db, id: string): Promise<Pick<DropRow, 'id' | 'provider_ref' | 'provider'> | undefined> {
  return db.selectFrom('drops').select(['id', 'provider_ref', 'provider']).where('id', '=', id).executeTakeFirst();
}

// ---------------------------------------------------------------------------
// The dispatcher (./dispatcher.ts)

export interface DueDrop {
  id: string;
  schedule_version: number;
  scheduled_for: Date;
}

/**
 * Takes (in the caller's transaction) up to `limit` rows of the schedule due by `horizon`, of
 * running campaigns (or of one campaign), soonest first, skipping rows another instance holds
 * (`SKIP LOCKED`): deletes them, and makes each drop still pending queued at its time with a new
 * schedule version. Answers the drops queued (the caller queues their jobs once it has
 * committed); a row whose drop is no longer pending is only thrown away. The drops are locked
 * with `SKIP LOCKED` too: one another transaction holds (planning skipping it, in its own order)
 * keeps its row for a later sweep, and the two never wait on each other, so never deadlock.
 */
export async function takeDueDrops(trx: Transaction<Database>, horizon: Date, limit: number, now: Date, campaignId?: string): Promise<{ taken: number; queued: DueDrop[] }> {
  const rows = await sql<{ drop_id: string; id: string | null; schedule_version: number | null; scheduled_for: Date | null }>`
    WITH due AS (
      SELECT s.ctid AS row_id, s.drop_id
      FROM drop_schedule s JOIN campaigns c ON c.id = s.campaign_id
      WHERE c.state = 'running' AND s.at <= ${horizon} ${campaignId ? sql`AND s.campaign_id = ${campaignId}` : sql``}
      ORDER BY s.at
      LIMIT ${limit}
      FOR UPDATE OF s SKIP LOCKED
    ), mine AS (
      SELECT d.id FROM drops d WHERE d.id IN (SELECT drop_id FROM due) AND d.status = 'pending'
      FOR UPDATE OF d SKIP LOCKED
    ), gone AS (
      SELECT due.drop_id FROM due LEFT JOIN drops d ON d.id = due.drop_id WHERE d.id IS NULL OR d.status <> 'pending'
    ), taken AS (
      DELETE FROM drop_schedule s USING due
      WHERE s.ctid = due.row_id AND (due.drop_id IN (SELECT id FROM mine) OR due.drop_id IN (SELECT drop_id FROM gone))
      RETURNING s.drop_id, s.at
    ), queued AS (
      UPDATE drops d SET status = 'queued', schedule_version = d.schedule_version + 1, scheduled_for = taken.at, updated_at = ${now}
      FROM taken WHERE d.id = taken.drop_id AND d.id IN (SELECT id FROM mine)
      RETURNING d.id, d.schedule_version, d.scheduled_for
    )
    SELECT t.drop_id, q.id, q.schedule_version, q.scheduled_for FROM taken t LEFT JOIN queued q ON q.id = t.drop_id
  `.execute(trx);
  const queued = new Map<string, DueDrop>();
  for (const r of rows.rows) {
    if (r.id !== null && r.schedule_version !== null && r.scheduled_for !== null) queued.set(r.id, { id: r.id, schedule_version: r.schedule_version, scheduled_for: r.scheduled_for });
  }
  return { taken: rows.rows.length, queued: [...queued.values()] };
}

/**
 * Queued drops of running campaigns whose send time passed before `before`, oldest first (at
 * most `limit`): normally each has its job, delayed or running; one whose job a stop between the
 * dispatcher's commit and its queue lost is among them, and gets it again (./dispatcher.ts).
 */
export async function overdueQueuedDrops(db: Db, before: Date, limit: number): Promise<DueDrop[]> {
  return db
    .selectFrom('drops')
    .innerJoin('campaigns', 'campaigns.id', 'drops.campaign_id')
    .select(['drops.id', 'drops.schedule_version', sql<Date>`drops.scheduled_for`.as('scheduled_for')])
    .where('drops.status', '=', 'queued')
    .where('drops.scheduled_for', '<', before)
    .where('campaigns.state', '=', 'running')
    .orderBy('drops.scheduled_for')
    .limit(limit)
    .execute();
}
