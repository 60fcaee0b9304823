import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../config.js';
import type { Db } from '../adapters/postgres.js';
import { logger } from '../log/logger.js';
import { chainHeads } from './store.js';
import { Checkpoint } from './checkpoint.js';

/**
 * Checkpoints of each chain's head, kept where the database's owner cannot rewrite them: an
 * append-only local file (fsynced) by default, S3 with Object Lock in compliance mode in
 * production. Deleting the newest rows of a chain leaves a chain that verifies on its own; a
 * checkpoint that saw a later row gives the cut away (audit:verify, docs/audit-log.md).
 */

export const CHECKPOINT_EVERY_MS = 60_000;
/** How long a stop waits for its last checkpoint. */
const STOP_WAIT_MS = 1_500;


/** Told of a line that is not a checkpoint (a write torn by a crash): where, and its line number from 1. */
export type OnUnreadableCheckpoint = (where: string, line: number) => void;

export interface CheckpointSink {
  kind: 'file' | 's3';
  write(checkpoints: Checkpoint[]): Promise<void>;
  /** The checkpoints held; a line that is not one is skipped and told to `onUnreadable`. */
  read(onUnreadable?: OnUnreadableCheckpoint): Promise<Checkpoint[]>;
}

function parseLines(text: string, where: string, onUnreadable: OnUnreadableCheckpoint = () => undefined): Checkpoint[] {
  const out: Checkpoint[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      value = undefined;
    }
    const parsed = Checkpoint.safeParse(value);
    // One torn line (a crash mid-append) must not make every other checkpoint unreadable.
    if (parsed.success) out.push(parsed.data);
    else onUnreadable(where, i + 1);
  });
  return out;
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

const toLines = (checkpoints: Checkpoint[]): string => checkpoints.map((c) => `${JSON.stringify(c)}\n`).join('');

/** An append-only JSON-lines file: each write appended and fsynced before it counts as taken. */
export function fileCheckpointSink(file: string): CheckpointSink {
  return {
    kind: 'file',
    write: async (checkpoints) => {
      if (checkpoints.length === 0) return;
      await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      const handle = await open(file, 'a+', 0o600);
      try {
        const { size } = await handle.stat();
        // After a crash mid-append the file ends in a partial line: start on a line of our own.
        let torn = false;
        if (size > 0) {
          const last = Buffer.alloc(1);
          await handle.read(last, 0, 1, size - 1);
          torn = last[0] !== 0x0a;
        }
        await handle.write(`${torn ? '\n' : ''}${toLines(checkpoints)}`);
        await handle.sync();
        // A file just created is durable only once its directory entry is.
        if (size === 0) await syncDirectory(path.dirname(file));
      } finally {
        await handle.close();
      }
    },
    read: async (onUnreadable) => {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw err;
      }
      return parseLines(text, file, onUnreadable);
    },
  };
}

/**
 * One S3 object per checkpoint, locked in compliance mode until `retainDays` from now: nobody,
 * the bucket's owner included, can overwrite or delete it before then. The bucket must have
 * Object Lock enabled (which also turns versioning on).
 */
export function s3CheckpointSink(client: S3Client, bucket: string, prefix: string, retainDays: number, clock: () => Date = () => new Date()): CheckpointSink {
  return {
    kind: 's3',
    write: async (checkpoints) => {
      if (checkpoints.length === 0) return;
      const now = clock();
      const key = `${prefix}${now.toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}.jsonl`;
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: toLines(checkpoints),
          ContentType: 'application/x-ndjson',
          ObjectLockMode: 'COMPLIANCE',
          ObjectLockRetainUntilDate: new Date(now.getTime() + retainDays * 86_400_000),
          // Object Lock puts need an integrity checksum.
          ChecksumAlgorithm: 'SHA256',
        }),
      );
    },
    read: async (onUnreadable) => {
      const out: Checkpoint[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
        for (const obj of page.Contents ?? []) {
          if (!obj.Key) continue;
          const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: obj.Key }));
          out.push(...parseLines((await got.Body?.transformToString('utf8')) ?? '', `s3://${bucket}/${obj.Key}`, onUnreadable));
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return out;
    },
  };
}

/**
 * Takes checkpoints: each run writes the head of every chain that moved since the last one this
 * process took (all of them the first time). Runs never overlap: each follows the one before.
 */
export function checkpointer(db: Db, sink: CheckpointSink, clock: () => Date = () => new Date()): { run(): Promise<number> } {
  const written = new Map<string, string>();
  let last: Promise<unknown> = Promise.resolve();
  const once = async (): Promise<number> => {
    const checkpointAt = clock().toISOString();
    const heads = (await chainHeads(db)).filter((h) => written.get(h.chain) !== h.hash);
    const checkpoints = heads.map((h) => ({ chain: h.chain, seq: h.seq, hash: h.hash, at: h.at.toISOString(), checkpointAt }));
    await sink.write(checkpoints);
    for (const c of checkpoints) written.set(c.chain, c.hash);
    return checkpoints.length;
  };
  return {
    // One after another: a run asked for while one is under way (the shutdown's, say) follows it.
    run: () => {
      const next = last.catch(() => undefined).then(once);
      last = next;
      return next;
    },
  };
}

/** The sinks the configuration names: the local file always, and the Object Lock bucket when one is set. */
export function checkpointSinks(config: Config): CheckpointSink[] {
  const sinks = [fileCheckpointSink(config.auditCheckpoints.file)];
  const { bucket, retainDays } = config.auditCheckpoints;
  if (bucket) {
    // Credentials: the SDK's default chain, as for recordings.
    const client = new S3Client({
      region: config.aws.region,
      ...(config.aws.s3Endpoint ? { endpoint: config.aws.s3Endpoint, forcePathStyle: true } : {}),
      requestHandler: { connectionTimeout: 5_000 },
    });
    sinks.push(s3CheckpointSink(client, bucket, `audit-checkpoints/${config.database.schema}/`, retainDays));
  }
  return sinks;
}

/** Every checkpoint the configured sinks hold. */
export async function readCheckpoints(sinks: CheckpointSink[], onUnreadable?: OnUnreadableCheckpoint): Promise<Checkpoint[]> {
  return (await Promise.all(sinks.map((s) => s.read(onUnreadable)))).flat();
}

/**
 * The service's checkpoints: one at start, one every CHECKPOINT_EVERY_MS, and a last one when
 * it stops (`stop`, before the database pool closes). A failed checkpoint is logged and the next
 * one tries again; the service keeps answering calls.
 */
export function startCheckpoints(db: Db, config: Config, clock: () => Date, everyMs = CHECKPOINT_EVERY_MS): { run(): Promise<void>; stop(): Promise<void> } {
  const sinks = checkpointSinks(config);
  const takers = sinks.map((sink) => checkpointer(db, sink, clock));
  const run = async (): Promise<void> => {
    const results = await Promise.allSettled(takers.map((t) => t.run()));
    results.forEach((r, i) => {
      if (r.status === 'rejected') logger.warn('audit checkpoint failed', { err: r.reason, event: sinks[i]?.kind });
    });
  };
  const timer = setInterval(() => void run(), everyMs);
  timer.unref();
  void run();
  return {
    run,
    // The last checkpoint gets a bounded wait: a database that hangs must not spend the shutdown budget.
    stop: async () => {
      clearInterval(timer);
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([run(), new Promise<void>((resolve) => (timeout = setTimeout(resolve, STOP_WAIT_MS)))]);
      clearTimeout(timeout);
    },
  };
}
