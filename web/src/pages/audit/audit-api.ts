import { api, withQuery } from '../../api/client';
import type { Filters } from '../../components/url-filters';
import type { AuditEvent } from '../calls/call-view';

/** The audit search's filters, kept in the URL: codes, ids and dates (an actor is `user:<id>`, never a name). */
export const AUDIT_FILTERS = ['action', 'actor', 'callSid', 'from', 'to'] as const;
export type AuditFilters = Filters<(typeof AUDIT_FILTERS)[number]>;

/** The families of actions the search offers (a prefix ending in a dot takes the whole family). */
export const ACTION_FAMILIES: ReadonlyArray<{ value: string; label: string }> = [
  { value: 'call.', label: 'Calls' },
  { value: 'verification.', label: 'Verification' },
  { value: 'verification.locked_out', label: 'Lockouts' },
  { value: 'voicemail.', label: 'Voicemail' },
  { value: 'voicemail.playback', label: 'Voicemail played' },
  { value: 'oncall.', label: 'On call' },
  { value: 'page.', label: 'Pages' },
  { value: 'task.', label: 'Callbacks' },
  { value: 'user.', label: 'Sign-ins and accounts' },
  { value: 'admin.', label: 'Settings changes' },
  { value: 'api.', label: 'API requests' },
  { value: 'call.exported', label: 'Call exports' },
  { value: 'audit.verified', label: 'Chain checks' },
];

export const SEARCH_LIMIT = 200;

export const searchAudit = (filters: AuditFilters, signal?: AbortSignal) => api<{ events: AuditEvent[] }>('/api/audit', { query: { ...filters, order: 'newest', limit: SEARCH_LIMIT }, signal });

/**
 * GET /api/audit/export: the whole of the current search (every row, not the page shown) as a
 * file, fetched by a plain link so the browser downloads it (no blob URL that outlives the page).
 * Only the search's filters (codes, ids, dates) and the format are in the address.
 */
export function auditExportUrl(filters: AuditFilters, format: 'csv' | 'ndjson'): string {
  const query: Record<string, string | undefined> = {};
  for (const key of AUDIT_FILTERS) query[key] = filters[key];
  return withQuery('/api/audit/export', { ...query, format });
}

/** GET /api/audit/verify (src/http/audit-routes.ts). */
export interface ChainVerdict {
  chain: string;
  ok: boolean;
  rows: number;
  problem?: { seq: number; reason: string };
  missing?: { from: number; to: number; checkpointAt: string };
  truncated: boolean;
  checkpoints: number;
  verifiedAt: string;
}

export const verifyAuditChain = (signal?: AbortSignal) => api<ChainVerdict>('/api/audit/verify', { signal });

/** Pure: a verdict in one sentence (what an auditor writes down). */
export function verdictText(v: ChainVerdict): string {
  if (v.problem) return `Broken at row ${v.problem.seq}: ${v.problem.reason} (${v.rows} rows before it verified).`;
  if (v.missing) return `Rows ${v.missing.from}–${v.missing.to} are missing from the end (the checkpoint of ${v.missing.checkpointAt} saw them).`;
  if (v.truncated) return `The first ${v.rows} rows verified; the rest were not checked here (run npm run audit:verify for all).`;
  return `Intact: ${v.rows} rows verified${v.checkpoints > 0 ? `, ${v.checkpoints} checkpoints matched` : ''}.`;
}
