import { sql } from 'kysely';
import type { Keyring } from '../adapters/keyring.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { openField, sealField } from './store.js';

/**
 * Merging a duplicate record into the one that survives. One transaction: the duplicate becomes
 * inactive with merged_into = survivor, and the rows naming it move to the survivor. Nothing is
 * deleted: consents (append-only) are copied, and a row that would clash with one the survivor
 * already has (the same number, an appointment at the same time, a drop of the same campaign)
 * stays with the duplicate, where its history can still be read. The survivor takes the
 * duplicate's e-mail address (opened and sealed again under its own id, the blind index copied)
 * and recall date when it has none, as it takes the numbers it does not have.
 */

export interface MergeCounts {
  phones: number;
  appointments: number;
  consents: number;
  drops: number;
  voicemails: number;
  lockouts: number;
  /** 1 when the survivor took the duplicate's e-mail address, else 0. */
  email: number;
  /** 1 when the survivor took the duplicate's recall date, else 0. */
  recallDue: number;
}

export type MergeResult =
  | { ok: true; moved: MergeCounts }
  | { ok: false; reason: 'not_found'; field: 'survivorId' | 'duplicateId' }
  | { ok: false; reason: 'invalid'; field: 'survivorId' | 'duplicateId'; message: string };

export async function mergePatients(scope: PracticeScope, keyring: Keyring, survivorId: string, duplicateId: string): Promise<MergeResult> {
  if (survivorId === duplicateId) return { ok: false, reason: 'invalid', field: 'duplicateId', message: 'duplicateId: a patient cannot be merged into itself' };
  return scope.db.transaction().execute(async (trx) => {
    const rows = await trx
      .selectFrom('patients')
      .select(['id', 'active', 'merged_into', 'email_enc', 'email_index', 'recall_due'])
      .where('practice_id', '=', scope.practiceId)
      .where('id', 'in', [survivorId, duplicateId])
      .orderBy('id')
      .forUpdate()
      .execute();
    const survivor = rows.find((r) => r.id === survivorId);
    const duplicate = rows.find((r) => r.id === duplicateId);
    if (!survivor) return { ok: false, reason: 'not_found', field: 'survivorId' } as const;
    if (!duplicate) return { ok: false, reason: 'not_found', field: 'duplicateId' } as const;
    if (!survivor.active) return { ok: false, reason: 'invalid', field: 'survivorId', message: 'survivorId: the surviving patient must be active' } as const;
    if (duplicate.merged_into) return { ok: false, reason: 'invalid', field: 'duplicateId', message: 'duplicateId: already merged' } as const;

    const practice = scope.practiceId;
    const count = (r: { numUpdatedRows?: bigint; numInsertedOrUpdatedRows?: bigint; rowCount?: number } | undefined): number => Number(r?.numUpdatedRows ?? r?.numInsertedOrUpdatedRows ?? 0);

    // Numbers the survivor does not have yet; the survivor's preferred number stays preferred.
    const phones = await trx
      .updateTable('patient_phones')
      .set({ patient_id: survivorId, preferred: false })
      .where('practice_id', '=', practice)
      .where('patient_id', '=', duplicateId)
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('patient_phones as s').select(sql`1`.as('one')).where('s.patient_id', '=', survivorId).whereRef('s.phone_index', '=', 'patient_phones.phone_index'))),
      )
      .executeTakeFirst();
    const appointments = await trx
      .updateTable('appointments')
      .set({ patient_id: survivorId, updated_at: new Date() })
      .where('practice_id', '=', practice)
      .where('patient_id', '=', duplicateId)
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('appointments as s').select(sql`1`.as('one')).where('s.patient_id', '=', survivorId).whereRef('s.starts_at', '=', 'appointments.starts_at'))),
      )
      .executeTakeFirst();
    // Consent history is append-only: the duplicate's rows are copied, in their order, for the
    // channels the survivor has no history of (its own, newer decisions are never overridden).
    const consents = await sql`
      INSERT INTO consents (practice_id, patient_id, channel, action, source, disclosure_version, recorded_by, evidence_ref, recorded_at)
      SELECT practice_id, ${survivorId}::uuid, channel, action, source, disclosure_version, recorded_by, evidence_ref, recorded_at
      FROM consents c
      WHERE c.practice_id = ${practice}::uuid AND c.patient_id = ${duplicateId}::uuid
        AND NOT EXISTS (SELECT 1 FROM consents s WHERE s.patient_id = ${survivorId}::uuid AND s.channel = c.channel)
      ORDER BY c.seq
    `.execute(trx);
    const drops = await trx
      .updateTable('drops')
      .set({ patient_id: survivorId })
      .where('practice_id', '=', practice)
      .where('patient_id', '=', duplicateId)
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('drops as s').select(sql`1`.as('one')).where('s.patient_id', '=', survivorId).whereRef('s.campaign_id', '=', 'drops.campaign_id'))),
      )
      .executeTakeFirst();
    const voicemails = await trx.updateTable('voicemails').set({ patient_id: survivorId }).where('practice_id', '=', practice).where('patient_id', '=', duplicateId).executeTakeFirst();
    // The duplicate's calls on record are the survivor's (GET /api/calls?patientId= finds them).
    const calls = await trx.updateTable('calls').set({ patient_id: survivorId }).where('practice_id', '=', practice).where('patient_id', '=', duplicateId).executeTakeFirst();
    const lockouts = await trx.updateTable('verification_lockouts').set({ patient_id: survivorId }).where('practice_id', '=', practice).where('patient_id', '=', duplicateId).executeTakeFirst();
    await trx.updateTable('patients').set({ active: false, merged_into: survivorId, updated_at: new Date() }).where('id', '=', duplicateId).where('practice_id', '=', practice).execute();
    // The e-mail address and the recall date the survivor has not: taken from the duplicate (which keeps its own).
    const takesEmail = !survivor.email_enc && duplicate.email_enc !== null && duplicate.email_index !== null;
    const takesRecall = survivor.recall_due === null && duplicate.recall_due !== null;
    const emailEnc =
      takesEmail && duplicate.email_enc ? await sealField(keyring, 'email', await openField(keyring, 'email', duplicate.email_enc, duplicateId, practice), survivorId, practice) : null;
    await trx
      .updateTable('patients')
      .set({
        updated_at: new Date(),
        ...(emailEnc ? { email_enc: emailEnc, email_index: duplicate.email_index } : {}),
        ...(takesRecall ? { recall_due: sql<string>`(SELECT d.recall_due FROM patients d WHERE d.id = ${duplicateId}::uuid AND d.practice_id = ${practice}::uuid)` } : {}),
      })
      .where('id', '=', survivorId)
      .where('practice_id', '=', practice)
      .execute();
    return {
      ok: true,
      moved: {
        phones: count(phones),
        appointments: count(appointments),
        consents: Number(consents.numAffectedRows ?? 0n),
        drops: count(drops),
        voicemails: count(voicemails),
        lockouts: count(lockouts),
        calls: count(calls),
        email: emailEnc ? 1 : 0,
        recallDue: takesRecall ? 1 : 0,
      },
    } as const;
  });
}
