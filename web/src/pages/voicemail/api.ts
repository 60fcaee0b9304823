import { api } from '../../api/client';
import type * as Generated from '../../api/generated';
import type { Filters } from '../../components/url-filters';

/** GET /api/voicemails as the API answers it (src/voicemail/playback-store.ts VoicemailSummary; web/src/api/generated.ts). */
export const VOICEMAIL_STATES = ['received', 'stored', 'complete', 'failed', 'expired'] as const;
/**
 * The generated VoicemailSummary with `state` narrowed: the OpenAPI schema documents it as a plain
 * string, while the store (and PageDetail's voicemail) hold one of these. Remove the narrowing
 * once the server's schema says the enum.
 */
export type VoicemailSummary = Omit<Generated.VoicemailSummary, 'state'> & { state: (typeof VOICEMAIL_STATES)[number] };

/** The inbox's filters kept in its URL (codes and instants; the Overnight page links them). */
export const VOICEMAIL_FILTERS = ['unhandled', 'urgency', 'from', 'to'] as const;
export type VoicemailFilters = Filters<(typeof VOICEMAIL_FILTERS)[number]>;

export const fetchVoicemails = (filters: VoicemailFilters, signal?: AbortSignal) =>
  api<{ voicemails: VoicemailSummary[] }>('/api/voicemails', { query: { ...filters, unhandled: filters.unhandled === 'true' ? 'true' : undefined, limit: 200 }, signal });
export const acknowledgeVoicemail = (id: string, note: string) =>
  api<unknown>(`/api/voicemails/${encodeURIComponent(id)}/ack`, { method: 'POST', body: note.trim() ? { note: note.trim() } : {} });

/** The range-enabled audio route: the browser streams it with the session cookie; nothing is downloaded into a blob. */
export const audioUrl = (id: string): string => `/api/voicemails/${encodeURIComponent(id)}/audio`;

/** Audio is there to play once stored (an expired or failed one has none). */
export const playable = (v: Pick<VoicemailSummary, 'state'>): boolean => v.state === 'stored' || v.state === 'complete';
