import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  S3Client,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Config } from '../config.js';

/**
 * Object storage for encrypted recordings: S3 when configured, the local disk otherwise.
 * Bodies are Encryption SDK messages (see envelope.ts); keys are built from ids, never PHI.
 */
export interface Storage {
  kind: 's3' | 'local';
  init(): Promise<void>;
  /** Throws with a short reason when the store cannot be reached. */
  check(): Promise<void>;
  /**
   * Streams `body` to `key`, replacing any object there. Readers never see a partial object:
   * on any failure (including `body` erroring) nothing is left under `key`.
   */
  put(key: string, body: Readable, opts?: { contentType?: string }): Promise<{ bytes: number }>;
  /** Throws `StorageNotFoundError` when there is no object under `key`. */
  get(key: string): Promise<Readable>;
  head(key: string): Promise<{ bytes: number } | null>;
  /** Succeeds whether or not the object exists. */
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

export class StorageNotFoundError extends Error {
  constructor() {
    super('no object under that key');
    this.name = 'StorageNotFoundError';
  }
}

export class InvalidStorageKeyError extends Error {
  constructor() {
    // The key is not echoed: reject bad input, do not repeat it.
    super('invalid storage key (expected ids joined by "/": [a-z0-9][a-z0-9/_.-]{0,200})');
    this.name = 'InvalidStorageKeyError';
  }
}

const KEY_PATTERN = /^[a-z0-9][a-z0-9/_.-]{0,200}$/;
const SEGMENT_PATTERN = /^[a-z0-9][a-z0-9_.-]*$/;

/**
 * Keys are lower-case ids joined by "/". Beyond the pattern: no "..", no empty segment, and every
 * segment starts with a letter or digit (so no hidden files, and no clash with the temp files of
 * local `put`, which start with ".").
 */
export function assertStorageKey(key: string): void {
  if (typeof key !== 'string' || !KEY_PATTERN.test(key) || key.includes('..')) throw new InvalidStorageKeyError();
  if (!key.split('/').every((segment) => SEGMENT_PATTERN.test(segment))) throw new InvalidStorageKeyError();
}

const MiB = 1024 * 1024;
/** lib-storage buffers up to queueSize × partSize bytes per upload. */
const UPLOAD_PART_SIZE = 5 * MiB;
const UPLOAD_QUEUE_SIZE = 2;

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function isS3NotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/** A pass-through that counts bytes. */
function byteCounter(): { stream: Transform; bytes(): number } {
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  return { stream, bytes: () => bytes };
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function createS3Storage(config: Config, bucket: string): Storage {
  const { s3Endpoint, region, kmsKeyId } = config.aws;
  // Credentials: the SDK's default chain (environment, profile, container or instance role).
  const client = new S3Client({
    region,
    ...(s3Endpoint ? { endpoint: s3Endpoint, forcePathStyle: true } : {}),
    requestHandler: { connectionTimeout: 5_000 },
  });
  // Defence in depth: bodies are already envelope-encrypted; with a KMS key, S3 encrypts under it too.
  const sse: Partial<PutObjectCommandInput> = kmsKeyId
    ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: kmsKeyId }
    : {};

  return {
    kind: 's3',
    init: async () => undefined,
    check: async () => {
      await client.send(new HeadBucketCommand({ Bucket: bucket }));
    },
    put: async (key, body, opts) => {
      assertStorageKey(key);
      const counter = byteCounter();
      const upload = new Upload({
        client,
        params: {
          Bucket: bucket,
          Key: key,
          Body: counter.stream,
          ContentType: opts?.contentType ?? 'application/octet-stream',
          ...sse,
        },
        partSize: UPLOAD_PART_SIZE,
        queueSize: UPLOAD_QUEUE_SIZE,
        // Abort the multipart upload on failure: no orphaned parts, no partial object.
        leavePartsOnError: false,
      });
      const uploaded = upload.done().catch((err: unknown) => {
        // Stop reading the body: nothing will consume it any more.
        counter.stream.destroy(err as Error);
        throw err;
      });
      const [piped, stored] = await Promise.allSettled([pipeline(body, counter.stream), uploaded]);
      if (stored.status === 'rejected') throw stored.reason;
      if (piped.status === 'rejected') {
        // The upload completed with what arrived before the body failed: remove it.
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined);
        throw piped.reason;
      }
      return { bytes: counter.bytes() };
    },
    get: async (key) => {
      assertStorageKey(key);
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        if (!(out.Body instanceof Readable)) throw new Error('S3 GetObject returned no readable body');
        return out.Body;
      } catch (err) {
        if (isS3NotFound(err)) throw new StorageNotFoundError();
        throw err;
      }
    },
    head: async (key) => {
      assertStorageKey(key);
      try {
        const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return { bytes: out.ContentLength ?? 0 };
      } catch (err) {
        if (isS3NotFound(err)) return null;
        throw err;
      }
    },
    delete: async (key) => {
      assertStorageKey(key);
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
    close: async () => client.destroy(),
  };
}

function createLocalStorage(config: Config): Storage {
  const dir = path.join(config.dataDir, 'recordings');
  const fileFor = (key: string): string => {
    assertStorageKey(key);
    return path.join(dir, ...key.split('/'));
  };

  return {
    kind: 'local',
    init: async () => {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    },
    check: async () => {
      await access(dir, constants.W_OK | constants.R_OK);
    },
    put: async (key, body) => {
      const file = fileFor(key);
      const parent = path.dirname(file);
      await mkdir(parent, { recursive: true, mode: 0o700 });
      // Same directory as the target, so the rename is atomic; the leading "." cannot be a key.
      const tmp = path.join(parent, `.${path.basename(file)}.${randomBytes(8).toString('hex')}.tmp`);
      const handle = await open(tmp, 'wx', 0o600);
      let bytes = 0;
      let closed = false;
      try {
        for await (const chunk of body) {
          const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
          await writeAll(handle, buf);
          bytes += buf.length;
        }
        await handle.sync();
        await handle.close();
        closed = true;
        await rename(tmp, file);
      } catch (err) {
        if (!closed) await handle.close().catch(() => undefined);
        await unlink(tmp).catch(() => undefined);
        body.destroy();
        throw err;
      }
      await fsyncDir(parent);
      return { bytes };
    },
    get: async (key) => {
      const file = fileFor(key);
      let handle: FileHandle;
      try {
        handle = await open(file, 'r');
      } catch (err) {
        if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') throw new StorageNotFoundError();
        throw err;
      }
      const info = await handle.stat().catch(async (err: unknown) => {
        await handle.close();
        throw err;
      });
      if (!info.isFile()) {
        await handle.close();
        throw new StorageNotFoundError();
      }
      return handle.createReadStream();
    },
    head: async (key) => {
      const file = fileFor(key);
      try {
        const info = await stat(file);
        return info.isFile() ? { bytes: info.size } : null;
      } catch (err) {
        if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return null;
        throw err;
      }
    },
    delete: async (key) => {
      const file = fileFor(key);
      try {
        await unlink(file);
      } catch (err) {
        if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return;
        throw err;
      }
    },
    close: async () => undefined,
  };
}

export function createStorage(config: Config): Storage {
  const { s3Bucket } = config.aws;
  return s3Bucket ? createS3Storage(config, s3Bucket) : createLocalStorage(config);
}
