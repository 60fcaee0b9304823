import { api } from '../../api/client';
import type * as Generated from '../../api/generated';
import type { Shift } from './week-layout';

/** What the On call page reads and sends (src/http/oncall-routes.ts). Providers' work numbers, no PHI. */
export interface OnCallNow {
  scheduleId: string;
  name: string;
  providerId: string | null;
  providerName: string | null;
  layer: 'none' | 'rotation' | 'override';
  shiftStart: string | null;
  shiftEnd: string | null;
}

export type Provider = Generated.Provider;
export type Schedule = Generated.Schedule;

/** The generated EscalationPolicy with its tiers: the OpenAPI schema names the policy's fields but not the tiers' shape (it passes them through). */
export type Policy = Generated.EscalationPolicy & {
  tiers: Array<{ target: { kind: 'schedule'; scheduleId: string } | { kind: 'provider'; providerId: string }; ringSeconds: number }>;
};

export const fetchNow = (signal?: AbortSignal): Promise<{ at: string; onCall: OnCallNow[] }> => api('/api/oncall/now', { signal });
export const fetchProviders = (signal?: AbortSignal): Promise<{ providers: Provider[] }> => api('/api/oncall/providers', { signal });
export const fetchSchedules = (signal?: AbortSignal): Promise<{ schedules: Schedule[] }> => api('/api/oncall/schedules', { signal });
export const fetchPolicies = (signal?: AbortSignal): Promise<{ policies: Policy[] }> => api('/api/oncall/policies', { signal });

/** One schedule's shifts, or (null) every schedule's in one answer, each shift naming its schedule. */
export function fetchShifts(scheduleId: string | null, from: Date, to: Date, signal?: AbortSignal): Promise<{ shifts: Shift[] }> {
  const window = { from: from.toISOString(), to: to.toISOString() };
  return api('/api/oncall/shifts', { query: scheduleId ? { scheduleId, ...window } : window, signal });
}

export function addOverride(scheduleId: string, body: { providerId: string; start: string; end: string }): Promise<{ override: { id: string }; resolution?: { message: string } }> {
  return api(`/api/oncall/schedules/${encodeURIComponent(scheduleId)}/overrides`, { method: 'POST', body });
}

/** Issues (and so replaces) a provider's calendar-feed token: the link is in this answer only. */
export function issueFeedToken(providerId: string): Promise<{ url: string; issuedAt: string }> {
  return api(`/api/oncall/providers/${encodeURIComponent(providerId)}/feed-token`, { method: 'POST', body: {} });
}

export function revokeFeedToken(providerId: string): Promise<void> {
  return api(`/api/oncall/providers/${encodeURIComponent(providerId)}/feed-token`, { method: 'DELETE' });
}
