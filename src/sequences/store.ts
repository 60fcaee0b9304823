import { sql, type Selectable } from 'kysely';
import { inTransaction, type Db } from '../adapters/postgres.js';
import type { SequenceChannel, SequenceCondition, SequenceRecipientsTable, SequenceState, SequenceStepsTable, SequenceStopReason, SequencesTable } from '../adapters/db-schema.js';
import type { PracticeScope } from '../tenancy/scope.js';

/**
 * The sequences domain's query module (0039): sequences, their steps, recipients and each
 * recipient's path (`sequence_step_runs`). What the API reaches takes the practice's scope and
 * names the practice in every filter; the sweep claims due recipients across practices on the
 * system role, then acts through a system scope for each one's practice.
 */

export type SequenceRow = Selectable<SequencesTable>;
export type StepRow = Selectable<SequenceStepsTable>;
export type RecipientRow = Selectable<SequenceRecipientsTable>;

const CHUNK = 5_000;

export async function insertSequence(
  scope: PracticeScope,
  s: { name: string; messageType: string; createdBy: string; steps: ReadonlyArray<{ channel: SequenceChannel; templateId: string; waitHours: number; condition: SequenceCondition; campaignId: string | null }> },
): Promise<string> {
  return inTransaction(scope.db, async (trx) => {
    const row = await trx.insertInto('sequences').values({ practice_id: scope.practiceId, name: s.name, message_type: s.messageType, created_by: s.createdBy }).returning('id').executeTakeFirstOrThrow();
    await trx
      .insertInto('sequence_steps')
      .values(s.steps.map((st, position) => ({ sequence_id: row.id, practice_id: scope.practiceId, position, channel: st.channel, template_id: st.templateId, wait_hours: st.waitHours, condition: st.condition, campaign_id: st.campaignId })))
      .execute();
    return row.id;
  });
}

export async function sequenceOf(scope: PracticeScope, id: string): Promise<SequenceRow | undefined> {
  return scope.db.selectFrom('sequences').selectAll().where('id', '=', id).where('practice_id', '=', scope.practiceId).executeTakeFirst();
}

export async function stepsOf(scope: PracticeScope, sequenceId: string): Promise<StepRow[]> {
  return scope.db.selectFrom('sequence_steps').selectAll().where('sequence_id', '=', sequenceId).where('practice_id', '=', scope.practiceId).orderBy('position').execute();
}

/** Moves a sequence from the state it was read in; false when it changed meanwhile. */
export async function transitionSequence(scope: PracticeScope, id: string, from: SequenceState, to: SequenceState, at: Date): Promise<boolean> {
  const r = await scope.db
    .updateTable('sequences')
    .set({ state: to, updated_at: at, ...(from === 'draft' && to === 'running' ? { started_at: at } : {}) })
    .where('id', '=', id)
    .where('practice_id', '=', scope.practiceId)
    .where('state', '=', from)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Locks the sequence's row until the caller's transaction ends (an audience add and a start take it in turn); its state, or undefined. */
export async function lockSequence(scope: PracticeScope, id: string): Promise<SequenceState | undefined> {
  const row = await scope.db.selectFrom('sequences').select('state').where('id', '=', id).where('practice_id', '=', scope.practiceId).forUpdate().executeTakeFirst();
  return row?.state;
}

/**
 * Adds recipients to a sequence that is still a draft, in one transaction holding the sequence's
 * row: a start waits for it (and then schedules every row added), or went first and this answers
 * its state; so no recipient is added to a running sequence without a due time.
 */
export async function insertDraftRecipients(
  scope: PracticeScope,
  sequenceId: string,
  recipients: ReadonlyArray<{ patientId: string; appointmentId: string | null; dueAt: Date | null }>,
): Promise<{ added: Set<string> } | { state: SequenceState | undefined }> {
  return inTransaction(scope.db, async (trx) => {
    const tx = { ...scope, db: trx } as PracticeScope;
    const state = await lockSequence(tx, sequenceId);
    if (state !== 'draft') return { state };
    return { added: await insertRecipients(tx, sequenceId, recipients) };
  });
}

/** Starts a draft sequence: under its row's lock, every recipient without a time of its own comes due at `firstDue`, and the state moves to running; false when it was no longer a draft. */
export async function startSequence(scope: PracticeScope, id: string, at: Date, firstDue: Date): Promise<boolean> {
  return inTransaction(scope.db, async (trx) => {
    const tx = { ...scope, db: trx } as PracticeScope;
    if ((await lockSequence(tx, id)) !== 'draft') return false;
    await scheduleFirstStep(tx, id, firstDue);
    return transitionSequence(tx, id, 'draft', 'running', at);
  });
}

/** Adds recipients (a patient already one is skipped), each optionally due at its own time (a reminder before their appointment); the patients added. */
export async function insertRecipients(
  scope: PracticeScope,
  sequenceId: string,
  recipients: ReadonlyArray<{ patientId: string; appointmentId: string | null; dueAt: Date | null }>,
): Promise<Set<string>> {
  const added = new Set<string>();
  for (let i = 0; i < recipients.length; i += CHUNK) {
    const rows = await scope.db
      .insertInto('sequence_recipients')
      .values(recipients.slice(i, i + CHUNK).map((r) => ({ sequence_id: sequenceId, practice_id: scope.practiceId, patient_id: r.patientId, appointment_id: r.appointmentId, next_due_at: r.dueAt })))
      .onConflict((oc) => oc.columns(['sequence_id', 'patient_id']).doNothing())
      .returning('patient_id')
      .execute();
    for (const r of rows) added.add(r.patient_id);
  }
  return added;
}

/** At start: every recipient without a time of its own is due at `at` plus the first step's wait. */
export async function scheduleFirstStep(scope: PracticeScope, sequenceId: string, at: Date): Promise<void> {
  await scope.db
    .updateTable('sequence_recipients')
    .set({ next_due_at: at, updated_at: at })
    .where('sequence_id', '=', sequenceId)
    .where('practice_id', '=', scope.practiceId)
    .where('next_due_at', 'is', null)
    .where('stopped_reason', 'is', null)
    .execute();
}

/** Stops every recipient not yet stopped (a cancelled sequence); how many. */
export async function stopAll(scope: PracticeScope, sequenceId: string, reason: SequenceStopReason, at: Date): Promise<number> {
  const r = await scope.db
    .updateTable('sequence_recipients')
    .set({ stopped_reason: reason, stopped_at: at, next_due_at: null, updated_at: at })
    .where('sequence_id', '=', sequenceId)
    .where('practice_id', '=', scope.practiceId)
    .where('stopped_reason', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

export async function hasRecipients(scope: PracticeScope, sequenceId: string): Promise<boolean> {
  return (await scope.db.selectFrom('sequence_recipients').select('id').where('sequence_id', '=', sequenceId).where('practice_id', '=', scope.practiceId).limit(1).executeTakeFirst()) !== undefined;
}

export async function hasActiveRecipients(scope: PracticeScope, sequenceId: string): Promise<boolean> {
  const row = await scope.db.selectFrom('sequence_recipients').select('id').where('sequence_id', '=', sequenceId).where('practice_id', '=', scope.practiceId).where('stopped_reason', 'is', null).limit(1).executeTakeFirst();
  return row !== undefined;
}

export interface DueRecipient {
  id: string;
  sequence_id: string;
  practice_id: string;
}

/**
 * Claims up to `limit` recipients of running sequences due by `now`: each one's next_due_at moves
 * to `leaseUntil`, so another instance's sweep (which skips rows locked meanwhile) does not take
 * it again while this one works; a sweep that dies leaves it due again when the lease ends.
 */
export async function claimDueRecipients(db: Db, now: Date, leaseUntil: Date, limit: number): Promise<DueRecipient[]> {
  const due = await sql<DueRecipient>`
    UPDATE sequence_recipients r SET next_due_at = ${leaseUntil}, updated_at = ${now}
    WHERE r.id IN (
      SELECT r2.id FROM sequence_recipients r2 JOIN sequences s ON s.id = r2.sequence_id
      WHERE r2.stopped_reason IS NULL AND r2.next_due_at <= ${now} AND s.state = 'running'
      ORDER BY r2.next_due_at
      LIMIT ${limit}
      FOR UPDATE OF r2 SKIP LOCKED
    )
    RETURNING r.id, r.sequence_id, r.practice_id
  `.execute(db);
  return due.rows;
}

export async function recipientById(scope: PracticeScope, id: string): Promise<RecipientRow | undefined> {
  return scope.db.selectFrom('sequence_recipients').selectAll().where('id', '=', id).where('practice_id', '=', scope.practiceId).executeTakeFirst();
}

/** What a step's condition reads of one recipient: their appointment's status, their number's blind index, and the previous step's send. */
export async function recipientFacts(
  scope: PracticeScope,
  r: RecipientRow,
): Promise<{ appointmentStatus: string | null; phoneIndex: string | null; previous: { position: number; dropStatus: string | null; sendStatus: string | null; repliedAt: Date | null; outcome: string } | null }> {
  const appointment = r.appointment_id
    ? await scope.db.selectFrom('appointments').select('status').where('id', '=', r.appointment_id).where('practice_id', '=', scope.practiceId).executeTakeFirst()
    : undefined;
  const patient = await scope.db.selectFrom('patients').select('phone_index').where('id', '=', r.patient_id).where('practice_id', '=', scope.practiceId).executeTakeFirst();
  const previous =
    r.current_step > 0
      ? await scope.db
          .selectFrom('sequence_step_runs as run')
          .leftJoin('drops', 'drops.id', 'run.drop_id')
          // An SMS drop's message is in the ledger under the drop's key; an e-mail step's is named by the run.
          .leftJoin('outreach_sends as s', (j) => j.on(sql<boolean>`s.practice_id = run.practice_id AND (s.id = run.send_id OR s.idempotency_key = 'drop:' || run.drop_id::text)`))
          .select(['run.position', 'run.outcome', 'drops.status as dropStatus', 's.status as sendStatus', 's.replied_at as repliedAt'])
          .where('run.recipient_id', '=', r.id)
          .where('run.practice_id', '=', scope.practiceId)
          .where('run.position', '=', r.current_step - 1)
          .executeTakeFirst()
      : undefined;
  return { appointmentStatus: appointment?.status ?? null, phoneIndex: patient?.phone_index ?? null, previous: previous ?? null };
}

/** Records what a step did for a recipient and moves them on: to the next step at `nextDueAt`, or stopped. */
export async function recordStep(
  scope: PracticeScope,
  r: { id: string; position: number },
  run: { outcome: 'sent' | 'skipped'; reason: string | null; dropId?: string | null; sendId?: string | null } | null,
  next: { dueAt: Date } | { stop: SequenceStopReason },
  at: Date,
): Promise<void> {
  await scope.db.transaction().execute(async (trx) => {
    if (run) {
      await trx
        .insertInto('sequence_step_runs')
        .values({ recipient_id: r.id, position: r.position, practice_id: scope.practiceId, outcome: run.outcome, reason: run.reason, drop_id: run.dropId ?? null, send_id: run.sendId ?? null, at })
        .onConflict((oc) => oc.columns(['recipient_id', 'position']).doNothing())
        .execute();
    }
    await trx
      .updateTable('sequence_recipients')
      .set(
        'dueAt' in next
          ? { current_step: r.position + 1, next_due_at: next.dueAt, updated_at: at }
          : { ...(run ? { current_step: r.position + 1 } : {}), next_due_at: null, stopped_reason: next.stop, stopped_at: at, updated_at: at },
      )
      .where('id', '=', r.id)
      .where('practice_id', '=', scope.practiceId)
      .execute();
  });
}

/** A drop of a step's campaign for this patient (the drop a step's send became). */
export async function dropFor(scope: PracticeScope, campaignId: string, patientId: string): Promise<string | null> {
  const row = await scope.db.selectFrom('drops').select('id').where('campaign_id', '=', campaignId).where('patient_id', '=', patientId).where('practice_id', '=', scope.practiceId).executeTakeFirst();
  return row?.id ?? null;
}

/** Completes a running sequence; true when this call did. */
export async function markSequenceCompleted(scope: PracticeScope, id: string, at: Date): Promise<boolean> {
  return transitionSequence(scope, id, 'running', 'completed', at);
}

/** Reopens a step's campaign the drop worker completed while the sequence still feeds it. */
export async function reopenCampaign(scope: PracticeScope, campaignId: string, at: Date): Promise<boolean> {
  const r = await scope.db.updateTable('campaigns').set({ state: 'running', updated_at: at }).where('id', '=', campaignId).where('practice_id', '=', scope.practiceId).where('state', '=', 'completed').executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export interface PathRow {
  recipient_id: string;
  patient_id: string;
  appointment_id: string | null;
  stopped_reason: string | null;
  current_step: number;
  position: number | null;
  outcome: string | null;
  reason: string | null;
  at: Date | null;
  drop_status: string | null;
  drop_reason: string | null;
  send_status: string | null;
  send_reason: string | null;
  replied_at: Date | null;
  appointment_status: string | null;
}

/** Every recipient's path (one row per step run, or one with no run), ids and states only: the report's source. */
export async function sequencePaths(scope: PracticeScope, sequenceId: string): Promise<PathRow[]> {
  const rows = await sql<PathRow>`
    SELECT r.id AS recipient_id, r.patient_id, r.appointment_id, r.stopped_reason, r.current_step,
           run.position, run.outcome, run.reason, run.at,
           d.status AS drop_status, d.reason AS drop_reason, s.status AS send_status, s.reason AS send_reason, s.replied_at,
           a.status AS appointment_status
    FROM sequence_recipients r
    LEFT JOIN sequence_step_runs run ON run.recipient_id = r.id
    LEFT JOIN drops d ON d.id = run.drop_id
    LEFT JOIN outreach_sends s ON s.practice_id = r.practice_id AND (s.id = run.send_id OR s.idempotency_key = 'drop:' || run.drop_id::text)
    LEFT JOIN appointments a ON a.id = r.appointment_id
    WHERE r.sequence_id = ${sequenceId} AND r.practice_id = ${scope.practiceId}
    ORDER BY r.created_at, r.id, run.position
  `.execute(scope.db);
  return rows.rows;
}

export interface SequenceListRow {
  id: string;
  name: string;
  state: SequenceState;
  message_type: string;
  created_at: Date;
  started_at: Date | null;
  steps: number;
  recipients: number;
  active: number;
}

/** The practice's sequences, newest first, with their step and recipient counts (active: not yet stopped). */
export async function listSequences(scope: PracticeScope, page: { limit: number; offset: number }): Promise<SequenceListRow[]> {
  const rows = await sql<SequenceListRow>`
    SELECT s.id, s.name, s.state, s.message_type, s.created_at, s.started_at,
           (SELECT count(*)::int FROM sequence_steps st WHERE st.sequence_id = s.id AND st.practice_id = s.practice_id) AS steps,
           (SELECT count(*)::int FROM sequence_recipients r WHERE r.sequence_id = s.id AND r.practice_id = s.practice_id) AS recipients,
           (SELECT count(*)::int FROM sequence_recipients r WHERE r.sequence_id = s.id AND r.practice_id = s.practice_id AND r.stopped_reason IS NULL) AS active
    FROM sequences s
    WHERE s.practice_id = ${scope.practiceId}
    ORDER BY s.created_at DESC, s.id DESC
    LIMIT ${page.limit} OFFSET ${page.offset}
  `.execute(scope.db);
  return rows.rows;
}

/** Each recipient's first due time and appointment, in the order added (ids and times only). */
export async function recipientSchedule(scope: PracticeScope, sequenceId: string): Promise<Array<{ patient_id: string; appointment_id: string | null; next_due_at: Date | null }>> {
  return scope.db
    .selectFrom('sequence_recipients')
    .select(['patient_id', 'appointment_id', 'next_due_at'])
    .where('sequence_id', '=', sequenceId)
    .where('practice_id', '=', scope.practiceId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

/** Of these appointment ids, the practice's own, each with its patient. */
export async function appointmentPatients(scope: PracticeScope, ids: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 0; i < ids.length; i += CHUNK) {
    const rows = await scope.db
      .selectFrom('appointments')
      .select(['id', 'patient_id'])
      .where('practice_id', '=', scope.practiceId)
      .where(sql<boolean>`id = ANY(${ids.slice(i, i + CHUNK)}::uuid[])`)
      .execute();
    for (const r of rows) out.set(r.id, r.patient_id);
  }
  return out;
}
