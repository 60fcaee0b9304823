import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { voicemailJobId } from '../src/voicemail/pipeline.js';
import { createRecordingSpool, SPOOL_DEAD_FILE, SPOOL_MAX_TRIES, type SpoolEntry } from '../src/voicemail/spool.js';
import { recoverVoicemails, startVoicemailRecovery } from '../src/voicemail/recovery.js';
import { captureLogs } from '../src/log/logger.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, type Harness } from './support/harness.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { inboundParams, postTwilio } from './support/twilio-request.js';
import { until } from './support/until.js';
import { randomWav } from './support/wav.js';

/**
 * What happens to a recording callback when PostgreSQL is down (spooled on local disk, fsynced,
 * then replayed), and what a crash leaves behind (queued again at start-up, not 15 minutes later).
 */

const PG_URL = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');

let pg: FaultProxy;
let double: TwilioDouble;
let h: Harness;
let logs: ReturnType<typeof captureLogs>;

beforeAll(async () => {
  logs = captureLogs();
  pg = await startFaultProxy(Number(PG_URL.port || 5432), PG_URL.hostname);
  double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  const url = new URL(PG_URL.href);
  url.hostname = '127.0.0.1';
  url.port = String(pg.port);
  h = await startHarness('vm_recovery', { DATABASE_URL: url.href, TWILIO_API_BASE_URL: double.baseUrl });
});
afterAll(async () => {
  pg.restore();
  await h.close();
  await pg.close();
  await double.close();
  logs.restore();
});

/** A call the service knows (its record written), and a completed recording of it at the double. */
async function callWithRecording(): Promise<{ callSid: string; recordingSid: string; params: Record<string, string> }> {
  const call = inboundParams();
  expect((await postTwilio(h, '/twilio/voice/incoming', call)).status).toBe(200);
  const callSid = call.CallSid ?? '';
  const recordingSid = double.addRecording({ callSid, bytes: randomWav(16_000), ready: true, duration: 1 });
  const params = {
    AccountSid: TEST_ACCOUNT_SID,
    CallSid: callSid,
    RecordingSid: recordingSid,
    RecordingUrl: `${double.baseUrl}/2010-04-01/Accounts/${TEST_ACCOUNT_SID}/Recordings/${recordingSid}`,
    RecordingStatus: 'completed',
    RecordingDuration: '1',
  };
  return { callSid, recordingSid, params };
}

async function demoPracticeId(): Promise<string> {
  return (await h.services.db.selectFrom('practices').select('id').executeTakeFirstOrThrow()).id;
}

const CALLBACK = '/twilio/voice/recording-status?n=message&u=urgent&v=0';

async function completeVoicemail(recordingSid: string) {
  return until(
    'the voicemail stored',
    async () => {
      const row = await h.services.db.selectFrom('voicemails').selectAll().where('recording_sid', '=', recordingSid).executeTakeFirst();
      return row?.state === 'complete' ? row : undefined;
    },
    30_000,
    async () => {
      const job = await h.services.queues.voicemail.getJob(voicemailJobId(recordingSid)).catch(() => undefined);
      if (job && (await job.getState()) === 'delayed') await job.promote().catch(() => undefined);
    },
  );
}

describe('a recording callback while PostgreSQL is down', () => {
  it('is spooled (fsynced) before the 200, replayed once PostgreSQL answers, and stored', { timeout: 40_000 }, async () => {
    const { recordingSid, params } = await callWithRecording();
    pg.stop();
    try {
      const res = await postTwilio(h, CALLBACK, params);
      expect(res.status).toBe(200);
      expect(await h.services.recordingSpool.pending()).toBe(1);
    } finally {
      pg.restore();
    }
    const v = await completeVoicemail(recordingSid);
    expect(v.urgency).toBe('urgent');
    expect(v.flow_node).toBe('message');
    // Through its own callback (replayed), not found later by the reconciler.
    const received = await h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'voicemail.received').where('subject_id', '=', v.id).execute();
    expect(received.map((r) => (r.details as { source: string }).source)).toEqual(['callback']);
    expect(await h.services.recordingSpool.pending()).toBe(0);
  });

  it('when it can be neither recorded nor spooled, the answer is a 503 (the last resort: Twilio does not resend it, the reconciler finds it), never a 200', { timeout: 30_000 }, async () => {
    const { params } = await callWithRecording();
    const spool = h.services.recordingSpool;
    h.services.recordingSpool = { ...spool, append: () => Promise.reject(new Error('disk full')) };
    pg.stop();
    try {
      const res = await postTwilio(h, CALLBACK, params);
      expect(res.status).toBe(503);
      expect(res.body).toContain('<Response');
    } finally {
      pg.restore();
      h.services.recordingSpool = spool;
    }
  });
});

describe('when PostgreSQL comes back', () => {
  it('the reconciler runs at once: a recording whose callback never got through is found, not 15 minutes later', { timeout: 40_000 }, async () => {
    // Twilio has the recording; its callback never reached us (Twilio gave up while PostgreSQL was away).
    const { recordingSid } = await callWithRecording();
    // The recovery loop's passes run here, one by one, instead of waiting RECOVERY_TICK_MS for its timer.
    const recovery = startVoicemailRecovery(h.services, { tickMs: 3_600_000 });
    try {
      await recovery.tick(); // its start-up pass
      pg.stop();
      try {
        await recovery.tick(); // finds PostgreSQL down
      } finally {
        pg.restore();
      }
      await recovery.tick(); // PostgreSQL is back: the reconciler runs in this very pass
    } finally {
      await recovery.close();
    }
    const v = await completeVoicemail(recordingSid);
    const received = await h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'voicemail.received').where('subject_id', '=', v.id).execute();
    expect(received.map((r) => (r.details as { source: string }).source)).toEqual(['reconciler']);
  });
});

const entry = (): SpoolEntry => ({
  v: 1,
  at: new Date().toISOString(),
  callSid: `CA${randomBytes(16).toString('hex')}`,
  accountSid: TEST_ACCOUNT_SID,
  recordingSid: `RE${randomBytes(16).toString('hex')}`,
  durationSeconds: 3,
  node: 'message',
  urgency: 'routine',
  verified: false,
});

describe('the spool file', () => {
  it('keeps what must wait, skips a torn line, and replays a file a crash left mid-replay', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ahl-spool-'));
    try {
      const spool = createRecordingSpool(dir);
      const [a, b, c, d] = [entry(), entry(), entry(), entry()];
      await spool.append(a);
      await spool.append(b);
      await spool.append(d);
      // A crash left a moved file behind, one of its lines torn mid-write.
      await writeFile(path.join(spool.dir, 'recordings.abc-1.replay'), JSON.stringify(c) + '\n{"v":1,"at":"20', 'utf8');
      expect(await spool.pending()).toBe(4);

      const seen: string[] = [];
      const first = await spool.replay(async (e) => {
        seen.push(e.recordingSid);
        return e.recordingSid === b.recordingSid ? 'retry' : 'done';
      });
      // The older (crash-left) file first; b must wait, and d after it waits untried (the database failed again).
      expect(seen).toEqual([c.recordingSid, a.recordingSid, b.recordingSid]);
      expect(first).toEqual({ done: 2, kept: 2, unreadable: 1, deadLettered: [] });
      expect(await spool.pending()).toBe(2);

      const again: string[] = [];
      const second = await spool.replay(async (e) => {
        again.push(e.recordingSid);
        return 'done';
      });
      expect(again).toEqual([b.recordingSid, d.recordingSid]);
      expect(second).toEqual({ done: 2, kept: 0, unreadable: 0, deadLettered: [] });
      expect(await spool.pending()).toBe(0);
      expect((await readdir(spool.dir)).filter((f) => f.endsWith('.replay'))).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a slow replay', () => {
  it('does not hold up a callback arriving meanwhile: it is spooled before the replay ends', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ahl-spool-'));
    try {
      const spool = createRecordingSpool(dir);
      const [a, b] = [entry(), entry()];
      await spool.append(a);
      const order: string[] = [];
      let releaseHandle = (): void => undefined;
      const handleHeld = new Promise<void>((r) => (releaseHandle = r));
      let handling = (): void => undefined;
      const inHandle = new Promise<void>((r) => (handling = r));
      // The replay's handling of `a` takes as long as the callback below needs.
      const replay = spool.replay(async () => {
        handling();
        await handleHeld;
        return 'done';
      });
      void replay.then(() => order.push('replay ended'));
      await inHandle;
      const appended = spool.append(b).then(() => order.push('callback spooled'));
      // Not a timing assertion: should the append wait on the replay, this lets the replay end (and the order below fails).
      const safety = setTimeout(releaseHandle, 3_000);
      await appended;
      order.push('handle released');
      releaseHandle();
      clearTimeout(safety);
      expect(await replay).toEqual({ done: 1, kept: 0, unreadable: 0, deadLettered: [] });
      expect(order).toEqual(['callback spooled', 'handle released', 'replay ended']);
      // b waits in the live file for the next replay.
      expect(await spool.pending()).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a spooled entry that keeps failing', () => {
  it('is dead-lettered after the tries allowed, and the entries behind it are replayed', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ahl-spool-'));
    try {
      const spool = createRecordingSpool(dir);
      const [stuck, next] = [entry(), entry()];
      await spool.append(stuck);
      await spool.append(next);
      const handle = async (e: SpoolEntry): Promise<'done' | 'retry'> => {
        if (e.recordingSid === stuck.recordingSid) throw new Error('fails every time');
        return 'done';
      };
      expect(await spool.replay(handle, { maxTries: 3 })).toEqual({ done: 0, kept: 2, unreadable: 0, deadLettered: [] });
      expect(await spool.replay(handle, { maxTries: 3 })).toEqual({ done: 0, kept: 2, unreadable: 0, deadLettered: [] });
      expect(await spool.replay(handle, { maxTries: 3 })).toEqual({ done: 1, kept: 0, unreadable: 0, deadLettered: [stuck.recordingSid] });
      expect(await spool.pending()).toBe(0);
      const dead = (await readFile(path.join(spool.dir, SPOOL_DEAD_FILE), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as SpoolEntry);
      expect(dead).toEqual([{ ...stuck, tries: 3 }]);
      expect(await spool.replay(handle, { maxTries: 3 })).toEqual({ done: 0, kept: 0, unreadable: 0, deadLettered: [] });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('holds up no recovery: stranded voicemails are still queued, and the entry is dead-lettered, audited and logged', { timeout: 40_000 }, async () => {
    const { callSid, recordingSid } = await callWithRecording();
    // A voicemail stranded without a job (as a crash leaves it).
    await h.services.db
      .insertInto('voicemails')
      .values({
        practice_id: await demoPracticeId(),
        call_sid: callSid,
        recording_sid: recordingSid,
        reference_code: '222222',
        urgency: 'routine',
        caller_verified: false,
        patient_id: null,
        flow_node: 'message',
        duration_seconds: 1,
        updated_at: h.services.clock(),
      })
      .execute();
    const spool = h.services.recordingSpool;
    const stuck = entry();
    await spool.append(stuck);
    // Replaying this entry fails every time (whatever the reason); the others replay as usual.
    h.services.recordingSpool = {
      ...spool,
      replay: (handle, opts) => spool.replay((e) => (e.recordingSid === stuck.recordingSid ? Promise.reject(new Error('stuck')) : handle(e)), opts),
    };
    const recovery = startVoicemailRecovery(h.services, { tickMs: 3_600_000 });
    try {
      // The first pass (a start-up one) tries the stuck entry, keeps it, and still queues the stranded voicemail.
      await recovery.tick();
      expect(await h.services.recordingSpool.pending()).toBeGreaterThanOrEqual(1);
      expect(await h.services.queues.voicemail.getJob(voicemailJobId(recordingSid))).toBeDefined();
      await completeVoicemail(recordingSid);
      // Pass after pass, until its tries are spent: then it is set aside.
      const audited = await until(
        'the stuck entry dead-lettered',
        () => h.services.db.selectFrom('audit_log').select(['actor', 'call_sid', 'subject_id', 'details']).where('action', '=', 'voicemail.spool_dead_lettered').execute().then((rows) => rows.length > 0 && rows),
        30_000,
        () => recovery.tick(),
      );
      expect(audited).toEqual([{ actor: 'system:recovery', call_sid: null, subject_id: stuck.recordingSid, details: {} }]);
      expect(await h.services.recordingSpool.pending()).toBe(0);
      const dead = await readFile(path.join(spool.dir, SPOOL_DEAD_FILE), 'utf8');
      expect(dead).toContain(stuck.recordingSid);
      expect(JSON.parse(dead.trim().split('\n').at(-1) ?? '{}')).toMatchObject({ recordingSid: stuck.recordingSid, tries: SPOOL_MAX_TRIES });
      expect(logs.lines().some((l) => l.includes('dead-lettered') && l.includes(stuck.recordingSid))).toBe(true);
    } finally {
      await recovery.close();
      h.services.recordingSpool = spool;
    }
  });
});

describe('what a crash leaves', () => {
  it('a voicemail left `received` without a job is queued at start-up and stored, not 15 minutes later', { timeout: 40_000 }, async () => {
    const { callSid, recordingSid } = await callWithRecording();
    const practiceId = await demoPracticeId();
    // As a crash between the row and its job leaves it.
    await h.services.db
      .insertInto('voicemails')
      .values({
        practice_id: practiceId,
        call_sid: callSid,
        recording_sid: recordingSid,
        reference_code: '123456',
        urgency: 'urgent',
        caller_verified: false,
        patient_id: null,
        flow_node: 'message',
        duration_seconds: 1,
        updated_at: h.services.clock(),
      })
      .execute();
    expect(await h.services.queues.voicemail.getJob(voicemailJobId(recordingSid))).toBeUndefined();
    await h.restart();
    const v = await completeVoicemail(recordingSid);
    expect(v.state).toBe('complete');
    const requeued = await h.services.db.selectFrom('audit_log').select(['actor', 'details']).where('action', '=', 'voicemail.requeued').where('subject_id', '=', v.id).execute();
    expect(requeued).toEqual([{ actor: 'system:recovery', details: { reason: 'recovery', previousState: 'received' } }]);
  });

  it('recovery leaves a voicemail whose job is already waiting alone', async () => {
    const { callSid, recordingSid } = await callWithRecording();
    const row = await h.services.db
      .insertInto('voicemails')
      .values({
        practice_id: await demoPracticeId(),
        call_sid: callSid,
        recording_sid: recordingSid,
        reference_code: '654321',
        urgency: 'routine',
        caller_verified: false,
        patient_id: null,
        flow_node: 'message',
        duration_seconds: 1,
        updated_at: h.services.clock(),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    // A retry waiting under the voicemail's jobId.
    await h.services.queues.voicemail.add('store', { voicemailId: row.id }, { jobId: voicemailJobId(recordingSid), delay: 60_000 });
    const result = await recoverVoicemails(h.services);
    expect(result.alreadyQueued).toBeGreaterThanOrEqual(1);
    const job = await h.services.queues.voicemail.getJob(voicemailJobId(recordingSid));
    expect(await job?.getState()).toBe('delayed');
    await job?.promote();
    await completeVoicemail(recordingSid);
  });
});

describe('logs of the faults above', () => {
  it('name no caller number', () => {
    const text = logs.lines().join('\n');
    expect(text).toContain('recording callback spooled');
    expect(text).not.toContain('2025550123');
  });
});

describe('the periodic recovery pass', () => {
  it('leaves a row touched in the last 30 s alone (its callback may be queueing it now), takes an older one', async () => {
    const { callSid, recordingSid } = await callWithRecording();
    const now = h.services.clock();
    const row = await h.services.db
      .insertInto('voicemails')
      .values({
        practice_id: await demoPracticeId(),
        call_sid: callSid,
        recording_sid: recordingSid,
        reference_code: '111111',
        urgency: 'routine',
        caller_verified: false,
        patient_id: null,
        flow_node: 'message',
        duration_seconds: 1,
        updated_at: new Date(now.getTime() - 10_000),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    await recoverVoicemails(h.services, { untouchedForMs: 30_000 });
    expect(await h.services.queues.voicemail.getJob(voicemailJobId(recordingSid))).toBeUndefined();
    await h.services.db.updateTable('voicemails').set({ updated_at: new Date(now.getTime() - 60_000) }).where('id', '=', row.id).execute();
    const result = await recoverVoicemails(h.services, { untouchedForMs: 30_000 });
    expect(result.requeued).toBeGreaterThanOrEqual(1);
    await completeVoicemail(recordingSid);
  });
});
