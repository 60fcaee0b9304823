import type { AppContext } from '../app-context.js';
import { logger } from '../log/logger.js';
import { systemScope } from '../tenancy/system-scope.js';
import { createAbandonedCallTask, createVoicemailTask, type CallTaskDeps } from './create.js';
import { abandonedCallsWithoutTask, voicemailsWithoutTask, textsWithoutTask } from './store.js';
import { getPatientText } from '../texts/store.js';
import { onPatientTextStored, openPatientText } from '../texts/patient-texts.js';
import { callForTask } from '../calls/records.js';
import type { PracticeScope } from '../tenancy/scope.js';
import type { CallbackTaskJobData } from './queue-task.js';
import { settleStaleCallBack, STALE_CALL_BACK_MS } from './call-back.js';
import { staleTaskCalls } from './call-store.js';

/**
 * The callback tasks the background work creates: a voicemail's, from the voicemail job (the
 * practice from the row, on the system role) and from the sweep that finds a stored voicemail
 * without one (a job that crashed between storing and creating); the sweep also makes the task of
 * a text or an abandoned call whose webhook failed before its task was made. All idempotent. A
 * task's due time counts from the message (the voicemail's row, the call's end), not from when
 * the job or the sweep ran.
 */

/** How far back the sweep looks for voicemails without a task. */
export const MISSING_TASK_WINDOW_MS = 7 * 24 * 3_600_000;

export type VoicemailTaskDeps = CallTaskDeps & Pick<AppContext, 'db' | 'clock'>;

/**
 * When the message was left, as a task's due time counts from it: the row's time, but never
 * later than the service's clock (the row's created_at is the database's clock).
 */
export function messageTime(at: Date, now: Date): Date {
  return at.getTime() < now.getTime() ? at : now;
}

/** The voicemail job's step: the task of the voicemail it has stored. */
export async function ensureVoicemailTask(
  deps: VoicemailTaskDeps,
  v: { id: string; practice_id: string; call_sid: string; urgency: 'urgent' | 'routine'; patient_id: string | null; caller_verified: boolean; created_at: Date },
): Promise<void> {
  await createVoicemailTask(deps, systemScope(deps, v.practice_id), v, messageTime(v.created_at, deps.clock()));
}

/** Stored voicemails of the last week with no task: their tasks created (the maintenance sweep). */
export async function sweepMissingVoicemailTasks(deps: VoicemailTaskDeps): Promise<{ created: number }> {
  // The window is on the database's clock, as the rows' created_at is.
  const missing = await voicemailsWithoutTask(deps.db, MISSING_TASK_WINDOW_MS);
  let created = 0;
  for (const v of missing) {
    try {
      if ((await createVoicemailTask(deps, systemScope(deps, v.practice_id), v, messageTime(v.created_at, deps.clock()))).created) created += 1;
    } catch (err) {
      // One bad row never stops the rest: logged by id, tried again at the next sweep.
      logger.error('task sweep: a voicemail task could not be made', { err, voicemailId: v.id, practiceId: v.practice_id });
    }
  }
  return { created };
}

/** A stored text's task, made and linked (its sender opened from the sealed row). False: no such text. */
async function makeTextTask(deps: VoicemailTaskDeps, scope: PracticeScope, textId: string): Promise<boolean> {
  const [row, opened] = await Promise.all([getPatientText(scope, textId), openPatientText(deps.keyring, scope, textId)]);
  if (!row || !opened) return false;
  await onPatientTextStored(deps, scope, { id: row.id, created: false, match: row.match, patientId: row.patientId, receivedAt: row.receivedAt, from: opened.from, outreachSendId: row.outreachSendId });
  return true;
}

/** An abandoned call's task (the call read back), due from when it ended. */
async function makeAbandonedCallTask(deps: VoicemailTaskDeps, scope: PracticeScope, callSid: string, endedAt: Date | null): Promise<boolean> {
  const made = await createAbandonedCallTask(deps, scope, callSid, messageTime(endedAt ?? deps.clock(), deps.clock()));
  return made?.created ?? false;
}

/** Stored texts of the last week with no task (its job lost, or failed for good): their tasks created and linked. */
export async function sweepMissingTextTasks(deps: VoicemailTaskDeps): Promise<{ textTasks: number }> {
  let textTasks = 0;
  for (const t of await textsWithoutTask(deps.db, new Date(deps.clock().getTime() - MISSING_TASK_WINDOW_MS))) {
    try {
      if (await makeTextTask(deps, systemScope(deps, t.practice_id), t.id)) textTasks += 1;
    } catch (err) {
      // One text that will not open (or a passing fault) holds up none of the others; tried again next sweep.
      logger.error('text task not made by the sweep', { err, practiceId: t.practice_id, textId: t.id });
    }
  }
  return { textTasks };
}

/**
 * The job a webhook queued once its record was stored (./queue-task.ts): the task of a patient's
 * text or of an abandoned call. Re-reads the record, so a retry is harmless; creation is idempotent.
 */
export async function processCallbackTaskJob(deps: VoicemailTaskDeps, data: CallbackTaskJobData): Promise<{ created: boolean }> {
  const scope = systemScope(deps, data.practiceId);
  switch (data.source) {
    case 'patient_text':
      return { created: await makeTextTask(deps, scope, data.sourceId) };
    case 'abandoned_call':
      return { created: await makeAbandonedCallTask(deps, scope, data.sourceId, (await callForTask(scope, data.sourceId))?.endedAt ?? null) };
    default:
      return data.source satisfies never;
  }
}

/**
 * Calls of the last week that ended abandoned at the menu with no task: their status callback
 * failed after the call was recorded, and Twilio does not resend a status callback (none of ours
 * asks for retries), so this sweep is what makes their task. Same rule as the callback's.
 */
export async function sweepMissingAbandonedCallTasks(deps: VoicemailTaskDeps): Promise<{ abandonedTasks: number }> {
  let abandonedTasks = 0;
  const now = deps.clock();
  for (const c of await abandonedCallsWithoutTask(deps.db, new Date(now.getTime() - MISSING_TASK_WINDOW_MS))) {
    try {
      if (await makeAbandonedCallTask(deps, systemScope(deps, c.practice_id), c.call_sid, c.ended_at)) abandonedTasks += 1;
    } catch (err) {
      logger.error('task sweep: an abandoned-call task could not be made', { err, callSid: c.call_sid, practiceId: c.practice_id });
    }
  }
  return { abandonedTasks };
}

/**
 * Call backs still without an outcome STALE_CALL_BACK_MS after they began are settled failed
 * (./call-back.ts): a lost callback never holds its task for ever. Each on its own.
 */
export async function settleStaleCallBacks(deps: Pick<AppContext, 'db' | 'audit' | 'clock'>): Promise<{ staleCalls: number }> {
  const before = new Date(deps.clock().getTime() - STALE_CALL_BACK_MS);
  let staleCalls = 0;
  for (const stale of await staleTaskCalls(deps.db, before)) {
    try {
      if (await settleStaleCallBack(deps, systemScope(deps, stale.practice_id), stale.id)) staleCalls += 1;
    } catch (err) {
      logger.error('stale call back could not be settled', { err, callId: stale.id, practiceId: stale.practice_id });
    }
  }
  return { staleCalls };
}
