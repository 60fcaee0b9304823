import { api } from '../../api/client';
import type { Filters } from '../../components/url-filters';

/** GET /api/voicemails as the API answers it (src/voicemail/playback-store.ts VoicemailSummary). */
export interface VoicemailSummary {
  id: string;
  referenceCode: string;
  urgency: 'urgent' | 'routine';
  state: 'received' | 'stored' | 'complete' | 'failed' | 'expired';
  callSid: string;
  callerVerified: boolean;
  durationSeconds: number | null;
  createdAt: string;
  storedAt: string | null;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  /** Who acknowledged, by name (null for a key). */
  acknowledgedByName: string | null;
  acknowledgedWithNote: boolean;
  /** The note, for those who see it (never an auditor). */
  acknowledgedNote: string | null;
  simulated: boolean;
  callerNumber: string | null;
  reason: 'clinical' | 'refill' | 'appointment' | 'billing' | 'other' | null;
  patient: { match: 'verified' | 'number' | 'unknown'; patientId: string | null };
  task: { id: string; status: string } | null;
}

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
