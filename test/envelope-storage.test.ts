import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config.js';
import {
  decryptingStream,
  encryptingStream,
  EnvelopeContextMismatch,
  ENVELOPE_SUITE,
  sha256Stream,
} from '../src/adapters/envelope.js';
import { createKeyring, type Keyring } from '../src/adapters/keyring.js';
import {
  createStorage,
  InvalidStorageKeyError,
  StorageNotFoundError,
  type Storage,
} from '../src/adapters/storage.js';
import { startKmsDouble, type KmsDouble } from './support/kms-double.js';
import { S3_DOUBLE_CREDENTIALS, startS3Double, type S3Double } from './support/s3-double.js';
import { randomWav } from './support/wav.js';

const MiB = 1024 * 1024;
const CONTEXT = { purpose: 'voicemail-recording', recordingId: 'rec-0001', practiceId: 'prac-01' };


/** Streams a buffer in 64 KiB chunks (Readable.from(buffer) would send it as one chunk). */
function chunked(buf: Buffer, size = 64 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
    })(),
  );
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const sha256 = (buf: Buffer): string => createHash('sha256').update(buf).digest('hex');

async function encryptBuffer(k: Keyring, context: Record<string, string>, plaintext: Buffer): Promise<{
  ciphertext: Buffer;
  digest: string;
  bytes: number;
}> {
  const enc = encryptingStream(k, context);
  chunked(plaintext).pipe(enc.stream);
  const ciphertext = await collect(enc.stream);
  return { ciphertext, digest: enc.plaintextDigest(), bytes: enc.plaintextBytes() };
}

/** Decrypts, recording how many plaintext bytes left the stream before it failed (if it did). */
async function decryptBuffer(
  k: Keyring,
  expected: Record<string, string>,
  ciphertext: Buffer,
): Promise<{ plaintext?: Buffer; error?: unknown; emitted: number }> {
  const dec = decryptingStream(k, expected);
  let emitted = 0;
  const chunks: Buffer[] = [];
  try {
    await pipeline(chunked(ciphertext), dec, async (s: AsyncIterable<Buffer>) => {
      for await (const c of s) {
        emitted += c.length;
        chunks.push(c);
      }
    });
    return { plaintext: Buffer.concat(chunks), emitted };
  } catch (error) {
    return { error, emitted };
  }
}

/** A body that yields `good` bytes, then fails. */
function failingBody(good: Buffer): Readable {
  return Readable.from(
    (async function* () {
      yield good;
      await new Promise((r) => setTimeout(r, 10));
      throw new Error('source failed mid-stream');
    })(),
  );
}

const savedEnv: Record<string, string | undefined> = {};
function setEnv(vars: Record<string, string>): void {
  for (const [k, v] of Object.entries(vars)) {
    savedEnv[k] = process.env[k];
    process.env[k] = v;
  }
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ahl-envelope-'));
  // The AWS SDK's default credential chain reads these; s3rver accepts only its own pair, the KMS double any.
  setEnv({
    AWS_ACCESS_KEY_ID: S3_DOUBLE_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3_DOUBLE_CREDENTIALS.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
  });
});
afterAll(async () => {
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await rm(tmp, { recursive: true, force: true });
});

function localConfig(name: string, extra: Record<string, string> = {}): Config {
  return loadConfig({ NODE_ENV: 'test', DATA_DIR: path.join(tmp, name), ...extra });
}

describe('envelope encryption (local keyring)', () => {
  let k: Keyring;
  let storage: Storage;
  let config: Config;
  const wav = randomWav(5 * MiB - 44);
  let sealed: { ciphertext: Buffer; digest: string; bytes: number };

  beforeAll(async () => {
    config = localConfig('local-envelope');
    k = await createKeyring(config);
    expect(k.kind).toBe('local');
    storage = createStorage(config);
    await storage.init();
    sealed = await encryptBuffer(k, CONTEXT, wav);
  });

  it('uses the unsigned committing suite, and the output does not leak the plaintext', () => {
    // Message format v2: version byte 0x02, then the 2-byte suite id.
    expect(sealed.ciphertext[0]).toBe(0x02);
    expect(sealed.ciphertext.readUInt16BE(1)).toBe(ENVELOPE_SUITE);
    expect(sealed.ciphertext.subarray(0, 4).toString('ascii')).not.toBe('RIFF');
    expect(sealed.ciphertext.includes(wav.subarray(0, 64))).toBe(false);
  });

  it('reports the plaintext digest and byte count', () => {
    expect(sealed.bytes).toBe(5 * MiB);
    expect(sealed.digest).toBe(sha256(wav));
  });

  it('round-trips a 5 MB WAV through storage', async () => {
    const key = 'recordings/rec-0001.wav.enc';
    const enc = encryptingStream(k, CONTEXT);
    chunked(wav).pipe(enc.stream);
    const { bytes } = await storage.put(key, enc.stream);

    const file = path.join(config.dataDir, 'recordings', 'recordings', 'rec-0001.wav.enc');
    const stored = await readFile(file);
    expect(bytes).toBe(stored.length);
    expect(stored.subarray(0, 4).toString('ascii')).not.toBe('RIFF');
    expect(stored.includes(wav.subarray(0, 64))).toBe(false);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(file))).mode & 0o777).toBe(0o700);
    expect(enc.plaintextDigest()).toBe(sha256(wav));

    const hasher = sha256Stream();
    const dec = decryptingStream(k, CONTEXT);
    const out = await collect((await storage.get(key)).pipe(dec).pipe(hasher.stream));
    expect(out.equals(wav)).toBe(true);
    expect(hasher.digest()).toBe(enc.plaintextDigest());
    expect(hasher.bytes()).toBe(5 * MiB);
  });

  it('refuses a different expected context before emitting any plaintext', async () => {
    const wrong = await decryptBuffer(k, { ...CONTEXT, recordingId: 'rec-0002' }, sealed.ciphertext);
    expect(wrong.error).toBeInstanceOf(EnvelopeContextMismatch);
    expect((wrong.error as EnvelopeContextMismatch).keys).toEqual(['recordingId']);
    expect(wrong.emitted).toBe(0);

    const missing = await decryptBuffer(k, { ...CONTEXT, callSid: 'CA00' }, sealed.ciphertext);
    expect(missing.error).toBeInstanceOf(EnvelopeContextMismatch);
    expect(missing.emitted).toBe(0);

    // A subset of the stored context is enough.
    const subset = await decryptBuffer(k, { recordingId: 'rec-0001' }, sealed.ciphertext);
    expect(subset.error).toBeUndefined();
    expect(subset.plaintext?.equals(wav)).toBe(true);
  });

  it('fails on a tampered ciphertext byte (body or header)', async () => {
    const body = Buffer.from(sealed.ciphertext);
    const i = Math.floor(body.length / 2);
    body[i] = (body[i] ?? 0) ^ 0x01;
    const inBody = await decryptBuffer(k, CONTEXT, body);
    expect(inBody.error).toBeInstanceOf(Error);
    expect(inBody.emitted).toBeLessThan(wav.length);

    const header = Buffer.from(sealed.ciphertext);
    header[40] = (header[40] ?? 0) ^ 0x80;
    const inHeader = await decryptBuffer(k, CONTEXT, header);
    expect(inHeader.error).toBeInstanceOf(Error);
    expect(inHeader.emitted).toBe(0);

    const truncated = await decryptBuffer(k, CONTEXT, sealed.ciphertext.subarray(0, sealed.ciphertext.length - 10));
    expect(truncated.error).toBeInstanceOf(Error);
  });

  it('a second keyring over a different master key cannot decrypt', async () => {
    const other = await createKeyring(localConfig('other-master'));
    const res = await decryptBuffer(other, CONTEXT, sealed.ciphertext);
    expect(res.error).toBeInstanceOf(Error);
    expect(res.emitted).toBe(0);
  });

  it('keeps memory bounded: 50 MB through encrypt → put → get → decrypt', async () => {
    const size = 50 * MiB;
    const block = randomBytes(MiB);
    const source = (): Readable =>
      Readable.from(
        (function* () {
          for (let i = 0; i < size; i += 64 * 1024) yield block.subarray(i % MiB, (i % MiB) + 64 * 1024);
        })(),
      );
    const expectedDigest = createHash('sha256');
    for (let i = 0; i < size / MiB; i++) expectedDigest.update(block);

    (globalThis as { gc?: () => void }).gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 10);
    try {
      const enc = encryptingStream(k, CONTEXT);
      source().pipe(enc.stream);
      await storage.put('recordings/big.enc', enc.stream);
      expect(enc.plaintextBytes()).toBe(size);

      const hasher = sha256Stream();
      await pipeline(await storage.get('recordings/big.enc'), decryptingStream(k, CONTEXT), hasher.stream, async (s) => {
        for await (const _ of s) void _;
      });
      expect(hasher.bytes()).toBe(size);
      expect(hasher.digest()).toBe(expectedDigest.digest('hex'));
      expect(enc.plaintextDigest()).toBe(hasher.digest());
    } finally {
      clearInterval(sampler);
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    const growthMiB = (peak - baseline) / MiB;
    process.stdout.write(`[envelope-storage] 50 MB encrypt→put→get→decrypt: peak RSS growth ${growthMiB.toFixed(1)} MiB\n`);
    expect(growthMiB).toBeLessThan(150);
    await storage.delete('recordings/big.enc');
  });
});

describe('envelope encryption (KMS keyring against a loopback KMS)', () => {
  let kms: KmsDouble;
  let k: Keyring;
  let storage: Storage;
  let config: Config;

  beforeAll(async () => {
    kms = await startKmsDouble();
    config = localConfig('kms-envelope', {
      KMS_KEY_ID: kms.keyId,
      KMS_ENDPOINT: kms.endpoint,
      BLIND_INDEX_KEY: randomBytes(32).toString('base64'),
    });
    k = await createKeyring(config);
    expect(k.kind).toBe('kms');
    storage = createStorage(config);
    await storage.init();
  });
  afterAll(async () => {
    await kms.close();
  });

  it('round-trips, with a data key generated and unwrapped by KMS', async () => {
    const wav = randomWav(MiB + 123 - 44);
    kms.calls.length = 0;
    const sealed = await encryptBuffer(k, CONTEXT, wav);
    expect(kms.calls.map((c) => c.target)).toEqual(['TrentService.GenerateDataKey']);
    expect(sealed.ciphertext.includes(wav.subarray(0, 64))).toBe(false);

    const res = await decryptBuffer(k, CONTEXT, sealed.ciphertext);
    expect(res.error).toBeUndefined();
    expect(res.plaintext?.equals(wav)).toBe(true);
    expect(kms.calls.map((c) => c.target)).toContain('TrentService.Decrypt');

    const wrong = await decryptBuffer(k, { ...CONTEXT, practiceId: 'prac-02' }, sealed.ciphertext);
    expect(wrong.error).toBeInstanceOf(EnvelopeContextMismatch);
    expect(wrong.emitted).toBe(0);
  });

  it('refuses a KMS key given as an alias or bare id (it could encrypt but never decrypt)', async () => {
    for (const keyId of ['alias/ahl-recordings', kms.keyId.split('/').at(-1) ?? 'x']) {
      const c = localConfig('kms-alias', { KMS_KEY_ID: keyId, KMS_ENDPOINT: kms.endpoint, BLIND_INDEX_KEY: randomBytes(32).toString('base64') });
      await expect(createKeyring(c)).rejects.toThrow(/KMS_KEY_ID: expected a key ARN/);
    }
  });

  it('KMS down: encryption rejects and no object (or temp file) is left in storage', async () => {
    kms.failNext(100);
    try {
      const key = 'recordings/kms-down.enc';
      const enc = encryptingStream(k, CONTEXT);
      chunked(randomWav(2 * MiB - 44)).pipe(enc.stream);
      await expect(storage.put(key, enc.stream)).rejects.toThrow();
      expect(await storage.head(key)).toBeNull();
      const left = await readdir(path.join(config.dataDir, 'recordings', 'recordings')).catch(() => []);
      expect(left).toEqual([]);
      expect(kms.calls.at(-1)?.target).toBe('TrentService.GenerateDataKey');
    } finally {
      kms.failNext(0);
    }
    // And it recovers once KMS answers again.
    const again = await encryptBuffer(k, CONTEXT, Buffer.from('after the outage'));
    expect((await decryptBuffer(k, CONTEXT, again.ciphertext)).plaintext?.toString()).toBe('after the outage');
  });
});

describe('local storage', () => {
  let storage: Storage;
  let config: Config;

  beforeAll(async () => {
    config = localConfig('local-storage');
    storage = createStorage(config);
    expect(storage.kind).toBe('local');
    await storage.init();
  });

  it('puts, gets, heads and deletes (delete is idempotent)', async () => {
    const body = randomBytes(300_000);
    expect(await storage.put('a/b/c.bin', chunked(body))).toEqual({ bytes: body.length });
    expect(await storage.head('a/b/c.bin')).toEqual({ bytes: body.length });
    expect((await collect(await storage.get('a/b/c.bin'))).equals(body)).toBe(true);
    expect((await stat(path.join(config.dataDir, 'recordings', 'a'))).mode & 0o777).toBe(0o700);

    await storage.delete('a/b/c.bin');
    await storage.delete('a/b/c.bin');
    expect(await storage.head('a/b/c.bin')).toBeNull();
    await expect(storage.get('a/b/c.bin')).rejects.toBeInstanceOf(StorageNotFoundError);
    await expect(storage.get('a/b')).rejects.toBeInstanceOf(StorageNotFoundError);
    await expect(storage.get('a/b/c.bin/d')).rejects.toBeInstanceOf(StorageNotFoundError);
  });

  it('rejects keys that are not plain ids', async () => {
    for (const bad of ['../etc/passwd', '/abs', 'a/../b', 'Upper', 'a//b', 'a/', 'a/.hidden', '', 'x'.repeat(202), 'a b', 'a:b']) {
      await expect(storage.put(bad, chunked(Buffer.from('x'))), bad).rejects.toBeInstanceOf(InvalidStorageKeyError);
      await expect(storage.head(bad), bad).rejects.toBeInstanceOf(InvalidStorageKeyError);
    }
  });

  it('is atomic: a failed stream leaves no partial file and keeps the previous version', async () => {
    const v1 = randomBytes(1000);
    await storage.put('atomic/obj.bin', chunked(v1));
    await expect(storage.put('atomic/obj.bin', failingBody(randomBytes(200_000)))).rejects.toThrow('source failed mid-stream');
    expect((await collect(await storage.get('atomic/obj.bin'))).equals(v1)).toBe(true);
    await expect(storage.put('atomic/new.bin', failingBody(randomBytes(200_000)))).rejects.toThrow('source failed mid-stream');
    expect(await storage.head('atomic/new.bin')).toBeNull();
    expect(await readdir(path.join(config.dataDir, 'recordings', 'atomic'))).toEqual(['obj.bin']);
  });
});

describe('S3 storage (s3rver double)', () => {
  let s3: S3Double;
  let storage: Storage;

  beforeAll(async () => {
    s3 = await startS3Double();
    storage = createStorage(localConfig('s3', { S3_BUCKET: s3.bucket, S3_ENDPOINT: s3.endpoint }));
    expect(storage.kind).toBe('s3');
    await storage.init();
  });
  afterAll(async () => {
    await storage.close();
    await s3.dispose();
  });

  it('puts a 12 MB body as a multipart upload, gets, heads and deletes it', async () => {
    const body = randomBytes(12 * MiB);
    s3.requests.length = 0;
    expect(await storage.put('recordings/rec-12mb.enc', chunked(body))).toEqual({ bytes: body.length });
    expect(s3.requests.some((r) => r.method === 'POST' && /[?&]uploads(=|&|$)/.test(r.url))).toBe(true);
    expect(s3.requests.filter((r) => r.method === 'PUT' && r.url.includes('partNumber=')).length).toBe(3);

    expect(await storage.head('recordings/rec-12mb.enc')).toEqual({ bytes: body.length });
    const got = await collect(await storage.get('recordings/rec-12mb.enc'));
    expect(sha256(got)).toBe(sha256(body));

    await storage.delete('recordings/rec-12mb.enc');
    await storage.delete('recordings/rec-12mb.enc');
    expect(await storage.head('recordings/rec-12mb.enc')).toBeNull();
    await expect(storage.get('recordings/rec-12mb.enc')).rejects.toBeInstanceOf(StorageNotFoundError);
  });

  it('a body failing mid-stream leaves no object', async () => {
    await expect(storage.put('recordings/broken.enc', failingBody(randomBytes(7 * MiB)))).rejects.toThrow();
    expect(await storage.head('recordings/broken.enc')).toBeNull();
    await expect(storage.put('recordings/broken-small.enc', failingBody(randomBytes(1000)))).rejects.toThrow();
    expect(await storage.head('recordings/broken-small.enc')).toBeNull();
  });

  it('check() and put reject while S3 is down and work again once it is back', async () => {
    await storage.check();
    await s3.stop();
    try {
      await expect(storage.check()).rejects.toThrow();
      await expect(storage.put('recordings/while-down.enc', chunked(randomBytes(1000)))).rejects.toThrow();
    } finally {
      await s3.restart();
    }
    await storage.check();
    const body = randomBytes(4096);
    await storage.put('recordings/after-restart.enc', chunked(body));
    expect((await collect(await storage.get('recordings/after-restart.enc'))).equals(body)).toBe(true);
  });
});
