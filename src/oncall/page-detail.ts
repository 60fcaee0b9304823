import type { AppContext } from '../app-context.js';
import type { CallReason, TaskStatus, VoicemailState } from '../adapters/db-schema.js';
import { AuditAction } from '../audit/events.js';
import { openCallerNumber } from '../calls/caller-number.js';
import { shownNumber, type NumberView } from '../calls/number-view.js';
import { openTaskField } from '../tasks/sealed.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { ackNames } from '../voicemail/playback-store.js';
import { findPracticePage, pageCall, pageVoicemail } from './paging-store.js';

/**
 * One page as the doctor's page view shows it (GET /api/pages/:pageId): its state, who
 * acknowledged it, the voicemail it announces and that voicemail's callback task (ids and states:
 * their details are theirs to answer), the reason, and the number to call back, shown as the task
 * shows it (else as the voicemail inbox shows the caller's): in full for those who call back,
 * masked for an auditor (calls/number-view.ts).
 */
export interface PageDetail {
  id: string;
  callSid: string;
  referenceCode: string;
  status: 'open' | 'acknowledged';
  roundsSent: number;
  adminPaged: boolean;
  createdAt: string;
  acknowledgedAt: string | null;
  /** Who acknowledged: `user:<id>`, `provider:<id>`, `api_key:<id>`; null while open. */
  acknowledgedBy: string | null;
  /** Their name (a member's display name, a provider's); null for a key or one no longer known. */
  acknowledgedByName: string | null;
  /** Why the caller called: the task's, else the call's; null when the path named none. */
  reason: CallReason | null;
  urgency: 'urgent' | 'routine' | null;
  voicemail: { id: string; state: VoicemailState } | null;
  task: { id: string; status: TaskStatus } | null;
  /** The task's callback number, else the caller's; null: none on record; `masked` for a masked view. */
  callbackNumber: string | null;
}

/** Reads a practice's page (null: none by that id in the practice); opening a number is a PHI read, audited. */
export async function readPage(deps: Pick<AppContext, 'keyring' | 'audit'>, scope: PracticeScope, pageId: string, actor: string, view: NumberView): Promise<PageDetail | null> {
  const page = await findPracticePage(scope, { pageId });
  if (!page) return null;
  const [link, call, names] = await Promise.all([pageVoicemail(scope, page), pageCall(scope, page.call_sid), ackNames(scope, [page.acknowledged_by])]);
  const k = deps.keyring;
  // The task's callback number when it has one; a task without one (none given) falls back to the caller's.
  const number =
    link?.task_id && link.callback_enc !== null
      ? await shownNumber(link.callback_enc, view, (enc) => openTaskField(k, 'callback', enc, link.task_id ?? '', scope.practiceId))
      : await shownNumber(call?.from_enc ?? null, view, (enc) => openCallerNumber(k, enc, page.call_sid, scope.practiceId));
  const numberOpened = view === 'full' && number !== null;
  if (numberOpened) {
    await deps.audit({ action: AuditAction.PageRead, actor, practiceId: scope.practiceId, callSid: page.call_sid, subjectId: page.id, details: { view, numberOpened } });
  }
  return {
    id: page.id,
    callSid: page.call_sid,
    referenceCode: page.reference_code,
    status: page.status,
    roundsSent: page.rounds_sent,
    adminPaged: page.admin_paged,
    createdAt: page.created_at.toISOString(),
    acknowledgedAt: page.acknowledged_at?.toISOString() ?? null,
    acknowledgedBy: page.acknowledged_by,
    acknowledgedByName: page.acknowledged_by ? (names.get(page.acknowledged_by) ?? null) : null,
    reason: link?.task_reason ?? call?.reason ?? null,
    urgency: link?.urgency ?? null,
    voicemail: link ? { id: link.voicemail_id, state: link.voicemail_state } : null,
    task: link?.task_id && link.task_status ? { id: link.task_id, status: link.task_status } : null,
    callbackNumber: number,
  };
}
