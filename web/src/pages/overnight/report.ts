import { api } from '../../api/client';
import type * as Generated from '../../api/generated';

/** GET /api/reports/overnight as the API answers it (src/reports/overnight.ts OvernightReport; web/src/api/generated.ts). */
export type OvernightReport = Generated.OvernightReport;
/** A count and the /api list behind it (with its filters), or null when no list filters that way. */
export type Counted = OvernightReport['lockouts'];

export const fetchOvernight = (date: string | undefined, signal?: AbortSignal) => api<OvernightReport>('/api/reports/overnight', { query: { date }, signal });

/**
 * Each API list the report names, and the console page that shows it with the same filters.
 * Only the filters the page knows pass (codes, ids and instants: never PHI); a list with no page
 * here is left unlinked rather than linked to something that would show another list.
 */
const PAGES: ReadonlyArray<{ api: string; page: string; keep: readonly string[]; add?: Record<string, string> }> = [
  { api: '/api/calls', page: '/calls', keep: ['from', 'to', 'outcome', 'urgency'] },
  { api: '/api/tasks', page: '/callbacks', keep: ['status', 'reason', 'urgency', 'overdue', 'assignee'] },
  { api: '/api/voicemails', page: '/voicemail', keep: ['unhandled', 'urgency', 'from', 'to'] },
  // Lockouts have no page of their own: the audit log lists them by their action.
  { api: '/api/lockouts', page: '/audit', keep: ['from', 'to'], add: { action: 'verification.locked_out' } },
];

/** Pure: the console address for a report's API list, or null when no page shows it. */
export function consoleLink(list: string | null): string | null {
  if (list === null) return null;
  const [path = '', query = ''] = list.split('?', 2);
  const target = PAGES.find((p) => p.api === path);
  if (!target) return null;
  const given = new URLSearchParams(query);
  const out = new URLSearchParams(target.add);
  for (const key of target.keep) {
    const value = given.get(key);
    if (value !== null && value !== '') out.set(key, value);
  }
  // A filter the page cannot apply would show a longer list than the count: no link then.
  for (const key of given.keys()) if (!target.keep.includes(key)) return null;
  const text = out.toString();
  return text === '' ? target.page : `${target.page}?${text}`;
}
