import type { AppContext } from '../app-context.js';
import { verifyChainSegment, type SegmentVerifyResult } from '../audit/store.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { listCalls, type ListedCall } from './call-list.js';
import { MASKED_NUMBER, type NumberView } from './number-view.js';
import { loadCallTimeline, type TimelineEntry } from './timeline.js';

/**
 * One call as its console page and its export show it: the call log's row (number, patient
 * match, menu path, outcome), the record with its ordered timeline, legs and pages, and the
 * call's audit events. A number a dial leg tried is masked for an auditor, as the caller's is
 * in the log; the caller's number is opened only for the full view (the route audits that read).
 */

type Loaded = NonNullable<Awaited<ReturnType<typeof loadCallTimeline>>>;

export interface CallView extends Loaded {
  /** The call log's row for this call; null for a call the log does not list (a staff leg, an access-line session). */
  summary: ListedCall | null;
  /** How many numbers were decrypted for this answer (0 for a masked view). */
  numbersOpened: number;
}

/** Pure: a tried number as the view shows it. */
export function viewNumber(number: string | null, view: NumberView): string | null {
  return number === null || view === 'full' ? number : MASKED_NUMBER;
}

/** Pure: the timeline with every tried number as the view shows it. */
export function maskTimeline(timeline: readonly TimelineEntry[], view: NumberView): TimelineEntry[] {
  return timeline.map((t) => (t.kind === 'event' ? t : { ...t, numberTried: viewNumber(t.numberTried, view) }));
}

export async function loadCallView(deps: Pick<AppContext, 'keyring'>, scope: PracticeScope, callSid: string, view: NumberView): Promise<CallView | null> {
  const found = await loadCallTimeline(scope, callSid);
  if (!found) return null;
  const page = await listCalls(deps, scope, { callSid, limit: 1 }, view);
  return {
    ...found,
    legs: found.legs.map((l) => ({ ...l, numberTried: viewNumber(l.numberTried, view) })),
    timeline: maskTimeline(found.timeline, view),
    summary: page.calls[0] ?? null,
    numbersOpened: page.numbersOpened,
  };
}

export interface CallExport {
  kind: 'after-hours-line.call-export';
  version: 1;
  exportedAt: string;
  exportedBy: string;
  practiceId: string;
  callSid: string;
  view: NumberView;
  call: Omit<CallView, 'numbersOpened'>;
  /**
   * The call's audit events checked link by link, from the first to the last (with every row of
   * the practice's chain between them); null when the call has no audit events.
   */
  verification: SegmentVerifyResult | null;
}

/** The call's page as one file, with the verification of the stretch of the chain its events sit in. */
export async function buildCallExport(
  deps: Pick<AppContext, 'keyring'>,
  scope: PracticeScope,
  callSid: string,
  view: NumberView,
  by: { actor: string; now: Date },
): Promise<{ file: CallExport; numbersOpened: number } | null> {
  const loaded = await loadCallView(deps, scope, callSid, view);
  if (!loaded) return null;
  const { numbersOpened, ...call } = loaded;
  const seqs = call.audit.filter((e) => e.chain === scope.practiceId).map((e) => e.seq);
  const verification = seqs.length > 0 ? await verifyChainSegment(scope.db, scope.practiceId, Math.min(...seqs), Math.max(...seqs)) : null;
  return {
    file: { kind: 'after-hours-line.call-export', version: 1, exportedAt: by.now.toISOString(), exportedBy: by.actor, practiceId: scope.practiceId, callSid, view, call, verification },
    numbersOpened,
  };
}
