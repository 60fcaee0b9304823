import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

/** RFC 8785 (the `canonicalize` package: CommonJS, whose typings say `export default`, which Node's ESM loader does not give). */
const canonicalize = createRequire(import.meta.url)('canonicalize') as (input: unknown) => string | undefined;

/**
 * Audit events: built by pure functions, written by one function (./store.ts).
 * Details carry ids, codes and counts — never PHI (no names, numbers, dates of birth, digits).
 */

export const GENESIS_HASH = '0'.repeat(64);

/** Coded action names. Add here; never free text. */
export const AuditAction = {
  CallLegStarted: 'call.leg.started',
  CallLegStatus: 'call.leg.status',
  CallTransition: 'call.transition',
  CallUnknownNumber: 'call.unknown_number',
  CallFailSafe: 'call.fail_safe',
  /** A callback number the caller keyed and confirmed could be kept neither on the call record nor in the call state: lost (never the number). */
  CallCallbackNumberLost: 'call.callback_number_lost',
  CallDial: 'call.dial',
  /** Calls listed with their callers' numbers decrypted (a PHI read): counts only. */
  CallListRead: 'call.list_read',
  /** One call's record, timeline and audit events exported as a file (src/calls/call-export.ts): counts only. */
  CallExported: 'call.exported',
  /** The practice's chain verified on request (GET /api/audit/verify): the verdict and row count. */
  AuditVerified: 'audit.verified',
  /** A search of the audit log exported as a file (GET /api/audit/export): the format and the filters' names. */
  AuditExported: 'audit.exported',
  Disclosure: 'call.disclosure',
  DisclosureRefused: 'call.disclosure_refused',
  VerificationSucceeded: 'verification.succeeded',
  VerificationFailed: 'verification.failed',
  VerificationRefused: 'verification.refused',
  VerificationLockedOut: 'verification.locked_out',
  VerificationLockoutCleared: 'verification.lockout_cleared',
  VoicemailTaken: 'voicemail.taken',
  VoicemailReceived: 'voicemail.received',
  VoicemailRecordingUrlRefused: 'voicemail.recording_url_refused',
  VoicemailStored: 'voicemail.stored',
  VoicemailTwilioDeleted: 'voicemail.twilio_deleted',
  VoicemailFailed: 'voicemail.failed',
  VoicemailRequeued: 'voicemail.requeued',
  VoicemailNotified: 'voicemail.notified',
  VoicemailPlayback: 'voicemail.playback',
  VoicemailAcknowledged: 'voicemail.acknowledged',
  /** Voicemails listed with their callers' numbers opened (a PHI read): counts only. */
  VoicemailListRead: 'voicemail.list_read',
  VoicemailAudioDeleted: 'voicemail.audio_deleted',
  VoicemailReconciled: 'voicemail.reconciled',
  VoicemailSpoolDeadLettered: 'voicemail.spool_dead_lettered',
  AccessLineVerified: 'access.verified',
  AccessLineRefused: 'access.refused',
  OncallConnected: 'oncall.connected',
  OncallAttemptFailed: 'oncall.attempt_failed',
  OncallExhausted: 'oncall.exhausted',
  OncallWhisper: 'oncall.whisper',
  PageOpened: 'page.opened',
  PageSent: 'page.sent',
  PageAdminEscalated: 'page.admin_escalated',
  PageAcknowledged: 'page.acknowledged',
  /** One page read with its callback number opened (GET /api/pages/:pageId, a PHI read): the view only. */
  PageRead: 'page.read',
  PageSendFailed: 'page.send_failed',
  PageGaveUp: 'page.gave_up',
  VoicemailRecorded: 'voicemail.recorded',
  VoicemailRecordingStatus: 'voicemail.recording_status',
  TwilioSignatureRejected: 'twilio.signature_rejected',
  TwilioWebhookMalformed: 'twilio.webhook_malformed',
  TwilioFallback: 'twilio.fallback',
  TwilioAccountRefused: 'twilio.account_refused',
  HttpRefusalsSummary: 'http.refusals_summary',
  ApiRequest: 'api.request',
  ApiAuthRejected: 'api.auth_rejected',
  ApiForbidden: 'api.forbidden',
  AdminApiKeyCreated: 'admin.api_key_created',
  AdminApiKeyRevoked: 'admin.api_key_revoked',
  AdminApiKeysListed: 'admin.api_keys_listed',
  AdminPracticeSeeded: 'admin.practice_seeded',
  CampaignCreated: 'campaign.created',
  CampaignStateChanged: 'campaign.state_changed',
  CampaignRecipientsAdded: 'campaign.recipients_added',
  /** A sequence created (src/sequences/): its steps' channels, templates, waits, conditions and matrix cells. */
  SequenceCreated: 'sequence.created',
  SequenceStateChanged: 'sequence.state_changed',
  SequenceRecipientsAdded: 'sequence.recipients_added',
  /** One recipient's step: sent (the drop or ledger row it became), skipped (the condition) or stopped (confirmed, opted out). */
  SequenceStep: 'sequence.step',
  DropScheduled: 'drop.scheduled',
  DropSent: 'drop.sent',
  DropAnswered: 'drop.answered',
  DropFinal: 'drop.final',
  /**
   * Drops of one campaign given one final state before any was sent (planning's skips, a cancel):
   * one row per reason and up to 1,000 drops, naming each drop (`dropIds`) and how many (`count`);
   * subject: the campaign. Each drop's row keeps its own status and reason too.
   */
  DropsFinal: 'drop.final_batch',
  DropTemplateCreated: 'drop.template_created',
  /** A patient SMS handed to Twilio (or refused by it): the ledger row, consent grant, matrix cell and version; ids only. */
  SmsSent: 'sms.sent',
  /** A patient SMS's ledger row refused or skipped before sending (no messaging service, the matrix…). */
  SmsNotSent: 'sms.not_sent',
  /** A delivery status callback moved a patient SMS's ledger row (queued, sent, delivered, undelivered, failed). */
  SmsStatus: 'sms.status',
  /** An inbound SMS answered an outreach SMS (src/outreach/replies.ts): the ledger row, its origin and type; ids only. */
  OutreachReplied: 'outreach.replied',
  /** An appointment confirmed by the patient (a "C" reply, or 1 on a voice prompt): its source, the patient's and ledger row's ids. */
  AppointmentConfirmed: 'appointment.confirmed',
  DropWebhookRejected: 'drop.webhook_rejected',
  ConsentRecorded: 'consent.recorded',
  ConsentDisclosureRecorded: 'consent.disclosure_recorded',
  OptOutRecorded: 'consent.opt_out',
  OptOutRemoved: 'consent.opt_out_removed',
  /** An address opted out of a practice's notice e-mails (src/consent/email-opt-outs.ts): source and counts, never the address. */
  EmailOptOutRecorded: 'consent.email_opt_out',
  /** A notice e-mail sent (src/outreach/email-notice.ts): template, consent id, matrix cell and version; never the address. */
  EmailSent: 'email.sent',
  /** A notice e-mail not sent: the reason (no_consent, opted_out, no_email, matrix) and the cell. */
  EmailSkipped: 'email.skipped',
  /** The relay refused or could not be reached: the error's code only. */
  EmailFailed: 'email.failed',
  PatientTextReceived: 'text.received',
  SmsKeywordAnswered: 'text.keyword_answered',
  VendorBaaRecorded: 'admin.vendor_baa_recorded',
  AdminPatientCreated: 'admin.patient_created',
  AdminPatientUpdated: 'admin.patient_updated',
  AdminPatientDeactivated: 'admin.patient_deactivated',
  AdminPatientsMerged: 'admin.patients_merged',
  AdminPatientsImported: 'admin.patients_imported',
  AdminAppointmentChanged: 'admin.appointment_changed',
  AdminAppointmentsImported: 'admin.appointments_imported',
  /** A CSV import received by the API, stored encrypted and queued (its id the subject). */
  AdminImportRequested: 'admin.import_requested',
  /** The import job's outcome: done (with counts) or failed (with a reason code). */
  ImportFinished: 'import.finished',
  AdminPracticeUpdated: 'admin.practice_updated',
  AdminNumberUpdated: 'admin.number_updated',
  AdminPracticeCreated: 'admin.practice_created',
  AdminPracticeSuspended: 'admin.practice_suspended',
  AdminPracticeReactivated: 'admin.practice_reactivated',
  AdminLineConnected: 'admin.line_connected',
  AdminLineAssigned: 'admin.line_assigned',
  AdminProviderChanged: 'admin.provider_changed',
  AdminScheduleChanged: 'admin.schedule_changed',
  AdminOverrideChanged: 'admin.override_changed',
  AdminPolicyChanged: 'admin.policy_changed',
  AdminFlowUploaded: 'admin.flow_uploaded',
  AdminLineFlowActivated: 'admin.line_flow_activated',
  AdminContactChanged: 'admin.contact_changed',
  OncallFeedRead: 'oncall.feed_read',
  /** A swap request (src/oncall/swaps.ts): asked, accepted (its override made), declined, cancelled. Ids only. */
  OncallSwapRequested: 'oncall.swap_requested',
  OncallSwapAccepted: 'oncall.swap_accepted',
  OncallSwapDeclined: 'oncall.swap_declined',
  OncallSwapCancelled: 'oncall.swap_cancelled',
  AdminFhirSourceUpdated: 'admin.fhir_source_updated',
  FhirImported: 'fhir.imported',
  FhirSyncCompleted: 'fhir.sync_completed',
  FhirSyncFailed: 'fhir.sync_failed',
  SystemStarted: 'system.started',
  /** Callback tasks (src/tasks/): ids, codes and counts only, never the number or a note. */
  TaskCreated: 'task.created',
  TaskClaimed: 'task.claimed',
  TaskAttempt: 'task.attempt',
  TaskClosed: 'task.closed',
  /** An admin gave a task to a person (details: previous and new assignee, actor ids). */
  TaskAssigned: 'task.assigned',
  /** An admin released a claimed task to open (details: the previous assignee). */
  TaskReleased: 'task.released',
  /** A task read with its callback number opened (a PHI read). */
  TaskRead: 'task.read',
  TaskOverdueAlerted: 'task.overdue_alerted',
  /** Closed tasks past the practice's retention erased (src/tasks/retention.ts): counts only, once per practice and sweep. */
  TaskPurged: 'task.purged',
  /** The morning report's summary sent to a practice's admins (counts only; recipients by id). */
  ReportOvernightSent: 'report.overnight_sent',
  /** A call back through the practice line (src/tasks/call-back.ts): placed (or logged), the patient dialled, its outcome. */
  TaskCallPlaced: 'task.call_placed',
  TaskCallDialled: 'task.call_dialled',
  TaskCallEnded: 'task.call_ended',
  /** Staff accounts (src/auth/): actor `user:<id>` once the person is known; never an e-mail or a password in details. */
  UserInvited: 'user.invited',
  /** A person set or cleared their own phone (sealed; never the number in details). */
  UserPhoneSet: 'user.phone_set',
  UserInvitationAccepted: 'user.invitation_accepted',
  /** An invitation link refused (unknown, spent, expired, or an existing account's while not signed in as it). */
  UserInvitationRefused: 'user.invitation_refused',
  UserInvitationRevoked: 'user.invitation_revoked',
  UserSignedIn: 'user.signed_in',
  UserSignInFailed: 'user.sign_in_failed',
  UserMfaEnrolStarted: 'user.mfa_enrol_started',
  UserMfaEnrolled: 'user.mfa_enrolled',
  UserRecoveryCodeUsed: 'user.recovery_code_used',
  UserSignedOut: 'user.signed_out',
  UserSessionExpired: 'user.session_expired',
  UserPracticeSwitched: 'user.practice_switched',
  UserRoleChanged: 'user.role_changed',
  UserDisabled: 'user.disabled',
  UserPasswordResetRequested: 'user.password_reset_requested',
  UserPasswordResetLinkIssued: 'user.password_reset_link_issued',
  UserPasswordReset: 'user.password_reset',
  UserCsrfRefused: 'user.csrf_refused',
  /** Single sign-on (src/auth/oidc.ts): reason codes only, never a token, a claim or an e-mail. */
  UserSsoStarted: 'user.sso_started',
  UserSsoFailed: 'user.sso_failed',
  AdminSsoUpdated: 'admin.sso_updated',
  /** A new version of a practice's communication matrix (src/outreach/): the version and the cells that changed. */
  AdminMatrixUpdated: 'admin.matrix_updated',
} as const;
export type AuditActionName = (typeof AuditAction)[keyof typeof AuditAction];

export type DetailValue = string | number | boolean | null | DetailValue[] | { [k: string]: DetailValue };

export interface AuditEvent {
  action: AuditActionName;
  actor: string;
  practiceId?: string | null;
  callSid?: string | null;
  leg?: string | null;
  subjectId?: string | null;
  details?: Record<string, DetailValue>;
}

/** The chain of events with no practice (start-ups, rejected signatures, unknown numbers). */
export const SYSTEM_CHAIN = 'system';
/** Rows written before chains were per practice (migration 0010): one chain, hash version 1. */
export const LEGACY_CHAIN = 'legacy';
/** The encoding new rows are hashed with (docs/audit-log.md). */
export const HASH_VERSION = 2;
export type HashVersion = 1 | 2;

/** Each practice has a chain of its own (its id); events with no practice go to the system chain. */
export function chainOf(event: Pick<AuditEvent, 'practiceId'>): string {
  // The table stores practice ids as uuid (lower case): the chain id and the hashed id match what is read back.
  return event.practiceId ? event.practiceId.toLowerCase() : SYSTEM_CHAIN;
}

/** A row of a chain, as hashed (plus the chain it belongs to and the encoding of its hash). */
export interface AuditRecord {
  /** The chain: a practice id, `system`, or `legacy` (version 1 rows). */
  chain: string;
  hashVersion: HashVersion;
  /** Position in its chain, from 1. */
  seq: number;
  at: string; // ISO-8601 with milliseconds, UTC
  practiceId: string | null;
  actor: string;
  action: string;
  callSid: string | null;
  leg: string | null;
  subjectId: string | null;
  details: Record<string, unknown>;
  prevHash: string;
}

/**
 * Version 1 (rows before migration 0010): JSON with object keys sorted at every depth. Kept only
 * to verify those rows; it does not pin numbers down (docs/audit-log.md).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new Error('non-finite number in audit record');
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

/** RFC 8785 (JSON Canonicalization Scheme): the bytes version 2 hashes, and the text its `details` are stored as. */
export function jcs(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new Error('audit record cannot be encoded');
  return text;
}

/** The object a row's hash covers, by version (docs/audit-log.md, "Encoding"). */
function hashedObject(record: AuditRecord): Record<string, unknown> {
  const common = {
    seq: record.seq,
    at: record.at,
    practiceId: record.practiceId,
    actor: record.actor,
    action: record.action,
    callSid: record.callSid,
    leg: record.leg,
    subjectId: record.subjectId,
    details: record.details,
    prevHash: record.prevHash,
  };
  return record.hashVersion === 1 ? common : { v: 2, chain: record.chain, ...common };
}

export function hashRecord(record: AuditRecord): string {
  const text = record.hashVersion === 1 ? canonicalJson(hashedObject(record)) : jcs(hashedObject(record));
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Pure: the next record of `chain` after `prev` (or its genesis), hashed with the current version. */
export function nextRecord(
  event: AuditEvent,
  prev: { seq: number; hash: string } | null,
  now: Date,
  chain: string = chainOf(event),
): AuditRecord & { hash: string } {
  const record: AuditRecord = {
    chain,
    hashVersion: HASH_VERSION,
    seq: prev ? prev.seq + 1 : 1,
    // A Date holds whole milliseconds: the row stores exactly this instant (the table refuses finer).
    at: new Date(Math.trunc(now.getTime())).toISOString(),
    practiceId: event.practiceId ? event.practiceId.toLowerCase() : null,
    actor: event.actor,
    action: event.action,
    callSid: event.callSid ?? null,
    leg: event.leg ?? null,
    subjectId: event.subjectId ?? null,
    details: event.details ?? {},
    prevHash: prev ? prev.hash : GENESIS_HASH,
  };
  return { ...record, hash: hashRecord(record) };
}

export type ChainProblem = { seq: number; reason: string };

/** A stored row as read back: the record, its hash, and the exact text of `at` and `details` the table holds. */
export interface StoredForCheck extends AuditRecord {
  hash: string;
  /** Microseconds past the millisecond in the stored `at` (0 unless someone wrote a finer time). */
  atSubMs: number;
  /** The stored `details` text, byte for byte. */
  detailsText: string;
}

/**
 * Pure: checks one stored row against its predecessor. Returns null when it holds.
 */
export function checkLink(
  row: AuditRecord & { hash: string } & Partial<Pick<StoredForCheck, 'atSubMs' | 'detailsText'>>,
  prev: { seq: number; hash: string } | null,
): ChainProblem | null {
  const expectedSeq = prev ? prev.seq + 1 : 1;
  if (row.seq !== expectedSeq) return { seq: row.seq, reason: `sequence gap: expected ${expectedSeq}` };
  const expectedPrev = prev ? prev.hash : GENESIS_HASH;
  if (row.prevHash !== expectedPrev) return { seq: row.seq, reason: 'prev_hash does not match the previous row' };
  if (row.atSubMs !== undefined && row.atSubMs !== 0) return { seq: row.seq, reason: 'at holds more than the hashed milliseconds' };
  if (row.hashVersion === 2) {
    if (row.chain !== chainOf(row)) return { seq: row.seq, reason: `row of practice ${row.practiceId ?? 'none'} in chain ${row.chain}` };
    // Version 2 stores details as their RFC 8785 text: any other text (a number's digits past
    // what a double holds, spacing, key order) is a change the parsed value would hide.
    if (row.detailsText !== undefined && row.detailsText !== jcs(row.details)) return { seq: row.seq, reason: 'details are not the text that was hashed' };
  }
  const { hash, chain, hashVersion, seq, at, practiceId, actor, action, callSid, leg, subjectId, details, prevHash } = row;
  const record: AuditRecord = { chain, hashVersion, seq, at, practiceId, actor, action, callSid, leg, subjectId, details, prevHash };
  if (hashRecord(record) !== hash) return { seq: row.seq, reason: 'hash does not match the row contents' };
  return null;
}
