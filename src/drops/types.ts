import type { DropStatus, DropVendor } from '../adapters/db-schema.js';
import type { MessageType } from '../outreach/matrix.js';

/**
 * Shared shapes of the ringless-voicemail domain. Templates and rules are pure (./templates.ts,
 * ./phi-check.ts, ./calling-rules.ts); providers place drops (./providers/); campaigns schedule
 * them (./campaigns.ts).
 */

export type { DropStatus, DropVendor };

/** Placeholders a template may use; nothing else is ever filled in. */
export const TEMPLATE_PLACEHOLDERS = ['practice_name', 'callback_number', 'office_hours', 'appointment_day', 'appointment_time', 'appointment_location'] as const;
export type TemplatePlaceholder = (typeof TEMPLATE_PLACEHOLDERS)[number];

/**
 * Per-recipient placeholders: each recipient's own appointment (src/outreach/personal.ts), filled
 * in at send time, never set for a whole campaign.
 */
export const PERSONAL_PLACEHOLDERS = ['appointment_day', 'appointment_time', 'appointment_location'] as const satisfies readonly TemplatePlaceholder[];
export type PersonalPlaceholder = (typeof PERSONAL_PLACEHOLDERS)[number];
export const isPersonalPlaceholder = (name: string): name is PersonalPlaceholder => (PERSONAL_PLACEHOLDERS as readonly string[]).includes(name);
/** What a template is written for: a drop's spoken words or an SMS's text. */
export type TemplateChannel = 'rvm' | 'sms';

export type TemplatePurpose = 'appointment_reminder' | 'callback_request' | 'office_closure' | 'recall' | 'billing_callback';

/** The communication matrix's rows a template may send as (src/outreach/matrix.ts): any but a page to staff. */
export type TemplateMessageType = Exclude<MessageType, 'staff_page'>;

export interface DropTemplate {
  id: string;
  purpose: TemplatePurpose;
  /** Its row of the communication matrix (checked against the `rvm` column before it is created, used or sent). */
  messageType: TemplateMessageType;
  /** Spoken text with {placeholders}; checked by the PHI check when loaded and when rendered. */
  text: string;
  /** Spoken (ringless voicemail, the default) or written (SMS: segments instead of seconds, no spoken opt-out). */
  channel?: TemplateChannel;
  /** Pre-rendered audio in audio/ (optional; text-to-speech otherwise). */
  audio?: string;
  /** Healthcare-exempt purposes (47 CFR 64.1200(a)(9)(iv)); billing is not exempt. */
  healthcareExempt: boolean;
}

/** What a provider needs to place one drop. No PHI beyond the number itself. */
export interface DropRequest {
  dropId: string;
  to: string; // E.164
  callerId: string; // E.164, the practice's number
  text: string; // rendered, PHI-checked message
  audioUrl?: string;
  /** Twilio drops: what a person who answers hears. */
  humanAnswer: 'message' | 'hangup';
}

export interface DropProvider {
  vendor: DropVendor;
  /** Places the drop; returns the vendor's reference. Throws DropProviderError (retryable or not). */
  send(req: DropRequest): Promise<{ providerRef: string }>;
}

export class DropProviderError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'DropProviderError';
  }
}

/** Why a recipient gets no drop (dry run report and per-drop record). */
export type SkipReason =
  | 'no_consent'
  | 'consent_revoked'
  | 'opted_out'
  | 'no_phone'
  | 'daily_cap'
  | 'weekly_cap'
  | 'sms_weekly_cap'
  | 'state_24h_cap'
  | 'outside_hours'
  | 'holiday'
  | 'unknown_patient'
  | 'duplicate'
  /** The template speaks the recipient's own appointment, and they have no upcoming one (or the linked one was cancelled or is past). */
  | 'no_appointment'
  /** The template speaks the appointment's location, and it has none on record. */
  | 'no_location'
  /** The appointment's location name failed the value check or the PHI check (a clinical word, a name…). */
  | 'location_refused';
