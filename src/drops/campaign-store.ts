import { sql, type Selectable, type Transaction } from 'kysely';
import type { Db } from '../adapters/postgres.js';
import type { CampaignsTable, Database, DropStatus, DropVendor, DropsTable, OutreachCampaignChannel } from '../adapters/db-schema.js';
import type { PracticeScope } from '../tenancy/scope.js';
import type { TemplatePlaceholder } from './types.js';

/**
 * The ringless-voicemail domain's query module for campaigns and their drops: campaigns.ts plans
 * and commands, drop-worker.ts sends, the API lists; every read and write of `campaigns` and
 * `drops` for them happens here. It also reads `patients` for what eligibility needs (bulk, by id).
 * Bulk statements work in chunks of CHUNK rows (a campaign may have 100,000 recipients).
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
 * The drops these patients (at most CHUNK) were sent since `since`, by any ringless-voicemail
 * campaign of the practice. An SMS campaign's rows are not counted here: its messages are in the
 * send ledger (src/outreach/sends-store.ts, recentSmsOf), with every other SMS.
 */
export async function recentDropsOf(scope: PracticeScope, ids: readonly string[], since: Date): Promise<Array<Pick<DropRow, 'patient_id' | 'sent_at'>>> {
  return scope.db
    .selectFrom('drops')
    .innerJoin('campaigns', 'campaigns.id', 'drops.campaign_id')
    .select(['drops.patient_id', 'drops.sent_at'])
    .where('drops.practice_id', '=', scope.practiceId)
    .where('campaigns.channel', '=', 'rvm')
    .where(sql<boolean>`drops.patient_id = ANY(${ids}::uuid[])`)
    .where('drops.status', 'in', ['sent', 'delivered', 'failed'])
    .where('drops.sent_at', '>', since)
    .execute();
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

export async function waitingDrops(scope: PracticeScope, campaignId: string): Promise<WaitingDrop[]> {
  return campaignDrops(scope, campaignId).select(['id', 'patient_id', 'appointment_id']).where('status', 'in', ['pending', 'queued']).execute();
}

export async function hasRecipients(scope: PracticeScope, campaignId: string): Promise<boolean> {
  return (await campaignDrops(scope, campaignId).select('id').limit(1).executeTakeFirst()) !== undefined;
}

/** Whether a campaign still has a drop to send or to hear about. */
export async function hasUnfinishedDrops(scope: PracticeScope, campaignId: string): Promise<boolean> {
  const left = await campaignDrops(scope, campaignId).select('id').where('status', 'in', ['pending', 'queued', 'sent']).limit(1).executeTakeFirst();
  return left !== undefined;
}

/** Rows per statement of the plan's bulk updates (queueDropsAt): fewer, larger statements, each well inside the statement timeout. */
export const PLAN_CHUNK = 10_000;

/**
 * Queues waiting drops (at most PLAN_CHUNK) at their send times, each with a new schedule version,
 * in one statement; answers only the rows due by `dueBy` (what gets its job now). The drops are
 * found by their primary key (`id = ANY`), not by joining the whole campaign.
 */
export async function queueDropsAt(
  scope: PracticeScope,
  ids: readonly string[],
  at: readonly string[],
  now: Date,
  dueBy: Date,
): Promise<Array<{ id: string; schedule_version: number; scheduled_for: Date }>> {
  const rows = await sql<{ id: string; schedule_version: number; scheduled_for: Date }>`
    WITH queued AS (
      UPDATE drops SET status = 'queued', schedule_version = drops.schedule_version + 1, scheduled_for = u.at, updated_at = ${now}
      FROM unnest(${ids}::uuid[], ${at}::timestamptz[]) AS u(id, at)
      WHERE drops.id = u.id AND drops.id = ANY(${ids}::uuid[]) AND drops.practice_id = ${scope.practiceId} AND drops.status IN ('pending', 'queued')
      RETURNING drops.id, drops.schedule_version, drops.scheduled_for
    )
    SELECT id, schedule_version, scheduled_for FROM queued WHERE scheduled_for <= ${dueBy}
  `.execute(scope.db);
  return rows.rows;
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

/** The first and last send times of a campaign's queued drops. */
export async function queuedSpan(scope: PracticeScope, campaignId: string): Promise<{ next: unknown; last: unknown } | undefined> {
  return campaignDrops(scope, campaignId)
    .select([(eb) => eb.fn.min('scheduled_for').as('next'), (eb) => eb.fn.max('scheduled_for').as('last')])
    .where('status', '=', 'queued')
    .executeTakeFirst();
}

/** A page of a campaign's drops, oldest first, optionally of one status. */
export async function listDrops(scope: PracticeScope, campaignId: string, page: { limit: number; offset: number; status?: DropStatus | undefined }): Promise<DropRow[]> {
  let query = campaignDrops(scope, campaignId).selectAll().orderBy('created_at').orderBy('id').limit(page.limit).offset(page.offset);
  if (page.status) query = query.where('status', '=', page.status);
  return query.execute();
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
    // The worker queues the new version's job itself (marked dispatched, so the sweep leaves it).
    .set({ schedule_version: version + 1, dispatched_version: version + 1, scheduled_for: at, updated_at: now })
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
 * Claims (row locks, in the caller's transaction) up to `limit` queued drops of running campaigns
 * due by `horizon` whose schedule version has no job yet, oldest first; rows another instance
 * holds are skipped (`SKIP LOCKED`).
 */
export async function claimDueDrops(trx: Transaction<Database>, horizon: Date, limit: number): Promise<DueDrop[]> {
  const due = await sql<DueDrop>`
    SELECT d.id, d.schedule_version, d.scheduled_for
    FROM drops d JOIN campaigns c ON c.id = d.campaign_id
    WHERE d.status = 'queued' AND d.dispatched_version IS DISTINCT FROM d.schedule_version
      AND d.scheduled_for <= ${horizon} AND c.state = 'running'
    ORDER BY d.scheduled_for
    LIMIT ${limit}
    FOR UPDATE OF d SKIP LOCKED
  `.execute(trx);
  return due.rows;
}

/** Records that these drops' current schedule versions have their jobs (a version changed meanwhile is left alone). */
export async function markDispatched(db: Db, rows: readonly DueDrop[]): Promise<void> {
  if (rows.length === 0) return;
  await sql`
    UPDATE drops SET dispatched_version = u.v
    FROM unnest(${rows.map((r) => r.id)}::uuid[], ${rows.map((r) => r.schedule_version)}::int[]) AS u(id, v)
    WHERE drops.id = u.id AND drops.schedule_version = u.v
  `.execute(db);
}
