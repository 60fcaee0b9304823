import { randomUUID } from 'node:crypto';
import type { AppContext } from '../app-context.js';
import type { CallMatch, CallReason, TaskSource } from '../adapters/db-schema.js';
import { AuditAction } from '../audit/events.js';
import { callForTask } from '../calls/records.js';
import { openCallerNumber } from '../calls/caller-number.js';
import { callbackNumberFor, heldCallbackNumberFor } from '../calls/callback-number.js';
import { phoneIndex } from '../patients/store.js';
import { getPractice } from '../practices/store.js';
import { DEFAULT_HOLIDAYS, DEFAULT_WEEKLY_HOURS } from '../practices/settings.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { dueAt } from './due.js';
import { sealTaskField } from './sealed.js';
import { insertTask, type TaskRow } from './store.js';

/**
 * Every message a patient leaves becomes a callback task, once: a voicemail or a message left in
 * the flow (when its recording is stored), a call abandoned after the greeting (its final status
 * callback), a patient's text (the SMS work calls `createTaskFor`). Creation is idempotent per
 * (practice, source, source id), so a retried job or webhook finds the task already there.
 */

export type CreateDeps = Pick<AppContext, 'keyring' | 'audit'>;
/** A call's task also reads the call's state in Redis: a confirmed number PostgreSQL refused on the call is held there. */
export type CallTaskDeps = CreateDeps & Pick<AppContext, 'redis'>;

export interface TaskInput {
  source: TaskSource;
  /** The voicemail's id, the call's SID, the text's id. */
  sourceId: string;
  callSid?: string | null;
  /** E.164; null when the caller withheld it. */
  callbackNumber: string | null;
  patientId?: string | null;
  match: CallMatch;
  reason: CallReason;
  urgency: 'urgent' | 'routine';
  now: Date;
}

/** Creates the task for one source (or finds it); audited once, when created. */
export async function createTaskFor(deps: CreateDeps, scope: PracticeScope, input: TaskInput): Promise<{ created: boolean; task: TaskRow }> {
  const practice = await getPractice(scope);
  const due = dueAt(
    input.urgency,
    input.now,
    practice ?? { timeZone: 'UTC', weeklyHours: DEFAULT_WEEKLY_HOURS, holidays: DEFAULT_HOLIDAYS, routineCallbackHours: 2 },
  );
  const id = randomUUID();
  const number = input.callbackNumber;
  const result = await insertTask(scope, {
    id,
    source: input.source,
    sourceId: input.sourceId,
    callSid: input.callSid ?? null,
    reason: input.reason,
    urgency: input.urgency,
    callbackEnc: number ? await sealTaskField(deps.keyring, 'callback', number, id, scope.practiceId) : null,
    callbackIndex: number ? phoneIndex(deps.keyring, number) : null,
    patientId: input.patientId ?? null,
    match: input.match,
    dueAt: due,
    now: input.now,
  });
  if (result.created) {
    await deps.audit({
      action: AuditAction.TaskCreated,
      actor: `system:tasks`,
      practiceId: scope.practiceId,
      callSid: input.callSid ?? null,
      subjectId: result.task.id,
      details: { source: input.source, sourceId: input.sourceId, reason: input.reason, urgency: input.urgency, match: input.match, dueAt: due.toISOString(), hasNumber: number !== null },
    });
  }
  return result;
}

/** The number to call back: confirmed on the call, else the one it came from (null: withheld, or no record). */
async function callbackNumberOf(deps: CallTaskDeps, scope: PracticeScope, call: { callSid: string; fromEnc: Buffer | null }): Promise<string | null> {
  // The number the caller confirmed on the call (the callback_number node): on the record, or
  // still held in the call state (PostgreSQL refused it on the call); else the one they called from.
  const confirmed = await callbackNumberFor(scope, deps.keyring, call.callSid);
  if (confirmed?.confirmed) return confirmed.number;
  const held = await heldCallbackNumberFor(deps, scope, call.callSid);
  if (held) return held;
  if (confirmed) return confirmed.number;
  return call.fromEnc ? openCallerNumber(deps.keyring, call.fromEnc, call.callSid, scope.practiceId) : null;
}

/**
 * The task of a stored voicemail: a routine one is a message for the office (`message`), an
 * urgent one a `voicemail`; the number, patient and reason come from the call's record.
 */
export async function createVoicemailTask(
  deps: CallTaskDeps,
  scope: PracticeScope,
  v: { id: string; call_sid: string; urgency: 'urgent' | 'routine'; patient_id: string | null; caller_verified: boolean },
  now: Date,
): Promise<{ created: boolean; task: TaskRow }> {
  const call = await callForTask(scope, v.call_sid);
  const verified = v.caller_verified && v.patient_id !== null;
  return createTaskFor(deps, scope, {
    source: v.urgency === 'urgent' ? 'voicemail' : 'message',
    sourceId: v.id,
    callSid: v.call_sid,
    callbackNumber: call ? await callbackNumberOf(deps, scope, call) : null,
    patientId: verified ? v.patient_id : (call?.patientId ?? null),
    match: verified ? 'verified' : (call?.match ?? 'unknown'),
    reason: call?.reason ?? (v.urgency === 'urgent' ? 'clinical' : 'other'),
    urgency: v.urgency,
    now,
  });
}

/**
 * A caller's call that ended (final status) past the greeting with no other outcome: the caller
 * hung up at a menu. Nothing is created when there is no number at all (withheld and none
 * confirmed on the call: nobody to call back), for an access line session, a call with an
 * outcome, or one that ended during the greeting. `now` is when the call ended (the status
 * callback's time, or the call's ended_at for the task sweep): the due time counts from it.
 */
export async function createAbandonedCallTask(deps: CallTaskDeps, scope: PracticeScope, callSid: string, now: Date): Promise<{ created: boolean; task: TaskRow } | null> {
  const call = await callForTask(scope, callSid);
  if (!call || call.direction !== 'inbound' || call.accessLine || !call.pastGreeting) return null;
  // A withheld caller ID with a number keyed and confirmed on the call still has someone to call back.
  if (call.outcome !== 'abandoned_at_menu' || (call.fromEnc === null && !call.hasCallbackNumber)) return null;
  return createTaskFor(deps, scope, {
    source: 'abandoned_call',
    sourceId: callSid,
    callSid,
    callbackNumber: await callbackNumberOf(deps, scope, call),
    patientId: call.patientId,
    match: call.match ?? 'unknown',
    reason: call.reason ?? 'other',
    urgency: call.reason === 'clinical' ? 'urgent' : 'routine',
    now,
  });
}
