import { randomUUID } from 'node:crypto';
import type { AppContext } from '../app-context.js';
import type { AttemptOutcome, CallMatch, CallReason, TaskSource, TaskStatus } from '../adapters/db-schema.js';
import { AuditAction } from '../audit/events.js';
import { shownNumber, type NumberView } from '../calls/number-view.js';
import { getMember } from '../auth/users-store.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { openPatientText } from '../texts/patient-texts.js';
import { openTaskField, sealTaskField } from './sealed.js';
import { addAttempt, assignTask, claimTask, closeTask, getTask, listAttempts, listTasks, OPEN_STATUSES, type CloseOutcome, type TaskFilter, type TaskRow } from './store.js';

/**
 * Working a callback task from the API: list, read (the number, and a patient_text task's text,
 * opened for those who call back; masked or left out for an auditor), claim, record an attempt, close. Every change is audited with the
 * actor of the request (who claims is the assignee; who tries is the attempt's author), ids and
 * codes only: never the number or a note, which are sealed (./sealed.ts).
 */

export type WorkDeps = Pick<AppContext, 'keyring' | 'audit' | 'clock'>;

export interface TaskSummary {
  id: string;
  source: TaskSource;
  sourceId: string;
  callSid: string | null;
  reason: CallReason;
  urgency: 'urgent' | 'routine';
  status: TaskStatus;
  assignee: string | null;
  patient: { match: CallMatch; patientId: string | null };
  dueAt: string;
  overdue: boolean;
  attempts: number;
  hasCallbackNumber: boolean;
  createdAt: string;
  claimedAt: string | null;
  closedAt: string | null;
  closedBy: string | null;
}

function isOverdue(t: TaskRow, now: Date): boolean {
  return OPEN_STATUSES.includes(t.status) && t.due_at.getTime() < now.getTime();
}

export function summarise(t: TaskRow, now: Date): TaskSummary {
  return {
    id: t.id,
    source: t.source,
    sourceId: t.source_id,
    callSid: t.call_sid,
    reason: t.reason,
    urgency: t.urgency,
    status: t.status,
    assignee: t.assignee,
    patient: { match: t.match, patientId: t.patient_id },
    dueAt: t.due_at.toISOString(),
    overdue: isOverdue(t, now),
    attempts: t.attempts,
    hasCallbackNumber: t.callback_enc !== null,
    createdAt: t.created_at.toISOString(),
    claimedAt: t.claimed_at?.toISOString() ?? null,
    closedAt: t.closed_at?.toISOString() ?? null,
    closedBy: t.closed_by,
  };
}

export async function listTaskSummaries(deps: Pick<AppContext, 'clock'>, scope: PracticeScope, f: TaskFilter): Promise<TaskSummary[]> {
  const now = deps.clock();
  return (await listTasks(scope, f, now)).map((t) => summarise(t, now));
}

export interface TaskDetail extends TaskSummary {
  /** E.164, or masked for an auditor; null: withheld. */
  callbackNumber: string | null;
  /** The closing note (not for an auditor). */
  closeNote: string | null;
  attemptList: Array<{ id: string; at: string; actor: string; outcome: AttemptOutcome; note: string | null }>;
  /** A patient_text (or outreach_reply) task's text, what the patient asked (not for an auditor); null for other sources. */
  patientText: { body: string; mediaCount: number } | null;
}

/** One task with its attempts; its number and notes opened (audited as a PHI read), masked and left out for an auditor. */
export async function readTask(deps: WorkDeps, scope: PracticeScope, id: string, actor: string, view: NumberView): Promise<TaskDetail | null> {
  const t = await getTask(scope, id);
  if (!t) return null;
  const k = deps.keyring;
  const full = view === 'full';
  // An auditor's view opens nothing: the number is shown as masked without being decrypted.
  const number = await shownNumber(t.callback_enc, view, (enc) => openTaskField(k, 'callback', enc, t.id, scope.practiceId));
  const attempts = await listAttempts(scope, t.id);
  const attemptList = await Promise.all(
    attempts.map(async (a) => ({
      id: a.id,
      at: a.at.toISOString(),
      actor: a.actor,
      outcome: a.outcome,
      note: full && a.note_enc ? await openTaskField(k, 'attempt_note', a.note_enc, a.id, scope.practiceId) : null,
    })),
  );
  const closeNote = full && t.close_note_enc ? await openTaskField(k, 'close_note', t.close_note_enc, t.id, scope.practiceId) : null;
  // Staff call back knowing the question: the text the task was made from, opened (its sender is the task's number).
  const opened = full && (t.source === 'patient_text' || t.source === 'outreach_reply') ? await openPatientText(k, scope, t.source_id) : undefined;
  const patientText = opened ? { body: opened.body, mediaCount: opened.mediaCount } : null;
  await deps.audit({
    action: AuditAction.TaskRead,
    actor,
    practiceId: scope.practiceId,
    callSid: t.call_sid,
    subjectId: t.id,
    details: {
      view,
      numberOpened: full && number !== null,
      notesOpened: attemptList.filter((a) => a.note !== null).length + (closeNote !== null ? 1 : 0),
      textOpened: patientText !== null,
    },
  });
  return {
    ...summarise(t, deps.clock()),
    callbackNumber: number,
    closeNote,
    attemptList,
    patientText,
  };
}

export type ChangeResult = { result: 'ok'; task: TaskSummary } | { result: 'not_found' } | { result: 'conflict'; status: TaskStatus; assignee: string | null };

/** Why a change did not apply: no such task, or not in a state that allows it. */
async function refusal(scope: PracticeScope, id: string): Promise<ChangeResult> {
  const t = await getTask(scope, id);
  return t ? { result: 'conflict', status: t.status, assignee: t.assignee } : { result: 'not_found' };
}

export async function claim(deps: WorkDeps, scope: PracticeScope, id: string, actor: string): Promise<ChangeResult> {
  const now = deps.clock();
  const t = await claimTask(scope, id, actor, now);
  if (!t) return refusal(scope, id);
  await deps.audit({ action: AuditAction.TaskClaimed, actor, practiceId: scope.practiceId, callSid: t.call_sid, subjectId: t.id, details: { assignee: actor } });
  return { result: 'ok', task: summarise(t, now) };
}

export async function recordAttempt(deps: WorkDeps, scope: PracticeScope, id: string, actor: string, input: { outcome: AttemptOutcome; note?: string | undefined }): Promise<ChangeResult & { attemptId?: string }> {
  const now = deps.clock();
  const attemptId = randomUUID();
  const noteEnc = input.note ? await sealTaskField(deps.keyring, 'attempt_note', input.note, attemptId, scope.practiceId) : null;
  const t = await addAttempt(scope, id, { id: attemptId, actor, outcome: input.outcome, noteEnc, now });
  if (!t) return refusal(scope, id);
  await deps.audit({
    action: AuditAction.TaskAttempt,
    actor,
    practiceId: scope.practiceId,
    callSid: t.call_sid,
    subjectId: t.id,
    details: { attemptId, outcome: input.outcome, attempts: t.attempts, note: noteEnc !== null },
  });
  return { result: 'ok', task: summarise(t, now), attemptId };
}

export async function close(deps: WorkDeps, scope: PracticeScope, id: string, actor: string, input: { outcome: CloseOutcome; note?: string | undefined }): Promise<ChangeResult> {
  const now = deps.clock();
  const noteEnc = input.note ? await sealTaskField(deps.keyring, 'close_note', input.note, id, scope.practiceId) : null;
  const t = await closeTask(scope, id, { outcome: input.outcome, actor, noteEnc, now });
  if (!t) return refusal(scope, id);
  await deps.audit({
    action: AuditAction.TaskClosed,
    actor,
    practiceId: scope.practiceId,
    callSid: t.call_sid,
    subjectId: t.id,
    details: { outcome: input.outcome, attempts: t.attempts, overdue: t.due_at.getTime() < now.getTime(), note: noteEnc !== null },
  });
  return { result: 'ok', task: summarise(t, now) };
}

/** Roles whose members work callbacks: whom a task may be given to. */
const WORKS_CALLBACKS = new Set(['admin', 'staff', 'provider']);

export type AssignResult = ChangeResult | { result: 'not_assignable' };

/**
 * An admin gives a task to a person of the practice (`user:<id>`, an active member who works
 * callbacks: admin, staff or provider) or releases it to open (null). Audited as
 * `task.assigned` or `task.released`, naming the previous and the new assignee.
 */
export async function assign(deps: WorkDeps, scope: PracticeScope, id: string, actor: string, assignee: string | null): Promise<AssignResult> {
  if (assignee !== null) {
    const member = await getMember(scope, assignee.slice('user:'.length));
    if (member?.status !== 'active' || !WORKS_CALLBACKS.has(member.role)) return { result: 'not_assignable' };
  }
  const now = deps.clock();
  const r = await assignTask(scope, id, assignee, now);
  if (!r) return { result: 'not_found' };
  if ('closed' in r) return { result: 'conflict', status: r.closed.status, assignee: r.closed.assignee };
  await deps.audit({
    action: assignee ? AuditAction.TaskAssigned : AuditAction.TaskReleased,
    actor,
    practiceId: scope.practiceId,
    callSid: r.task.call_sid,
    subjectId: r.task.id,
    details: { previous: r.previous, assignee },
  });
  return { result: 'ok', task: summarise(r.task, now) };
}
