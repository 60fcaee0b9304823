// Over 400 lines because it is one row type per table, as the migrations create them: the schema in one place, checked against them by test/db-schema-drift.test.ts.
import type { ColumnType, Generated, JSONColumnType } from 'kysely';

/** Row types of every table, as the migrations in ./migrations create them. */

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>;

export interface PracticesTable {
  id: Generated<string>;
  slug: string;
  name: string;
  time_zone: string;
  fallback_number: string | null;
  greeting_name: string | null;
  front_desk_number: string | null;
  languages: ColumnType<string[], string[] | undefined, string[]>;
  weekly_hours: ColumnType<unknown, string | undefined, string>;
  holidays: ColumnType<unknown, string | undefined, string>;
  voicemail_retention_days: Generated<number>;
  voicemail_transcription: Generated<boolean>;
  access_number: string | null;
  suspended_at: Date | null; // NULL: active; set: suspended (0012)
  sms_auto_reply: string | null; // NULL: the built-in reply (0023)
  /** The patient portal (https), the link of the portal notice e-mail (0033). */
  patient_portal_url: string | null;
  routine_callback_hours: Generated<number>; // 0021
  idle_logoff_minutes: Generated<number>; // 5–60 (0020)
  messaging_service_sid: string | null; // the practice's Twilio Messaging Service, MG… (0032)
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface PracticeNumbersTable {
  e164: string;
  practice_id: string;
  flow_id: Generated<string>;
  /** NULL: the built-in flow `flow_id`; a version: the practice's own flow of that id (practice_flows). */
  flow_version: Generated<number | null>;
  created_at: CreatedAt;
}

export interface PatientsTable {
  id: Generated<string>;
  practice_id: string;
  /** Keyed HMAC of the E.164 phone number: a blind index, never the number itself. */
  phone_index: string;
  first_name_enc: Buffer | null;
  last_name_enc: Buffer | null;
  dob_enc: Buffer;
  pin_hash: string | null;
  phone_enc: Buffer | null;
  us_state: string | null;
  time_zone: string | null;
  mrn_enc: Buffer | null;
  /** Blind indexes (keyed HMAC of the normalised value), see src/patients/identifiers.ts. */
  mrn_index: string | null;
  family_name_index: string | null;
  full_name_index: string | null;
  dob_index: string | null;
  preferred_language: string | null;
  /** The e-mail address, sealed (field 'email'), and its blind index (0033); both null or neither. */
  email_enc: Buffer | null;
  email_index: string | null;
  /** When the patient is due for recall (0035), a plain date in clear; read it as text (to_char): pg would make a Date of it at local midnight. */
  recall_due: ColumnType<Date | null, string | null | undefined, string | null>;
  active: Generated<boolean>;
  merged_into: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export type PhoneKind = 'mobile' | 'home' | 'work' | 'other';

export interface PatientPhonesTable {
  id: Generated<string>;
  practice_id: string;
  patient_id: string;
  kind: PhoneKind;
  phone_index: string;
  phone_enc: Buffer | null;
  /** The patient whose id the ciphertext's encryption context names (kept when a merge moves the number). */
  sealed_for: string;
  preferred: Generated<boolean>;
  created_at: CreatedAt;
}

export type AppointmentStatus = 'booked' | 'confirmed' | 'cancelled' | 'no_show' | 'completed';

export interface AppointmentsTable {
  id: Generated<string>;
  practice_id: string;
  patient_id: string;
  starts_at: Date;
  status: Generated<AppointmentStatus>;
  provider_id: string | null;
  location_name: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface CallStatusEntry {
  key: string;
  status: string;
  at: string;
  source: string;
  seq?: number;
}

export interface CallsTable {
  call_sid: string;
  practice_id: string | null;
  direction: string;
  from_index: string | null;
  to_number: string | null;
  status: string;
  status_history: JSONColumnType<CallStatusEntry[]>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  // 0016: every call on record
  from_enc: Buffer | null; // the caller's number, sealed (context: table, field, call, practice)
  patient_id: string | null;
  match: CallMatch | null;
  path: JSONColumnType<string[], string | undefined, string>; // menu choices taken: the chosen node ids, in order
  outcome: CallOutcome | null;
  urgency: 'urgent' | 'routine' | null;
  ended_at: Date | null;
  duration_seconds: number | null;
  // 0022: the number to call back, confirmed on the call
  callback_number_enc: Buffer | null; // sealed (context: table, field, call, practice)
  callback_number_index: string | null; // its blind index (the patients' phone purpose)
  callback_source: 'caller' | 'keyed' | null;
  reason: CallReason | null; // 0021: the reason of the path taken
}

/** Why the caller called: from the menu option or node that led to the message (0021). */
export type CallReason = 'clinical' | 'refill' | 'appointment' | 'billing' | 'other';

/** How the caller is known: verified in the call, by number only (a patient of the practice has it), or not at all. */
export type CallMatch = 'verified' | 'number' | 'unknown';

/** How a call ended up; `abandoned_at_menu` and `completed_other` are what is left when nothing else happened. */
export type CallOutcome = 'handed_to_provider' | 'urgent_voicemail' | 'message' | 'transferred' | 'abandoned_at_menu' | 'fail_safe' | 'completed_other';

export type ApiRole = 'admin' | 'staff' | 'provider' | 'auditor';
export type ApiKeyRole = ApiRole | 'operator'; // operator: the platform's key, with no practice (0012)

export interface ApiKeysTable {
  id: Generated<string>;
  key_hash: string;
  role: ApiKeyRole;
  practice_id: string | null; // NULL exactly for an operator key (0012)
  label: string | null;
  created_at: CreatedAt;
  revoked_at: Date | null;
  /** NULL: never expires (0009). */
  expires_at: Date | null;
  /** Written at most once a minute per key (0009). */
  last_used_at: Date | null;
}

export interface AuditLogTable {
  seq: Generated<string>; // bigint, as text to keep precision: the global order rows were written in
  at: Date;
  practice_id: string | null;
  actor: string;
  action: string;
  call_sid: string | null;
  leg: string | null;
  subject_id: string | null;
  details: JSONColumnType<Record<string, unknown>>;
  prev_hash: string;
  hash: string;
  /** The hash chain: a practice id, 'system', or 'legacy' (rows before 0010). */
  chain_id: string;
  /** Position in the chain, from 1. */
  chain_seq: string;
  /** 1: legacy encoding; 2: RFC 8785 (docs/audit-log.md). */
  hash_version: number;
}

export interface ProvidersTable {
  id: Generated<string>;
  practice_id: string;
  display_name: string;
  phone: string;
  sms_phone: string | null;
  is_practice_admin: Generated<boolean>;
  active: Generated<boolean>;
  pin_hash: string | null;
  feed_token_hash: string | null;
  feed_token_created_at: Date | null;
  /** The provider's own account (0020); null: a provider who never signs in. */
  user_id: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface OncallSchedulesTable {
  id: Generated<string>;
  practice_id: string;
  name: string;
  time_zone: string;
  rotation: ColumnType<unknown, string, string>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface OncallOverridesTable {
  id: Generated<string>;
  schedule_id: string;
  provider_id: string;
  starts_at: Date;
  ends_at: Date;
  created_at: CreatedAt;
}

export type SwapState = 'pending' | 'accepted' | 'declined' | 'cancelled';

/** A swap request (0043): hand a window of a schedule from one provider to another. */
export interface OncallSwapsTable {
  id: Generated<string>;
  practice_id: string;
  schedule_id: string;
  from_provider: string;
  to_provider: string;
  starts_at: Date;
  ends_at: Date;
  state: Generated<SwapState>;
  requested_by: string;
  decided_by: string | null;
  decided_at: Date | null;
  override_id: string | null;
  created_at: CreatedAt;
}

export interface EscalationTier {
  target: { kind: 'schedule'; scheduleId: string } | { kind: 'provider'; providerId: string };
  ringSeconds: number;
}

export interface EscalationPoliciesTable {
  id: Generated<string>;
  practice_id: string;
  name: string;
  tiers: ColumnType<EscalationTier[], string, string>;
  repeat: Generated<number>;
  page_interval_seconds: Generated<number>;
  page_max_repeats: Generated<number>;
  is_default: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface CallLegsTable {
  id: Generated<string>;
  call_sid: string;
  leg_sid: string | null;
  practice_id: string | null;
  kind: 'parent' | 'dial' | 'page';
  tier: number | null;
  round: number | null;
  provider_id: string | null;
  number_tried: string | null;
  outcome: string;
  duration_seconds: number | null;
  started_at: Date;
  ended_at: Date | null;
  created_at: CreatedAt;
}

export interface PagesTable {
  id: Generated<string>;
  practice_id: string;
  call_sid: string;
  policy_id: string | null;
  reference_code: string;
  status: Generated<'open' | 'acknowledged'>;
  rounds_sent: Generated<number>;
  admin_paged: Generated<boolean>;
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
  created_at: CreatedAt;
}

export type PageDeliveryStatus = 'queued' | 'retrying' | 'sent' | 'failed' | 'cancelled' | 'superseded';

export interface PageDeliveriesTable {
  page_id: string;
  round: number;
  provider_id: string;
  number_tried: string;
  status: Generated<PageDeliveryStatus>;
  attempts: Generated<number>;
  message_sid: string | null;
  error_code: string | null;
  created_at: Date;
  updated_at: Date;
}

export type VoicemailState = 'received' | 'stored' | 'complete' | 'failed' | 'expired';

export interface VoicemailsTable {
  id: Generated<string>;
  practice_id: string;
  call_sid: string;
  recording_sid: string;
  reference_code: string;
  urgency: 'urgent' | 'routine';
  caller_verified: Generated<boolean>;
  patient_id: string | null;
  flow_node: string | null;
  duration_seconds: number | null;
  state: Generated<VoicemailState>;
  storage_key: string | null;
  content_type: string | null;
  plaintext_bytes: ColumnType<string | null, number | null | undefined, number | null>;
  plaintext_sha256: string | null;
  ciphertext_bytes: ColumnType<string | null, number | null | undefined, number | null>;
  attempts: Generated<number>;
  last_error: string | null;
  stored_at: Date | null;
  twilio_deleted_at: Date | null;
  notified_at: Date | null;
  audio_deleted_at: Date | null;
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
  simulated: Generated<boolean>;
  last_error_transient: Generated<boolean>;
  dead_letter_reason: 'twilio_delete_failed' | 'notify_failed' | null;
  requeues: Generated<number>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  acknowledged_note_enc: Buffer | null; // 0021
}

export interface VoicemailNotificationsTable {
  voicemail_id: string;
  recipient: string;
  message_sid: string;
  sent_at: Date;
}

export interface PlaybackTokensTable {
  token_hash: string;
  voicemail_id: string;
  issued_to: string;
  expires_at: Date;
  used_at: Date | null;
  created_at: CreatedAt;
}

export type ConsentChannel = 'voice' | 'rvm' | 'sms' | 'email';

export interface ConsentDisclosuresTable {
  practice_id: string;
  version: string;
  channel: ConsentChannel;
  text: string;
  recorded_by: string;
  created_at: CreatedAt;
}

export type ConsentSource = 'web_form' | 'paper_form' | 'verbal' | 'api' | 'sms_stop' | 'keypad' | 'staff';

export interface ConsentsTable {
  id: Generated<string>;
  seq: ColumnType<string, never, never>;
  practice_id: string;
  patient_id: string;
  channel: ConsentChannel;
  action: 'granted' | 'revoked';
  source: ConsentSource;
  disclosure_version: string | null;
  recorded_by: string;
  evidence_ref: string | null;
  recorded_at: CreatedAt;
}

/** E-mail opt-outs per practice and address (blind index), 0033: never sent to again. */
export interface EmailOptOutsTable {
  practice_id: string;
  email_index: string;
  source: 'unsubscribe_link' | 'staff' | 'api';
  recorded_by: string;
  created_at: CreatedAt;
}

export interface OptOutsTable {
  practice_id: string;
  phone_index: string;
  source: 'sms_stop' | 'keypad' | 'staff' | 'api';
  recorded_by: string;
  created_at: CreatedAt;
}

export type DropVendor = 'rvm_http' | 'twilio';

/** A patient's text to a practice number (0023): the sender and the text sealed, the number's blind index. */
export interface PatientTextsTable {
  id: string;
  practice_id: string;
  message_sid: string;
  from_index: string;
  from_enc: Buffer;
  body_enc: Buffer | null;
  body_chars: number;
  media_count: Generated<number>;
  match: CallMatch;
  patient_id: string | null;
  received_at: Date;
  task_id: string | null; // 0027: references callback_tasks (ON DELETE SET NULL)
  /** 0034: the outreach message (ledger row) this text replied to; its task is then an outreach reply. */
  outreach_send_id: Generated<string | null>;
}

export type TemplatePurposeColumn = 'appointment_reminder' | 'callback_request' | 'office_closure' | 'recall' | 'billing_callback';

export type TemplateMessageTypeColumn = TemplatePurposeColumn | 'appointment_confirmation' | 'results_ready';

export interface DropTemplatesTable {
  id: Generated<string>;
  practice_id: string;
  name: string;
  purpose: TemplatePurposeColumn;
  /** 0028: the template's row of the communication matrix (src/outreach/matrix.ts); never 'staff_page'. */
  message_type: ColumnType<TemplateMessageTypeColumn, TemplateMessageTypeColumn, never>;
  /** 0032: spoken (rvm) or written (sms). */
  channel: Generated<OutreachCampaignChannel>;
  text: string;
  created_by: string;
  created_at: CreatedAt;
}

export interface VendorBaasTable {
  id: Generated<string>;
  practice_id: string;
  vendor: DropVendor;
  signed_at: ColumnType<Date, string, string>;
  document_ref: string;
  recorded_by: string;
  created_at: CreatedAt;
}

export interface CampaignsTable {
  id: Generated<string>;
  practice_id: string;
  name: string;
  template_id: string;
  template_params: ColumnType<Record<string, string>, string | undefined, string>;
  provider: DropVendor;
  human_answer: Generated<'message' | 'hangup'>;
  audio_file: string | null;
  state: Generated<'draft' | 'running' | 'paused' | 'cancelled' | 'completed'>;
  rate_per_minute: Generated<number>;
  /** 0032: ringless voicemail (drops) or SMS. */
  channel: Generated<OutreachCampaignChannel>;
  created_by: string;
  created_at: CreatedAt;
  started_at: Date | null;
  updated_at: UpdatedAt;
}

export type DropStatus = 'pending' | 'queued' | 'sent' | 'delivered' | 'failed' | 'skipped' | 'cancelled';

export interface DropsTable {
  id: Generated<string>;
  campaign_id: string;
  practice_id: string;
  patient_id: string;
  /** The appointment the drop reminds of (migration 0037): named by the recipient list, or the next one, recorded when the drop is claimed. */
  appointment_id: Generated<string | null>;
  status: Generated<DropStatus>;
  reason: string | null;
  provider: DropVendor;
  provider_ref: string | null;
  answered_by: string | null;
  attempts: Generated<number>;
  schedule_version: Generated<number>;
  scheduled_for: Date | null;
  sent_at: Date | null;
  final_at: Date | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

/**
 * The campaign schedule (migration 0044, src/drops/dispatcher.ts): a pending drop's planned send
 * time, until the dispatcher takes it (then the drop is queued with its job). No keys: a row
 * whose drop is no longer pending is thrown away when met.
 */
export interface DropScheduleTable {
  drop_id: string;
  campaign_id: string;
  practice_id: string;
  at: Date;
}

/** A practice's single sign-on (OpenID Connect); migration 0024. */
export interface PracticeSsoTable {
  practice_id: string;
  issuer: string;
  client_id: string;
  /** Envelope-encrypted (context: table, field, practice); never returned by the API. */
  client_secret_enc: Buffer;
  allowed_domains: string[];
  sso_satisfies_mfa: Generated<boolean>;
  enabled: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

/** A person's subject at their practice's identity provider, bound at the first SSO sign-in; migration 0029. */
export interface SsoIdentitiesTable {
  practice_id: string;
  issuer: string;
  subject: string;
  user_id: string;
  created_at: CreatedAt;
}

/** A practice's EHR connection (FHIR R4, SMART Backend Services); migration 0014. */
export interface FhirSourcesTable {
  practice_id: string;
  base_url: string;
  token_url: string;
  client_id: string;
  mrn_system: string;
  private_key_enc: Buffer;
  key_id: string;
  algorithm: 'RS384' | 'ES384';
  interval_minutes: number | null;
  cursors: ColumnType<Record<string, string>, string | undefined, string>;
  last_attempt_at: Date | null;
  last_synced_at: Date | null;
  last_result: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  /** Migration 0018: the last run spent its page budget; the sweep queues the next at once. */
  continuing: Generated<boolean>;
  /** Migration 0018: where that run stopped (resource type and next link), envelope-encrypted. */
  resume_enc: Buffer | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

/** Which of our rows (patients, appointments) a FHIR resource became; migration 0014. */
export interface FhirResourceLinksTable {
  practice_id: string;
  resource_type: 'Patient' | 'Appointment';
  resource_id: string;
  local_id: string;
  /** Migration 0018: meta.lastUpdated of the version last applied (NULL: none given). */
  last_updated: Date | null;
  created_at: CreatedAt;
}

/** Every FHIR import run (server syncs and NDJSON files), counts only; migration 0018. */
export interface FhirRunsTable {
  id: Generated<string>;
  /** bigint identity (GENERATED ALWAYS): the order runs were recorded in. */
  seq: ColumnType<string, never, never>;
  practice_id: string;
  kind: 'sync' | 'ndjson';
  trigger: 'api' | 'schedule';
  resource_type: 'Patient' | 'Appointment' | null;
  status: 'complete' | 'partial' | 'failed' | 'dry_run' | 'refused';
  reason: string | null;
  counts: ColumnType<Record<string, unknown>, string | undefined, string>;
  started_at: Date;
  finished_at: Date;
}

export interface VerificationLockoutsTable {
  id: Generated<string>;
  practice_id: string;
  scope: 'number' | 'patient' | 'provider';
  patient_id: string | null;
  provider_id: string | null;
  phone_index: string | null;
  line: 'patient' | 'access';
  earlier: Generated<number>;
  started_at: Date;
  locked_until: Date;
  cleared_at: Date | null;
  cleared_by: string | null;
}

export interface PracticeFlowsTable {
  practice_id: string;
  flow_id: string;
  version: number;
  format: 'yaml' | 'json';
  source: string;
  description: string;
  created_by: string;
  created_at: CreatedAt;
}

export interface LineFlowActivationsTable {
  id: Generated<string>;
  practice_id: string;
  e164: string;
  flow_id: string;
  flow_version: number | null;
  activated_by: string;
  activated_at: CreatedAt;
}

export interface PracticeContactsTable {
  id: Generated<string>;
  practice_id: string;
  key: string;
  label: string;
  number: string;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export type ImportKind = 'patients' | 'appointments';
export type ImportStatus = 'queued' | 'running' | 'done' | 'failed';

/** A CSV import run as a job; migration 0017. Counts and codes only: the upload is in storage, encrypted. */
export interface ImportsTable {
  id: string;
  practice_id: string;
  kind: ImportKind;
  dry_run: boolean;
  status: Generated<ImportStatus>;
  /** The encrypted upload's storage key; NULL once deleted. */
  upload_key: string | null;
  /** Plaintext bytes received; NULL while the upload arrives. */
  upload_bytes: number | null;
  rows_read: Generated<number>;
  committed: Generated<boolean>;
  created_count: Generated<number>;
  updated_count: Generated<number>;
  duplicate_count: Generated<number>;
  invalid_count: Generated<number>;
  entries_truncated: Generated<boolean>;
  failure: string | null;
  attempts: Generated<number>;
  created_by: string;
  created_at: CreatedAt;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: UpdatedAt;
}

/** An import's report, one invalid or duplicate row (number, column, reason) each; migration 0017. */
export interface ImportEntriesTable {
  import_id: string;
  practice_id: string;
  position: number;
  row_number: number;
  outcome: 'invalid' | 'duplicate';
  field: string;
  reason: string;
  existing_id: string | null;
}

export type TaskSource = 'voicemail' | 'message' | 'abandoned_call' | 'patient_text' | 'outreach_reply';
export type TaskStatus = 'open' | 'claimed' | 'done' | 'unreachable' | 'cancelled';
export type AttemptOutcome = 'reached' | 'no_answer' | 'voicemail_left' | 'wrong_number' | 'other' | 'busy' | 'failed' | 'not_connected' | 'logged'; // the last four: 0025

/** What a call back through the practice line came to (0025). */
export type TaskCallOutcome = 'reached' | 'no_answer' | 'busy' | 'failed' | 'not_connected' | 'logged';

/** A call back through the practice line (0025): the opaque id its TwiML URLs carry. */
export interface TaskCallsTable {
  id: string;
  practice_id: string;
  task_id: string;
  actor: string;
  origin: 'api' | 'access_line';
  caller_leg_sid: string | null;
  patient_leg_sid: string | null;
  caller_id: string;
  state: 'placed' | 'logged' | 'dialling' | 'finished';
  outcome: TaskCallOutcome | null;
  attempt_id: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface CallbackTasksTable {
  id: string;
  practice_id: string;
  source: TaskSource;
  source_id: string;
  call_sid: string | null;
  reason: CallReason;
  urgency: 'urgent' | 'routine';
  callback_enc: Buffer | null;
  callback_index: string | null;
  patient_id: string | null;
  match: CallMatch;
  status: Generated<TaskStatus>;
  assignee: string | null;
  claimed_at: Date | null;
  due_at: Date;
  alerted_at: Date | null;
  closed_at: Date | null;
  closed_by: string | null;
  close_note_enc: Buffer | null;
  attempts: Generated<number>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface CallbackTaskAttemptsTable {
  id: Generated<string>;
  task_id: string;
  practice_id: string;
  at: Date;
  actor: string;
  outcome: AttemptOutcome;
  note_enc: Buffer | null;
  created_at: CreatedAt;
}

export type MemberRole = 'admin' | 'staff' | 'provider' | 'auditor';

/** A person who signs in (0020): belongs to no practice; reached by the system pool only. */
export interface UsersTable {
  id: Generated<string>;
  email: string;
  display_name: string;
  password_hash: string | null;
  status: Generated<'active' | 'disabled'>;
  totp_secret_enc: Buffer | null;
  totp_confirmed_at: Date | null;
  totp_last_step: ColumnType<string | null, string | number | null | undefined, string | number | null>;
  /** The person's own phone, sealed (0025): where a call back through the practice line rings them. */
  phone_enc: Buffer | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface MembershipsTable {
  user_id: string;
  practice_id: string;
  role: MemberRole;
  disabled_at: Date | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface RecoveryCodesTable {
  id: Generated<string>;
  user_id: string;
  code_hash: string;
  used_at: Date | null;
  created_at: CreatedAt;
}

export interface InvitationsTable {
  id: Generated<string>;
  practice_id: string;
  token_hash: string;
  email: string;
  role: MemberRole;
  provider_id: string | null;
  invited_by: string;
  expires_at: Date;
  accepted_at: Date | null;
  accepted_user_id: string | null;
  created_at: CreatedAt;
}

/** A morning report's summary, sent once per practice and period (0026). */
export interface OvernightReportsTable {
  practice_id: string;
  period_date: string; // the local date the practice opens on
  period_start: Date;
  period_end: Date;
  counts: ColumnType<Record<string, number>, string | undefined, string>;
  recipients: Generated<number>;
  claimed_at: Date | null;
  sent_at: Date | null;
  created_at: CreatedAt;
}

/** One version of a practice's communication matrix (0028); the highest is current. */
export interface CommunicationMatricesTable {
  practice_id: string;
  version: number;
  cells: ColumnType<unknown, string, never>;
  created_by: string;
  created_at: CreatedAt;
}

/** The channels a campaign (and a practice's template) sends on (0032). */
export type OutreachCampaignChannel = 'rvm' | 'sms';

/** Where a ledger row stands (0032): planned → queued → sent → delivered / undelivered / failed; or refused / skipped. */
export type OutreachSendStatus = 'planned' | 'queued' | 'sent' | 'delivered' | 'undelivered' | 'failed' | 'refused' | 'skipped';

/** The send ledger of patient messages other than drops (0032): ids, states and codes, never a body or a number. */
export interface OutreachSendsTable {
  id: Generated<string>;
  practice_id: string;
  patient_id: string;
  /** 'sms' | 'email' today; text, so later channels need no migration. */
  channel: string;
  message_type: string;
  origin: string;
  idempotency_key: string;
  status: Generated<OutreachSendStatus>;
  reason: string | null;
  error_code: string | null;
  provider_ref: string | null;
  recipient_index: string | null;
  consent_id: string | null;
  matrix_cell: string | null;
  matrix_version: number | null;
  segments: number | null;
  opt_out_appended: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  sent_at: Date | null;
  delivered_at: Date | null;
  replied_at: Date | null;
  /** 0034: the appointment an appointment message spoke of (a "C" reply confirms it). */
  appointment_id: Generated<string | null>;
}

/** Sequences (0039, src/sequences/): ordered steps over recipients; ids and states only. */
export type SequenceState = 'draft' | 'running' | 'paused' | 'cancelled' | 'completed';
export type SequenceChannel = 'sms' | 'rvm' | 'email';
export type SequenceCondition = 'always' | 'no_reply' | 'not_confirmed' | 'not_delivered' | 'opted_out_previous_channel';
export type SequenceStopReason = 'confirmed' | 'opted_out' | 'completed' | 'cancelled';

export interface SequencesTable {
  id: Generated<string>;
  practice_id: string;
  name: string;
  message_type: string;
  state: Generated<SequenceState>;
  created_by: string;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  started_at: Date | null;
}

export interface SequenceStepsTable {
  sequence_id: string;
  practice_id: string;
  position: number;
  channel: SequenceChannel;
  template_id: string;
  wait_hours: number;
  condition: SequenceCondition;
  campaign_id: string | null;
}

export interface SequenceRecipientsTable {
  id: Generated<string>;
  sequence_id: string;
  practice_id: string;
  patient_id: string;
  appointment_id: string | null;
  current_step: Generated<number>;
  next_due_at: Date | null;
  stopped_reason: SequenceStopReason | null;
  stopped_at: Date | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface SequenceStepRunsTable {
  recipient_id: string;
  position: number;
  practice_id: string;
  outcome: 'sent' | 'skipped';
  reason: string | null;
  drop_id: string | null;
  send_id: string | null;
  at: Date;
}

export interface Database {
  practices: PracticesTable;
  practice_numbers: PracticeNumbersTable;
  patients: PatientsTable;
  patient_phones: PatientPhonesTable;
  appointments: AppointmentsTable;
  calls: CallsTable;
  api_keys: ApiKeysTable;
  audit_log: AuditLogTable;
  providers: ProvidersTable;
  oncall_schedules: OncallSchedulesTable;
  oncall_overrides: OncallOverridesTable;
  oncall_swaps: OncallSwapsTable;
  escalation_policies: EscalationPoliciesTable;
  call_legs: CallLegsTable;
  pages: PagesTable;
  page_deliveries: PageDeliveriesTable;
  voicemails: VoicemailsTable;
  playback_tokens: PlaybackTokensTable;
  voicemail_notifications: VoicemailNotificationsTable;
  consent_disclosures: ConsentDisclosuresTable;
  consents: ConsentsTable;
  opt_outs: OptOutsTable;
  email_opt_outs: EmailOptOutsTable;
  patient_texts: PatientTextsTable;
  vendor_baas: VendorBaasTable;
  drop_templates: DropTemplatesTable;
  campaigns: CampaignsTable;
  drops: DropsTable;
  drop_schedule: DropScheduleTable;
  verification_lockouts: VerificationLockoutsTable;
  practice_flows: PracticeFlowsTable;
  line_flow_activations: LineFlowActivationsTable;
  practice_contacts: PracticeContactsTable;
  fhir_sources: FhirSourcesTable;
  practice_sso: PracticeSsoTable;
  sso_identities: SsoIdentitiesTable;
  fhir_resource_links: FhirResourceLinksTable;
  imports: ImportsTable;
  import_entries: ImportEntriesTable;
  fhir_runs: FhirRunsTable;
  callback_tasks: CallbackTasksTable;
  callback_task_attempts: CallbackTaskAttemptsTable;
  task_calls: TaskCallsTable;
  users: UsersTable;
  memberships: MembershipsTable;
  recovery_codes: RecoveryCodesTable;
  invitations: InvitationsTable;
  overnight_reports: OvernightReportsTable;
  communication_matrices: CommunicationMatricesTable;
  outreach_sends: OutreachSendsTable;
  sequences: SequencesTable;
  sequence_steps: SequenceStepsTable;
  sequence_recipients: SequenceRecipientsTable;
  sequence_step_runs: SequenceStepRunsTable;
}
