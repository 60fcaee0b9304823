import { api } from '../../api/client';
import type * as Generated from '../../api/generated';
import type { Filters } from '../../components/url-filters';

/** GET /api/tasks and GET /api/tasks/:id, as the API answers them (src/tasks/work.ts). */
export const TASK_STATUSES = ['open', 'claimed', 'done', 'unreachable', 'cancelled'] as const;
export const TASK_REASONS = ['clinical', 'refill', 'appointment', 'billing', 'other'] as const;
export const ATTEMPT_OUTCOMES = ['reached', 'no_answer', 'voicemail_left', 'wrong_number', 'other'] as const;
export const CLOSE_OUTCOMES = ['done', 'unreachable', 'cancelled'] as const;

export type TaskStatus = (typeof TASK_STATUSES)[number];
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];
export type CloseOutcome = (typeof CLOSE_OUTCOMES)[number];

/** The queue's row and the task's view: the OpenAPI document's CallbackTask and CallbackTaskDetail (web/src/api/generated.ts). */
export type TaskSummary = Generated.CallbackTask;
export type TaskDetail = Generated.CallbackTaskDetail;
/** What an attempt on record can say: the outcomes a person logs, and those a call placed from the console ends with. */
export type RecordedAttemptOutcome = TaskDetail['attemptList'][number]['outcome'];

export const STATUS_LABELS: Record<TaskStatus, string> = { open: 'Open', claimed: 'Claimed', done: 'Done', unreachable: 'Unreachable', cancelled: 'Cancelled' };
export const REASON_LABELS: Record<TaskSummary['reason'], string> = { clinical: 'Clinical', refill: 'Refill', appointment: 'Appointment', billing: 'Billing', other: 'Other' };
export const MATCH_LABELS: Record<TaskSummary['patient']['match'], string> = { verified: 'Verified', number: 'By number', unknown: 'Unknown' };
export const ATTEMPT_LABELS: Record<RecordedAttemptOutcome, string> = {
  reached: 'Reached',
  no_answer: 'No answer',
  voicemail_left: 'Left a voicemail',
  wrong_number: 'Wrong number',
  other: 'Other',
  busy: 'Busy',
  failed: 'Call failed',
  not_connected: 'Not connected',
  logged: 'Logged (no call placed)',
};

/** The filters the queue keeps in its URL: codes only, never PHI. */
export const TASK_FILTERS = ['status', 'reason', 'urgency', 'overdue', 'assignee'] as const;
export type TaskFilters = Filters<(typeof TASK_FILTERS)[number]>;

/** Overdue first, then the soonest due: the order people should work the queue in. */
export function queueOrder(tasks: readonly TaskSummary[]): TaskSummary[] {
  return [...tasks].sort((a, b) => Number(b.overdue) - Number(a.overdue) || a.dueAt.localeCompare(b.dueAt) || a.id.localeCompare(b.id));
}

export const fetchTasks = (filters: TaskFilters, signal?: AbortSignal) => api<{ tasks: TaskSummary[] }>('/api/tasks', { query: { ...filters, limit: 200 }, signal });
export const fetchTask = (id: string, signal?: AbortSignal) => api<TaskDetail>(`/api/tasks/${encodeURIComponent(id)}`, { signal });
export const claimTask = (id: string) => api<TaskSummary>(`/api/tasks/${encodeURIComponent(id)}/claim`, { method: 'POST', body: {} });
export const addAttempt = (id: string, outcome: AttemptOutcome, note: string) =>
  api<TaskSummary>(`/api/tasks/${encodeURIComponent(id)}/attempts`, { method: 'POST', body: note.trim() ? { outcome, note: note.trim() } : { outcome } });
export const closeTask = (id: string, outcome: CloseOutcome, note: string) =>
  api<TaskSummary>(`/api/tasks/${encodeURIComponent(id)}/close`, { method: 'POST', body: note.trim() ? { outcome, note: note.trim() } : { outcome } });
/** POST /api/tasks/:id/assign (admin): a person (`user:<id>`) takes the task over, or null releases it to open. */
export const assignTask = (id: string, assignee: string | null) => api<TaskSummary>(`/api/tasks/${encodeURIComponent(id)}/assign`, { method: 'POST', body: { assignee } });
/** POST /api/tasks/:id/call: the practice line rings the person, then the patient (built in parallel; a 404 says so). */
export const callBack = (id: string) => api<unknown>(`/api/tasks/${encodeURIComponent(id)}/call`, { method: 'POST', body: {} });

export { when } from '../../components/format';
