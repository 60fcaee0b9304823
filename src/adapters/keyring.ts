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
  getLocalCryptographicMaterialsCache,
  KmsKeyringNode,
  NodeCachingMaterialsManager,
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

/**
 * Data-key caching for fields sealed many times under one context (the callers' numbers of one
 * practice): the Encryption SDK's caching materials manager over the keyring, one per keyring.
 * Without it every seal asks the keyring (KMS in production: one GenerateDataKey per call) for a
 * fresh data key; with it, one data key seals a practice's fields for up to `maxAgeMs` or
 * `maxMessages` messages, whichever comes first, and reading them back asks the keyring once per
 * data key. The trade-off: a data key in memory protects more than one field (bounded by both
 * limits), and the context can carry only what repeats (ids of the practice, never of the row);
 * see docs/architecture.md "Caller numbers and data-key caching". Only the unsigned committing
 * suite is used here (a signed suite is never cached by the SDK: its signing key is per message).
 */
export const FIELD_KEY_CACHE = { maxAgeMs: 5 * 60_000, maxMessages: 1_000, entries: 500 } as const;

const cachingManagers = new WeakMap<KeyringNode, NodeCachingMaterialsManager>();

function cachingManagerFor(k: Keyring): NodeCachingMaterialsManager {
  let cmm = cachingManagers.get(k.keyring);
  if (!cmm) {
    cmm = new NodeCachingMaterialsManager({
      backingMaterials: k.keyring,
      cache: getLocalCryptographicMaterialsCache(FIELD_KEY_CACHE.entries),
      partition: 'ahl-fields',
      maxAge: FIELD_KEY_CACHE.maxAgeMs,
      maxMessagesEncrypted: FIELD_KEY_CACHE.maxMessages,
    });
    cachingManagers.set(k.keyring, cmm);
  }
  return cmm;
}

/** Seals a field with a cached data key (see FIELD_KEY_CACHE): `context` must repeat across fields to help, so ids of the practice only. */
export async function encryptFieldCached(k: Keyring, plaintext: string, context: EncryptionContext): Promise<Buffer> {
  const { result } = await encrypt(cachingManagerFor(k), Buffer.from(plaintext, 'utf8'), {
    encryptionContext: context,
    suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY,
  });
  return result;
}

/**
 * Opens a field sealed by encryptFieldCached or encryptField (through the cache either way) if its
 * stored context matches every key of one of `accepted` (a field may have been sealed under an
 * earlier context, which stays readable); refused otherwise, naming no value.
 */
export async function decryptFieldCached(k: Keyring, ciphertext: Buffer, accepted: readonly EncryptionContext[]): Promise<string> {
  const { plaintext, messageHeader } = await decrypt(cachingManagerFor(k), ciphertext);
  const stored = messageHeader.encryptionContext;
  const matches = accepted.some((context) => Object.entries(context).every(([key, value]) => stored[key] === value));
  if (!matches) throw new Error('encryption context mismatch');
  return plaintext.toString('utf8');
}

