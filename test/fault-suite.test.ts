import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { loadConfig, type Config } from '../src/config.js';
import { createDb, type Db } from '../src/adapters/postgres.js';
import { createQueues, type Queues } from '../src/adapters/queue.js';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { parseTwiml } from '../devtools/simulator/twiml.js';
import { pageJobId, type PageJobData } from '../src/oncall/paging.js';
import { dropIsolation, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { inboundParams, postTwilio } from './support/twilio-request.js';
import { until } from './support/until.js';
import { randomWav } from './support/wav.js';

/**
 * The fault suite. The real service runs as a child process (so that a crash is a process exit,
 * as in production), reaching PostgreSQL and Redis through loopback fault proxies: each is
 * stopped (connections cut and refused), hung (connections up, no byte moves) and dropping
 * (every connection cut under load, PostgreSQL backends terminated) while every kind of webhook,
 * voicemail jobs and (when connections drop) a page's round are in flight. Nothing here measures
 * speed, but Twilio's own limit holds: it waits 15 s for a webhook's answer, so a webhook not
 * answered within TWILIO_LIMIT_MS counts as a caller left without TwiML. Recording callbacks are
 * sent as Twilio sends ours: once (our <Record> URLs carry no `#rc=`, so a non-2xx is not resent).
 * At the end: 0 voicemails lost, 0 recording callbacks answered non-2xx, 0 callers left without
 * TwiML, the pages in flight sent once each, 0 process exits.
 */

const PG_URL = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
const REDIS_URL = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const ROOT = path.resolve(import.meta.dirname, '..');
/** Twilio gives up on a webhook after 15 s; a margin under it for the loopback round trip. */
const TWILIO_LIMIT_MS = 14_000;

interface Counts {
  webhooks: number;
  withoutTwiml: number;
  recordingsAcknowledged: number;
  /** Answered anything but a 2xx: Twilio would not resend it (no `#rc=`); only the reconciler would find it. */
  recordingsNot2xx: number;
  voicemailsLost: number;
  exits: number;
  backendsTerminated: number;
  /** Voicemails the reconciler (run when PostgreSQL returns) recorded before their own callback did: not lost, reported. */
  foundByReconciler: number;
  pagesInFlight: number;
}
const counts: Counts = { webhooks: 0, withoutTwiml: 0, recordingsAcknowledged: 0, recordingsNot2xx: 0, pagesInFlight: 0, voicemailsLost: 0, exits: 0, backendsTerminated: 0, foundByReconciler: 0 };
const failures: string[] = [];

let pg: FaultProxy;
let redis: FaultProxy;
let double: TwilioDouble;
let child: ChildProcess;
let target: Harness;
let config: Config;
let db: Db;
let queues: Queues;
let dataDir: string;
let childErr = '';
/** Calls known to the service (answered while everything was up), each used for one recording. */
const calls: string[] = [];
const acknowledged: string[] = [];
/** Every recording whose callback was sent (acknowledged or not): each must become a voicemail. */
const recorded: string[] = [];
/** Pages whose round was in flight during a fault: each round sent, once per recipient. */
const pagesInFlight: Array<{ id: string; referenceCode: string }> = [];

/** A webhook as Twilio posts it: abandoned once Twilio's limit passes. */
function postAsTwilio(pathAndQuery: string, params: Record<string, string>): ReturnType<typeof postTwilio> {
  return postTwilio(target, pathAndQuery, params, 'valid', { signal: AbortSignal.timeout(TWILIO_LIMIT_MS) });
}

function via(proxy: FaultProxy, url: URL): string {
  const u = new URL(url.href);
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  return u.href;
}

async function startChild(env: Record<string, string>): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stderr?.on('data', (d: Buffer) => {
    childErr = (childErr + d.toString()).slice(-4_000);
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`service exited at start (${code}): ${childErr}`)));
  });
  proc.on('exit', () => {
    counts.exits += 1;
  });
  return { proc, port };
}

/** A webhook a caller is waiting on: it must get TwiML with something to hear. */
async function callerWebhook(label: string, pathAndQuery: string, params: Record<string, string>): Promise<void> {
  counts.webhooks += 1;
  try {
    const res = await postAsTwilio(pathAndQuery, params);
    const verbs = res.status === 200 && res.contentType.includes('xml') ? parseTwiml(res.body) : [];
    if (verbs.length === 0) throw new Error(`status ${res.status}`);
  } catch (err) {
    counts.withoutTwiml += 1;
    failures.push(`${label}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Messaging TwiML (what an SMS webhook answers): a well-formed <Response> holding <Message>s only, or empty. */
function parseMessagingTwiml(xml: string): void {
  if (XMLValidator.validate(xml) !== true) throw new Error('not well-formed XML');
  const doc = new XMLParser().parse(xml) as Record<string, unknown>;
  if (!('Response' in doc)) throw new Error('no <Response>');
  const response = doc.Response;
  const verbs = response !== null && typeof response === 'object' ? Object.keys(response) : [];
  const other = verbs.filter((v) => v !== 'Message');
  if (other.length > 0) throw new Error(`unexpected messaging verbs: ${other.join(', ')}`);
}

/**
 * A text, as Twilio delivers one: a 200 with valid TwiML; or, when it could not be stored (a 503,
 * never a 2xx), the number's SMS fallback URL, which must answer 200 with TwiML (the reply, or
 * "we could not receive your message").
 */
async function smsWebhook(label: string, params: Record<string, string>): Promise<void> {
  counts.webhooks += 1;
  try {
    const res = await postAsTwilio('/twilio/sms/incoming', params);
    if (res.status === 503) {
      const fallback = await postAsTwilio('/twilio/sms/fallback', { ...params, ErrorCode: '11200' });
      if (fallback.status !== 200) throw new Error(`fallback status ${fallback.status}`);
      parseMessagingTwiml(fallback.body);
      return;
    }
    if (res.status !== 200) throw new Error(`status ${res.status}`);
    parseMessagingTwiml(res.body);
  } catch (err) {
    counts.withoutTwiml += 1;
    failures.push(`${label}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** A callback no caller hears (status, SMS): a 200 with valid TwiML (an empty <Response/> will do). */
async function quietWebhook(label: string, pathAndQuery: string, params: Record<string, string>): Promise<void> {
  counts.webhooks += 1;
  try {
    const res = await postAsTwilio(pathAndQuery, params);
    if (res.status !== 200) throw new Error(`status ${res.status}`);
    parseTwiml(res.body);
  } catch (err) {
    counts.withoutTwiml += 1;
    failures.push(`${label}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * A completed recording's callback, sent as Twilio sends ours: once. A 2xx ends it; anything else
 * (or no answer within Twilio's limit) is not resent, since our <Record> URLs add no `#rc=` (see the
 * README): it is counted, and the recording must still become a voicemail.
 */
async function recordingCallback(label: string): Promise<void> {
  const callSid = calls.shift();
  if (!callSid) throw new Error('out of calls');
  const sid = double.addRecording({ callSid, bytes: randomWav(16_000), ready: true, duration: 1 });
  recorded.push(sid);
  const params = {
    AccountSid: TEST_ACCOUNT_SID,
    CallSid: callSid,
    RecordingSid: sid,
    RecordingUrl: `${double.baseUrl}/2010-04-01/Accounts/${TEST_ACCOUNT_SID}/Recordings/${sid}`,
    RecordingStatus: 'completed',
    RecordingDuration: '1',
  };
  counts.webhooks += 1;
  try {
    const res = await postAsTwilio('/twilio/voice/recording-status?n=message&u=routine&v=0', params);
    if (res.status >= 200 && res.status < 300) {
      parseTwiml(res.body);
      counts.recordingsAcknowledged += 1;
      acknowledged.push(sid);
      return;
    }
    failures.push(`${label} recording: status ${res.status}`);
  } catch (err) {
    failures.push(`${label} recording: ${err instanceof Error ? err.message : String(err)}`);
  }
  counts.recordingsNot2xx += 1;
}

/**
 * A page of a known call with its first round queued, its SMS held at the Twilio double until
 * `release()`: once this resolves, the round job has run and a send job is mid-request.
 */
async function pageInFlight(): Promise<{ release(): void }> {
  const callSid = calls.shift();
  if (!callSid) throw new Error('out of calls');
  const { practice_id: practiceId } = await db.selectFrom('calls').select('practice_id').where('call_sid', '=', callSid).executeTakeFirstOrThrow();
  if (!practiceId) throw new Error('a call without a practice');
  const referenceCode = String(randomInt(0, 1_000_000)).padStart(6, '0');
  const page = await db
    .insertInto('pages')
    .values({ practice_id: practiceId, call_sid: callSid, policy_id: null, reference_code: referenceCode })
    .returning('id')
    .executeTakeFirstOrThrow();
  pagesInFlight.push({ id: page.id, referenceCode });
  counts.pagesInFlight += 1;
  const hold = double.holdNextMessage(`Ref ${referenceCode}.`);
  await queues.pages.add('page', { pageId: page.id, round: 0 } satisfies PageJobData, { jobId: pageJobId(page.id, 0) });
  await until('the page\'s SMS in flight', () => double.requests.some((r) => r.method === 'POST' && r.path.endsWith('/Messages.json') && r.form.get('Body')?.includes(referenceCode) && !r.finished));
  return hold;
}

/** The page's SMS at the double: of its first round (not a reminder), by recipient. */
function pageMessagesByRecipient(referenceCode: string): Map<string, number> {
  const byTo = new Map<string, number>();
  for (const r of double.requests) {
    const body = r.form.get('Body') ?? '';
    if (r.method !== 'POST' || !r.path.endsWith('/Messages.json') || r.status !== 201 || !body.includes(`Ref ${referenceCode}.`) || body.includes('(reminder)')) continue;
    const to = r.form.get('To') ?? '';
    byTo.set(to, (byTo.get(to) ?? 0) + 1);
  }
  return byTo;
}

/**
 * Every kind of webhook at once: new calls, flow steps of known calls, status callbacks, the
 * fallback URL, the provider's whisper leg, the access line, SMS and recording callbacks.
 */
async function burst(label: string, size = 1): Promise<void> {
  const work: Array<Promise<void>> = [];
  for (let i = 0; i < size; i += 1) {
    work.push(callerWebhook(`${label} incoming`, '/twilio/voice/incoming', inboundParams()));
    const known = calls[calls.length - 1 - i] ?? calls[0] ?? '';
    work.push(callerWebhook(`${label} flow`, '/twilio/voice/flow?s=3&n=language', inboundParams({ CallSid: known, Digits: '1' })));
    work.push(quietWebhook(`${label} status`, '/twilio/voice/status', inboundParams({ CallSid: known, CallStatus: 'completed', CallDuration: '30' })));
    work.push(callerWebhook(`${label} fallback`, '/twilio/voice/fallback', inboundParams({ ErrorCode: '11200' })));
    work.push(callerWebhook(`${label} whisper`, `/twilio/voice/whisper?parent=${known}&a=1`, inboundParams({ To: '+12025550177', Direction: 'outbound-api' })));
    work.push(callerWebhook(`${label} access line`, '/twilio/voice/access', inboundParams({ To: '+12025550103' })));
    work.push(
      smsWebhook(`${label} sms`, {
        MessageSid: `SM${randomBytes(16).toString('hex')}`,
        AccountSid: TEST_ACCOUNT_SID,
        From: '+12025550177',
        To: '+12025550100',
        Body: 'ACK 123456',
        NumMedia: '0',
      }),
    );
    work.push(recordingCallback(label), recordingCallback(label));
  }
  await Promise.all(work);
}

/** Terminates exactly the PostgreSQL backends behind the proxy (never another session's). */
async function terminateProxiedBackends(): Promise<number> {
  const ports = pg.upstreamPorts();
  if (ports.length === 0) return 0;
  const { rows } = await sql<{ n: number }>`
    SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
    WHERE client_port = ANY(${ports}::int[]) AND client_addr IN ('127.0.0.1', '::1') AND pid <> pg_backend_pid()`.execute(db);
  const n = rows[0]?.n ?? 0;
  counts.backendsTerminated += n;
  return n;
}

/** Moves delayed voicemail and page-send retries along (their backoff is the workers' business, not this suite's); a page's next round stays delayed. */
async function promoteDelayed(): Promise<void> {
  for (const job of await queues.voicemail.getDelayed()) await job.promote().catch(() => undefined);
  for (const job of await queues.pages.getDelayed()) if (job.name === 'page-send') await job.promote().catch(() => undefined);
}

beforeAll(async () => {
  pg = await startFaultProxy(Number(PG_URL.port || 5432), PG_URL.hostname);
  redis = await startFaultProxy(Number(REDIS_URL.port || 6379), REDIS_URL.hostname);
  double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'ahl-fault-'));
  const tag = `fault_${randomBytes(4).toString('hex')}`;
  const env = {
    NODE_ENV: 'test',
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_SCHEMA: `t_${tag}`,
    REDIS_KEY_PREFIX: `t-${tag}:`,
    DATA_DIR: dataDir,
    PUBLIC_BASE_URL: TEST_PUBLIC_BASE_URL,
    TWILIO_ACCOUNT_SID: TEST_ACCOUNT_SID,
    TWILIO_AUTH_TOKEN: TEST_AUTH_TOKEN,
    TWILIO_API_BASE_URL: double.baseUrl,
    SHUTDOWN_TIMEOUT_MS: '2000',
    LOG_LEVEL: 'error',
  };
  // The test's own view of the same schema and queues, straight to the servers.
  config = loadConfig({ ...env, DATABASE_URL: PG_URL.href, REDIS_URL: REDIS_URL.href });
  db = createDb(config.database.url, config.database.schema, 2);
  queues = createQueues(config);
  const started = await startChild({ ...env, DATABASE_URL: via(pg, PG_URL), REDIS_URL: via(redis, REDIS_URL) });
  child = started.proc;
  target = { baseUrl: `http://127.0.0.1:${started.port}` } as Harness;
  // Calls the service knows (a call record each) before anything fails: their recordings come later.
  for (let i = 0; i < 40; i += 1) {
    const p = inboundParams();
    const res = await postTwilio(target, '/twilio/voice/incoming', p);
    expect(res.status).toBe(200);
    calls.push(p.CallSid ?? '');
  }
}, 60_000);

afterAll(async () => {
  pg?.restore();
  redis?.restore();
  if (child && child.exitCode === null) {
    child.removeAllListeners('exit');
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  await queues?.close();
  await db?.destroy();
  if (config) await dropIsolation(config, config.database.schema, config.redis.keyPrefix);
  await pg?.close();
  await redis?.close();
  await double?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('the fault suite', () => {
  it('PostgreSQL stopped: callers get TwiML, recording callbacks are kept (spooled) and acknowledged', { timeout: 30_000 }, async () => {
    pg.stop();
    try {
      await burst('pg stopped');
    } finally {
      pg.restore();
    }
  });

  it('PostgreSQL hung: every webhook still answers in time', { timeout: 40_000 }, async () => {
    pg.hang();
    try {
      await burst('pg hung');
    } finally {
      pg.restore();
    }
  });

  it('PostgreSQL dropping connections (backends terminated, sockets cut) under load, with jobs in flight', { timeout: 40_000 }, async () => {
    // A page's round in flight: its SMS held at the double, released once connections are cut.
    const page = await pageInFlight();
    // A voicemail job held mid-fetch (its media waits until released): in flight for sure.
    const hold = double.holdNextMedia(0);
    const first = recordingCallback('pg dropping (job in flight)');
    await until('a voicemail job fetching its media', () => double.requests.some((r) => r.method === 'GET' && r.path.includes('/Recordings/') && !r.finished));
    const load = burst('pg dropping', 3);
    try {
      await terminateProxiedBackends();
      pg.drop();
      await new Promise((r) => setTimeout(r, 200));
      await terminateProxiedBackends();
    } finally {
      hold.release();
      page.release();
    }
    await Promise.all([first, load]);
  });

  it('Redis stopped: callers get TwiML, recordings are recorded without waiting on the queue', { timeout: 30_000 }, async () => {
    redis.stop();
    try {
      await burst('redis stopped');
    } finally {
      redis.restore();
    }
  });

  it('Redis hung: the recording callback does not wait on the offline queue', { timeout: 40_000 }, async () => {
    redis.hang();
    try {
      await burst('redis hung');
    } finally {
      redis.restore();
    }
  });

  it('Redis dropping connections under load, with a page round in flight', { timeout: 30_000 }, async () => {
    const page = await pageInFlight();
    const load = burst('redis dropping', 2);
    redis.drop();
    page.release();
    await load;
  });

  it('afterwards: 0 voicemails lost, 0 recording callbacks answered non-2xx, 0 callers without TwiML, pages sent once, 0 process exits', { timeout: 90_000 }, async () => {
    await until(
      'every recording stored as a voicemail',
      async () => {
        if (child.exitCode !== null) return true;
        const rows = await db.selectFrom('voicemails').select(['recording_sid', 'state']).where('recording_sid', 'in', recorded).execute();
        return rows.filter((r) => r.state === 'complete').length === recorded.length;
      },
      75_000,
      promoteDelayed,
    ).catch(() => undefined);
    const rows = await db.selectFrom('voicemails').select(['recording_sid', 'state']).where('recording_sid', 'in', recorded).execute();
    const complete = new Set(rows.filter((r) => r.state === 'complete').map((r) => r.recording_sid));
    counts.voicemailsLost = recorded.filter((sid) => !complete.has(sid)).length;
    // Each page in flight: its round sent, every recipient's SMS sent (none lost), and exactly once (none duplicated).
    const pageIds = pagesInFlight.map((p) => p.id);
    await until(
      'every page in flight sent',
      async () => {
        const open = await db.selectFrom('page_deliveries').select('page_id').where('page_id', 'in', pageIds).where('round', '=', 0).where('status', '!=', 'sent').execute();
        const sent = await db.selectFrom('pages').select('id').where('id', 'in', pageIds).where('rounds_sent', '>=', 1).execute();
        return open.length === 0 && sent.length === pageIds.length;
      },
      30_000,
      promoteDelayed,
    ).catch(() => undefined);
    const pageRows = await db.selectFrom('pages').select(['id', 'rounds_sent']).where('id', 'in', pageIds).execute();
    const deliveries = await db.selectFrom('page_deliveries').select(['page_id', 'status', 'number_tried']).where('page_id', 'in', pageIds).where('round', '=', 0).execute();
    const pageOutcomes = pagesInFlight.map((p) => {
      const mine = deliveries.filter((d) => d.page_id === p.id);
      const messages = pageMessagesByRecipient(p.referenceCode);
      return {
        roundSent: (pageRows.find((r) => r.id === p.id)?.rounds_sent ?? 0) >= 1,
        recipients: mine.length > 0,
        lost: mine.filter((d) => d.status !== 'sent' || !messages.has(d.number_tried)).length,
        duplicated: [...messages.values()].filter((n) => n > 1).length,
      };
    });
    const received = await db.selectFrom('audit_log').select('details').where('action', '=', 'voicemail.received').execute();
    counts.foundByReconciler = received.filter((r) => (r.details as { source?: string }).source !== 'callback').length;
    process.stdout.write(`fault suite: ${JSON.stringify(counts)}\n`);
    if (counts.exits > 0) process.stdout.write(`CHILDERR ${childErr}\n`);
    expect(failures).toEqual([]);
    expect(counts.recordingsAcknowledged).toBe(acknowledged.length);
    expect(acknowledged.length).toBeGreaterThanOrEqual(15);
    expect(counts).toMatchObject({ withoutTwiml: 0, recordingsNot2xx: 0, voicemailsLost: 0, exits: 0, pagesInFlight: 2 });
    expect(pageOutcomes).toEqual(pagesInFlight.map(() => ({ roundSent: true, recipients: true, lost: 0, duplicated: 0 })));
    expect(counts.backendsTerminated).toBeGreaterThan(0);
    expect(child.exitCode).toBeNull();
  });
});
