import { createHash } from 'node:crypto';

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
  CallDial: 'call.dial',
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
  VoicemailAudioDeleted: 'voicemail.audio_deleted',
  VoicemailReconciled: 'voicemail.reconciled',
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
  DropScheduled: 'drop.scheduled',
  DropSent: 'drop.sent',
  DropAnswered: 'drop.answered',
  DropFinal: 'drop.final',
  DropTemplateCreated: 'drop.template_created',
  DropWebhookRejected: 'drop.webhook_rejected',
  ConsentRecorded: 'consent.recorded',
  ConsentDisclosureRecorded: 'consent.disclosure_recorded',
  OptOutRecorded: 'consent.opt_out',
  VendorBaaRecorded: 'admin.vendor_baa_recorded',
  AdminPatientCreated: 'admin.patient_created',
  AdminPracticeUpdated: 'admin.practice_updated',
  AdminNumberUpdated: 'admin.number_updated',
  AdminProviderChanged: 'admin.provider_changed',
  AdminScheduleChanged: 'admin.schedule_changed',
  AdminOverrideChanged: 'admin.override_changed',
  AdminPolicyChanged: 'admin.policy_changed',
  OncallFeedRead: 'oncall.feed_read',
  SystemStarted: 'system.started',
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

/** A row of the chain, as hashed. */
export interface AuditRecord {
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

/** JSON with object keys sorted at every depth: the same value always encodes to the same bytes. */
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

export function hashRecord(record: AuditRecord): string {
  return createHash('sha256').update(canonicalJson(record), 'utf8').digest('hex');
}

/** Pure: the next record of the chain after `prev` (or the genesis). */
export function nextRecord(
  event: AuditEvent,
  prev: { seq: number; hash: string } | null,
  now: Date,
): AuditRecord & { hash: string } {
  const record: AuditRecord = {
    seq: prev ? prev.seq + 1 : 1,
    at: now.toISOString(),
    practiceId: event.practiceId ?? null,
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

/**
 * Pure: checks one stored row against its predecessor. Returns null when it holds.
 */
export function checkLink(
  row: AuditRecord & { hash: string },
  prev: { seq: number; hash: string } | null,
): ChainProblem | null {
  const expectedSeq = prev ? prev.seq + 1 : 1;
  if (row.seq !== expectedSeq) return { seq: row.seq, reason: `sequence gap: expected ${expectedSeq}` };
  const expectedPrev = prev ? prev.hash : GENESIS_HASH;
  if (row.prevHash !== expectedPrev) return { seq: row.seq, reason: 'prev_hash does not match the previous row' };
  const { hash, ...record } = row;
  if (hashRecord(record) !== hash) return { seq: row.seq, reason: 'hash does not match the row contents' };
  return null;
}
