import { sql } from 'kysely';
import type { Services } from '../services.js';
import { AuditAction } from '../audit/events.js';
import { receiveRecording } from './pipeline.js';
import { sweepSentDrops } from '../rvm/drop-worker.js';

/**
 * Scheduled upkeep of voicemail: the reconciler (nothing lost even if a recording callback
 * never arrived) and retention (audio deleted when a practice's retention runs out; the
 * voicemail row and its audit events stay).
 */

export const RECONCILE_EVERY_MS = 15 * 60_000;
export const RETENTION_EVERY_MS = 60 * 60_000;
/** How far back the reconciler looks at Twilio's recordings. */
export const RECONCILE_WINDOW_MS = 7 * 24 * 60 * 60_000;

export type MaintenanceJobData = { task: 'reconcile' } | { task: 'retention' } | { task: 'drop-sweep' };
export const DROP_SWEEP_EVERY_MS = 30 * 60_000;

/** Compares Twilio's recordings for the account with ours and queues any we never heard of. */
export async function reconcileRecordings(services: Services): Promise<{ seen: number; queued: number }> {
  const since = new Date(services.clock().getTime() - RECONCILE_WINDOW_MS);
  let seen = 0;
  let queued = 0;
  for await (const rec of services.twilio.listRecordings({ dateCreatedAfter: since, pageSize: 100 })) {
    seen += 1;
    if (rec.status !== 'completed') continue;
    const known = await services.db.selectFrom('voicemails').select('id').where('recording_sid', '=', rec.sid).executeTakeFirst();
    if (known) continue;
    // Urgency from what the call recorded when the message was taken; unknown counts as urgent.
    const taken = await services.db
      .selectFrom('audit_log')
      .select('details')
      .where('call_sid', '=', rec.callSid)
      .where('action', '=', 'voicemail.taken')
      .orderBy('seq', 'desc')
      .executeTakeFirst();
    const urgency = (taken?.details as { urgency?: string } | undefined)?.urgency === 'routine' ? 'routine' : 'urgent';
    const result = await receiveRecording(services, {
      callSid: rec.callSid,
      recordingSid: rec.sid,
      durationSeconds: rec.duration,
      urgency,
      node: null,
      source: 'reconciler',
    });
    if (result?.created) {
      queued += 1;
      await services.audit({ action: AuditAction.VoicemailReconciled, actor: 'system:reconciler', practiceId: null, callSid: rec.callSid, subjectId: result.voicemailId, details: { recordingSid: rec.sid } });
    }
  }
  return { seen, queued };
}

/** Deletes the audio of voicemails older than their practice's retention. */
export async function applyRetention(services: Services): Promise<{ deleted: number }> {
  const now = services.clock();
  const due = await services.db
    .selectFrom('voicemails')
    .innerJoin('practices', 'practices.id', 'voicemails.practice_id')
    .select(['voicemails.id', 'voicemails.practice_id', 'voicemails.call_sid', 'voicemails.storage_key', 'practices.voicemail_retention_days'])
    .where('voicemails.state', 'in', ['stored', 'complete'])
    .where('voicemails.storage_key', 'is not', null)
    .where(sql<boolean>`voicemails.created_at < ${now}::timestamptz - make_interval(days => practices.voicemail_retention_days)`)
    .limit(500)
    .execute();
  let deleted = 0;
  for (const v of due) {
    if (v.storage_key) await services.storage.delete(v.storage_key);
    await services.db.updateTable('voicemails').set({ state: 'expired', audio_deleted_at: now, updated_at: now }).where('id', '=', v.id).execute();
    await services.audit({
      action: AuditAction.VoicemailAudioDeleted,
      actor: 'system:retention',
      practiceId: v.practice_id,
      callSid: v.call_sid,
      subjectId: v.id,
      details: { retentionDays: v.voicemail_retention_days },
    });
    deleted += 1;
  }
  return { deleted };
}

export async function processMaintenanceJob(services: Services, data: MaintenanceJobData): Promise<unknown> {
  switch (data.task) {
    case 'reconcile':
      return reconcileRecordings(services);
    case 'retention':
      return applyRetention(services);
    case 'drop-sweep':
      return sweepSentDrops(services);
    default:
      return data satisfies never;
  }
}

/** Registers the repeating jobs (idempotent: a scheduler id per task). */
export async function scheduleMaintenance(services: Services): Promise<void> {
  await services.queues.maintenance.upsertJobScheduler('reconcile', { every: RECONCILE_EVERY_MS }, { name: 'reconcile', data: { task: 'reconcile' } });
  await services.queues.maintenance.upsertJobScheduler('retention', { every: RETENTION_EVERY_MS }, { name: 'retention', data: { task: 'retention' } });
  await services.queues.maintenance.upsertJobScheduler('drop-sweep', { every: DROP_SWEEP_EVERY_MS }, { name: 'drop-sweep', data: { task: 'drop-sweep' } });
}
