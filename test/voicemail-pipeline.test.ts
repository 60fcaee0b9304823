import { randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { CallSimulator } from '../devtools/simulator/simulator.js';
import { decryptingStream, encryptingStream, sha256Stream } from '../src/adapters/envelope.js';
import { applyRetention, reconcileRecordings, sweepVoicemails } from '../src/voicemail/maintenance.js';
import { createKeyring } from '../src/adapters/keyring.js';
import { StorageNotFoundError } from '../src/adapters/storage.js';
import { TwilioRestError } from '../src/adapters/twilio-rest.js';
import { createApiKey } from '../src/auth/api-keys.js';
import { DEV_TWILIO_AUTH_TOKEN, loadConfig } from '../src/config.js';
import { receiveRecording, voicemailContext, voicemailJobId, VOICEMAIL_ATTEMPTS } from '../src/voicemail/pipeline.js';
import { notifyNewVoicemail } from '../src/voicemail/notify.js';
import { pendingUrgentIds } from '../src/voicemail/playback-store.js';
import { createPractice, updatePractice, upsertPracticeNumber } from '../src/practices/store.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { DEFAULT_TEST_NOW, startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { postTwilio } from './support/twilio-request.js';
import { recordingSimulatorFor } from './support/simulate.js';
import { S3_DOUBLE_CREDENTIALS, startS3Double } from './support/s3-double.js';
import { startKmsDouble } from './support/kms-double.js';
import { until } from './support/until.js';
import { pendingJobs } from './support/queue-time.js';
import { randomWav } from './support/wav.js';
import { callKey } from '../src/calls/state-store.js';

/**
 * The voicemail pipeline end to end: a simulated call leaves a message, the recording callback
 * queues a job, the job fetches the media from the loopback Twilio double, encrypts it as it
 * streams, stores it, verifies it and only then deletes Twilio's copy.
 */

const PATIENT = '+12025550123';
const PRACTICE = '+12025550100';
const ACCESS_NUMBER = '+12025550103';

/** Bytes of a second of 8 kHz 16-bit mono audio. */
const SECOND = 16_000;

interface Rig {
  h: Harness;
  double: TwilioDouble;
  sim: CallSimulator;
  media: Map<string, Buffer>;
  /** Whether recordings the simulator makes from now on are ready at the double. */
  settings: { mediaReady: boolean };
}

async function rig(name: string, env: Record<string, string> = {}, opts: { mediaReady?: boolean } = {}): Promise<Rig> {
  const double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  const h = await startHarness(name, { TWILIO_API_BASE_URL: double.baseUrl, ...env });
  const settings = { mediaReady: opts.mediaReady ?? true };
  const { sim, media } = recordingSimulatorFor(h, double, { ready: () => settings.mediaReady });
  return { h, double, sim, media, settings };
}

/** Skips the backoff: a retry waiting under the voicemail's jobId runs now. */
async function kick(r: Rig, recordingSid: string): Promise<void> {
  const job = await r.h.services.queues.voicemail.getJob(voicemailJobId(recordingSid));
  if (job && (await job.getState()) === 'delayed') await job.promote().catch(() => undefined);
}

async function stateOf(r: Rig, recordingSid: string, state: string, ms = 30_000) {
  return until(
    `the voicemail ${state}`,
    async () => {
      const row = await voicemailOf(r, recordingSid);
      return row?.state === state ? row : undefined;
    },
    ms,
    () => kick(r, recordingSid),
  );
}

/** An urgent voicemail nobody was paged for: a recording the callback never reported, found by the reconciler. */
async function urgentViaReconciler(r: Rig): Promise<{ recordingSid: string; callSid: string; bytes: Buffer }> {
  const result = await r.sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '2'], hangupAfterSteps: 2 });
  const bytes = randomWav(2 * SECOND);
  const recordingSid = r.double.addRecording({ callSid: result.callSid, bytes });
  r.media.set(recordingSid, bytes);
  await reconcileRecordings(r.h.services);
  return { recordingSid, callSid: result.callSid, bytes };
}

async function failedAudits(r: Rig, voicemailId: string): Promise<Array<Record<string, unknown>>> {
  const rows = await r.h.services.db.selectFrom('audit_log').select('details').where('subject_id', '=', voicemailId).where('action', '=', 'voicemail.failed').orderBy('seq').execute();
  return rows.map((x) => x.details);
}

function smsFor(r: Rig, referenceCode: string) {
  return r.double.requests.filter((q) => q.path.endsWith('/Messages.json') && (q.form.get('Body') ?? '').includes(`Ref ${referenceCode}`));
}

const minutesAfterNow = (m: number): Date => new Date(DEFAULT_TEST_NOW.getTime() + m * 60_000);

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
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

/** The voicemail's job, once BullMQ has filed it as completed. */
async function jobCompleted(r: Rig, recordingSid: string) {
  return until('the job completed', async () => {
    const job = await r.h.services.queues.voicemail.getJob(voicemailJobId(recordingSid));
    return job && (await job.getState()) === 'completed' ? job : undefined;
  });
}

/** Leaves a message whose recording is not ready at the double (404 on fetch) until the test says so; later recordings are ready again. */
async function leaveMessageMediaNotReady(r: Rig): Promise<string> {
  r.settings.mediaReady = false;
  try {
    return (await leaveMessage(r)).recordingSid;
  } finally {
    r.settings.mediaReady = true;
  }
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
    const v = await until('the voicemail complete', async () => {
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
    // The row turns complete just before the deletion's audit row is written.
    const actions = await until('the twilio_deleted audit', async () => {
      const a = await actionsFor(r, v.id);
      return a.includes('voicemail.twilio_deleted') ? a : undefined;
    });
    expect(actions.indexOf('voicemail.stored')).toBeGreaterThan(actions.indexOf('voicemail.received'));
    expect(actions.indexOf('voicemail.twilio_deleted')).toBeGreaterThan(actions.indexOf('voicemail.stored'));
    await until('the notified audit', async () => (await actionsFor(r, v.id)).includes('voicemail.notified'));
    // Job payloads carry ids only.
    const job = await r.h.services.queues.voicemail.getJob(`voicemail-${recordingSid}`);
    expect(Object.keys((job?.data ?? {}) as object)).toEqual(['voicemailId']);
  });

  it('a duplicate recording callback stores once', async () => {
    const result = await r.sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '2'], recordings: [{ durationSeconds: 2, digits: '#' }] });
    const callback = result.requests.find((q) => q.params.RecordingStatus === 'completed');
    if (!callback?.params.RecordingSid) throw new Error('no callback');
    const sid = callback.params.RecordingSid;
    const done = await until('the voicemail complete', async () => {
      const row = await voicemailOf(r, sid);
      return row?.state === 'complete' ? row : undefined;
    });
    const finished = await jobCompleted(r, sid);
    const res = await postTwilio(r.h, callback.path, callback.params);
    expect(res.status).toBe(200);
    // The callback was answered once its job was durable: had it queued another, the queue would hold it now.
    expect(await pendingJobs(r.h.services.queues.voicemail, (job) => (job.data as { voicemailId?: unknown }).voicemailId === done.id)).toEqual([]);
    const rows = await r.h.services.db.selectFrom('voicemails').select('id').where('recording_sid', '=', sid).execute();
    expect(rows).toHaveLength(1);
    expect(r.double.requests.filter((q) => q.method === 'GET' && q.path.includes(sid))).toHaveLength(1);
    // Its job is not run again: the finished one stays, and the row saw no further attempt.
    const after = await r.h.services.queues.voicemail.getJob(voicemailJobId(sid));
    expect(after?.timestamp).toBe(finished.timestamp);
    expect(await after?.getState()).toBe('completed');
    expect((await voicemailOf(r, sid))?.attempts).toBe(done.attempts);
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
    await postTwilio(r.h, pathAndQuery, params);
    expect(await voicemailOf(r, forgedSid)).toBeUndefined();
    const refused = await r.h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'voicemail.recording_url_refused').executeTakeFirstOrThrow();
    expect(refused.details).toEqual({ reason: 'foreign_host' });
    expect(requestIndex(r, 'GET', forgedSid)).toBe(-1);
  });

  it('media not ready yet: the attempt is recorded and retried (not dead-lettered), then stored', async () => {
    const sid = await leaveMessageMediaNotReady(r);
    // The first attempt met a 404: recorded on the row and in the audit log, and a retry waits.
    const pending = await until('the first failed attempt', async () => {
      const row = await voicemailOf(r, sid);
      return row?.last_error ? row : undefined;
    });
    expect(pending.state).toBe('received');
    expect(pending.last_error).toBe('store: twilio fetchRecordingMedia: not_ready 404');
    expect(pending.last_error_transient).toBe(true);
    const job = await until('the delayed retry', async () => {
      const j = await r.h.services.queues.voicemail.getJob(voicemailJobId(sid));
      return j && (await j.getState()) === 'delayed' ? j : undefined;
    });
    expect(await failedAudits(r, pending.id)).toEqual([{ attempt: 1, final: false, error: 'store: twilio fetchRecordingMedia: not_ready 404', transient: true }]);
    expect(requestIndex(r, 'DELETE', sid)).toBe(-1);

    // The sweep leaves a voicemail whose retry is already waiting alone (idempotent by jobId).
    const swept = await sweepVoicemails(r.h.services, minutesAfterNow(16));
    expect(swept.alreadyQueued).toBeGreaterThanOrEqual(1);
    const same = await r.h.services.queues.voicemail.getJob(voicemailJobId(sid));
    expect(same?.timestamp).toBe(job.timestamp);
    expect(await same?.getState()).toBe('delayed');

    const rec = r.double.recordings.get(sid);
    if (rec) rec.ready = true;
    const v = await stateOf(r, sid, 'complete');
    expect(v.last_error).toBeNull();
    expect(r.double.requests.filter((q) => q.method === 'GET' && q.path.includes(sid)).length).toBeGreaterThanOrEqual(2);
  });

  it('a stored copy that fails read-back verification is removed, and Twilio keeps its recording', async () => {
    const storage = r.h.services.storage;
    const realGet = storage.get.bind(storage);
    let tampered = 0;
    // Read-back returns a valid ciphertext of other audio under the same context: decrypts, digest differs.
    storage.get = async (key: string) => {
      const m = /^voicemail\/([0-9a-f-]{36})\/([0-9a-f-]{36})\.enc$/.exec(key);
      const row = m ? await r.h.services.db.selectFrom('voicemails').selectAll().where('id', '=', m[2] ?? '').executeTakeFirst() : undefined;
      if (!row || row.state !== 'received') return realGet(key);
      tampered += 1;
      const enc = encryptingStream(r.h.services.keyring, voicemailContext(row));
      Readable.from([randomWav(SECOND)]).pipe(enc.stream);
      return enc.stream as unknown as Readable;
    };
    let sid: string;
    try {
      sid = (await leaveMessage(r)).recordingSid;
      const failed = await until('the failed verification', async () => {
        const row = await voicemailOf(r, sid);
        return row?.last_error ? row : undefined;
      });
      expect(tampered).toBeGreaterThanOrEqual(1);
      expect(failed.state).toBe('received');
      expect(failed.last_error).toBe('store: verification_failed');
      // The unverified object is gone, and Twilio was never asked to delete its copy.
      await expect(realGet(`voicemail/${failed.practice_id}/${failed.id}.enc`)).rejects.toBeInstanceOf(StorageNotFoundError);
      expect(requestIndex(r, 'DELETE', sid)).toBe(-1);
      expect(r.double.recordings.get(sid)?.deleted).toBe(false);
      expect(await actionsFor(r, failed.id)).not.toContain('voicemail.stored');
    } finally {
      storage.get = realGet;
    }
    // Once read-back matches, it goes through.
    await stateOf(r, sid, 'complete');
    expect(r.double.recordings.get(sid)?.deleted).toBe(true);
  });

  it('the reconciler finds a recording whose callback never came', async () => {
    // Whatever the seed says: this practice has no access number set here.
    await updatePractice(tenantScope(r.h.services, r.h.services.seeded?.id ?? ''), { accessNumber: null });
    const result = await r.sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '2'], hangupAfterSteps: 2 });
    const sid = r.double.addRecording({ callSid: result.callSid, bytes: randomWav(2 * SECOND) });
    expect(await voicemailOf(r, sid)).toBeUndefined();
    const outcome = await reconcileRecordings(r.h.services);
    expect(outcome.queued).toBe(1);
    const v = await until('the voicemail complete', async () => {
      const row = await voicemailOf(r, sid);
      return row?.state === 'complete' ? row : undefined;
    });
    // Unknown urgency counts as urgent, and nobody was paged for this call: the on-call doctor gets an SMS.
    expect(v.urgency).toBe('urgent');
    await until('the SMS', async () => smsFor(r, v.reference_code).length > 0);
    const sms = smsFor(r, v.reference_code)[0];
    // No access number set: the SMS names the access line without a number (never the patient line).
    expect(sms?.form.get('Body')).toBe(`Demo Family Medicine: new urgent voicemail. Ref ${v.reference_code}. Call the provider access line to listen.`);
    expect(sms?.form.get('From')).toBe(PRACTICE);
  });

  it("the notification names the practice's access line, and is sent from it", async () => {
    const practiceId = r.h.services.seeded?.id ?? '';
    const admin = (await createApiKey(r.h.services.db, { role: 'admin', practiceId })).key;
    const patch = (body: unknown): Promise<Response> =>
      fetch(`${r.h.baseUrl}/api/practices/${practiceId}`, { method: 'PATCH', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    // Not one of the practice's numbers yet: refused, without echoing it.
    const refused = await patch({ accessNumber: '+12025550104' });
    expect(refused.status).toBe(400);
    expect(await refused.text()).not.toContain('5550104');
    expect((await patch({ accessNumber: 'nonsense' })).status).toBe(400);
    await upsertPracticeNumber(tenantScope(r.h.services, practiceId), ACCESS_NUMBER, 'after-hours');
    const ok = await patch({ accessNumber: ACCESS_NUMBER });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ accessNumber: ACCESS_NUMBER });
    try {
      const { recordingSid } = await urgentViaReconciler(r);
      const v = await stateOf(r, recordingSid, 'complete');
      await until('the SMS', async () => smsFor(r, v.reference_code).length > 0);
      const sms = smsFor(r, v.reference_code)[0];
      expect(sms?.form.get('Body')).toBe(`Demo Family Medicine: new urgent voicemail. Ref ${v.reference_code}. Call 202-555-0103 to listen.`);
      expect(sms?.form.get('From')).toBe(ACCESS_NUMBER);
    } finally {
      expect((await patch({ accessNumber: null })).status).toBe(200);
    }
  });

  it('Twilio deletion failing for good: the voicemail is announced, listed and playable, then dead-lettered as twilio_delete_failed; the sweep retries it', async () => {
    const practiceId = r.h.services.seeded?.id ?? '';
    const provider = (await createApiKey(r.h.services.db, { role: 'provider', practiceId })).key;
    const admin = (await createApiKey(r.h.services.db, { role: 'admin', practiceId })).key;
    const api = (path: string, key: string, init: RequestInit = {}): Promise<Response> =>
      fetch(r.h.baseUrl + path, { ...init, headers: { authorization: `Bearer ${key}`, ...(init.headers ?? {}) } });
    const twilioRest = r.h.services.twilio;
    const realDelete = twilioRest.deleteRecording.bind(twilioRest);
    twilioRest.deleteRecording = async () => {
      throw new TwilioRestError({ operation: 'deleteRecording', reason: 'http', status: 503, retryable: true, detail: 'HTTP 503' });
    };
    let sid: string;
    let id: string;
    try {
      const left = await urgentViaReconciler(r);
      sid = left.recordingSid;
      const stored = await until('the voicemail stored and announced', async () => {
        const row = await voicemailOf(r, sid);
        return row?.state === 'stored' && row.notified_at ? row : undefined;
      });
      id = stored.id;
      // Available while Twilio's copy is still there: announced, listed, playable, offered on the access line.
      expect(smsFor(r, stored.reference_code)).toHaveLength(1);
      // notified_at is set just before the audit row is written.
      await until('the notified audit', async () => (await actionsFor(r, id)).includes('voicemail.notified'));
      const list = (await (await api('/api/voicemails?state=stored', provider)).json()) as { voicemails: Array<{ id: string }> };
      expect(list.voicemails.map((x) => x.id)).toContain(id);
      const audio = await api(`/api/voicemails/${id}/audio`, provider);
      expect(audio.status).toBe(200);
      expect(Buffer.from(await audio.arrayBuffer()).equals(left.bytes)).toBe(true);
      expect(await pendingUrgentIds(tenantScope(r.h.services, practiceId))).toContain(id);

      // Every attempt fails; the last lands in the dead-letter list with the audio safe.
      const dead = await until(
        'the dead-letter list',
        async () => {
          const row = await voicemailOf(r, sid);
          return row?.dead_letter_reason ? row : undefined;
        },
        60_000,
        () => kick(r, sid),
      );
      expect(dead).toMatchObject({ state: 'stored', dead_letter_reason: 'twilio_delete_failed', attempts: VOICEMAIL_ATTEMPTS, last_error: 'delete: twilio deleteRecording: http 503' });
      expect(smsFor(r, stored.reference_code)).toHaveLength(1); // announced once, not once per attempt
      const letters = (await (await api('/api/voicemails/dead-letter', admin)).json()) as { voicemails: Array<Record<string, unknown>> };
      expect(letters.voicemails).toContainEqual(
        expect.objectContaining({ id, reason: 'twilio_delete_failed', state: 'stored', lastError: 'delete: twilio deleteRecording: http 503', attempts: VOICEMAIL_ATTEMPTS }),
      );
      expect((await api(`/api/voicemails/${id}/audio`, provider)).status).toBe(200);
      const lastAudit = await until('the final failed audit', async () => (await failedAudits(r, id)).find((d) => d.final === true));
      expect(lastAudit).toMatchObject({ reason: 'twilio_delete_failed', attempt: VOICEMAIL_ATTEMPTS });
      // BullMQ has filed the job as failed: nothing runs it any more.
      await until('the job failed', async () => ((await (await r.h.services.queues.voicemail.getJob(voicemailJobId(sid)))?.getState()) === 'failed' ? true : undefined));
    } finally {
      twilioRest.deleteRecording = realDelete;
    }
    // Later, the sweep tries again; Twilio deletes it, and it leaves the dead-letter list.
    const swept = await sweepVoicemails(r.h.services, minutesAfterNow(31));
    expect(swept.requeued).toBeGreaterThanOrEqual(1);
    const done = await until('the voicemail complete, off the dead-letter list', async () => {
      const row = await voicemailOf(r, sid);
      return row?.state === 'complete' && row.dead_letter_reason === null ? row : undefined;
    });
    expect(done.last_error).toBeNull();
    expect(r.double.recordings.get(sid)?.deleted).toBe(true);
    const letters = (await (await api('/api/voicemails/dead-letter', admin)).json()) as { voicemails: Array<{ id: string }> };
    expect(letters.voicemails.map((x) => x.id)).not.toContain(id);
    expect(await actionsFor(r, id)).toEqual(expect.arrayContaining(['voicemail.requeued', 'voicemail.twilio_deleted']));
  });

  it('out of attempts for good: the real path to the dead-letter list, each failed attempt audited; the sweep retries a transient one', async () => {
    const sid = await leaveMessageMediaNotReady(r);
    const failed = await stateOf(r, sid, 'failed', 60_000);
    expect(failed.attempts).toBe(VOICEMAIL_ATTEMPTS);
    expect(failed.last_error).toBe('store: twilio fetchRecordingMedia: not_ready 404');
    // The row is marked first, then the audit row, then BullMQ files the job as failed.
    const audits = await until('every failed attempt audited', async () => {
      const rows = await failedAudits(r, failed.id);
      return rows.length >= VOICEMAIL_ATTEMPTS ? rows : undefined;
    });
    expect(audits).toHaveLength(VOICEMAIL_ATTEMPTS);
    expect(audits.slice(0, -1).every((d, i) => d.attempt === i + 1 && d.final === false)).toBe(true);
    expect(audits.at(-1)).toEqual({ attempt: VOICEMAIL_ATTEMPTS, final: true, reason: 'store_failed', error: 'store: twilio fetchRecordingMedia: not_ready 404', transient: true });
    // Codes only: no URL, number or account in any of them.
    expect(JSON.stringify(audits)).not.toMatch(/https?:|\+1202|AC1/);
    const job = await until('the job failed', async () => {
      const j = await r.h.services.queues.voicemail.getJob(voicemailJobId(sid));
      // Read again once failed: the first read may predate the failure.
      return j && (await j.getState()) === 'failed' ? r.h.services.queues.voicemail.getJob(voicemailJobId(sid)) : undefined;
    });
    expect(job?.failedReason).toBe('store: twilio fetchRecordingMedia: not_ready 404');
    expect(r.double.requests.filter((q) => q.method === 'GET' && q.path.includes(sid))).toHaveLength(VOICEMAIL_ATTEMPTS);
    expect(r.double.recordings.get(sid)?.deleted).toBe(false);

    const admin = (await createApiKey(r.h.services.db, { role: 'admin', practiceId: failed.practice_id })).key;
    const letters = (await (await fetch(`${r.h.baseUrl}/api/voicemails/dead-letter`, { headers: { authorization: `Bearer ${admin}` } })).json()) as {
      voicemails: Array<Record<string, unknown>>;
    };
    expect(letters.voicemails).toContainEqual(expect.objectContaining({ id: failed.id, reason: 'store_failed', state: 'failed', attempts: VOICEMAIL_ATTEMPTS }));

    // The error was transient: the upkeep sweep tries again later, and now the media is there.
    const rec = r.double.recordings.get(sid);
    if (rec) rec.ready = true;
    expect((await sweepVoicemails(r.h.services, minutesAfterNow(20))).requeued).toBe(0); // not yet
    expect((await voicemailOf(r, sid))?.state).toBe('failed');
    expect((await sweepVoicemails(r.h.services, minutesAfterNow(31))).requeued).toBeGreaterThanOrEqual(1);
    const v = await stateOf(r, sid, 'complete');
    expect(v.requeues).toBe(1);
    expect(await actionsFor(r, v.id)).toContain('voicemail.requeued');
  });

  it('Redis failing after the row is written: the sweep queues the stranded voicemail', async () => {
    const queue = r.h.services.queues.voicemail;
    const realAdd = queue.add.bind(queue);
    let refused = 0;
    queue.add = (async () => {
      refused += 1;
      throw new Error('Connection is closed.');
    }) as typeof queue.add;
    let sid: string | undefined;
    try {
      const result = await r.sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '2'], recordings: [{ durationSeconds: 2, digits: '#' }] });
      sid = result.requests.find((q) => q.params.RecordingStatus === 'completed')?.params.RecordingSid;
    } finally {
      queue.add = realAdd;
    }
    if (!sid) throw new Error('no recording callback');
    expect(refused).toBe(1);
    const stranded = await voicemailOf(r, sid);
    expect(stranded?.state).toBe('received');
    expect(await queue.getJob(voicemailJobId(sid))).toBeUndefined();
    // Not yet stale: left alone.
    await sweepVoicemails(r.h.services, minutesAfterNow(5));
    expect(await queue.getJob(voicemailJobId(sid))).toBeUndefined();
    const swept = await sweepVoicemails(r.h.services, minutesAfterNow(16));
    expect(swept.requeued).toBeGreaterThanOrEqual(1);
    const v = await stateOf(r, sid, 'complete');
    expect(r.double.recordings.get(sid)?.deleted).toBe(true);
    const requeued = await r.h.services.db.selectFrom('audit_log').select(['actor', 'details']).where('subject_id', '=', v.id).where('action', '=', 'voicemail.requeued').execute();
    expect(requeued).toEqual([{ actor: 'system:upkeep', details: { reason: 'stuck', previousState: 'received', previousError: null, requeues: 1 } }]);
  });

  it('the caller verification state comes from the call (signed v=, audit log), not from Redis', async () => {
    // A verified caller (PIN) leaves a message.
    const result = await r.sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '3', '1', '2468#', '2'], recordings: [{ durationSeconds: 2, digits: '#' }] });
    expect(result.errors).toEqual([]);
    const callback = result.requests.find((q) => q.params.RecordingStatus === 'completed');
    if (!callback?.params.RecordingSid) throw new Error('no recording callback');
    expect(callback.path).toContain('v=1');
    const first = await stateOf(r, callback.params.RecordingSid, 'complete');
    expect(first.caller_verified).toBe(true);
    expect(first.patient_id).toMatch(/^[0-9a-f-]{36}$/);

    // The call's Redis state is gone (expired, flushed, or Redis failing): still verified.
    await r.h.services.redis.del(callKey(result.callSid));
    const sid = `RE${'7'.repeat(32)}`;
    const params = { ...callback.params, RecordingSid: sid, RecordingUrl: `${r.double.baseUrl}/2010-04-01/Accounts/${TEST_ACCOUNT_SID}/Recordings/${sid}` };
    r.double.addRecording({ sid, callSid: result.callSid, bytes: randomWav(SECOND) });
    const res = await postTwilio(r.h, callback.path, params);
    expect(res.status).toBe(200);
    const second = await until('the second voicemail', () => voicemailOf(r, sid));
    expect(second.caller_verified).toBe(true);
    expect(second.patient_id).toBe(first.patient_id);

    // The signed value is what counts when given: a callback saying unverified links no patient.
    const unverified = await receiveRecording(r.h.services, { callSid: result.callSid, recordingSid: `RE${'6'.repeat(32)}`, durationSeconds: 1, urgency: 'routine', node: 'message', source: 'callback', verified: false });
    const third = await r.h.services.db.selectFrom('voicemails').selectAll().where('id', '=', unverified?.voicemailId ?? '').executeTakeFirstOrThrow();
    expect(third).toMatchObject({ caller_verified: false, patient_id: null });
  });

  it('a recording callback reads only what it needs: the call once, the audit log only for a new row that may be verified', async () => {
    const result = await r.sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '2'], hangupAfterSteps: 2 });
    const practiceId = r.h.services.seeded?.id ?? '';
    // Every SELECT receiveRecording runs (the job's own queries go through the real services).
    const reads: string[] = [];
    const db = r.h.services.db.withPlugin({
      transformQuery: (args) => {
        if (args.node.kind === 'SelectQueryNode') reads.push(JSON.stringify(args.node));
        return args.node;
      },
      transformResult: async (args) => args.result,
    });
    const services = { ...r.h.services, db };
    const readsOf = (table: string): number => reads.filter((q) => q.includes(`"name":"${table}"`)).length;
    const [known, unsigned, orphan] = ['8', 'a', '9'].map((c) => `RE${c.repeat(32)}`) as [string, string, string];
    for (const sid of [known, unsigned]) r.double.addRecording({ sid, callSid: result.callSid, bytes: randomWav(SECOND) });
    const input = { callSid: result.callSid, durationSeconds: 1, urgency: 'routine' as const, node: 'message', source: 'callback' as const };

    // The practice given (the callback has loaded the call): the call is not read again.
    const given = await receiveRecording(services, { ...input, practiceId, recordingSid: known });
    expect(given?.created).toBe(true);
    expect(readsOf('calls')).toBe(0);
    expect(readsOf('audit_log')).toBe(1); // verification unknown: the audit log decides
    expect(await receiveRecording(services, { ...input, practiceId: null, recordingSid: orphan })).toBeNull();
    expect(await voicemailOf(r, orphan)).toBeUndefined();

    // Signed "unverified": the audit log is not read.
    reads.length = 0;
    const unverified = await receiveRecording(services, { ...input, verified: false, recordingSid: unsigned });
    expect(unverified?.created).toBe(true);
    expect(readsOf('calls')).toBe(1);
    expect(readsOf('audit_log')).toBe(0);

    // A repeat of a known recording, its job done: no audit log read, and the job is not run again.
    const done = await stateOf(r, known, 'complete');
    const job = await jobCompleted(r, known);
    reads.length = 0;
    const repeat = await receiveRecording(services, { ...input, recordingSid: known });
    expect(repeat).toEqual({ voicemailId: done.id, created: false });
    expect(readsOf('audit_log')).toBe(0);
    const after = await r.h.services.queues.voicemail.getJob(voicemailJobId(known));
    expect(after?.timestamp).toBe(job.timestamp);
    expect(await after?.getState()).toBe('completed');
    await stateOf(r, unsigned, 'complete');
  });

  it('notification is at least once, per recipient: a failed SMS is retried, a sent one is not repeated', async () => {
    const clinic = await createPractice(r.h.services.db, { slug: 'two-admins', name: 'Two Admins Clinic', timeZone: 'America/New_York', numbers: ['+12025550170'] });
    const admins = await r.h.services.db
      .insertInto('providers')
      .values([
        { practice_id: clinic.id, display_name: 'Admin A', phone: '+12025550171', is_practice_admin: true },
        { practice_id: clinic.id, display_name: 'Admin B', phone: '+12025550172', sms_phone: '+12025550173', is_practice_admin: true },
      ])
      .returning('id')
      .execute();
    const callSid = `CA${'5'.repeat(32)}`;
    const row = await r.h.services.db
      .insertInto('voicemails')
      .values({ practice_id: clinic.id, call_sid: callSid, recording_sid: `RE${'5'.repeat(32)}`, reference_code: '555555', urgency: 'urgent', state: 'stored' })
      .returning(['id', 'practice_id', 'call_sid', 'urgency', 'reference_code'])
      .executeTakeFirstOrThrow();
    const twilioRest = r.h.services.twilio;
    const realSend = twilioRest.sendSms.bind(twilioRest);
    const attempts: string[] = [];
    let failB = true;
    twilioRest.sendSms = async (input) => {
      attempts.push(input.to);
      if (input.to === '+12025550173' && failB) {
        failB = false;
        throw new TwilioRestError({ operation: 'sendSms', reason: 'http', status: 500, retryable: true, detail: 'HTTP 500' });
      }
      return realSend(input);
    };
    try {
      await expect(notifyNewVoicemail(r.h.services, row)).rejects.toBeInstanceOf(TwilioRestError);
      const after1 = await r.h.services.db.selectFrom('voicemails').select('notified_at').where('id', '=', row.id).executeTakeFirstOrThrow();
      expect(after1.notified_at).toBeNull();
      expect(await actionsFor(r, row.id)).not.toContain('voicemail.notified');
      const told = await r.h.services.db.selectFrom('voicemail_notifications').select('recipient').where('voicemail_id', '=', row.id).execute();
      expect(told.map((t) => t.recipient)).toEqual(admins.slice(0, 1).map((a) => `provider:${a.id}`));

      await notifyNewVoicemail(r.h.services, row);
      expect(attempts).toEqual(['+12025550171', '+12025550173', '+12025550173']);
      const after2 = await r.h.services.db.selectFrom('voicemails').select('notified_at').where('id', '=', row.id).executeTakeFirstOrThrow();
      expect(after2.notified_at).not.toBeNull();
      const notified = await r.h.services.db.selectFrom('audit_log').select('details').where('subject_id', '=', row.id).where('action', '=', 'voicemail.notified').execute();
      expect(notified).toEqual([{ details: { channel: 'sms', recipients: 2, urgency: 'urgent', matrixCell: 'staff_page × sms', matrixVersion: 0 } }]);
      await notifyNewVoicemail(r.h.services, row);
      expect(attempts).toHaveLength(3);
    } finally {
      twilioRest.sendSms = realSend;
    }
  });

  it('retention deletes expired audio and records it; the row and the audit trail stay', async () => {
    const { recordingSid } = await leaveMessage(r);
    const v = await until('the voicemail complete', async () => {
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

  it("retention never orphans Twilio's copy: it deletes it first, and keeps the audio while it cannot", async () => {
    const twilioRest = r.h.services.twilio;
    const realDelete = twilioRest.deleteRecording.bind(twilioRest);
    twilioRest.deleteRecording = async () => {
      throw new TwilioRestError({ operation: 'deleteRecording', reason: 'http', status: 503, retryable: true, detail: 'HTTP 503' });
    };
    let v;
    try {
      const { recordingSid } = await leaveMessage(r);
      v = await until('the voicemail stored, its deletion failing', async () => {
        const row = await voicemailOf(r, recordingSid);
        return row?.state === 'stored' && row.last_error ? row : undefined;
      });
      await sql`UPDATE voicemails SET created_at = now() - interval '100 days' WHERE id = ${v.id}`.execute(r.h.services.db);
      const blocked = await applyRetention(r.h.services);
      expect(blocked.twilioPending).toBeGreaterThanOrEqual(1);
      const kept = await voicemailOf(r, recordingSid);
      expect(kept?.state).toBe('stored');
      expect(await r.h.services.storage.head(v.storage_key ?? '')).not.toBeNull();
      expect(r.double.recordings.get(recordingSid)?.deleted).toBe(false);
    } finally {
      twilioRest.deleteRecording = realDelete;
    }
    await applyRetention(r.h.services);
    const after = await voicemailOf(r, v.recording_sid);
    expect(after?.state).toBe('expired');
    expect(after?.twilio_deleted_at).not.toBeNull();
    expect(r.double.recordings.get(v.recording_sid)?.deleted).toBe(true);
    expect(await r.h.services.storage.head(v.storage_key ?? '')).toBeNull();
    const actions = await actionsFor(r, v.id);
    expect(actions.indexOf('voicemail.twilio_deleted')).toBeGreaterThan(-1);
    expect(actions.indexOf('voicemail.audio_deleted')).toBeGreaterThan(actions.indexOf('voicemail.twilio_deleted'));
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

  it('stores through KMS envelope encryption into S3: the object is ciphertext, decryptable only with its context', async () => {
    const { recordingSid } = await leaveMessage(r);
    const v = await until('the voicemail complete', async () => {
      const row = await voicemailOf(r, recordingSid);
      return row?.state === 'complete' ? row : undefined;
    });
    expect(await r.h.services.storage.head(v.storage_key ?? '')).toMatchObject({ bytes: Number(v.ciphertext_bytes) });
    expect(kms.calls.map((c) => c.target)).toEqual(expect.arrayContaining(['TrentService.GenerateDataKey', 'TrentService.Decrypt']));

    // The object as S3 holds it: no WAV (or MP3) header, none of the audio in clear.
    const plaintext = r.media.get(recordingSid);
    if (!plaintext) throw new Error('no media');
    const stored = await collect(await r.h.services.storage.get(v.storage_key ?? ''));
    expect(stored.length).toBe(Number(v.ciphertext_bytes));
    expect(stored.subarray(0, 4).toString('latin1')).not.toBe('RIFF');
    expect(stored.subarray(0, 3).toString('latin1')).not.toBe('ID3');
    expect(stored.indexOf('WAVEfmt')).toBe(-1);
    expect(stored.includes(plaintext.subarray(44, 108))).toBe(false);
    expect(stored[0]).toBe(0x02); // an Encryption SDK message (format v2)
    // Its header binds it (in clear: ids only) to this practice, voicemail and recording.
    const header = stored.subarray(0, 1024);
    for (const id of [v.practice_id, v.id, recordingSid]) expect(header.includes(Buffer.from(id))).toBe(true);

    // Decrypts (through KMS) with its own context, to the recording's digest...
    const check = sha256Stream();
    check.stream.resume();
    await pipeline(Readable.from([stored]), decryptingStream(r.h.services.keyring, voicemailContext(v)), check.stream);
    expect(check.digest()).toBe(v.plaintext_sha256);
    // ...and not with any other: no plaintext leaves the stream.
    for (const other of [{ voicemail: randomUUID() }, { practice: randomUUID() }, { recording: `RE${'0'.repeat(32)}` }] as Array<Record<string, string>>) {
      const wrong = sha256Stream();
      wrong.stream.resume();
      await expect(pipeline(Readable.from([stored]), decryptingStream(r.h.services.keyring, { ...voicemailContext(v), ...other }), wrong.stream)).rejects.toThrow();
      expect(wrong.bytes()).toBe(0);
    }
    // A keyring over another KMS key cannot open it.
    const otherKms = await startKmsDouble();
    try {
      const stranger = await createKeyring(
        loadConfig({ NODE_ENV: 'test', DATA_DIR: r.h.config.dataDir, KMS_KEY_ID: otherKms.keyId, KMS_ENDPOINT: otherKms.endpoint, BLIND_INDEX_KEY: randomBytes(32).toString('base64') }),
      );
      const none = sha256Stream();
      none.stream.resume();
      await expect(pipeline(Readable.from([stored]), decryptingStream(stranger, voicemailContext(v)), none.stream)).rejects.toThrow();
      expect(none.bytes()).toBe(0);
    } finally {
      await otherKms.close();
    }
  });

  it('storage down, then up: nothing is lost and Twilio keeps its copy until the stored one is verified', async () => {
    await s3.stop();
    const { recordingSid } = await leaveMessage(r);
    const pending = await until('the voicemail row', () => voicemailOf(r, recordingSid));
    // An attempt has met the outage (not a wait for one to happen): the row stays received and Twilio's copy stays.
    await until('a failed attempt to store', async () => (await voicemailOf(r, recordingSid))?.last_error?.startsWith('store: '));
    expect((await voicemailOf(r, recordingSid))?.state).toBe('received');
    expect(requestIndex(r, 'DELETE', recordingSid)).toBe(-1);
    expect(r.double.recordings.get(recordingSid)?.deleted).toBe(false);
    const during = await voicemailOf(r, recordingSid);
    expect(during?.last_error).toMatch(/^store: /);
    await s3.restart();
    await stateOf(r, recordingSid, 'complete', 40_000);
    expect(pending.id).toBeDefined();
    expect(r.double.recordings.get(recordingSid)?.deleted).toBe(true);
  });

  it('KMS down for a while: retried, then stored', async () => {
    // The KMS client retries 3 times itself: 6 failures make two job attempts fail.
    kms.failNext(6);
    const { recordingSid } = await leaveMessage(r);
    const v = await stateOf(r, recordingSid, 'complete', 40_000);
    expect(v.attempts).toBeGreaterThan(1);
    expect((await failedAudits(r, v.id))[0]).toMatchObject({ attempt: 1, final: false, transient: true });
  });
});

describe('log mode (no Twilio account: the quick start)', () => {
  let h: Harness;
  beforeAll(async () => {
    // The development token and Twilio's own API host: the adapter runs in log mode.
    h = await startHarness('vm_logmode', { TWILIO_AUTH_TOKEN: DEV_TWILIO_AUTH_TOKEN });
  });
  afterAll(async () => {
    await h.close();
  });

  it('stores a marked, silent placeholder through the real encrypt-store-verify path; nothing to delete at Twilio', async () => {
    expect(h.services.twilio.kind).toBe('log');
    const sim = new CallSimulator({ targetBaseUrl: h.baseUrl, publicBaseUrl: TEST_PUBLIC_BASE_URL, authToken: DEV_TWILIO_AUTH_TOKEN, accountSid: TEST_ACCOUNT_SID });
    const result = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '2'], recordings: [{ durationSeconds: 3, digits: '#' }] });
    expect(result.errors).toEqual([]);
    const sid = result.requests.find((q) => q.params.RecordingStatus === 'completed')?.params.RecordingSid ?? '';
    const v = await until('the voicemail complete', async () => {
      const row = await h.services.db.selectFrom('voicemails').selectAll().where('recording_sid', '=', sid).executeTakeFirst();
      return row?.state === 'complete' ? row : undefined;
    });
    expect(v).toMatchObject({ simulated: true, content_type: 'audio/wav', plaintext_bytes: String(44 + 3 * 16_000) });
    // The row turns complete just before the deletion's audit row is written.
    const audit = await until('the twilio_deleted audit', async () => {
      const rows = await h.services.db.selectFrom('audit_log').select(['action', 'details']).where('subject_id', '=', v.id).orderBy('seq').execute();
      return rows.some((a) => a.action === 'voicemail.twilio_deleted') ? rows : undefined;
    });
    expect(audit.map((a) => a.action)).toEqual(expect.arrayContaining(['voicemail.received', 'voicemail.stored', 'voicemail.twilio_deleted', 'voicemail.notified']));
    expect(audit.find((a) => a.action === 'voicemail.stored')?.details).toMatchObject({ simulated: true, keyring: 'local', storage: 'local' });
    expect(audit.find((a) => a.action === 'voicemail.twilio_deleted')?.details).toMatchObject({ result: 'log_mode' });
    expect(audit.map((a) => a.action)).not.toContain('voicemail.failed');

    // Encrypted on disk; listed as simulated; plays back as a silent WAV.
    const stored = await readFile(path.join(h.config.dataDir, 'recordings', v.storage_key ?? ''));
    expect(stored.subarray(0, 4).toString('latin1')).not.toBe('RIFF');
    const key = (await createApiKey(h.services.db, { role: 'staff', practiceId: v.practice_id })).key;
    const list = (await (await fetch(`${h.baseUrl}/api/voicemails`, { headers: { authorization: `Bearer ${key}` } })).json()) as { voicemails: Array<Record<string, unknown>> };
    expect(list.voicemails.find((x) => x.id === v.id)).toMatchObject({ simulated: true, state: 'complete' });
    const audio = Buffer.from(await (await fetch(`${h.baseUrl}/api/voicemails/${v.id}/audio`, { headers: { authorization: `Bearer ${key}` } })).arrayBuffer());
    expect(audio.subarray(0, 4).toString('latin1')).toBe('RIFF');
    expect(audio.length).toBe(44 + 3 * 16_000);
    expect(audio.subarray(44).every((b) => b === 0)).toBe(true);
  });
});
