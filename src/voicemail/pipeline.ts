import { randomInt } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { UnrecoverableError } from 'bullmq';
import type { Services } from '../services.js';
import { AuditAction } from '../audit/events.js';
import { TwilioRestError } from '../adapters/twilio-rest.js';
import { decryptingStream, encryptingStream, sha256Stream } from '../adapters/envelope.js';
import { getCall } from '../calls/records.js';
import { loadCall } from '../calls/state-store.js';
import { notifyNewVoicemail } from './notify.js';

/**
 * The voicemail pipeline. A recording is PHI the moment it is spoken: fetch it from Twilio
 * (only from the configured API host and account), encrypt it with the Encryption SDK as it
 * streams, store it under a key with no PHI, read it back and check the digest, and only then
 * delete Twilio's copy. One BullMQ job per RecordingSid; every step re-reads the row first, so
 * a retry or a duplicate callback is harmless. Nothing is ever held whole in memory.
 */

export interface VoicemailJobData {
  voicemailId: string;
}

export const voicemailJobId = (recordingSid: string): string => `voicemail-${recordingSid}`;

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

/** Records a completed recording (once per RecordingSid) and queues its job. */
export async function receiveRecording(
  services: Services,
  input: { callSid: string; recordingSid: string; durationSeconds: number | null; urgency: 'urgent' | 'routine'; node: string | null; source: 'callback' | 'reconciler' },
): Promise<{ voicemailId: string; created: boolean } | null> {
  const call = await getCall(services.db, input.callSid);
  if (!call?.practiceId) return null;
  const state = await loadCall(services.redis, input.callSid).catch(() => null);
  const patientId = state?.state.verifiedPatientId ?? null;
  let created = false;
  let row = await services.db.selectFrom('voicemails').select('id').where('recording_sid', '=', input.recordingSid).executeTakeFirst();
  for (let i = 0; i < 5 && !row; i += 1) {
    row = await services.db
      .insertInto('voicemails')
      .values({
        practice_id: call.practiceId,
        call_sid: input.callSid,
        recording_sid: input.recordingSid,
        reference_code: String(randomInt(0, 1_000_000)).padStart(6, '0'),
        urgency: input.urgency,
        caller_verified: patientId !== null,
        patient_id: patientId,
        flow_node: input.node,
        duration_seconds: input.durationSeconds,
      })
      .onConflict((oc) => oc.doNothing())
      .returning('id')
      .executeTakeFirst();
    if (row) created = true;
    else row = await services.db.selectFrom('voicemails').select('id').where('recording_sid', '=', input.recordingSid).executeTakeFirst();
  }
  if (!row) throw new Error('could not record the voicemail');
  if (created) {
    await services.audit({
      action: AuditAction.VoicemailReceived,
      actor: input.source === 'callback' ? 'twilio' : 'system:reconciler',
      practiceId: call.practiceId,
      callSid: input.callSid,
      subjectId: row.id,
      details: { recordingSid: input.recordingSid, urgency: input.urgency, verified: patientId !== null, source: input.source },
    });
  }
  await services.queues.voicemail.add('store', { voicemailId: row.id } satisfies VoicemailJobData, { jobId: voicemailJobId(input.recordingSid) });
  return { voicemailId: row.id, created };
}

type Row = Awaited<ReturnType<typeof loadRow>>;

async function loadRow(services: Services, id: string) {
  return services.db.selectFrom('voicemails').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Errors a retry will not fix end the job at once (it lands in the dead-letter list). */
function classify(err: unknown): Error {
  if (err instanceof TwilioRestError && !err.retryable) return new UnrecoverableError(`twilio ${err.operation}: ${err.reason}${err.status ? ` ${err.status}` : ''}`);
  return err instanceof Error ? err : new Error(String(err));
}

async function fetchEncryptStore(services: Services, v: NonNullable<Row>): Promise<void> {
  const media = await services.twilio.fetchRecordingMedia(v.recording_sid, 'wav');
  const enc = encryptingStream(services.keyring, voicemailContext(v));
  const key = storageKey(v);
  const [stored] = await Promise.all([
    services.storage.put(key, enc.stream, { contentType: 'application/octet-stream' }),
    pipeline(media.stream, enc.stream).catch((err: unknown) => {
      enc.stream.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }),
  ]);
  const digest = enc.plaintextDigest();
  const bytes = enc.plaintextBytes();

  // Read it back through decryption and compare: only a verified copy lets Twilio's go.
  const check = sha256Stream();
  check.stream.resume(); // only the digest matters: let the plaintext drain away
  await pipeline(await services.storage.get(key), decryptingStream(services.keyring, voicemailContext(v)), check.stream);
  if (check.digest() !== digest || check.bytes() !== bytes) {
    await services.storage.delete(key).catch(() => undefined);
    throw new Error('stored voicemail failed verification');
  }
  await services.db
    .updateTable('voicemails')
    .set({
      state: 'stored',
      storage_key: key,
      content_type: media.contentType,
      plaintext_bytes: bytes,
      plaintext_sha256: digest,
      ciphertext_bytes: stored.bytes,
      stored_at: services.clock(),
      last_error: null,
      updated_at: services.clock(),
    })
    .where('id', '=', v.id)
    .where('state', '=', 'received')
    .execute();
  await services.audit({
    action: AuditAction.VoicemailStored,
    actor: 'system:voicemail',
    practiceId: v.practice_id,
    callSid: v.call_sid,
    subjectId: v.id,
    details: { storage: services.storage.kind, keyring: services.keyring.kind, plaintextBytes: bytes, ciphertextBytes: stored.bytes, sha256: digest },
  });
}

async function deleteAtTwilio(services: Services, v: NonNullable<Row>): Promise<void> {
  const result = await services.twilio.deleteRecording(v.recording_sid);
  await services.db
    .updateTable('voicemails')
    .set({ state: 'complete', twilio_deleted_at: services.clock(), updated_at: services.clock() })
    .where('id', '=', v.id)
    .where('state', '=', 'stored')
    .execute();
  await services.audit({
    action: AuditAction.VoicemailTwilioDeleted,
    actor: 'system:voicemail',
    practiceId: v.practice_id,
    callSid: v.call_sid,
    subjectId: v.id,
    details: { recordingSid: v.recording_sid, result },
  });
}

/** The worker: moves one voicemail as far along as it can go. */
export async function processVoicemailJob(services: Services, data: VoicemailJobData): Promise<string> {
  try {
    let v = await loadRow(services, data.voicemailId);
    if (!v) return 'gone';
    await services.db.updateTable('voicemails').set({ attempts: v.attempts + 1 }).where('id', '=', v.id).execute();
    if (v.state === 'received') {
      await fetchEncryptStore(services, v);
      v = await loadRow(services, data.voicemailId);
      if (!v) return 'gone';
    }
    if (v.state === 'stored') {
      await deleteAtTwilio(services, v);
      v = await loadRow(services, data.voicemailId);
      if (!v) return 'gone';
    }
    if (v.state === 'complete' && !v.notified_at) await notifyNewVoicemail(services, v);
    return v.state;
  } catch (err) {
    throw classify(err);
  }
}

/** Called when a job has used its last attempt (or failed for good): the dead-letter list. */
export async function markFailed(services: Services, data: VoicemailJobData, reason: string): Promise<void> {
  const v = await loadRow(services, data.voicemailId);
  if (!v || v.state !== 'received') return;
  // Reason codes only: no URLs, numbers or bodies.
  const code = reason.replace(/[^\w .:-]/g, '').slice(0, 120);
  await services.db.updateTable('voicemails').set({ state: 'failed', last_error: code, updated_at: services.clock() }).where('id', '=', v.id).execute();
  await services.audit({ action: AuditAction.VoicemailFailed, actor: 'system:voicemail', practiceId: v.practice_id, callSid: v.call_sid, subjectId: v.id, details: { reason: code } });
}

/** Puts a dead-lettered voicemail back on the queue (admin). */
export async function retryVoicemail(services: Services, practiceId: string, id: string): Promise<boolean> {
  const v = await services.db.selectFrom('voicemails').selectAll().where('id', '=', id).where('practice_id', '=', practiceId).executeTakeFirst();
  if (!v || v.state !== 'failed') return false;
  await services.db.updateTable('voicemails').set({ state: 'received', last_error: null, updated_at: services.clock() }).where('id', '=', id).execute();
  const old = await services.queues.voicemail.getJob(voicemailJobId(v.recording_sid));
  await old?.remove().catch(() => undefined);
  await services.queues.voicemail.add('store', { voicemailId: id } satisfies VoicemailJobData, { jobId: voicemailJobId(v.recording_sid) });
  return true;
}
