import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { KMS } from '@aws-sdk/client-kms';
import {
  AlgorithmSuiteIdentifier,
  buildClient,
  cacheClients,
  CommitmentPolicy,
  getClient,
  KmsKeyringNode,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
  type KeyringNode,
} from '@aws-crypto/client-node';
import type { Config } from '../config.js';

/**
 * Envelope encryption through the AWS Encryption SDK only: a KMS keyring in production,
 * a raw AES-256 keyring over a local master key by default. No hand-rolled crypto.
 */

const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);

/**
 * How a field is sealed. `signed` (the SDK's default suite, ECDSA P-384 over each message) for
 * existing callers; `unsigned` (AES-256-GCM, HKDF, key commitment: the recordings' suite) where a
 * patient record is written in bulk: a signature only guards against a reader who may decrypt but
 * not encrypt, which this service never has (the same keyring does both), and it costs about 4x.
 * decryptField reads both.
 */
export type FieldSuite = 'signed' | 'unsigned';

const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;

export interface Keyring {
  keyring: KeyringNode;
  kind: 'kms' | 'local';
  /** Key for blind indexes (HMAC-SHA256 of normalised identifiers). */
  indexKey: Buffer;
}

/** Reads the local master key, creating it (32 random bytes, mode 0600) on first run. */
export async function loadOrCreateMasterKey(file: string): Promise<Buffer> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  try {
    const handle = await open(file, 'wx', 0o600);
    try {
      await handle.writeFile(randomBytes(32));
    } finally {
      await handle.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const info = await stat(file);
  if ((info.mode & 0o077) !== 0) {
    throw new Error(`LOCAL_MASTER_KEY_FILE: ${file} is readable by group or others; chmod 600 it`);
  }
  const key = await readFile(file);
  if (key.length !== 32) throw new Error(`LOCAL_MASTER_KEY_FILE: ${file} must hold exactly 32 bytes`);
  return key;
}

export async function createKeyring(config: Config): Promise<Keyring> {
  const { kmsKeyId, kmsEndpoint, region } = config.aws;
  if (kmsKeyId) {
    if (!config.blindIndexKey) throw new Error('BLIND_INDEX_KEY: required when KMS_KEY_ID is set');
    // Stored data keys name the key ARN KMS returned, and the keyring only decrypts those whose ARN
    // it was configured with: an alias or bare key id would encrypt but could never decrypt.
    if (!KMS_KEY_ARN.test(kmsKeyId)) {
      throw new Error('KMS_KEY_ID: expected a key ARN (arn:aws:kms:<region>:<account>:key/<key-id>), not an alias or bare id');
    }
    // The aggregated `KMS` class (it has generateDataKey/encrypt/decrypt methods), not the bare
    // KMSClient. Credentials come from the SDK's default chain (environment, profile, role).
    // cacheClients keeps one client per region once KMS has answered, instead of one per call.
    const clientProvider = cacheClients(
      getClient(KMS, {
        region,
        ...(kmsEndpoint ? { endpoint: kmsEndpoint } : {}),
        requestHandler: { connectionTimeout: 5_000 },
      }),
    );
    return {
      kind: 'kms',
      keyring: new KmsKeyringNode({ generatorKeyId: kmsKeyId, clientProvider }),
      indexKey: config.blindIndexKey,
    };
  }
  const master = await loadOrCreateMasterKey(config.localMasterKeyFile);
  const wrapping = Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), 'ahl/wrapping-key/v1', 32));
  const derivedIndex = Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), 'ahl/blind-index/v1', 32));
  return {
    kind: 'local',
    keyring: new RawAesKeyringNode({
      keyNamespace: 'after-hours-line',
      keyName: 'local-master-v1',
      unencryptedMasterKey: wrapping,
      wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
    }),
    indexKey: config.blindIndexKey ?? derivedIndex,
  };
}

/** Keyed, deterministic index of an identifier, for equality lookups without plaintext. */
export function blindIndex(indexKey: Buffer, purpose: string, value: string): string {
  return createHmac('sha256', indexKey).update(`${purpose}\u0000${value}`).digest('hex');
}

export type EncryptionContext = Record<string, string>;

export async function encryptField(k: Keyring, plaintext: string, context: EncryptionContext, suite: FieldSuite = 'signed'): Promise<Buffer> {
  const options = suite === 'unsigned' ? { encryptionContext: context, suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY } : { encryptionContext: context };
  const { result } = await encrypt(k.keyring, Buffer.from(plaintext, 'utf8'), options);
  return result;
}

/** Decrypts and checks that the stored context is the one expected (the SDK does not). */
export async function decryptField(k: Keyring, ciphertext: Buffer, context: EncryptionContext): Promise<string> {
  const { plaintext, messageHeader } = await decrypt(k.keyring, ciphertext);
  for (const [key, value] of Object.entries(context)) {
    if (messageHeader.encryptionContext[key] !== value) throw new Error('encryption context mismatch');
  }
  return plaintext.toString('utf8');
}
