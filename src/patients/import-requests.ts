import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AppContext } from '../app-context.js';
import type { ImportKind } from '../adapters/db-schema.js';
import { encryptingStream } from '../adapters/envelope.js';
import type { EncryptionContext } from '../adapters/keyring.js';
import { queueCommand, QueueUnavailableError } from '../adapters/queue.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { forgetImport, markNotQueued, markReceived, recordImport } from './import-store.js';

/**
 * A CSV import received by the API (`POST /api/patients/import`, `POST /api/appointments/import`):
 * the body is streamed through the Encryption SDK into storage (never plaintext at rest, never a
 * database connection held while it arrives), the `imports` row records it, and a job carrying
 * ids only is queued for the worker (./import-worker.ts), which decrypts it as a stream and runs
 * the import in one transaction. The request answers 202 with the import's id.
 */

export const IMPORT_JOB = 'import';

/** The import job's payload: ids only (BullMQ keeps it in clear text). */
export interface ImportJobData {
  importId: string;
  practiceId: string;
}

/** A retry reads the stored file again from the start; the row says why an attempt failed. */
export const IMPORT_JOB_OPTIONS = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 5_000, jitter: 0.5 },
  removeOnComplete: { age: 24 * 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600 },
} as const;

/** The job's id: the import's (a repeat is a no-op). */
export function importJobId(importId: string): string {
  return `import-${importId}`;
}

/** Where the encrypted upload is kept: ids only. */
export function importUploadKey(practiceId: string, importId: string): string {
  return `imports/${practiceId}/${importId}.enc`;
}

/** The upload's encryption context: binds the ciphertext to its practice and import (ids only; stored in clear in the header). */
export function importUploadContext(practiceId: string, importId: string): EncryptionContext {
  return { purpose: 'csv-import', practice: practiceId, import: importId };
}

/** The body went past the limit: nothing is kept. */
export class UploadTooLarge extends Error {
  constructor(readonly max: number) {
    super(`larger than ${max} bytes`);
    this.name = 'UploadTooLarge';
  }
}

function byteLimit(max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      seen += chunk.length;
      if (seen > max) cb(new UploadTooLarge(max));
      else cb(null, chunk);
    },
  });
}

export type AcceptedImport = { ok: true; id: string; bytes: number } | { ok: false; reason: 'too_large' | 'queue_unavailable'; id: string };

export type ImportRequestDeps = Pick<AppContext, 'keyring' | 'storage' | 'queues'>;

/**
 * Stores `body` encrypted, records the import and queues its job. An upload that fails (cut off,
 * too large) leaves nothing, neither object nor row; with Redis unreachable the import is
 * recorded as failed (`queue_unavailable`) and its upload deleted.
 */
export async function acceptImport(deps: ImportRequestDeps, scope: PracticeScope, req: { kind: ImportKind; dryRun: boolean; body: Readable; actor: string; maxBytes: number }): Promise<AcceptedImport> {
  const id = crypto.randomUUID();
  const key = importUploadKey(scope.practiceId, id);
  // The row first (a moment's connection): should this process die during the upload, the sweep finds the row and deletes whatever was stored.
  await recordImport(scope, { id, kind: req.kind, dryRun: req.dryRun, uploadKey: key, createdBy: req.actor });
  const enc = encryptingStream(deps.keyring, importUploadContext(scope.practiceId, id));
  const [stored, piped] = await Promise.allSettled([
    deps.storage.put(key, enc.stream, { contentType: 'application/octet-stream' }),
    pipeline(req.body, byteLimit(req.maxBytes), enc.stream).catch((err: unknown) => {
      enc.stream.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }),
  ]);
  if (piped.status === 'rejected' || stored.status === 'rejected') {
    await deps.storage.delete(key).catch(() => undefined);
    await forgetImport(scope, id);
    const cause: unknown = piped.status === 'rejected' ? piped.reason : stored.status === 'rejected' ? stored.reason : undefined;
    if (cause instanceof UploadTooLarge) return { ok: false, reason: 'too_large', id };
    throw cause;
  }
  const bytes = enc.plaintextBytes();
  await markReceived(scope, id, bytes);
  try {
    await queueCommand(deps.queues.imports, () => deps.queues.imports.add(IMPORT_JOB, { importId: id, practiceId: scope.practiceId } satisfies ImportJobData, { ...IMPORT_JOB_OPTIONS, jobId: importJobId(id) }));
  } catch (err) {
    if (!(err instanceof QueueUnavailableError)) throw err;
    await deps.storage.delete(key).catch(() => undefined);
    await markNotQueued(scope, id);
    return { ok: false, reason: 'queue_unavailable', id };
  }
  return { ok: true, id, bytes };
}
