import { api } from '../../api/client';
import type { Role } from '../../api/types';
import type { CommunicationMatrix, Holidays, MatrixChannel, MatrixDetail, MessageType, NamedHoliday, OpenInterval, PracticeNumber, ServerPractice, VendorBaa, Weekday, WeeklyHours } from '../../api/server-types';

export type { MatrixChannel, MatrixDetail, MessageType, NamedHoliday, VendorBaa, Weekday, WeeklyHours };
export type Interval = OpenInterval;

/**
 * What the Settings page reads and sends (src/http/practice-routes.ts, flow-routes.ts,
 * user-routes.ts, key-routes.ts, drops-routes.ts). The practice's shapes are the server's own
 * (../../api/server-types.ts); the lists below are the values the page iterates, checked against
 * those types in both directions, so a day or holiday added on the server fails the typecheck here.
 */
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const satisfies readonly Weekday[];

export const NAMED_HOLIDAYS = [
  'new_years_day',
  'mlk_day',
  'presidents_day',
  'memorial_day',
  'juneteenth',
  'independence_day',
  'labor_day',
  'columbus_day',
  'veterans_day',
  'thanksgiving',
  'day_after_thanksgiving',
  'christmas_eve',
  'christmas_day',
  'new_years_eve',
] as const satisfies readonly NamedHoliday[];

/** The communication matrix's rows, columns and detail levels, in the server's order (src/outreach/matrix.ts). */
export const MESSAGE_TYPES = [
  'appointment_reminder',
  'appointment_confirmation',
  'recall',
  'office_closure',
  'billing_callback',
  'callback_request',
  'results_ready',
  'staff_page',
] as const satisfies readonly MessageType[];
export const MATRIX_CHANNELS = ['sms', 'rvm', 'voice', 'email'] as const satisfies readonly MatrixChannel[];
export const MATRIX_DETAILS = ['none', 'logistics'] as const satisfies readonly MatrixDetail[];

/** Compile-time: every server value is in the page's list (the `satisfies` above checks the other way). */
type Missing<All, Listed> = Exclude<All, Listed> extends never ? true : ['missing from the console', Exclude<All, Listed>];
const everyWeekday: Missing<Weekday, (typeof WEEKDAYS)[number]> = true;
const everyHoliday: Missing<NamedHoliday, (typeof NAMED_HOLIDAYS)[number]> = true;
const everyType: Missing<MessageType, (typeof MESSAGE_TYPES)[number]> = true;
const everyChannel: Missing<MatrixChannel, (typeof MATRIX_CHANNELS)[number]> = true;
const everyDetail: Missing<MatrixDetail, (typeof MATRIX_DETAILS)[number]> = true;
void everyWeekday;
void everyHoliday;
void everyType;
void everyChannel;
void everyDetail;

export type Matrix = CommunicationMatrix;
/** GET and PUT /api/practices/:id/communication-matrix (src/http/outreach-routes.ts). */
export interface MatrixAnswer {
  version: number;
  isDefault: boolean;
  updatedAt: string | null;
  /** Who saved it, as the audit log names them (`user:<id>`, `api_key:<id>`). */
  updatedBy: string | null;
  matrix: Matrix;
  /** The cells no practice may close, and why. */
  locked: Array<{ type: MessageType; channel: MatrixChannel; why: string }>;
}

/** GET /api/practices/:id: the stored practice, its lines and whether it is open right now. */
export type Practice = ServerPractice & {
  numbers: Array<PracticeNumber & { kind?: string }>;
  hoursNow?: { status: 'open' | 'closed' | 'holiday'; nextOpening: string | null };
};

/** PATCH /api/practices/:id: the fields the console changes. */
export interface PracticePatch {
  weeklyHours?: Partial<WeeklyHours>;
  holidays?: Holidays;
  voicemailRetentionDays?: number;
  messagingServiceSid?: string | null;
}

export interface Flows {
  builtIn: Array<{ flowId: string; description: string }>;
  own: Array<{ flowId: string; versions: Array<{ version: number; description: string; createdAt: string; createdBy: string }> }>;
  lines: Array<{ e164: string; flowId: string; version: number | null; builtIn: boolean }>;
}

export interface FlowProblem {
  file: string;
  node?: string;
  message: string;
}

export interface Contact {
  key: string;
  label: string;
  number: string;
  updatedAt: string;
}

export interface Member {
  userId: string;
  email: string;
  displayName: string;
  role: Role;
  status: 'active' | 'disabled';
  totpEnabled: boolean;
  createdAt: string;
}

export interface ApiKey {
  id: string;
  role: Role;
  label: string | null;
  status: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

const p = (practiceId: string): string => `/api/practices/${encodeURIComponent(practiceId)}`;

export const fetchPractice = (id: string, signal?: AbortSignal): Promise<Practice> => api(p(id), { signal });
export const patchPractice = (id: string, body: PracticePatch): Promise<Practice> => api(p(id), { method: 'PATCH', body });
export const fetchFlows = (id: string, signal?: AbortSignal): Promise<Flows> => api(`${p(id)}/flows`, { signal });
export const fetchBuiltInSource = (flowId: string, signal?: AbortSignal): Promise<string> => api(`/api/flows/${encodeURIComponent(flowId)}/source`, { signal });
export const fetchVersion = (id: string, flowId: string, version: number, signal?: AbortSignal): Promise<{ source: string; format: string }> =>
  api(`${p(id)}/flows/${encodeURIComponent(flowId)}/versions/${version}`, { signal });
export const uploadFlow = (id: string, body: { format: 'yaml' | 'json'; source: string }): Promise<{ flowId: string; version: number }> => api(`${p(id)}/flows`, { method: 'POST', body });
export const activateFlow = (id: string, e164: string, body: { flowId: string; version: number | null }): Promise<unknown> =>
  api(`${p(id)}/lines/${encodeURIComponent(e164)}/flow`, { method: 'PUT', body });
export const rollBack = (id: string, e164: string): Promise<unknown> => api(`${p(id)}/lines/${encodeURIComponent(e164)}/flow/rollback`, { method: 'POST', body: {} });
export const fetchContacts = (id: string, signal?: AbortSignal): Promise<{ contacts: Contact[] }> => api(`${p(id)}/contacts`, { signal });
export const putContact = (id: string, key: string, body: { label: string; number: string }): Promise<Contact> => api(`${p(id)}/contacts/${encodeURIComponent(key)}`, { method: 'PUT', body });
export const deleteContact = (id: string, key: string): Promise<void> => api(`${p(id)}/contacts/${encodeURIComponent(key)}`, { method: 'DELETE' });
export const fetchUsers = (signal?: AbortSignal): Promise<{ users: Member[] }> => api('/api/users', { signal });
export const inviteUser = (body: { email: string; role: Role }): Promise<{ link: string; expiresAt: string; emailed: boolean }> => api('/api/users/invitations', { method: 'POST', body });
export const changeRole = (userId: string, role: Role): Promise<unknown> => api(`/api/users/${encodeURIComponent(userId)}/membership`, { method: 'PATCH', body: { role } });
export const disableUser = (userId: string): Promise<unknown> => api(`/api/users/${encodeURIComponent(userId)}/disable`, { method: 'POST', body: {} });
export const fetchMatrix = (id: string, signal?: AbortSignal): Promise<MatrixAnswer> => api(`${p(id)}/communication-matrix`, { signal });
export const putMatrix = (id: string, matrix: Matrix): Promise<MatrixAnswer> => api(`${p(id)}/communication-matrix`, { method: 'PUT', body: matrix });
export const fetchKeys = (id: string, signal?: AbortSignal): Promise<{ keys: ApiKey[] }> => api(`${p(id)}/api-keys`, { signal });
export const fetchBaas = (signal?: AbortSignal): Promise<{ baas: VendorBaa[] }> => api('/api/vendor-baas', { signal });
export const recordBaa = (body: { vendor: VendorBaa['vendor']; signedAt: string; documentRef: string }): Promise<VendorBaa> => api('/api/vendor-baas', { method: 'POST', body });
/** How long a new key is valid (as `npm run keys:create -- --expires-in`); the API takes any `<n>h|d|w|y` up to 5y. */
export const KEY_LIFETIMES = [
  { value: '30d', label: '30 days' },
  { value: '90d', label: '90 days' },
  { value: '1y', label: '1 year' },
  { value: '5y', label: '5 years' },
  { value: 'none', label: 'Never expires' },
] as const;
export interface NewKey {
  role: Role;
  label?: string;
  expiresIn: (typeof KEY_LIFETIMES)[number]['value'];
}
/** POST /api/practices/:id/api-keys: the key's summary and, this once, the secret (kept in the dialog's state only). */
export const createKey = (id: string, body: NewKey): Promise<{ key: ApiKey; secret: string }> => api(`${p(id)}/api-keys`, { method: 'POST', body });
export const revokeKey = (id: string, keyId: string): Promise<unknown> => api(`${p(id)}/api-keys/${encodeURIComponent(keyId)}/revoke`, { method: 'POST', body: {} });

/** `08:00-12:00, 13:00-17:00` → intervals; empty → closed; null when it cannot be read. */
export function parseDayHours(text: string): Interval[] | null {
  const trimmed = text.trim();
  if (trimmed === '' || /^closed$/i.test(trimmed)) return [];
  const out: Interval[] = [];
  for (const part of trimmed.split(',')) {
    const m = /^\s*(\d{2}:\d{2})\s*[-–]\s*(\d{2}:\d{2})\s*$/.exec(part);
    if (!m || !m[1] || !m[2]) return null;
    out.push({ open: m[1], close: m[2] });
  }
  return out;
}

export function formatDayHours(intervals: readonly Interval[]): string {
  return intervals.map((i) => `${i.open}-${i.close}`).join(', ');
}
