/**
 * Bench "voicemail": encrypt-and-store of a 50 MiB recording, the way the voicemail pipeline does
 * it (`encryptingStream` from ../../src/adapters/envelope.ts, AWS Encryption SDK, local raw-AES
 * keyring, piped into local `storage.put`), against raw AES-256-GCM (`crypto.createCipheriv`) over
 * the same bytes into a file in the same run. Peak RSS of each is taken in a fresh child process
 * (./voicemail-rss.ts), sampled every 20 ms.
 *
 * Targets (issue): at least half of raw AES-GCM's throughput (within 2x); RSS growth under 64 MB.
 *
 * The recording is a stream of 64 KiB chunks, each a fresh copy of one random block (with a WAV
 * header at the start), so the input itself never occupies 50 MiB and anything the pipeline
 * buffers shows up in RSS (a reused Buffer would hide it).
 */
import { spawn } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { decryptingStream, encryptingStream } from '../../src/adapters/envelope.js';
import { createKeyring, type EncryptionContext, type Keyring } from '../../src/adapters/keyring.js';
import { createStorage, type Storage } from '../../src/adapters/storage.js';
import { loadConfig } from '../../src/config.js';
import { wavHeader } from '../../devtools/placeholder-media.js';
import { throwIfAborted } from './abort.js';
import type { Scope } from './scope.js';
import { fixed, formatTable } from './table.js';
import type { Bench } from './types.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const RSS_SCRIPT = 'scripts/bench/voicemail-rss.ts';

export const CHUNK_BYTES = 64 * 1024;
export const CHUNKS = 800;
export const RECORDING_BYTES = CHUNK_BYTES * CHUNKS; // 50 MiB
const MB = 1_000_000;
const MiB = 1024 * 1024;

const RUNS = 3;
const TARGET_RATIO = 0.5;
const TARGET_RSS_GROWTH_MB = 64;
const CHILD_TIMEOUT_MS = 30_000;
const RUN_TIMEOUT_MS = 120_000;

/** ids only, the shape of the pipeline's `voicemailContext`. */
export function benchContext(run: string): EncryptionContext {
  return { purpose: 'voicemail', practice: 'bench-practice', voicemail: `bench-${run}`, recording: `RE${'be0c'.repeat(8)}` };
}

/** One random 64 KiB block; the first chunk of every recording starts with a WAV header. */
export function makeBlock(): Buffer {
  return randomBytes(CHUNK_BYTES);
}

/** The 50 MiB recording as a stream: CHUNKS fresh copies of `block` (the first with a WAV header). */
export function recordingSource(block: Buffer): Readable {
  let sent = 0;
  return new Readable({
    highWaterMark: CHUNK_BYTES,
    read() {
      if (sent === CHUNKS) {
        this.push(null);
        return;
      }
      const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
      block.copy(chunk);
      if (sent === 0) wavHeader(RECORDING_BYTES - 44).copy(chunk);
      sent++;
      this.push(chunk);
    },
  });
}

/** SHA-256 of the recording `recordingSource(block)` yields, computed chunk by chunk. */
export function recordingDigest(block: Buffer): string {
  const hash = createHash('sha256');
  const first = Buffer.from(block);
  wavHeader(RECORDING_BYTES - 44).copy(first);
  hash.update(first);
  for (let i = 1; i < CHUNKS; i++) hash.update(block);
  return hash.digest('hex');
}

/**
 * Baseline: raw AES-256-GCM (Node's cipher) over the recording into `file` through a write stream;
 * with `fsync`, flushed to disk before the file is closed, as local `storage.put` does.
 * Returns the bytes written (ciphertext + the 16-byte tag).
 */
export async function rawAesGcmToFile(source: Readable, file: string, opts: { fsync: boolean }): Promise<number> {
  const cipher = createCipheriv('aes-256-gcm', randomBytes(32), randomBytes(12));
  // `flush`: fsync before the stream closes; pipeline resolves once it has closed.
  const out = createWriteStream(file, { flags: 'wx', mode: 0o600, flush: opts.fsync });
  await pipeline(
    source,
    cipher,
    async function* appendTag(ciphertext: AsyncIterable<Buffer>) {
      yield* ciphertext;
      yield cipher.getAuthTag();
    },
    out,
  );
  return out.bytesWritten;
}

/** Subject: the pipeline's encrypt-and-store. Returns plaintext and stored (ciphertext) bytes. */
export async function encryptAndStore(
  keyring: Keyring,
  storage: Storage,
  source: Readable,
  key: string,
  context: EncryptionContext,
): Promise<{ plaintextBytes: number; storedBytes: number; digest: string }> {
  const enc = encryptingStream(keyring, context);
  const [stored] = await Promise.all([
    storage.put(key, enc.stream, { contentType: 'application/octet-stream' }),
    pipeline(source, enc.stream).catch((err: unknown) => {
      enc.stream.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }),
  ]);
  return { plaintextBytes: enc.plaintextBytes(), storedBytes: stored.bytes, digest: enc.plaintextDigest() };
}

/** The local keyring and storage under `dataDir`, as the service builds them without AWS settings. */
export async function localAdapters(dataDir: string): Promise<{ keyring: Keyring; storage: Storage }> {
  const config = loadConfig({ DATA_DIR: dataDir });
  const keyring = await createKeyring(config);
  if (keyring.kind !== 'local') throw new Error(`expected the local raw-AES keyring, got ${keyring.kind}`);
  const storage = createStorage(config);
  if (storage.kind !== 'local') throw new Error(`expected local storage, got ${storage.kind}`);
  await storage.init();
  return { keyring, storage };
}

/** What ./voicemail-rss.ts prints as its last line of output. */
export interface RssFigures {
  mode: string;
  beforeBytes: number;
  peakBytes: number;
  /** Kernel high-water mark over the child's whole life (includes start-up). */
  maxRssBytes: number;
  samples: number;
  seconds: number;
}

// ---------------------------------------------------------------------------------------------

type Case = 'raw' | 'rawFsync' | 'subject';
const CASES: Array<{ id: Case; label: string }> = [
  { id: 'raw', label: 'raw AES-256-GCM -> file' },
  { id: 'rawFsync', label: 'raw AES-256-GCM -> file + fsync' },
  { id: 'subject', label: 'encryptingStream -> storage.put' },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function verdict(ok: boolean): string {
  return ok ? 'PASS' : 'MISS';
}

const mb = (bytes: number): string => fixed(bytes / MB, 1);

async function runChild(scope: Scope, mode: 'subject' | 'baseline', dataDir: string): Promise<RssFigures> {
  const child = spawn(process.execPath, ['--import', 'tsx', RSS_SCRIPT, mode, dataDir], {
    cwd: REPO_ROOT,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let exited = false;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      exited = true;
      resolve({ code, signal });
    });
  });
  scope.defer(`stop RSS child (${mode})`, async () => {
    if (!exited) {
      child.kill('SIGKILL');
      await exit.catch(() => undefined);
    }
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-4_000)));
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
  const { code, signal } = await exit.finally(() => clearTimeout(timer));
  if (code !== 0) {
    throw new Error(`RSS child (${mode}) ${signal ? `killed by ${signal}` : `exit code ${code}`}${stderr.trim() ? `:\n${stderr.trim()}` : ''}`);
  }
  const last = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as RssFigures;
  } catch {
    throw new Error(`RSS child (${mode}) printed no figures: ${stdout.slice(-500)}`);
  }
}

async function measureAll(scope: Scope): Promise<string[]> {
  const problems: string[] = [];
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ahl-bench-voicemail-'));
  scope.defer(`remove ${dataDir}`, () => rm(dataDir, { recursive: true, force: true }));
  const { keyring, storage } = await localAdapters(dataDir);
  scope.defer('close storage', () => storage.close());
  const block = makeBlock();
  const expectedDigest = recordingDigest(block);
  let seq = 0;

  /** One timed pass of `c`; removes what it wrote. */
  const once = async (c: Case): Promise<number> => {
    throwIfAborted();
    const n = ++seq;
    const started = process.hrtime.bigint();
    if (c === 'subject') {
      const key = `bench/voicemail-${n}.enc`;
      const r = await encryptAndStore(keyring, storage, recordingSource(block), key, benchContext(String(n)));
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (r.plaintextBytes !== RECORDING_BYTES) problems.push(`subject run ${n}: ${r.plaintextBytes} plaintext bytes, expected ${RECORDING_BYTES}`);
      if (r.digest !== expectedDigest) problems.push(`subject run ${n}: plaintext digest differs from the recording's`);
      if (r.storedBytes <= RECORDING_BYTES) problems.push(`subject run ${n}: stored ${r.storedBytes} bytes, not more than the plaintext`);
      await storage.delete(key);
      return seconds;
    }
    const file = path.join(dataDir, `raw-${n}.bin`);
    const bytes = await rawAesGcmToFile(recordingSource(block), file, { fsync: c === 'rawFsync' });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const onDisk = (await stat(file)).size;
    if (bytes !== RECORDING_BYTES + 16 || onDisk !== bytes) problems.push(`${c} run ${n}: wrote ${onDisk} bytes, expected ${RECORDING_BYTES + 16}`);
    await unlink(file);
    return seconds;
  };

  console.log(
    `voicemail: ${CHUNKS} x ${CHUNK_BYTES / 1024} KiB = ${RECORDING_BYTES / MiB} MiB (${mb(RECORDING_BYTES)} MB) per pass; ` +
      `1 warm-up + ${RUNS} measured passes each, interleaved; temp dir ${dataDir} (${os.tmpdir()})`,
  );

  // Warm-up, and a correctness check: the stored object decrypts to exactly the recording.
  process.stdout.write('  warm-up');
  for (const c of CASES) await once(c.id);
  {
    const key = 'bench/voicemail-verify.enc';
    const context = benchContext('verify');
    await encryptAndStore(keyring, storage, recordingSource(block), key, context);
    const hash = createHash('sha256');
    let bytes = 0;
    await pipeline(
      await storage.get(key),
      decryptingStream(keyring, context),
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          bytes += chunk.length;
          cb();
        },
      }),
    );
    if (bytes !== RECORDING_BYTES || hash.digest('hex') !== expectedDigest) {
      problems.push('the stored object does not decrypt to the recording');
    }
    await storage.delete(key);
    process.stdout.write(', decrypt check ok');
  }

  const seconds: Record<Case, number[]> = { raw: [], rawFsync: [], subject: [] };
  for (let i = 0; i < RUNS; i++) {
    process.stdout.write(`, pass ${i + 1}`);
    for (const c of CASES) seconds[c.id].push(await once(c.id));
  }

  process.stdout.write(', RSS children');
  throwIfAborted();
  const rssBaseline = await runChild(scope, 'baseline', dataDir);
  throwIfAborted();
  const rssSubject = await runChild(scope, 'subject', dataDir);
  process.stdout.write('\n\n');

  const mbps = (s: number): number => RECORDING_BYTES / MB / s;
  const med = Object.fromEntries(CASES.map((c) => [c.id, mbps(median(seconds[c.id]))])) as Record<Case, number>;
  console.log(
    formatTable([
      ['throughput', 'median MB/s', 'min MB/s', 'max MB/s', 'median ms', 'vs subject'],
      ...CASES.map((c) => {
        const rates = seconds[c.id].map(mbps);
        return [
          c.label,
          fixed(med[c.id], 0),
          fixed(Math.min(...rates), 0),
          fixed(Math.max(...rates), 0),
          fixed(median(seconds[c.id]) * 1000, 0),
          c.id === 'subject' ? '' : `${fixed(med.subject / med[c.id], 2)}`,
        ];
      }),
    ]),
  );
  console.log('');
  const rssRows: Array<[string, RssFigures]> = [
    ['raw AES-256-GCM -> file + fsync', rssBaseline],
    ['encryptingStream -> storage.put', rssSubject],
  ];
  console.log(
    formatTable([
      ['RSS, fresh process', 'before MB', 'peak MB', 'growth MB', 'kernel max MB', 'samples', 'pass s'],
      ...rssRows.map(([label, f]) => [
        label,
        mb(f.beforeBytes),
        mb(f.peakBytes),
        mb(f.peakBytes - f.beforeBytes),
        mb(f.maxRssBytes),
        String(f.samples),
        fixed(f.seconds, 2),
      ]),
    ]),
  );
  console.log(
    [
      `MB = 10^6 bytes. Each pass streams ${RECORDING_BYTES / MiB} MiB from a fresh source; timed from the first read to the file closed`,
      '(storage.put: written, fsynced, renamed, directory fsynced). "vs subject": subject MB/s / that row\'s MB/s.',
      'RSS: process.memoryUsage().rss sampled every 20 ms in a fresh child after its imports and keyring set-up;',
      'growth = peak - before. "kernel max" is getrusage maxrss over the child\'s whole life, start-up included.',
    ].join('\n'),
  );
  for (const [label, f] of rssRows) {
    if (f.samples < 3) problems.push(`RSS child (${label}) took only ${f.samples} samples: its figure is not meaningful`);
  }

  const ratio = med.subject / med.raw;
  const ratioFsync = med.subject / med.rawFsync;
  const growthMb = (rssSubject.peakBytes - rssSubject.beforeBytes) / MB;
  console.log('');
  console.log(`ratio (subject/raw AES-GCM) throughput: ${fixed(ratio, 2)} (against raw + fsync, same durability as storage.put: ${fixed(ratioFsync, 2)})`);
  console.log(`target: at least ${TARGET_RATIO} of raw AES-GCM's throughput (within 2x): ${fixed(ratio, 2)} ${verdict(ratio >= TARGET_RATIO)}`);
  console.log(
    `target: RSS growth under ${TARGET_RSS_GROWTH_MB} MB for a ${mb(RECORDING_BYTES)} MB recording: ${fixed(growthMb, 1)} MB ${verdict(growthMb < TARGET_RSS_GROWTH_MB)}` +
      ` (raw AES-GCM: ${mb(rssBaseline.peakBytes - rssBaseline.beforeBytes)} MB)`,
  );
  return problems;
}

/**
 * A stream that stalls leaves no timer or socket behind, so Node would just exit (with code 0, no
 * cleanup) mid-bench: the watchdog keeps the process alive and turns a stall into a failure.
 */
async function run(scope: Scope): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const watchdog = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`voicemail bench did not finish within ${RUN_TIMEOUT_MS / 1000} s (a stalled stream?)`)), RUN_TIMEOUT_MS);
  });
  try {
    return await Promise.race([measureAll(scope), watchdog]);
  } finally {
    clearTimeout(timer);
  }
}

export const voicemailBench: Bench = {
  name: 'voicemail',
  description: 'encrypt-and-store of a 50 MiB recording (Encryption SDK -> local storage) vs raw AES-256-GCM; MB/s and peak RSS',
  run,
};
