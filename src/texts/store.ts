import { sql } from 'kysely';
import type { CallMatch } from '../adapters/db-schema.js';
import type { PracticeScope } from '../tenancy/scope.js';

/**
 * The patient texts' query module: `patient_texts` rows (migration 0023). Every function takes
 * the practice's scope (the SMS webhook's, minted for the practice that owns the number texted)
 * and names the practice in its filter. Values arrive sealed (./patient-texts.ts seals them).
 */

export interface SealedText {
  id: string;
  messageSid: string;
  fromIndex: string;
  fromEnc: Buffer;
  bodyEnc: Buffer | null;
  bodyChars: number;
  mediaCount: number;
  receivedAt: Date;
  /** The outreach message (ledger row) it replied to, if any (src/outreach/replies.ts). */
  outreachSendId?: string | null;
}

/**
 * Stores a text with its patient match (the practice's active patients with that number, by its
 * blind index, in the same statement: one patient names the text's patient, several leave it
 * open, still 'number'). A retry of the same MessageSid stores nothing and returns the row
 * already there: `created` says which.
 */
export async function insertPatientText(
  scope: PracticeScope,
  t: SealedText,
): Promise<{ id: string; created: boolean; match: CallMatch; patientId: string | null }> {
  const { practiceId } = scope;
  const inserted = await sql<{ id: string; match: CallMatch; patient_id: string | null }>`
    WITH m AS (
      SELECT count(DISTINCT n.patient_id) AS patients, (min(n.patient_id::text))::uuid AS one_patient
      FROM patient_phones n JOIN patients p ON p.id = n.patient_id AND p.active
      WHERE n.practice_id = ${practiceId}::uuid AND n.phone_index = ${t.fromIndex}
    )
    INSERT INTO patient_texts (id, practice_id, message_sid, from_index, from_enc, body_enc, body_chars, media_count, match, patient_id, received_at, outreach_send_id)
    SELECT ${t.id}::uuid, ${practiceId}::uuid, ${t.messageSid}::text, ${t.fromIndex}::text, ${t.fromEnc}::bytea, ${t.bodyEnc}::bytea,
           ${t.bodyChars}::int, ${t.mediaCount}::int,
           CASE WHEN m.patients > 0 THEN 'number' ELSE 'unknown' END,
           CASE WHEN m.patients = 1 THEN m.one_patient END,
           ${t.receivedAt}::timestamptz, ${t.outreachSendId ?? null}::uuid
    FROM m
    ON CONFLICT (practice_id, message_sid) DO NOTHING
    RETURNING id, match, patient_id
  `.execute(scope.db);
  const row = inserted.rows[0];
  if (row) return { id: row.id, created: true, match: row.match, patientId: row.patient_id };
  const existing = await scope.db
    .selectFrom('patient_texts')
    .select(['id', 'match', 'patient_id'])
    .where('practice_id', '=', practiceId)
    .where('message_sid', '=', t.messageSid)
    .executeTakeFirstOrThrow();
  return { id: existing.id, created: false, match: existing.match, patientId: existing.patient_id };
}

export interface PatientTextRow {
  id: string;
  messageSid: string;
  fromEnc: Buffer;
  bodyEnc: Buffer | null;
  mediaCount: number;
  match: CallMatch;
  patientId: string | null;
  receivedAt: Date;
  taskId: string | null;
  outreachSendId: string | null;
}

/** One of the practice's texts, sealed as stored; undefined when it is not the practice's. */
export async function getPatientText(scope: PracticeScope, id: string): Promise<PatientTextRow | undefined> {
  const r = await scope.db.selectFrom('patient_texts').selectAll().where('practice_id', '=', scope.practiceId).where('id', '=', id).executeTakeFirst();
  return r
    ? { id: r.id, messageSid: r.message_sid, fromEnc: r.from_enc, bodyEnc: r.body_enc, mediaCount: r.media_count, match: r.match, patientId: r.patient_id, receivedAt: r.received_at, taskId: r.task_id, outreachSendId: r.outreach_send_id }
    : undefined;
}

/** Links a text to the callback task made from it (the tasks module calls it; first link wins). */
export async function linkPatientTextTask(scope: PracticeScope, id: string, taskId: string): Promise<boolean> {
  const res = await scope.db
    .updateTable('patient_texts')
    .set({ task_id: taskId })
    .where('practice_id', '=', scope.practiceId)
    .where('id', '=', id)
    .where('task_id', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** The outreach message a stored text replied to, set once by its job (src/texts/patient-texts.ts). */
export async function linkPatientTextOutreachSend(scope: PracticeScope, id: string, sendId: string): Promise<void> {
  await scope.db
    .updateTable('patient_texts')
    .set({ outreach_send_id: sendId })
    .where('practice_id', '=', scope.practiceId)
    .where('id', '=', id)
    .where('outreach_send_id', 'is', null)
    .execute();
}
