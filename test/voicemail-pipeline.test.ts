import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import twilio from 'twilio';
import { sql } from 'kysely';
import { CallSimulator } from '../src/simulator/simulator.js';
import { decryptingStream, sha256Stream } from '../src/adapters/envelope.js';
import { applyRetention, reconcileRecordings } from '../src/voicemail/maintenance.js';
import { voicemailContext } from '../src/voicemail/pipeline.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { S3_DOUBLE_CREDENTIALS, startS3Double } from './support/s3-double.js';
import { startKmsDouble } from './support/kms-double.js';

/**
 * The voicemail pipeline end to end: a simulated call leaves a message, the recording callback
 * queues a job, the job fetches the media from the loopback Twilio double, encrypts it as it
 * streams, stores it, verifies it and only then deletes Twilio's copy.
 */

const PATIENT = '+12025550123';
const PRACTICE = '+12025550100';

/** A short WAV: a RIFF header and random 8 kHz 16-bit mono samples. */
function wav(seconds: number): Buffer {
  const data = randomBytes(Math.max(1, seconds) * 16_000);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(8000, 24);
  header.writeUInt32LE(16_000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}

async function until<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 150));
  }
}

interface Rig {
  h: Harness;
  double: TwilioDouble;
  sim: CallSimulator;
  media: Map<string, Buffer>;
}

async function rig(name: string, env: Record<string, string> = {}, opts: { mediaReady?: boolean } = {}): Promise<Rig> {
  const double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  const h = await startHarness(name, { TWILIO_API_BASE_URL: double.baseUrl, ...env });
  const media = new Map<string, Buffer>();
  const sim = new CallSimulator({
    targetBaseUrl: h.baseUrl,
    publicBaseUrl: TEST_PUBLIC_BASE_URL,
    authToken: TEST_AUTH_TOKEN,
    accountSid: TEST_ACCOUNT_SID,
    twilioApiBaseUrl: double.baseUrl,
    onRecording: ({ recordingSid, callSid, seconds }) => {
      const bytes = wav(seconds);
      media.set(recordingSid, bytes);
      double.addRecording({ sid: recordingSid, callSid, bytes, ready: opts.mediaReady ?? true });
    },
  });
  return { h, double, sim, media };
}

async function leaveMessage(r: Rig, digits = ['1', '2']): Promise<{ callSid: string; recordingSid: string }> {
  const result = await r.sim.placeCall({ from: PATIENT, to: PRACTICE, digits, recordings: [{ durationSeconds: 3, digits: '#' }] });
  expect(result.errors).toEqual([]);
  const rec = result.requests.find((q) => q.params.RecordingStatus === 'completed');
  if (!rec?.params.RecordingSid) throw new Error(`no recording callback: ${JSON.stringify(result.transcript.slice(-4))}`);
  return { callSid: result.callSid, recordingSid: rec.params.RecordingSid };
}

async function voicemailOf(r: Rig, recordingSid: string) {
  return r.h.services.db.selectFrom('voicemails').selectAll().where('recording_sid', '=', recordingSid).executeTakeFirst();
}

async function actionsFor(r: Rig, voicemailId: string): Promise<string[]> {
  const rows = await r.h.services.db.selectFrom('audit_log').select('action').where('subject_id', '=', voicemailId).orderBy('seq').execute();
  return rows.map((x) => x.action);
}

function requestIndex(r: Rig, method: string, recordingSid: string): number {
  return r.double.requests.findIndex((q) => q.method === method && q.path.includes(recordingSid));
}

describe('voicemail on local disk with the local key', () => {
  let r: Rig;
  beforeAll(async () => {
    r = await rig('vm_local');
  });
  afterAll(async () => {
    await r.h.close();
    await r.double.close();
  });

  it('a message ends encrypted on disk, verified, then deleted at Twilio, every step audited', async () => {
    const { recordingSid } = await leaveMessage(r);
    const v = await until(async () => {
      const row = await voicemailOf(r, recordingSid);
      return row?.state === 'complete' ? row : undefined;
    });
    expect(v.storage_key).toBe(`voicemail/${v.practice_id}/${v.id}.enc`);
    const plaintext = r.media.get(recordingSid);
    if (!plaintext) throw new Error('no media');
    const stored = await readFile(path.join(r.h.config.dataDir, 'recordings', v.storage_key ?? ''));
    expect(stored.subarray(0, 4).toString('latin1')).not.toBe('RIFF');
    expect(stored.includes(plaintext.subarray(0, 64))).toBe(false);
    expect(v.plaintext_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(Number(v.plaintext_bytes)).toBe(plaintext.length);

    // It decrypts with its own context only.
    const check = sha256Stream();
    check.stream.resume();
    await pipeline(Readable.from(stored), decryptingStream(r.h.services.keyring, voicemailContext(v)), check.stream);
    expect(check.digest()).toBe(v.plaintext_sha256);
    const wrong = sha256Stream();
    wrong.stream.resume();
    await expect(pipeline(Readable.from(stored), decryptingStream(r.h.services.keyring, { ...voicemailContext(v), voicemail: 'someone-else' }), wrong.stream)).rejects.toThrow();
    expect(wrong.bytes()).toBe(0);

    // Twilio's copy went only after the verified copy existed.
    const fetched = requestIndex(r, 'GET', recordingSid);
    const deleted = requestIndex(r, 'DELETE', recordingSid);
    expect(fetched).toBeGreaterThanOrEqual(0);
    expect(deleted).toBeGreaterThan(fetched);
    expect(r.double.recordings.get(recordingSid)?.deleted).toBe(true);
    const actions = await actionsFor(r, v.id);
    expect(actions.indexOf('voicemail.stored')).toBeGreaterThan(actions.indexOf('voicemail.received'));
    expect(actions.indexOf('voicemail.twilio_deleted')).toBeGreaterThan(actions.indexOf('voicemail.stored'));
    await until(async () => (await actionsFor(r, v.id)).includes('voicemail.notified'));
    // Job payloads carry ids only.
    const job = await r.h.services.queues.voicemail.getJob(`voicemail-${recordingSid}`);
    expect(Object.keys((job?.data ?? {}) as object)).toEqual(['voicemailId']);
  });

  it('a duplicate recording callback stores once', async () => {
    const result = await r.sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '2'], recordings: [{ durationSeconds: 2, digits: '#' }] });
    const callback = result.requests.find((q) => q.params.RecordingStatus === 'completed');
    if (!callback?.params.RecordingSid) throw new Error('no callback');
    const sid = callback.params.RecordingSid;
    await until(async () => (await voicemailOf(r, sid))?.state === 'complete');
    const res = await fetch(r.h.baseUrl + callback.path, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': twilio.getExpectedTwilioSignature(TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL + callback.path, callback.params),
      },
      body: new URLSearchParams(callback.params).toString(),
    });
    expect(res.status).toBe(200);
    await new Promise((x) => setTimeout(x, 500));
    const rows = await r.h.services.db.selectFrom('voicemails').select('id').where('recording_sid', '=', sid).execute();
    expect(rows).toHaveLength(1);
    expect(r.double.requests.filter((q) => q.method === 'GET' && q.path.includes(sid))).toHaveLength(1);
  });

  it('a RecordingUrl that is not the configured Twilio account is refused; nothing is fetched', async () => {
    const result = await r.sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '2'], hangupAfterSteps: 2 });
    const forgedSid = `RE${'f'.repeat(32)}`;
    const params = {
      AccountSid: TEST_ACCOUNT_SID,
      CallSid: result.callSid,
      RecordingSid: forgedSid,
      RecordingUrl: `https://evil.example.test/2010-04-01/Accounts/${TEST_ACCOUNT_SID}/Recordings/${forgedSid}`,
      RecordingStatus: 'completed',
      RecordingDuration: '5',
    };
    const pathAndQuery = '/twilio/voice/recording-status?n=message&u=routine&v=0';
    await fetch(r.h.baseUrl + pathAndQuery, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-twilio-signature': twilio.getExpectedTwilioSignature(TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL + pathAndQuery, params),
      },
      body: new URLSearchParams(params).toString(),
    });
    expect(await voicemailOf(r, forgedSid)).toBeUndefined();
    const refused = await r.h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'voicemail.recording_url_refused').executeTakeFirstOrThrow();
    expect(refused.details).toEqual({ reason: 'foreign_host' });
    expect(requestIndex(r, 'GET', forgedSid)).toBe(-1);
  });

  it('media not ready yet: retried until it is, then stored', async () => {
    const result = await r.sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '2'], recordings: [{ durationSeconds: 2, digits: '#' }] });
    const sid = result.requests.find((q) => q.params.RecordingStatus === 'completed')?.params.RecordingSid ?? '';
    // Simulate Twilio still processing: hide the media, then let it appear.
    const rec = r.double.recordings.get(sid);
    if (rec && rec.deleted === false) rec.ready = false;
    await new Promise((x) => setTimeout(x, 300));
    if (rec) rec.ready = true;
    await until(async () => (await voicemailOf(r, sid))?.state === 'complete');
  });

  it('the reconciler finds a recording whose callback never came', async () => {
    const result = await r.sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '2'], hangupAfterSteps: 2 });
    const sid = r.double.addRecording({ callSid: result.callSid, bytes: wav(2) });
    expect(await voicemailOf(r, sid)).toBeUndefined();
    const outcome = await reconcileRecordings(r.h.services);
    expect(outcome.queued).toBe(1);
    const v = await until(async () => {
      const row = await voicemailOf(r, sid);
      return row?.state === 'complete' ? row : undefined;
    });
    // Unknown urgency counts as urgent, and nobody was paged for this call: the on-call doctor gets an SMS.
    expect(v.urgency).toBe('urgent');
    await until(() => r.double.requests.some((q) => q.path.endsWith('/Messages.json') && (q.form.get('Body') ?? '').includes(`Ref ${v.reference_code}`)));
    const sms = r.double.requests.find((q) => q.path.endsWith('/Messages.json') && (q.form.get('Body') ?? '').includes(`Ref ${v.reference_code}`));
    expect(sms?.form.get('Body')).toBe(`Demo Family Medicine: new urgent voicemail. Ref ${v.reference_code}. Call 202-555-0100 to listen.`);
  });

  it('retention deletes expired audio and records it; the row and the audit trail stay', async () => {
    const { recordingSid } = await leaveMessage(r);
    const v = await until(async () => {
      const row = await voicemailOf(r, recordingSid);
      return row?.state === 'complete' ? row : undefined;
    });
    // Age the voicemail past the practice's 90-day retention.
    await sql`UPDATE voicemails SET created_at = now() - interval '100 days' WHERE id = ${v.id}`.execute(r.h.services.db);
    const before = await applyRetention(r.h.services);
    expect(before.deleted).toBeGreaterThanOrEqual(1);
    expect(await r.h.services.storage.head(v.storage_key ?? '')).toBeNull();
    const after = await voicemailOf(r, recordingSid);
    expect(after?.state).toBe('expired');
    expect(await actionsFor(r, v.id)).toEqual(expect.arrayContaining(['voicemail.received', 'voicemail.stored', 'voicemail.audio_deleted']));
  });
});

describe('voicemail in S3 with a KMS key', () => {
  let r: Rig;
  let s3: Awaited<ReturnType<typeof startS3Double>>;
  let kms: Awaited<ReturnType<typeof startKmsDouble>>;
  beforeAll(async () => {
    s3 = await startS3Double();
    kms = await startKmsDouble();
    // s3rver accepts only its own fixed credentials; the KMS double accepts any.
    process.env.AWS_ACCESS_KEY_ID = S3_DOUBLE_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = S3_DOUBLE_CREDENTIALS.secretAccessKey;
    r = await rig('vm_s3', {
      S3_BUCKET: s3.bucket,
      S3_ENDPOINT: s3.endpoint,
      KMS_KEY_ID: kms.keyId,
      KMS_ENDPOINT: kms.endpoint,
      BLIND_INDEX_KEY: randomBytes(32).toString('base64'),
    });
  });
  afterAll(async () => {
    await r.h.close();
    await r.double.close();
    await s3.stop();
    await kms.close();
  });

  it('stores through KMS envelope encryption into S3', async () => {
    const { recordingSid } = await leaveMessage(r);
    const v = await until(async () => {
      const row = await voicemailOf(r, recordingSid);
      return row?.state === 'complete' ? row : undefined;
    });
    expect(await r.h.services.storage.head(v.storage_key ?? '')).toMatchObject({ bytes: Number(v.ciphertext_bytes) });
    expect(kms.calls.map((c) => c.target)).toEqual(expect.arrayContaining(['TrentService.GenerateDataKey', 'TrentService.Decrypt']));
  });

  it('storage down, then up: nothing is lost and Twilio keeps its copy until the stored one is verified', async () => {
    await s3.stop();
    const { recordingSid } = await leaveMessage(r);
    const pending = await until(() => voicemailOf(r, recordingSid));
    await new Promise((x) => setTimeout(x, 2_500));
    expect((await voicemailOf(r, recordingSid))?.state).toBe('received');
    expect(requestIndex(r, 'DELETE', recordingSid)).toBe(-1);
    expect(r.double.recordings.get(recordingSid)?.deleted).toBe(false);
    await s3.restart();
    await until(async () => (await voicemailOf(r, recordingSid))?.state === 'complete', 40_000);
    expect(pending.id).toBeDefined();
    expect(r.double.recordings.get(recordingSid)?.deleted).toBe(true);
  });

  it('KMS down for a while: retried, then stored', async () => {
    // The KMS client retries 3 times itself: 6 failures make two job attempts fail.
    kms.failNext(6);
    const { recordingSid } = await leaveMessage(r);
    await until(async () => (await voicemailOf(r, recordingSid))?.state === 'complete', 40_000);
    const v = await voicemailOf(r, recordingSid);
    expect(v?.attempts).toBeGreaterThan(1);
  });
});
