import { createHash } from 'node:crypto';
import { Duplex, Transform, type TransformCallback } from 'node:stream';
import {
  AlgorithmSuiteIdentifier,
  buildClient,
  CommitmentPolicy,
  type MessageHeader,
} from '@aws-crypto/client-node';
import type { EncryptionContext, Keyring } from './keyring.js';

/**
 * Streaming envelope encryption for recordings, through the AWS Encryption SDK only.
 *
 * - Suite: AES-256-GCM with HKDF-SHA512 and key commitment, *unsigned*. Without a signature each
 *   frame is authenticated on its own, so decryption can release plaintext frame by frame without
 *   buffering the whole message (`decryptUnsignedMessageStream` refuses signed messages).
 * - Frames of 1 MiB: memory stays bounded by a few frames whatever the recording's length, and the
 *   per-frame cost of the SDK (64 KiB frames ran at under half of raw AES-GCM's speed) stays small.
 * - The encryption context is stored in clear in the message header: ids only, never PHI.
 */

export const ENVELOPE_SUITE = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;
export const ENVELOPE_FRAME_LENGTH = 1024 * 1024;

// One wrapping key per message (one KMS key or the local key). Raise when a multi-keyring arrives.
const { encryptStream, decryptUnsignedMessageStream } = buildClient({
  commitmentPolicy: CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
  maxEncryptedDataKeys: 1,
});

/** The stored encryption context lacks or differs on a key the reader expects. Names keys, never values. */
export class EnvelopeContextMismatch extends Error {
  constructor(readonly keys: string[]) {
    super(`encryption context mismatch on ${keys.join(', ') || '(none)'}`);
    this.name = 'EnvelopeContextMismatch';
  }
}

export interface EncryptingStream {
  /** Write plaintext in, read the Encryption SDK message out. */
  stream: Duplex;
  /** SHA-256 hex of the plaintext written; throws until the writable side has finished. */
  plaintextDigest(): string;
  /** Plaintext bytes written so far. */
  plaintextBytes(): number;
}

export interface Sha256Stream {
  /** Pass-through that hashes and counts what flows through it. */
  stream: Transform;
  /** SHA-256 hex of everything that passed; throws until the stream has flushed. */
  digest(): string;
  bytes(): number;
}

export function sha256Stream(): Sha256Stream {
  const hash = createHash('sha256');
  let bytes = 0;
  let digest: string | undefined;
  const stream = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      digest = hash.digest('hex');
      cb();
    },
  });
  return {
    stream,
    digest: () => {
      if (digest === undefined) throw new Error('sha256Stream: digest read before the stream ended');
      return digest;
    },
    bytes: () => bytes,
  };
}

interface WrapHooks {
  /** Sees every chunk written, before the SDK does. */
  observe?: (chunk: Buffer) => void;
  /** Called once the writable side has ended (all chunks observed). */
  ended?: () => void;
  /** Output is only passed on while this returns true; a chunk arriving earlier destroys the stream. */
  released?: () => boolean;
  /**
   * On destroy, end the SDK stream instead of destroying it. The encrypt stream joins its inner
   * streams with a callback-less readable-stream pipeline(), which rethrows a premature close
   * outside every handler (an uncaught exception): a download cut off mid-recording would crash
   * the process. Ended, the SDK finishes its message quietly and the output drains away unread.
   */
  endOnDestroy?: boolean;
}

/**
 * A Duplex in front of an Encryption SDK stream. The SDK's streams are readable-stream v3 /
 * duplexify objects that may emit 'error' more than once and after destruction; this wrapper gives
 * callers one ordinary Node stream: one error, backpressure both ways, destroy reaching the SDK.
 */
class SdkStreamWrapper extends Duplex {
  readonly #inner: Duplex;
  readonly #hooks: WrapHooks;

  constructor(inner: Duplex, hooks: WrapHooks = {}) {
    super();
    this.#inner = inner;
    this.#hooks = hooks;
    // Errors keep a listener for the inner stream's whole life: the SDK re-emits after destroy.
    inner.on('error', (err: Error) => this.destroy(err));
    inner.on('data', (chunk: Buffer) => {
      if (this.destroyed) return;
      if (hooks.released && !hooks.released()) {
        this.destroy(new EnvelopeContextMismatch([]));
        return;
      }
      if (!this.push(chunk)) inner.pause();
    });
    inner.on('end', () => {
      if (!this.destroyed) this.push(null);
    });
  }

  override _read(): void {
    this.#inner.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    try {
      this.#hooks.observe?.(chunk);
    } catch (err) {
      cb(err as Error);
      return;
    }
    this.#inner.write(chunk, (err?: Error | null) => cb(err ?? null));
  }

  override _final(cb: (err?: Error | null) => void): void {
    try {
      this.#hooks.ended?.();
    } catch (err) {
      cb(err as Error);
      return;
    }
    this.#inner.once('finish', () => cb());
    this.#inner.end();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.#hooks.endOnDestroy) {
      if (!this.#inner.writableEnded) this.#inner.end();
      this.#inner.resume();
    } else {
      this.#inner.destroy();
    }
    cb(err);
  }
}

/**
 * Encrypts what is written into it. Pipe plaintext in and the output to storage; the stream errors
 * (and stops) if the keyring cannot produce a data key, e.g. KMS is unreachable.
 */
export function encryptingStream(k: Keyring, context: EncryptionContext): EncryptingStream {
  const hash = createHash('sha256');
  let bytes = 0;
  let digest: string | undefined;
  const inner = encryptStream(k.keyring, {
    suiteId: ENVELOPE_SUITE,
    encryptionContext: { ...context },
    frameLength: ENVELOPE_FRAME_LENGTH,
  });
  const stream = new SdkStreamWrapper(inner, {
    observe: (chunk) => {
      hash.update(chunk);
      bytes += chunk.length;
    },
    ended: () => {
      digest = hash.digest('hex');
    },
    endOnDestroy: true,
  });
  return {
    stream,
    plaintextDigest: () => {
      if (digest === undefined) throw new Error('encryptingStream: digest read before the plaintext ended');
      return digest;
    },
    plaintextBytes: () => bytes,
  };
}

/** Keys of `expected` whose value in the stored context is absent or different. */
function mismatchedKeys(stored: Readonly<Record<string, string>>, expected: EncryptionContext): string[] {
  return Object.entries(expected)
    .filter(([key, value]) => !Object.prototype.hasOwnProperty.call(stored, key) || stored[key] !== value)
    .map(([key]) => key);
}

/**
 * Decrypts an Encryption SDK message written by `encryptingStream`. Signed messages are refused,
 * and so is any message whose stored context does not carry every expected key with the expected
 * value: the stream is destroyed with `EnvelopeContextMismatch` before any plaintext leaves it.
 * A tampered frame destroys the stream with the SDK's authentication error; frames before it
 * have already been released, so consumers must treat a failed stream's output as void.
 */
export function decryptingStream(k: Keyring, expected: EncryptionContext): Duplex {
  const inner = decryptUnsignedMessageStream(k.keyring);
  let verified = false;
  const stream = new SdkStreamWrapper(inner, { released: () => verified });
  inner.once('MessageHeader', (header: MessageHeader) => {
    const wrong = mismatchedKeys(header.encryptionContext, expected);
    if (wrong.length > 0) stream.destroy(new EnvelopeContextMismatch(wrong));
    else verified = true;
  });
  return stream;
}
