import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildClient, CommitmentPolicy } from '@aws-crypto/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../src/config.js';
import { createKeyring, encryptField, type Keyring } from '../src/adapters/keyring.js';
import { openCallerNumber, sealCallerNumber } from '../src/calls/caller-number.js';
import { startKmsDouble, type KmsDouble } from './support/kms-double.js';

/**
 * The caller's number sealed with a cached data key (issue 12, item 5): the context names the
 * practice and the purpose only, so one KMS request seals many calls' numbers; numbers sealed
 * before, under the context that named the call, still open; another practice's never do.
 */

const { decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
const PRACTICE = '6f1d3c1e-8a55-4d53-9a51-1f6b7a2c0001';
const OTHER = '6f1d3c1e-8a55-4d53-9a51-1f6b7a2c0002';
const BUSY = '6f1d3c1e-8a55-4d53-9a51-1f6b7a2c0003';
const CALL = `CA${'ab'.repeat(16)}`;
const NUMBER = '+12025550123';

let tmp: string;
let kms: KmsDouble;
let k: Keyring;
const saved: Record<string, string | undefined> = {};

function config(name: string, extra: Record<string, string> = {}): Config {
  return loadConfig({ NODE_ENV: 'test', DATA_DIR: path.join(tmp, name), ...extra });
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'ahl-caller-number-'));
  // The AWS SDK's default credential chain reads these; the KMS double takes any.
  for (const [key, value] of Object.entries({ AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_EC2_METADATA_DISABLED: 'true' })) {
    saved[key] = process.env[key];
    process.env[key] = value;
  }
  kms = await startKmsDouble();
  k = await createKeyring(config('kms', { KMS_KEY_ID: kms.keyId, KMS_ENDPOINT: kms.endpoint, BLIND_INDEX_KEY: randomBytes(32).toString('base64') }));
  expect(k.kind).toBe('kms');
});
afterAll(async () => {
  await kms?.close();
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  await rm(tmp, { recursive: true, force: true });
});

describe("the caller's number", () => {
  it('is sealed under the practice and the purpose only: ids, no call, no number', async () => {
    const sealed = await sealCallerNumber(k, NUMBER, PRACTICE);
    const { messageHeader } = await decrypt(k.keyring, sealed);
    expect(messageHeader.encryptionContext).toEqual({ practiceId: PRACTICE, purpose: 'caller_number' });
    expect(sealed.includes(Buffer.from(NUMBER.slice(2)))).toBe(false);
  });

  it('costs one KMS request for many calls of a practice, and one to read them all back', async () => {
    // A practice no other test here has sealed for: nothing of it cached yet.
    kms.calls.length = 0;
    const numbers = Array.from({ length: 20 }, (_, i) => `+1202555${String(1000 + i)}`);
    const sealed: Buffer[] = [];
    for (const n of numbers) sealed.push(await sealCallerNumber(k, n, BUSY));
    const generated = kms.calls.filter((c) => c.target === 'TrentService.GenerateDataKey').length;
    expect(generated).toBe(1);
    const again = await sealCallerNumber(k, NUMBER, BUSY);
    expect(kms.calls.map((c) => c.target)).toEqual(['TrentService.GenerateDataKey']);

    kms.calls.length = 0;
    for (const [i, s] of sealed.entries()) expect(await openCallerNumber(k, s, CALL, BUSY)).toBe(numbers[i]);
    expect(await openCallerNumber(k, again, CALL, BUSY)).toBe(NUMBER);
    expect(kms.calls.map((c) => c.target)).toEqual(['TrentService.Decrypt']);
  });

  it("never opens as another practice's", async () => {
    const sealed = await sealCallerNumber(k, NUMBER, PRACTICE);
    await expect(openCallerNumber(k, sealed, CALL, OTHER)).rejects.toThrow('encryption context mismatch');
  });

  it('sealed before caching (the context named the call): still opens, for its call and practice only', async () => {
    const legacy = await encryptField(k, NUMBER, { table: 'calls', field: 'from', call: CALL, practice: PRACTICE }, 'unsigned');
    expect(await openCallerNumber(k, legacy, CALL, PRACTICE)).toBe(NUMBER);
    await expect(openCallerNumber(k, legacy, `CA${'cd'.repeat(16)}`, PRACTICE)).rejects.toThrow('encryption context mismatch');
    await expect(openCallerNumber(k, legacy, CALL, OTHER)).rejects.toThrow('encryption context mismatch');
  });
});
