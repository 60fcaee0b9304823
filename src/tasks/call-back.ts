import { randomUUID } from 'node:crypto';
import type { AppContext } from '../app-context.js';
import type { TaskCallOutcome } from '../adapters/db-schema.js';
import { TwilioRestError } from '../adapters/twilio-rest.js';
import { AuditAction } from '../audit/events.js';
import { userPhone } from '../auth/user-phone.js';
import { recordCallEvent } from '../calls/records.js';
import type { DialResultStatus, VoiceWebhook } from '../calls/twilio-params.js';
import type { Verb } from '../calls/verbs.js';
import { finishParentLeg, recordDialLegRow } from '../oncall/legs.js';
import { getPractice } from '../practices/store.js';
import type { PracticeScope, ScopeFor } from '../tenancy/scope.js';
import { getTaskCall, insertTaskCall, markDialling, patientLegStatus, practiceOfTaskCall, setCallerLeg, setPatientLeg, settleTaskCall, type TaskCallRow } from './call-store.js';
import {
  CALL_BACK_ANSWER_PATH,
  CALL_BACK_STATUS_PATH,
  CALLER_RING_SECONDS,
  callEndedTwiml,
  callerPromptTwiml,
  CONNECT_PATIENT,
  dialOutcome,
  dialPatientTwiml,
  dialPatientVerbs,
  isFinal,
  LEG_EVENTS,
  notConnectedTwiml,
  withId,
} from './call-back-twiml.js';
import { openTaskField } from './sealed.js';
import { addAttempt, getTask, OPEN_STATUSES, tasksBySource, type TaskRow } from './store.js';

/**
 * Calling a patient back from the practice's number (issue 13, item 5). From the API, Twilio
 * rings the person's own phone (a provider's provider phone, anyone else's phone on their
 * account: never a number from the request), says which practice is calling and asks for 1,
 * then dials the patient with the practice's number as caller ID: the person's own number is
 * never shown. On the access line the provider is on the phone already, so the patient is dialled
 * at once. The patient's number is opened only inside the TwiML answer that dials it; URLs carry
 * the call back's opaque id (`task_calls`). Both legs land in the call records and the call's
 * timeline (legs, status callbacks); the outcome becomes an attempt on the task; every step is
 * audited with ids and codes only. With no Twilio account (log mode) the call is logged by the
 * stand-in, not placed, and the attempt is recorded as `logged`.
 */

export type CallBackDeps = Pick<AppContext, 'db' | 'keyring' | 'audit' | 'clock' | 'twilio' | 'config'>;

/** Who calls back: the audit actor, and the person behind it (null for an API key: a key has no phone). */
export interface CallBackActor {
  actor: string;
  userId: string | null;
  role: 'admin' | 'staff' | 'provider' | 'auditor';
}

export type PlaceResult =
  | { result: 'ok'; callId: string; state: 'placed' | 'logged' }
  | { result: 'not_found' }
  | { result: 'conflict'; status: TaskRow['status'] }
  | { result: 'in_progress' }
  | { result: 'refused'; reason: 'no_callback_number' | 'no_phone' | 'no_practice_number' }
  | { result: 'twilio_error'; callId: string };

/**
 * The phone that rings for this person: a provider's provider phone (linked to their account in
 * this practice), else the phone on their own account. Null: none (or an API key).
 */
async function phoneOf(deps: Pick<AppContext, 'db' | 'keyring'>, scope: PracticeScope, who: CallBackActor): Promise<string | null> {
  if (who.userId === null) return null;
  if (who.role === 'provider') {
    const provider = await scope.db
      .selectFrom('providers')
      .select('phone')
      .where('practice_id', '=', scope.practiceId)
      .where('user_id', '=', who.userId)
      .where('active', '=', true)
      .executeTakeFirst();
    if (provider) return provider.phone;
  }
  return userPhone(deps.db, deps.keyring, who.userId);
}

/**
 * The practice number the patient sees: the one they called (the task's call), if it is still the
 * practice's, else the practice's first number that is neither its access line nor a drop line.
 */
export async function practiceCallerId(scope: PracticeScope, callSid: string | null): Promise<string | null> {
  const practice = await scope.db.selectFrom('practices').select('access_number').where('id', '=', scope.practiceId).executeTakeFirst();
  const numbers = await scope.db.selectFrom('practice_numbers').select(['e164', 'flow_id']).where('practice_id', '=', scope.practiceId).orderBy('e164').execute();
  const usable = numbers.filter((n) => n.e164 !== practice?.access_number && n.flow_id !== 'drop-callback').map((n) => n.e164);
  if (callSid) {
    const called = await scope.db.selectFrom('calls').select('to_number').where('call_sid', '=', callSid).where('practice_id', '=', scope.practiceId).executeTakeFirst();
    if (called?.to_number && usable.includes(called.to_number)) return called.to_number;
  }
  return usable[0] ?? null;
}

/** `POST /api/tasks/:id/call`: rings the person's own phone through Twilio (or logs it, in log mode). */
export async function placeCallBack(deps: CallBackDeps, scope: PracticeScope, taskId: string, who: CallBackActor): Promise<PlaceResult> {
  const now = deps.clock();
  const task = await getTask(scope, taskId);
  if (!task) return { result: 'not_found' };
  if (!OPEN_STATUSES.includes(task.status)) return { result: 'conflict', status: task.status };
  if (!task.callback_enc) return { result: 'refused', reason: 'no_callback_number' };
  const phone = await phoneOf(deps, scope, who);
  if (!phone) return { result: 'refused', reason: 'no_phone' };
  const callerId = await practiceCallerId(scope, task.call_sid);
  if (!callerId) return { result: 'refused', reason: 'no_practice_number' };

  const call = await insertTaskCall(scope, { id: randomUUID(), taskId, actor: who.actor, origin: 'api', callerLegSid: null, callerId, now });
  // Another call back on this task is under way: the patient is not dialled twice.
  if (!call) return { result: 'in_progress' };
  const base = deps.config.publicBaseUrl;
  let sid: string;
  try {
    ({ sid } = await deps.twilio.createCall({
      to: phone,
      from: callerId,
      url: `${base}${withId(CALL_BACK_ANSWER_PATH, call.id)}`,
      statusCallback: `${base}${withId(CALL_BACK_STATUS_PATH, call.id)}`,
      statusCallbackEvent: [...LEG_EVENTS],
      timeout: CALLER_RING_SECONDS,
    }));
  } catch (err) {
    if (!(err instanceof TwilioRestError)) throw err;
    await auditPlaced(deps, scope, call, task, { mode: deps.twilio.kind, error: err.reason, twilioCode: err.twilioCode });
    await settle(deps, scope, call, 'failed', null);
    return { result: 'twilio_error', callId: call.id };
  }
  await setCallerLeg(scope, call.id, sid, now);
  await auditPlaced(deps, scope, { ...call, caller_leg_sid: sid }, task, { mode: deps.twilio.kind });
  // Log mode placed nothing: no callback will ever come, so the attempt is recorded now.
  if (deps.twilio.kind === 'log') {
    await settle(deps, scope, call, 'logged', null);
    return { result: 'ok', callId: call.id, state: 'logged' };
  }
  return { result: 'ok', callId: call.id, state: 'placed' };
}

async function auditPlaced(deps: CallBackDeps, scope: PracticeScope, call: TaskCallRow, task: TaskRow, details: Record<string, string | number | null>): Promise<void> {
  await deps.audit({
    action: AuditAction.TaskCallPlaced,
    actor: call.actor,
    practiceId: scope.practiceId,
    callSid: call.caller_leg_sid,
    subjectId: task.id,
    details: { callId: call.id, origin: call.origin, ...details },
  });
}

/**
 * The call back's outcome, once: an attempt on the task by the person who called back, audited.
 * A repeated callback (or a second leg's last word) finds it settled and does nothing.
 */
async function settle(deps: Pick<AppContext, 'audit' | 'clock'>, scope: PracticeScope, call: TaskCallRow, outcome: TaskCallOutcome, patientLegSid: string | null): Promise<boolean> {
  const now = deps.clock();
  const attemptId = randomUUID();
  const settled = await settleTaskCall(scope, call.id, { outcome, attemptId, patientLegSid, now });
  if (!settled) return false;
  // Null when the task was closed meanwhile: the call's outcome stands on the call back, audited.
  const task = await addAttempt(scope, call.task_id, { id: attemptId, actor: call.actor, outcome, noteEnc: null, now });
  await deps.audit({
    action: AuditAction.TaskCallEnded,
    actor: call.actor,
    practiceId: scope.practiceId,
    callSid: call.caller_leg_sid,
    subjectId: call.task_id,
    details: { callId: call.id, origin: call.origin, outcome, attemptId: task ? attemptId : null, patientLegSid: settled.patient_leg_sid },
  });
  if (task) {
    await deps.audit({
      action: AuditAction.TaskAttempt,
      actor: call.actor,
      practiceId: scope.practiceId,
      callSid: task.call_sid,
      subjectId: task.id,
      details: { attemptId, outcome, attempts: task.attempts, note: false, callId: call.id },
    });
  }
  return true;
}

/** The patient's number, opened for the `<Dial>` only: null when the task is no longer open or has none. */
async function numberToDial(deps: Pick<AppContext, 'keyring'>, scope: PracticeScope, call: TaskCallRow): Promise<string | null> {
  const task = await getTask(scope, call.task_id);
  if (!task?.callback_enc || !OPEN_STATUSES.includes(task.status)) return null;
  return openTaskField(deps.keyring, 'callback', task.callback_enc, task.id, scope.practiceId);
}

async function dialling(deps: Pick<AppContext, 'audit' | 'clock'>, scope: PracticeScope, call: TaskCallRow): Promise<void> {
  await markDialling(scope, call.id, deps.clock());
  await deps.audit({
    action: AuditAction.TaskCallDialled,
    actor: call.actor,
    practiceId: scope.practiceId,
    callSid: call.caller_leg_sid,
    subjectId: call.task_id,
    details: { callId: call.id, origin: call.origin, callerId: 'practice' },
  });
}

// ---------------------------------------------------------------------------
// Twilio's callbacks (/twilio/callback/*): the call back's id, found in the system role, then its practice's scope.

export type CallBackTwilioDeps = CallBackDeps;

/** The call back named by a URL's id, under its practice's scope; null when unknown. */
export async function findCallBack(deps: Pick<AppContext, 'db'>, scopeFor: ScopeFor, callId: string): Promise<{ scope: PracticeScope; call: TaskCallRow } | null> {
  const practiceId = await practiceOfTaskCall(deps.db, callId);
  if (!practiceId) return null;
  const scope = scopeFor(practiceId);
  const call = await getTaskCall(scope, callId);
  return call ? { scope, call } : null;
}

/** Whether a webhook is the caller's own leg of this call back (a call placed for another id does not run it). */
function isCallerLeg(call: TaskCallRow, p: VoiceWebhook): boolean {
  return call.caller_leg_sid === null || call.caller_leg_sid === p.CallSid;
}

/** The person answered their phone: which practice, and press 1. */
export async function handleCallBackAnswer(deps: CallBackTwilioDeps, scopeFor: ScopeFor, callId: string, p: VoiceWebhook): Promise<string> {
  const found = await findCallBack(deps, scopeFor, callId);
  if (!found || found.call.origin !== 'api' || found.call.outcome !== null || !isCallerLeg(found.call, p)) return notConnectedTwiml('unavailable');
  // Twilio may ask for the TwiML before the REST answer naming the call was stored.
  if (found.call.caller_leg_sid === null) await setCallerLeg(found.scope, callId, p.CallSid, deps.clock());
  const practice = await getPractice(found.scope);
  if (!practice) return notConnectedTwiml('unavailable');
  return callerPromptTwiml(practice.greetingName, callId);
}

/** Their key: 1 dials the patient from the practice's number; anything else ends their leg, recorded as not connected. */
export async function handleCallBackConnect(deps: CallBackTwilioDeps, scopeFor: ScopeFor, callId: string, p: VoiceWebhook): Promise<string> {
  const found = await findCallBack(deps, scopeFor, callId);
  if (!found || found.call.origin !== 'api' || found.call.outcome !== null || !isCallerLeg(found.call, p)) return notConnectedTwiml('unavailable');
  const { scope, call } = found;
  if (p.Digits !== CONNECT_PATIENT) {
    await settle(deps, scope, call, 'not_connected', null);
    return notConnectedTwiml('no_key');
  }
  const patientNumber = await numberToDial(deps, scope, call);
  if (!patientNumber) {
    await settle(deps, scope, call, 'not_connected', null);
    return notConnectedTwiml('unavailable');
  }
  await dialling(deps, scope, call);
  return dialPatientTwiml({ callerId: call.caller_id, patientNumber, callId });
}

/**
 * The `<Dial>` to the patient ended (its action): the dial leg recorded on the caller's call, the
 * outcome on the task. Returns the call back's origin: an access-line call goes back to its menu
 * (the route asks the access line for it).
 */
export async function handleCallBackDialed(deps: CallBackTwilioDeps, scopeFor: ScopeFor, callId: string, p: VoiceWebhook): Promise<{ origin: 'api' | 'access_line' | null; twiml: string }> {
  const found = await findCallBack(deps, scopeFor, callId);
  if (!found || found.call.caller_leg_sid !== p.CallSid) return { origin: null, twiml: callEndedTwiml() };
  const { scope, call } = found;
  const outcome = dialOutcome(p.DialCallStatus ?? null);
  if (await settle(deps, scope, call, outcome, p.DialCallSid ?? null)) {
    // Never the number tried: it is the patient's.
    await recordDialLegRow(scope.db, {
      callSid: p.CallSid,
      practiceId: scope.practiceId,
      legSid: p.DialCallSid ?? null,
      tier: null,
      round: null,
      providerId: null,
      numberTried: null,
      outcome,
      durationSeconds: p.DialCallDuration ?? null,
      endedAt: deps.clock(),
    });
  }
  return { origin: call.origin, twiml: callEndedTwiml() };
}

/**
 * A leg's progress (the caller's own leg, placed through the REST API; the patient's, the
 * `<Dial>`'s child): into the call records (each leg its row; the caller's also its parent leg),
 * audited. The caller's leg ending before the patient was dialled (no answer, busy, declined,
 * their voicemail) settles the call back as not connected; ending while the patient was being
 * dialled and still unsettled (the `<Dial>` action failed) settles it from the patient leg's last
 * status, else failed.
 */
export async function handleCallBackStatus(deps: CallBackTwilioDeps, scopeFor: ScopeFor, callId: string, p: VoiceWebhook): Promise<void> {
  const found = await findCallBack(deps, scopeFor, callId);
  if (!found) return;
  const { scope, call } = found;
  const now = deps.clock();
  const leg = p.ParentCallSid ? 'child' : 'parent';
  // A parent leg that is not this call back's own (a forged or stray id) is not recorded against it.
  if (leg === 'parent' && (call.origin !== 'api' || !isCallerLeg(call, p))) return;
  if (leg === 'child' && p.ParentCallSid !== call.caller_leg_sid) return;
  const status = p.CallStatus ?? 'unknown';
  const isNew = await recordCallEvent(
    scope.db,
    {
      callSid: p.CallSid,
      practiceId: scope.practiceId,
      direction: leg === 'parent' ? 'outbound-api' : 'outbound-dial',
      fromIndex: null,
      // Neither the person's phone nor the patient's is kept on the record.
      toNumber: null,
      status,
      key: `callback:${status}:${p.SequenceNumber ?? 0}`,
      source: 'task-call',
      ...(p.SequenceNumber !== undefined ? { seq: p.SequenceNumber } : {}),
      ...(leg === 'parent' ? { openParentLegAt: now } : {}),
      ...(leg === 'parent' && isFinal(status) ? { ended: { at: now, durationSeconds: p.CallDuration ?? null } } : {}),
    },
    now,
  );
  if (leg === 'parent') await finishParentLeg(scope.db, { callSid: p.CallSid, practiceId: scope.practiceId, status, durationSeconds: p.CallDuration ?? null, at: now });
  if (isNew) {
    await deps.audit({
      action: AuditAction.CallLegStatus,
      actor: 'twilio',
      practiceId: scope.practiceId,
      callSid: leg === 'parent' ? p.CallSid : call.caller_leg_sid,
      leg,
      subjectId: call.task_id,
      details: { status, callId: call.id, ...(p.CallDuration !== undefined ? { durationSeconds: p.CallDuration } : {}), ...(leg === 'child' ? { childCallSid: p.CallSid } : {}) },
    });
  }
  if (leg === 'child') await setPatientLeg(scope, call.id, p.CallSid, now);
  if (leg === 'parent' && isFinal(status)) {
    if (call.state === 'placed') await settle(deps, scope, call, 'not_connected', null);
    // Dialled, but the <Dial> action never settled it (it failed, or never came): the patient leg's last word.
    else if (call.state === 'dialling') await settle(deps, scope, call, await dialledOutcome(scope, call), null);
  }
}

/** A dialled call back's outcome from its patient leg's last recorded status; failed when there is none (or it never ended). */
async function dialledOutcome(scope: PracticeScope, call: TaskCallRow): Promise<TaskCallOutcome> {
  const status = await patientLegStatus(scope, call.id);
  return status !== null && isFinal(status) ? dialOutcome(status as DialResultStatus) : 'failed';
}

/** How long a call back may stay without an outcome before the task sweep settles it as failed. */
export const STALE_CALL_BACK_MS = 30 * 60_000;

/**
 * A call back with no outcome after STALE_CALL_BACK_MS (Twilio's last callback lost, or a step
 * that failed before settling), settled failed: an attempt on the task, so the task can be called
 * back again (only one call back at a time is let in). The task sweep's (./background.ts).
 */
export async function settleStaleCallBack(deps: Pick<AppContext, 'audit' | 'clock'>, scope: PracticeScope, callId: string): Promise<boolean> {
  const call = await getTaskCall(scope, callId);
  return call !== null && call.outcome === null && (await settle(deps, scope, call, 'failed', null));
}

// ---------------------------------------------------------------------------
// The access line: the provider is on the phone already.

/**
 * A call back keyed on the access line for the voicemail in hand: the voicemail's task (open,
 * with a number), recorded as a call back of the provider's access call. Null: nothing to call.
 */
export async function prepareAccessCallBack(
  deps: Pick<AppContext, 'audit' | 'clock'>,
  scope: PracticeScope,
  input: { voicemailId: string; providerId: string; accessCallSid: string },
): Promise<{ callId: string } | null> {
  const byVoicemail = await tasksBySource(scope, ['voicemail', 'message'], [input.voicemailId]);
  const ref = byVoicemail.get(input.voicemailId);
  if (!ref || !OPEN_STATUSES.includes(ref.status)) return null;
  const task = await getTask(scope, ref.id);
  if (!task?.callback_enc) return null;
  const callerId = await practiceCallerId(scope, task.call_sid);
  if (!callerId) return null;
  const call = await insertTaskCall(scope, {
    id: randomUUID(),
    taskId: task.id,
    actor: `provider:${input.providerId}`,
    origin: 'access_line',
    callerLegSid: input.accessCallSid,
    callerId,
    now: deps.clock(),
  });
  if (!call) return null;
  await deps.audit({
    action: AuditAction.TaskCallPlaced,
    actor: call.actor,
    practiceId: scope.practiceId,
    callSid: input.accessCallSid,
    subjectId: task.id,
    details: { callId: call.id, origin: 'access_line', voicemailId: input.voicemailId },
  });
  return { callId: call.id };
}

/** The access line's `<Dial>` to the patient for a prepared call back; null when it can no longer be made. */
export async function accessCallBackVerbs(deps: Pick<AppContext, 'keyring' | 'audit' | 'clock'>, scope: PracticeScope, callId: string): Promise<Verb[] | null> {
  const call = await getTaskCall(scope, callId);
  if (!call || call.origin !== 'access_line' || call.outcome !== null) return null;
  const patientNumber = await numberToDial(deps, scope, call);
  if (!patientNumber) return null;
  await dialling(deps, scope, call);
  return dialPatientVerbs({ callerId: call.caller_id, patientNumber, callId });
}
