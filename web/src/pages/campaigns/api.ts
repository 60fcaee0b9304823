import { api } from '../../api/client';
import type { CampaignProgress, DryRunReport, DropStatus, DropVendor, ListedCampaign, RecipientRow, SkipReason, TemplateProblem, TemplatePurpose, TemplateSummary } from '../../api/server-types';

export type { CampaignProgress, DropStatus, ListedCampaign, SkipReason, TemplateProblem, TemplatePurpose, TemplateSummary };

/**
 * What the Campaigns pages read and send (src/http/drops-routes.ts). The shapes are the server's
 * own types (../../api/server-types.ts); the answers that routes assemble are restated here.
 */
export type DryRun = DryRunReport & { notices: string[] };

export interface Drop {
  id: string;
  patientId: string;
  status: DropStatus;
  reason: string | null;
  provider: DropVendor;
  attempts: number;
  scheduledFor: string | null;
  sentAt: string | null;
  finalAt: string | null;
}

/** What a campaign sends: ringless-voicemail drops, or SMS (through the practice's Twilio Messaging Service). */
export type Channel = 'rvm' | 'sms';

export interface CampaignDraft {
  name: string;
  templateId: string;
  provider: DropVendor;
  ratePerMinute: number;
  channel: Channel;
}

/** An SMS template's length, as POST /api/drop-templates/check reports it. */
export interface SmsLength {
  encoding: 'GSM-7' | 'UCS-2';
  segments: number;
  units: number;
  worstCase: { encoding: 'GSM-7' | 'UCS-2'; segments: number };
  maxSegments: number;
}

export interface RecipientsAnswer {
  added: number;
  summary: Partial<Record<RecipientRow['result'], number>>;
  /** Only the rows not added, with the reason. */
  rows: RecipientRow[];
}

export const PURPOSES: Array<{ value: TemplatePurpose; label: string }> = [
  { value: 'appointment_reminder', label: 'Appointment reminder' },
  { value: 'callback_request', label: 'Please call us back' },
  { value: 'office_closure', label: 'Office closure' },
  { value: 'recall', label: 'Recall' },
  { value: 'billing_callback', label: 'Billing (call us back)' },
];

/** Each refusal reason in words (the dry run and the per-drop list). */
export const REASONS: Record<SkipReason, string> = {
  no_consent: 'no ringless-voicemail consent on record',
  consent_revoked: 'consent revoked',
  opted_out: 'the number opted out',
  no_phone: 'no phone number',
  daily_cap: 'already had a drop today',
  weekly_cap: 'weekly limit reached',
  sms_weekly_cap: 'weekly SMS limit reached (sent later)',
  state_24h_cap: "the state's 24-hour limit",
  outside_hours: 'outside calling hours (sent later)',
  holiday: 'a holiday (sent later)',
  unknown_patient: 'not a patient of this practice',
  duplicate: 'listed twice',
  no_appointment: 'no upcoming appointment to remind of',
  no_location: 'the appointment has no location on record',
  location_refused: "the appointment's location name failed the PHI check",
};

/** An SMS campaign's reasons where they differ from a drop's. */
const SMS_REASONS: Partial<Record<SkipReason, string>> = { no_consent: 'no SMS consent on record' };

export const reasonText = (reason: string, channel: Channel = 'rvm'): string =>
  channel === 'sms' && SMS_REASONS[reason as SkipReason] ? (SMS_REASONS[reason as SkipReason] ?? reason) : Object.hasOwn(REASONS, reason) ? REASONS[reason as SkipReason] : reason;

export const fetchCampaigns = (signal?: AbortSignal): Promise<{ campaigns: ListedCampaign[] }> => api('/api/campaigns', { signal });
export const fetchCampaign = (id: string, signal?: AbortSignal): Promise<CampaignProgress> => api(`/api/campaigns/${encodeURIComponent(id)}`, { signal });
export const fetchDrops = (id: string, signal?: AbortSignal): Promise<{ drops: Drop[] }> => api(`/api/campaigns/${encodeURIComponent(id)}/drops`, { query: { limit: 500 }, signal });
export const fetchTemplates = (signal?: AbortSignal): Promise<{ templates: TemplateSummary[] }> => api('/api/drop-templates', { signal });
export const checkTemplate = (body: { purpose: TemplatePurpose; text: string; channel: Channel }, signal?: AbortSignal): Promise<{ ok: boolean; problems: TemplateProblem[]; sms?: SmsLength }> =>
  api('/api/drop-templates/check', { method: 'POST', body, signal });
export const createTemplate = (body: { name: string; purpose: TemplatePurpose; text: string; channel: Channel }): Promise<TemplateSummary> => api('/api/drop-templates', { method: 'POST', body });
export const createCampaign = (body: CampaignDraft): Promise<{ id: string; text: string; seconds: number; notices: string[] }> => api('/api/campaigns', { method: 'POST', body });
export const addRecipientIds = (id: string, patientIds: string[]): Promise<RecipientsAnswer> => api(`/api/campaigns/${encodeURIComponent(id)}/recipients`, { method: 'POST', body: { patientIds } });
export const addRecipientCsv = (id: string, file: Blob): Promise<RecipientsAnswer> =>
  api(`/api/campaigns/${encodeURIComponent(id)}/recipients`, { method: 'POST', upload: { contentType: 'text/csv', data: file } });
export const dryRun = (id: string): Promise<DryRun> => api(`/api/campaigns/${encodeURIComponent(id)}/dry-run`, { method: 'POST', body: {} });
export const commandCampaign = (id: string, command: 'start' | 'pause' | 'resume' | 'cancel'): Promise<unknown> => api(`/api/campaigns/${encodeURIComponent(id)}/${command}`, { method: 'POST', body: {} });

/** Pure: the bar's value (0–100) and its words; a campaign with no recipients is not "done". */
export function campaignBar(p: { total: number; done: number }): { value: number; label: string } {
  if (p.total === 0) return { value: 0, label: 'No recipients yet' };
  const value = Math.min(100, Math.round((p.done / p.total) * 100));
  return { value, label: `${p.done} of ${p.total} finished (${value} %)` };
}

/** The campaign states after which nothing changes any more: polling stops. */
export const isSettled = (state: string): boolean => state === 'completed' || state === 'cancelled';
