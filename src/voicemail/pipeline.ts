import { pipeline } from 'node:stream/promises';
import { UnrecoverableError, type JobsOptions } from 'bullmq';
import type { Expression, ExpressionBuilder, SqlBool } from 'kysely';
import type { Database } from '../adapters/db-schema.js';
import type { AppContext } from '../app-context.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { queueCommand } from '../adapters/queue.js';
import { AuditAction } from '../audit/events.js';
import { TwilioRestError, type RecordingMedia } from '../adapters/twilio-rest.js';
import { decryptingStream, encryptingStream, sha256Stream } from '../adapters/envelope.js';
import { getCall } from '../calls/records.js';
import { logger } from '../log/logger.js';
import { notifyNewVoicemail } from './notify.js';
import { randomReferenceCode } from '../oncall/paging.js';
import { findPageByCall } from '../oncall/paging-store.js';
import { ensureVoicemailTask } from '../tasks/background.js';
import { MediaLengthMismatch, mediaLengthCheck } from './media-check.js';
import { latestSubjectOfCall } from '../audit/store.js';
import {
  clearDeadLetter,
  countAttempt,
  findByRecordingSid,
  insertReceived,
  loadPracticeVoicemail,
  loadVoicemail,
  markDeadLettered,
  markStoreFailed,
  markStored,
  markTwilioDeleted,
  recordTransientFailure,
  reopenFailed,
  resetRequeues,
  type VoicemailRecord,
} from './store.js';

/**
 * The voicemail pipeline. A recording is PHI the moment it is spoken: fetch it from Twilio
 * (only from the configured API host and account), encrypt it with the Encryption SDK as it
 * streams, store it under a key with no PHI, read it back and check the digest, and only then
 * delete Twilio's copy. One BullMQ job per RecordingSid; every step re-reads the row first, so
 * a retry or a duplicate callback is harmless. Nothing is ever held whole in memory.
 *
 * Once stored and verified a voicemail is available (announced, listed, playable) whether or
 * not Twilio's copy is gone yet: deletion at Twilio is retried on its own, and if it runs out
 * of attempts the voicemail lands in the dead-letter list as `twilio_delete_failed` (the audio
 * safe and playable) until the upkeep sweep or an admin retries it.
 *
 * Over 400 lines because the job's steps, their coded failures and the admin's retry share one
 * state machine and are read together; its queries are in ./store.ts.
 */

export interface VoicemailJobData {
  voicemailId: string;
}

export const voicemailJobId = (recordingSid: string): string => `voicemail-${recordingSid}`;

/**
 * Retries: exponential from 5 s, capped at 10 min, with jitter (the worker's custom strategy,
 * ./worker.ts); 20 attempts ride out about two hours of storage, KMS or Twilio outage before
 * the dead-letter list, and the upkeep sweep retries transient failures after that.
 */
export const VOICEMAIL_BACKOFF_TYPE = 'voicemail';
export const VOICEMAIL_ATTEMPTS = 20;
export const VOICEMAIL_BACKOFF_BASE_MS = 5_000;
export const VOICEMAIL_BACKOFF_CAP_MS = 10 * 60_000;
export const VOICEMAIL_JOB_OPTIONS: JobsOptions = {
  attempts: VOICEMAIL_ATTEMPTS,
  backoff: { type: VOICEMAIL_BACKOFF_TYPE, delay: VOICEMAIL_BACKOFF_BASE_MS },
};

/** Pure: the wait before retry `attemptsMade` (1 = the first retry), 50–100% of min(base·2^(n-1), cap). */
export function voicemailBackoffMs(attemptsMade: number, baseMs = VOICEMAIL_BACKOFF_BASE_MS, random: number = Math.random()): number {
  const exp = Math.max(0, Math.min(attemptsMade - 1, 30));
  const ceiling = Math.min(baseMs * 2 ** exp, VOICEMAIL_BACKOFF_CAP_MS);
  return Math.floor(ceiling * (0.5 + 0.5 * random));
}

/** The encryption context: binds the ciphertext to its practice, voicemail and recording. */
export function voicemailContext(v: { practice_id: string; id: string; recording_sid: string }): Record<string, string> {
  return { purpose: 'voicemail', practice: v.practice_id, voicemail: v.id, recording: v.recording_sid };
}

export function storageKey(v: { practice_id: string; id: string }): string {
  return `voicemail/${v.practice_id}/${v.id}.enc`;
}

export type RecordingUrlCheck = { ok: true } | { ok: false; reason: string };

/**
 * Pure: a recording callback's RecordingUrl must point at the configured Twilio API host, the
 * configured account and the same RecordingSid. Anything else is refused: the media is only
 * ever fetched from a URL we build ourselves.
 */
export function checkRecordingUrl(raw: string | undefined, apiBaseUrl: string, accountSid: string, recordingSid: string): RecordingUrlCheck {
  if (raw === undefined || raw === '') return { ok: true };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'not_a_url' };
  }
  const api = new URL(apiBaseUrl);
  if (url.protocol !== api.protocol || url.host !== api.host) return { ok: false, reason: 'foreign_host' };
  if (url.username || url.password) return { ok: false, reason: 'credentials_in_url' };
  const expected = `/2010-04-01/Accounts/${accountSid}/Recordings/${recordingSid}`;
  if (url.pathname.replace(/\.(wav|mp3|json)$/, '') !== expected) return { ok: false, reason: 'foreign_path' };
  return { ok: true };
}

/** What the voicemail job reads and writes: the row (across practices, by id), the media at Twilio, storage, keys, audit. */
export type VoicemailJobDeps = Pick<AppContext, 'db' | 'audit' | 'clock' | 'twilio' | 'storage' | 'keyring' | 'redis'>;
/** Recording a voicemail and queueing its job (the recording callback, the reconciler). */
export type ReceiveDeps = Pick<AppContext, 'db' | 'audit' | 'clock' | 'queues'>;

/** The patient the call verified, from the audit log (PostgreSQL), not from the call's Redis state. */
async function verifiedPatientOf(services: Pick<AppContext, 'db'>, callSid: string): Promise<string | null> {
  return latestSubjectOfCall(services.db, callSid, AuditAction.VerificationSucceeded);
}

/**
 * Puts a voicemail's job on the queue (jobId from the RecordingSid: a repeat is a no-op while
 * the job waits or runs). A finished job of the same id is removed first, so a requeue after
 * completion or failure really runs again.
 */
export async function enqueueVoicemail(services: Pick<AppContext, 'queues'>, v: { id: string; recording_sid: string }): Promise<'queued' | 'already_queued'> {
  const jobId = voicemailJobId(v.recording_sid);
  const queue = services.queues.voicemail;
  // Never waits on BullMQ's offline queue: with Redis down or hung this fails within QUEUE_COMMAND_MS.
  return queueCommand(queue, async () => {
    const existing = await queue.getJob(jobId);
    if (existing) {
      const state = await existing.getState();
      if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return 'already_queued';
      await existing.remove();
    }
    await queue.add('store', { voicemailId: v.id } satisfies VoicemailJobData, { ...VOICEMAIL_JOB_OPTIONS, jobId });
    return 'queued';
  });
}

/**
 * Records a completed recording (once per RecordingSid) and queues its job. `verified` is the
 * caller's verification state as the call recorded it (the recording callback's signed `v=`);
 * without it (the reconciler, an older caller) the audit log of the call decides. `practiceId`:
 * the call's practice when the caller has already loaded the call (else it is read here).
 *
 * Only a row still `received` is queued: a repeated callback after the job has stored it (or
 * given up) changes nothing. The upkeep sweep and an admin's retry requeue the rest.
 */
export async function receiveRecording(
  services: ReceiveDeps,
  input: {
    callSid: string;
    recordingSid: string;
    durationSeconds: number | null;
    urgency: 'urgent' | 'routine';
    node: string | null;
    source: 'callback' | 'reconciler';
    verified?: boolean;
    practiceId?: string | null;
  },
): Promise<{ voicemailId: string; created: boolean } | null> {
  const practiceId = input.practiceId !== undefined ? input.practiceId : ((await getCall(services.db, input.callSid))?.practiceId ?? null);
  if (!practiceId) return null;
  const existing = () => findByRecordingSid(services.db, input.recordingSid);
  let created = false;
  let verified = false;
  let row = await existing();
  if (!row) {
    // The audit log is read only for a new row, and only when the callback did not say "unverified".
    const auditedPatient = input.verified === false ? null : await verifiedPatientOf(services, input.callSid);
    verified = input.verified ?? auditedPatient !== null;
    // Only a verified caller's message is linked to the patient.
    const patientId = verified ? auditedPatient : null;
    // One code for the doctor: the call's page (opened when its chain fell to voicemail) lends its code.
    const pageCode = (await findPageByCall(services.db, input.callSid))?.reference_code;
    for (let i = 0; i < 5 && !row; i += 1) {
      const now = services.clock();
      row = await insertReceived(services.db, {
        practiceId,
        callSid: input.callSid,
        recordingSid: input.recordingSid,
        referenceCode: i === 0 && pageCode !== undefined ? pageCode : randomReferenceCode(),
        urgency: input.urgency,
        callerVerified: verified,
        patientId,
        flowNode: input.node,
        durationSeconds: input.durationSeconds,
        at: now,
      });
      if (row) created = true;
      else row = await existing();
    }
  }
  if (!row) throw new Error('could not record the voicemail');
  if (created) {
    await services.audit({
      action: AuditAction.VoicemailReceived,
      actor: input.source === 'callback' ? 'twilio' : 'system:reconciler',
      practiceId,
      callSid: input.callSid,
      subjectId: row.id,
      details: { recordingSid: input.recordingSid, urgency: input.urgency, verified, source: input.source },
    });
  }
  // The row is durable: if Redis is down or hung, it stays `received` and the recovery loop
  // (./recovery.ts) queues it once Redis answers; the callback is not held waiting.
  if (row.state === 'received') {
    try {
      await enqueueVoicemail(services, row);
    } catch (err) {
      logger.warn('voicemail recorded; its job is queued once Redis answers', { err, voicemailId: row.id });
    }
  }
  return { voicemailId: row.id, created };
}

type Row = VoicemailRecord;

async function loadRow(services: Pick<AppContext, 'db'>, id: string): Promise<Row | undefined> {
  return loadVoicemail(services.db, id);
}

// ---------------------------------------------------------------------------
// Failures: coded, never PHI (no URLs, numbers, bodies or SDK messages)

export type PipelineStep = 'store' | 'task' | 'notify' | 'delete';

class StepFailure extends Error {
  constructor(
    readonly step: PipelineStep,
    readonly cause: unknown,
  ) {
    super(`voicemail ${step} failed`);
    this.name = 'StepFailure';
  }
}

class VerificationFailed extends Error {
  constructor() {
    super('stored voicemail failed verification');
    this.name = 'VerificationFailed';
  }
}

export interface FailureInfo {
  /** `<step>: <code>`, e.g. `store: twilio fetchRecordingMedia: not_ready 404`. */
  code: string;
  /** Whether a later retry may fix it. */
  transient: boolean;
}

const SAFE_CODE = /^[A-Za-z][A-Za-z0-9_.-]{0,60}$/;

/** Pure: what a failure is called in the row, the audit log and BullMQ (all in clear text). */
export function describeFailure(err: unknown): FailureInfo {
  const step = err instanceof StepFailure ? `${err.step}: ` : '';
  const cause = err instanceof StepFailure ? err.cause : err;
  if (cause instanceof TwilioRestError) {
    return { code: `${step}twilio ${cause.operation}: ${cause.reason}${cause.status ? ` ${cause.status}` : ''}`, transient: cause.retryable };
  }
  if (cause instanceof VerificationFailed) return { code: `${step}verification_failed`, transient: true };
  if (cause instanceof UnrecoverableError) return { code: `${step}unrecoverable`, transient: false };
  const e = cause as { name?: unknown; code?: unknown } | null;
  const name = typeof e?.name === 'string' && SAFE_CODE.test(e.name) ? e.name : 'Error';
  const sys = typeof e?.code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(e.code) ? ` ${e.code}` : '';
  return { code: `${step}${name}${sys}`, transient: true };
}

async function runPipelineStep<T>(name: PipelineStep, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new StepFailure(name, err);
  }
}

// ---------------------------------------------------------------------------
// Steps

async function fetchEncryptStore(services: VoicemailJobDeps, v: Row): Promise<void> {
  const media: RecordingMedia = await services.twilio.fetchRecordingMedia(v.recording_sid, 'wav', { durationSeconds: v.duration_seconds });
  // Log mode's stand-in serves generated silence: stored the same way, marked on the row and audit.
  const simulated = media.placeholder === true;
  const enc = encryptingStream(services.keyring, voicemailContext(v));
  const key = storageKey(v);
  // Media must be as long as Twilio reported (./media-check.ts): a mismatch keeps nothing.
  const length = mediaLengthCheck({ contentLength: media.contentLength, reportedSeconds: v.duration_seconds });
  const [stored] = await Promise.all([
    services.storage.put(key, enc.stream, { contentType: 'application/octet-stream' }),
    pipeline(media.stream, length.stream, enc.stream).catch((err: unknown) => {
      enc.stream.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }),
  ]);
  const mismatch = length.problem();
  if (mismatch !== null) {
    await services.storage.delete(key);
    throw new MediaLengthMismatch(mismatch);
  }
  const digest = enc.plaintextDigest();
  const bytes = enc.plaintextBytes();

  // Read it back through decryption and compare: only a verified copy lets Twilio's go.
  const check = sha256Stream();
  check.stream.resume(); // only the digest matters: let the plaintext drain away
  await pipeline(await services.storage.get(key), decryptingStream(services.keyring, voicemailContext(v)), check.stream);
  if (check.digest() !== digest || check.bytes() !== bytes) {
    await services.storage.delete(key).catch(() => undefined);
    throw new VerificationFailed();
  }
  const now = services.clock();
  await markStored(services.db, v.id, { storageKey: key, contentType: media.contentType, plaintextBytes: bytes, plaintextSha256: digest, ciphertextBytes: stored.bytes, simulated, at: now });
  await services.audit({
    action: AuditAction.VoicemailStored,
    actor: 'system:voicemail',
    practiceId: v.practice_id,
    callSid: v.call_sid,
    subjectId: v.id,
    details: { storage: services.storage.kind, keyring: services.keyring.kind, plaintextBytes: bytes, ciphertextBytes: stored.bytes, sha256: digest, simulated },
  });
}

/** Deletes Twilio's copy and records it. A simulated (log mode) voicemail has none: recorded as such. */
export async function deleteAtTwilio(services: Pick<AppContext, 'db' | 'audit' | 'clock' | 'twilio'>, v: Pick<Row, 'id' | 'practice_id' | 'call_sid' | 'recording_sid' | 'simulated'>, by: 'pipeline' | 'retention'): Promise<void> {
  const result = v.simulated ? 'log_mode' : await services.twilio.deleteRecording(v.recording_sid);
  const now = services.clock();
  await markTwilioDeleted(services.db, v.id, by, now);
  await services.audit({
    action: AuditAction.VoicemailTwilioDeleted,
    actor: by === 'retention' ? 'system:retention' : 'system:voicemail',
    practiceId: v.practice_id,
    callSid: v.call_sid,
    subjectId: v.id,
    details: { recordingSid: v.recording_sid, result },
  });
}

// ---------------------------------------------------------------------------
// The job

export interface AttemptInfo {
  /** 1 for the first attempt. */
  number: number;
  /** No retry follows if this attempt fails. */
  last: boolean;
}

/** Moves one voicemail as far along as it can go; throws a StepFailure if a step failed. */
async function advance(services: VoicemailJobDeps, id: string): Promise<string> {
  let v = await loadRow(services, id);
  if (!v) return 'gone';
  if (v.state === 'received') {
    const current = v;
    await runPipelineStep('store', () => fetchEncryptStore(services, current));
    v = await loadRow(services, id);
    if (!v) return 'gone';
  }
  if (v.state !== 'stored' && v.state !== 'complete') return v.state;
  // Stored and verified: announce it now, whatever happens at Twilio. Each step on its own.
  const failures: StepFailure[] = [];
  const current = v;
  // The callback task: created once (idempotent), before the announcement; a failure retries the job.
  await runPipelineStep('task', () => ensureVoicemailTask(services, current)).catch((e: StepFailure) => failures.push(e));
  if (!current.notified_at) await runPipelineStep('notify', () => notifyNewVoicemail(services, current)).catch((e: StepFailure) => failures.push(e));
  if (current.state === 'stored') await runPipelineStep('delete', () => deleteAtTwilio(services, current, 'pipeline')).catch((e: StepFailure) => failures.push(e));
  if (failures.length > 0) throw failures.find((f) => describeFailure(f).transient) ?? failures[0];
  v = await loadRow(services, id);
  if (!v) return 'gone';
  if (v.state === 'complete' && v.notified_at && (v.dead_letter_reason !== null || v.last_error !== null)) {
    // Off the dead-letter list: every step is done.
    await clearDeadLetter(services.db, v.id, services.clock());
  }
  return v.state;
}

/** The worker's processor (./worker.ts). Failed attempts are recorded; the last one dead-letters. */
export async function processVoicemailJob(services: VoicemailJobDeps, data: VoicemailJobData, attempt: AttemptInfo): Promise<string> {
  if (!(await countAttempt(services.db, data.voicemailId))) return 'gone';
  try {
    return await advance(services, data.voicemailId);
  } catch (err) {
    const failure = describeFailure(err);
    const final = attempt.last || !failure.transient;
    try {
      await recordFailure(services, data.voicemailId, failure, attempt.number, final);
    } catch (recordErr) {
      // The sweep finds the row by its state later; the job's own failure still stands.
      logger.error('could not record a voicemail failure', { err: recordErr, voicemailId: data.voicemailId });
    }
    // Only the code goes to BullMQ (stored in clear in Redis), never an SDK's message.
    throw failure.transient ? new Error(failure.code) : new UnrecoverableError(failure.code);
  }
}

/** Records a failed attempt on the row and in the audit log; the last one lands in the dead-letter list. */
async function recordFailure(services: Pick<AppContext, 'db' | 'audit' | 'clock'>, id: string, failure: FailureInfo, attempt: number, final: boolean): Promise<void> {
  const v = await loadRow(services, id);
  if (!v) return;
  const now = services.clock();
  const base = { action: AuditAction.VoicemailFailed, actor: 'system:voicemail', practiceId: v.practice_id, callSid: v.call_sid, subjectId: v.id } as const;
  const error = failure.code.slice(0, 120);
  if (!final) {
    await recordTransientFailure(services.db, v.id, { error, transient: failure.transient }, now);
    await services.audit({ ...base, details: { attempt, final: false, error, transient: failure.transient } });
    return;
  }
  if (v.state === 'received') {
    await markStoreFailed(services.db, v.id, { error, transient: failure.transient }, now);
    await services.audit({ ...base, details: { attempt, final: true, reason: 'store_failed', error, transient: failure.transient } });
    return;
  }
  const reason = v.state === 'stored' ? 'twilio_delete_failed' : v.state === 'complete' && !v.notified_at ? 'notify_failed' : null;
  if (reason === null) return;
  await markDeadLettered(services.db, v.id, reason, { error, transient: failure.transient }, now);
  await services.audit({ ...base, details: { attempt, final: true, reason, error, transient: failure.transient } });
}

/**
 * Pure: whether a voicemail is in the dead-letter list: its store failed for good, or it is
 * stored but its Twilio deletion or announcement ran out of attempts. `deadLetteredWhere` is the
 * same rule for queries (the dead-letter list).
 */
export function isDeadLettered(v: Pick<Row, 'state' | 'dead_letter_reason'>): boolean {
  return v.state === 'failed' || ((v.state === 'stored' || v.state === 'complete') && v.dead_letter_reason !== null);
}

export function deadLetteredWhere(eb: ExpressionBuilder<Database, 'voicemails'>): Expression<SqlBool> {
  return eb.or([eb('state', '=', 'failed'), eb.and([eb('state', 'in', ['stored', 'complete']), eb('dead_letter_reason', 'is not', null)])]);
}

export type RetryResult =
  | { result: 'not_found' }
  | { result: 'not_dead_lettered'; state: Row['state'] }
  /** It left the dead-letter list between reading and requeueing it. */
  | { result: 'changed' }
  | { result: 'requeued'; id: string; state: Row['state'] };

/**
 * Puts a dead-lettered voicemail back on the queue (an admin, `actor`), audited: a failed
 * one goes back to `received`; a stored one whose deletion or notification ran out of attempts
 * keeps its state (and its place in the dead-letter list until the job succeeds).
 */
export async function retryVoicemail(services: Pick<AppContext, 'audit' | 'clock' | 'queues'>, scope: PracticeScope, input: { id: string; actor: string }): Promise<RetryResult> {
  const { id } = input;
  const v = await loadPracticeVoicemail(scope, id);
  if (!v) return { result: 'not_found' };
  if (!isDeadLettered(v)) return { result: 'not_dead_lettered', state: v.state };
  const now = services.clock();
  // An admin's retry gives the upkeep sweep its full budget of requeues again.
  if (v.state === 'failed') {
    if (!(await reopenFailed(scope, id, now))) return { result: 'changed' };
  } else {
    await resetRequeues(scope, id, now);
  }
  await enqueueVoicemail(services, v);
  await services.audit({
    action: AuditAction.VoicemailRequeued,
    actor: input.actor,
    practiceId: scope.practiceId,
    callSid: v.call_sid,
    subjectId: v.id,
    details: { previousError: v.last_error, attempts: v.attempts, previousState: v.state, reason: v.dead_letter_reason ?? 'store_failed' },
  });
  return { result: 'requeued', id: v.id, state: v.state === 'failed' ? 'received' : v.state };
}
