/**
 * Bench "webhook": the signed inbound-call webhook (POST /twilio/voice/incoming) of the real
 * service, started as a child process against PostgreSQL and Redis, against a bare Express 5
 * route answering a fixed TwiML document of the same shape (./bare-server.ts).
 *
 * Targets (issue): p99 under 25 ms at 200 requests/s; at least 40% of the bare route's throughput.
 *
 * What is measured must not depend on the hour the bench runs at: in office hours the demo
 * practice's flow transfers to the front desk instead of running the after-hours menu. The
 * bench therefore closes the practice all week (in its own schema) before the first request,
 * and fails if the service answers anything but the after-hours path.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { loadConfig } from '../../src/config.js';
import { createDb } from '../../src/adapters/postgres.js';
import { dropIsolation } from '../../test/support/harness.js';
import { startChild, type ChildServer } from './child.js';
import { loadProblems, runLoad, type LoadFigures, type LoadSpec } from './load.js';
import { runPaced, type PacedFigures } from './paced.js';
import { benchIsolation, type Scope } from './scope.js';
import { fixed, formatTable } from './table.js';
import { inboundCallParams, signedForm, signedTwilioRequest } from './twilio-signing.js';
import type { Bench } from './types.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PATH = '/twilio/voice/incoming';
const PUBLIC_BASE_URL = 'http://bench.example.test';
const AUTH_TOKEN = 'bench-auth-token-0123456789abcde'; // 32 characters
const ACCOUNT_SID = `AC${'be0c'.repeat(8)}`;
const PRACTICE_NUMBER = '+12025550100'; // the demo practice, seeded on start
const CALLER_NUMBER = '+12025550123';
/** A second practice (a copy of the demo one), served by a second instance at the same time. */
const SECOND_PRACTICE_NUMBER = '+12025550177';
/** The line each service prints when it stops (src/main.ts). */
const AUDIT_STATS = /audit writer: (\d+) batches, (\d+) rows, (\d+) lock waits, (\d+) chain collisions/;

const WARMUP_SEC = 1.5;
const RUN_SEC = 8;
const PACED_SEC = 6;
const CONNECTIONS = 10;
const FIXED_RATE = 200;
const TARGET_P99_MS = 25;
const TARGET_RATIO = 0.4;

/**
 * The real answer (and the bare copy) greets the caller on behalf of the practice; the fail-safe
 * and unknown-number answers do not. After hours it goes on to a <Gather> (language, then menu);
 * in office hours the flow transfers to the front desk (<Dial>) instead.
 */
const isPracticeAnswer = (body: string): boolean => body.includes('<Response') && body.includes('Thank you for calling');
const AFTER_HOURS = 'after-hours path (<Gather>)';
/** Closed every day: the `hours` node always takes the after-hours branch, whatever the wall clock says. */
const CLOSED_ALL_WEEK = { mon: [], tue: [], wed: [], thu: [], fri: [], sat: [], sun: [] };

function answerKind(body: string): string {
  if (body.includes('<Gather')) return AFTER_HOURS;
  if (body.includes('<Dial')) return 'office-hours path: transfer to the front desk (<Dial>), not the after-hours menu';
  return 'neither <Gather> nor <Dial>';
}

interface TargetFigures {
  name: string;
  throughput: LoadFigures;
  /** autocannon `overallRate`: each connection's per-second quota goes out as a burst. */
  fixedRate: LoadFigures;
  /** The same rate evenly spaced, open loop (./paced.ts). */
  paced: PacedFigures;
}

function makeRequest(practiceNumber = PRACTICE_NUMBER): LoadSpec['requests'] {
  return [
    signedTwilioRequest({
      path: PATH,
      publicBaseUrl: PUBLIC_BASE_URL,
      authToken: AUTH_TOKEN,
      makeParams: () => inboundCallParams(ACCOUNT_SID, practiceNumber, CALLER_NUMBER),
    }),
  ];
}

/** One signed call before any load, so a signing or seeding mistake fails at once and clearly. Returns the kind of answer. */
async function probe(target: ChildServer, practiceNumber = PRACTICE_NUMBER): Promise<string> {
  const { body, headers } = signedForm(AUTH_TOKEN, PUBLIC_BASE_URL + PATH, inboundCallParams(ACCOUNT_SID, practiceNumber, CALLER_NUMBER));
  const res = await fetch(target.baseUrl + PATH, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  if (res.status === 403) {
    throw new Error(`${target.name} answered 403 to a signed webhook: the bench signs wrongly (token, or URL ${PUBLIC_BASE_URL + PATH})`);
  }
  if (res.status !== 200) throw new Error(`${target.name} answered ${res.status} to a signed webhook: ${text.slice(0, 200)}`);
  if (!isPracticeAnswer(text)) {
    throw new Error(`${target.name} did not greet the caller for the practice (a fail-safe answer?): ${text.slice(0, 300)}`);
  }
  return answerKind(text);
}

async function measure(target: ChildServer, problems: string[]): Promise<TargetFigures> {
  const url = target.baseUrl;
  const base = { url, connections: CONNECTIONS, verifyBody: isPracticeAnswer };
  const check = <F extends LoadFigures | PacedFigures>(f: F): F => {
    problems.push(...loadProblems(target.name, f));
    const exit = target.exitReason();
    if (exit) throw new Error(`${target.name} stopped during the bench (${exit}):\n${target.outputTail()}`);
    return f;
  };
  process.stdout.write(`  ${target.name}: warm-up ${WARMUP_SEC} s`);
  check(await runLoad({ ...base, label: 'warm-up', durationSec: WARMUP_SEC, requests: makeRequest() }));
  process.stdout.write(`, throughput ${RUN_SEC} s`);
  const throughput = check(await runLoad({ ...base, label: 'throughput', durationSec: RUN_SEC, requests: makeRequest() }));
  process.stdout.write(`, ${FIXED_RATE} req/s ${RUN_SEC} s`);
  const fixedRate = check(
    await runLoad({
      ...base,
      label: `${FIXED_RATE} req/s (autocannon)`,
      durationSec: RUN_SEC,
      overallRate: FIXED_RATE,
      ignoreCoordinatedOmission: true,
      requests: makeRequest(),
    }),
  );
  process.stdout.write(`, ${FIXED_RATE} req/s evenly paced ${PACED_SEC} s`);
  const paced = check(
    await runPaced({
      url,
      label: `${FIXED_RATE} req/s (paced)`,
      ratePerSec: FIXED_RATE,
      durationSec: PACED_SEC,
      verifyBody: isPracticeAnswer,
      makeRequest: () => ({ path: PATH, ...signedForm(AUTH_TOKEN, PUBLIC_BASE_URL + PATH, inboundCallParams(ACCOUNT_SID, PRACTICE_NUMBER, CALLER_NUMBER)) }),
    }),
  );
  process.stdout.write('\n');
  return { name: target.name, throughput, fixedRate, paced };
}

/** autocannon's histogram holds whole milliseconds. */
function wholeMs(n: number): string {
  return n === 0 ? '<1' : fixed(n, 0);
}

function fineMs(n: number): string {
  return fixed(n, n < 10 ? 2 : 1);
}

function verdict(ok: boolean): string {
  return ok ? 'PASS' : 'MISS';
}

/** Pins the seeded demo practice's hours (its number is looked up only from the first call on, so no cache holds the old ones). */
async function closePracticeAllWeek(databaseUrl: string, schema: string): Promise<void> {
  const db = createDb(databaseUrl, schema, 1);
  try {
    const result = await sql`UPDATE practices SET weekly_hours = ${JSON.stringify(CLOSED_ALL_WEEK)}::jsonb`.execute(db);
    if (Number(result.numAffectedRows ?? 0) === 0) throw new Error(`no practice seeded in schema ${schema}`);
  } finally {
    await db.destroy();
  }
}

/** A second practice: the demo one copied under another id, slug and number (its audit rows are a chain of their own). */
async function addSecondPractice(databaseUrl: string, schema: string): Promise<void> {
  const db = createDb(databaseUrl, schema, 1);
  try {
    await sql`
      WITH copy AS (
        INSERT INTO practices
        SELECT (jsonb_populate_record(NULL::practices, to_jsonb(d) || jsonb_build_object('id', gen_random_uuid(), 'slug', 'bench-second', 'access_number', NULL))).*
        FROM practices d LIMIT 1
        RETURNING id
      )
      INSERT INTO practice_numbers (e164, practice_id) SELECT ${SECOND_PRACTICE_NUMBER}, id FROM copy
    `.execute(db);
  } finally {
    await db.destroy();
  }
}

interface AuditStats {
  batches: number;
  rows: number;
  lockWaits: number;
  collisions: number;
}

/** Stops a service and reads the audit writer's figures it prints on the way out. */
async function stopForAuditStats(target: ChildServer): Promise<AuditStats> {
  await target.stop();
  // The exit can be reported before the last of the output has been read.
  for (let i = 0; i < 40; i += 1) {
    const m = AUDIT_STATS.exec(target.outputTail());
    if (m) return { batches: Number(m[1]), rows: Number(m[2]), lockWaits: Number(m[3]), collisions: Number(m[4]) };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${target.name} did not report its audit writer's figures when it stopped:\n${target.outputTail()}`);
}

/**
 * Two service instances on one database, each serving its own practice at the same time, against
 * the one instance measured above. Each practice's audit rows are a chain of their own, with their
 * own lock: the instances should never wait for each other's lock nor collide in a chain.
 */
async function twoInstances(scope: Scope, first: ChildServer, oneInstance: TargetFigures, serviceEnv: Record<string, string>, databaseUrl: string, schema: string, problems: string[]): Promise<void> {
  await addSecondPractice(databaseUrl, schema);
  const second = await startChild(scope, { name: 'service-2', script: 'src/main.ts', cwd: REPO_ROOT, env: serviceEnv });
  await probe(second, SECOND_PRACTICE_NUMBER);
  const both = (label: string, durationSec: number): Promise<LoadFigures[]> =>
    Promise.all(
      ([[first, PRACTICE_NUMBER], [second, SECOND_PRACTICE_NUMBER]] as const).map(([target, number]) =>
        runLoad({ url: target.baseUrl, label, connections: CONNECTIONS, durationSec, verifyBody: isPracticeAnswer, requests: makeRequest(number) }),
      ),
    );
  process.stdout.write(`  two instances, two practices at once: warm-up ${WARMUP_SEC} s`);
  await both('warm-up', WARMUP_SEC);
  process.stdout.write(`, throughput ${RUN_SEC} s\n`);
  const figures = await both('throughput', RUN_SEC);
  figures.forEach((f, i) => problems.push(...loadProblems(`instance ${i + 1}`, f)));
  const stats = await Promise.all([first, second].map(stopForAuditStats));
  const total = figures.reduce((n, f) => n + f.requestsPerSec, 0);
  console.log('');
  console.log('two instances, two practices at once (a chain and a lock each), against one instance and one practice:');
  console.log(
    formatTable([
      ['target', 'req/s', 'p50 ms', 'p99 ms', 'requests', 'non-2xx', 'audit batches', 'lock waits', 'chain collisions'],
      ...figures.map((f, i) => [
        `instance ${i + 1}, practice ${i + 1}`,
        fixed(f.requestsPerSec, 0),
        wholeMs(f.p50Ms),
        wholeMs(f.p99Ms),
        String(f.total),
        String(f.non2xx),
        String(stats[i]?.batches ?? 0),
        String(stats[i]?.lockWaits ?? 0),
        String(stats[i]?.collisions ?? 0),
      ]),
      ['both instances', fixed(total, 0), '', '', String(figures.reduce((n, f) => n + f.total, 0)), '', '', '', ''],
      ['one instance (above)', fixed(oneInstance.throughput.requestsPerSec, 0), wholeMs(oneInstance.throughput.p50Ms), wholeMs(oneInstance.throughput.p99Ms), '', '', '', '', ''],
    ]),
  );
  const waits = stats.reduce((n, s) => n + s.lockWaits + s.collisions, 0);
  console.log(`lock waits and chain collisions between the instances (whole run of each, expected 0): ${waits}`);
  if (waits !== 0) problems.push(`two instances on two practices: ${waits} lock waits or chain collisions between them (expected 0: a chain and a lock each)`);
  console.log(`throughput, two instances / one instance: ${fixed(total / oneInstance.throughput.requestsPerSec, 2)} (all processes share the same 2 cores)`);
}

async function run(scope: Scope): Promise<string[]> {
  const { schema, keyPrefix, dataDir } = await benchIsolation(scope);
  // Registered before the children, so it runs after they have stopped.
  const urls = loadConfig({ DATABASE_URL: process.env['DATABASE_URL'], REDIS_URL: process.env['REDIS_URL'] });
  scope.defer(`drop schema ${schema} and Redis keys ${keyPrefix}*`, () => dropIsolation(urls, schema, keyPrefix));

  const serviceEnv: Record<string, string> = {
    ...(process.env as Record<string, string>),
    NODE_ENV: 'development',
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_SCHEMA: schema,
    REDIS_KEY_PREFIX: keyPrefix,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'error',
    PUBLIC_BASE_URL,
    TWILIO_AUTH_TOKEN: AUTH_TOKEN,
    TWILIO_ACCOUNT_SID: ACCOUNT_SID,
    SEED_DEMO: 'true',
    SHUTDOWN_TIMEOUT_MS: '2000',
  };
  delete serviceEnv['TWILIO_AUTH_TOKEN_SECONDARY'];
  delete serviceEnv['LOCAL_MASTER_KEY_FILE'];
  const bareEnv: Record<string, string> = { ...(process.env as Record<string, string>), PORT: '0', HOST: '127.0.0.1' };

  console.log(`webhook: POST ${PATH}, ${CONNECTIONS} connections; schema ${schema}, Redis prefix ${keyPrefix}`);
  const [service, bare] = await Promise.all([
    startChild(scope, { name: 'service', script: 'src/main.ts', cwd: REPO_ROOT, env: serviceEnv }),
    startChild(scope, { name: 'bare', script: 'scripts/bench/bare-server.ts', cwd: REPO_ROOT, env: bareEnv }),
  ]);
  await closePracticeAllWeek(urls.database.url, schema);
  await probe(bare);
  const kind = await probe(service);
  console.log(`  service answers with the ${kind}`);
  if (kind !== AFTER_HOURS) throw new Error(`service answered with the ${kind}; the bench measures the after-hours path only`);

  const problems: string[] = [];
  const figures: TargetFigures[] = [];
  for (const target of [bare, service]) figures.push(await measure(target, problems));
  const [bareFig, serviceFig] = figures as [TargetFigures, TargetFigures];

  console.log('');
  console.log(
    formatTable([
      ['target', 'req/s', 'p50 ms', 'p99 ms', `p50 @${FIXED_RATE}/s`, `p99 @${FIXED_RATE}/s`, 'p50 paced', 'p99 paced', 'requests', 'non-2xx'],
      ...figures.map((f) => [
        f.name,
        fixed(f.throughput.requestsPerSec, 0),
        wholeMs(f.throughput.p50Ms),
        wholeMs(f.throughput.p99Ms),
        wholeMs(f.fixedRate.p50Ms),
        wholeMs(f.fixedRate.p99Ms),
        fineMs(f.paced.p50Ms),
        fineMs(f.paced.p99Ms),
        String(f.throughput.total + f.fixedRate.total + f.paced.total),
        String(f.throughput.non2xx + f.fixedRate.non2xx + f.paced.non2xx),
      ]),
    ]),
  );
  console.log(
    [
      `req/s, p50, p99: ${CONNECTIONS} connections, each sending as soon as answered, ${RUN_SEC} s`,
      `@${FIXED_RATE}/s:  autocannon overallRate ${FIXED_RATE}, ${RUN_SEC} s (each connection sends its per-second quota back to back: bursts)`,
      `paced:     ${FIXED_RATE} req/s evenly spaced, open loop, latency from each request's due time, ${PACED_SEC} s`,
    ].join('\n'),
  );
  const ratio = serviceFig.throughput.requestsPerSec / bareFig.throughput.requestsPerSec;
  const burstRate = serviceFig.fixedRate.total / RUN_SEC;
  for (const f of figures) {
    if (f.paced.unanswered) {
      console.log(
        `${f.name} paced: ${f.paced.unanswered} requests still unanswered 2 s after the last was sent (abandoned; their wait so far counts as their latency)`,
      );
    }
  }
  console.log('');
  console.log(`ratio (service/bare) throughput: ${fixed(ratio, 2)}`);
  console.log(`target: p99 under ${TARGET_P99_MS} ms at ${FIXED_RATE} requests/s:`);
  console.log(
    `  autocannon overallRate: ${wholeMs(serviceFig.fixedRate.p99Ms)} ms (${fixed(burstRate, 0)} req/s achieved) ${verdict(serviceFig.fixedRate.p99Ms < TARGET_P99_MS)}`,
  );
  console.log(
    `  evenly paced:           ${fineMs(serviceFig.paced.p99Ms)} ms (${fixed(serviceFig.paced.achievedPerSec, 0)} req/s achieved) ${verdict(serviceFig.paced.p99Ms < TARGET_P99_MS)}`,
  );
  console.log(
    `target: at least ${TARGET_RATIO * 100}% of the bare route's throughput: ${fixed(ratio * 100, 0)}% ${verdict(ratio >= TARGET_RATIO)}`,
  );
  await bare.stop();
  await twoInstances(scope, service, serviceFig, serviceEnv, urls.database.url, schema, problems);
  return problems;
}

export const webhookBench: Bench = {
  name: 'webhook',
  description: `signed inbound-call webhook (POST ${PATH}) of the real service vs a bare Express 5 route`,
  run,
};
