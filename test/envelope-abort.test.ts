import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { encryptingStream } from '../src/adapters/envelope.js';
import { createKeyring, type Keyring } from '../src/adapters/keyring.js';
import { loadConfig } from '../src/config.js';

let dir: string;
let keyring: Keyring;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ahl-envelope-abort-'));
  keyring = await createKeyring(loadConfig({ DATA_DIR: dir }));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('a source that fails mid-message fails the encryption, and nothing is thrown outside it (no uncaught exception)', async () => {
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown): void => void uncaught.push(err);
  process.prependListener('uncaughtException', onUncaught);
  try {
    const enc = encryptingStream(keyring, { purpose: 'test' });
    let fed = false;
    // Half a recording, then the connection breaks.
    const source = new Readable({
      read() {
        if (fed) return;
        fed = true;
        this.push(Buffer.alloc(200_000, 1));
        setImmediate(() => this.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })));
      },
    });
    const drained = (async () => {
      for await (const _chunk of enc.stream) {
        // the ciphertext goes nowhere
      }
    })().catch((err: unknown) => err);
    const err = await pipeline(source, enc.stream).catch((e: unknown) => {
      enc.stream.destroy(e instanceof Error ? e : new Error(String(e)));
      return e;
    });
    expect((err as { code?: string }).code).toBe('ECONNRESET');
    expect(await drained).toBeInstanceOf(Error);
    // Let the SDK's own streams settle.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(uncaught).toEqual([]);
  } finally {
    process.off('uncaughtException', onUncaught);
  }
});
