import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback KMS speaking the JSON 1.1 protocol (`x-amz-target: TrentService.<Op>`, base64 blobs)
 * for GenerateDataKey, Encrypt and Decrypt. Backed by a real AES-256-GCM master key: CiphertextBlob
 * really wraps the data key, with the encryption context bound as AAD, and Decrypt really unwraps
 * it (a different context is refused with InvalidCiphertextException, as KMS does).
 */
export interface KmsDouble {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  /** The key ARN (arn:aws:kms:us-east-1:111122223333:key/<uuid>). */
  keyId: string;
  /** Every request received, in order (failed ones included). */
  calls: Array<{ target: string }>;
  /** Answers the next n requests with a 500 (KMS "down"). */
  failNext(n: number): void;
  close(): Promise<void>;
}

const ACCOUNT = '111122223333';
const REGION = 'us-east-1';
const VERSION = 0x01;

class KmsError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/** AAD: the encryption context, canonical (sorted keys), as KMS binds it. */
function contextAad(context: unknown): Buffer {
  if (context === undefined || context === null) return Buffer.alloc(0);
  if (typeof context !== 'object') throw new KmsError(400, 'ValidationException', 'EncryptionContext must be a map');
  const entries = Object.entries(context as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [, v] of entries) {
    if (typeof v !== 'string') throw new KmsError(400, 'ValidationException', 'EncryptionContext values must be strings');
  }
  return Buffer.from(JSON.stringify(entries), 'utf8');
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const payload = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    'content-type': 'application/x-amz-json-1.1',
    'content-length': String(payload.length),
    'x-amzn-requestid': randomUUID(),
  });
  res.end(payload);
}

export async function startKmsDouble(): Promise<KmsDouble> {
  const keyUuid = randomUUID();
  const keyArn = `arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyUuid}`;
  const keyUuidBytes = Buffer.from(keyUuid.replace(/-/g, ''), 'hex');
  const master = randomBytes(32);
  const calls: Array<{ target: string }> = [];
  let failures = 0;

  const checkKeyId = (keyId: unknown): void => {
    if (keyId === undefined) return;
    if (keyId !== keyArn && keyId !== keyUuid) throw new KmsError(400, 'NotFoundException', 'Key not found');
  };

  /** version(1) | key uuid(16) | iv(12) | tag(16) | ciphertext */
  const wrap = (plaintext: Buffer, context: unknown): Buffer => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', master, iv);
    cipher.setAAD(contextAad(context));
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([Buffer.from([VERSION]), keyUuidBytes, iv, cipher.getAuthTag(), ct]);
  };

  const unwrap = (blob: Buffer, context: unknown): Buffer => {
    const invalid = new KmsError(400, 'InvalidCiphertextException', 'The ciphertext is invalid');
    if (blob.length < 1 + 16 + 12 + 16 || blob[0] !== VERSION) throw invalid;
    if (!blob.subarray(1, 17).equals(keyUuidBytes)) throw invalid;
    const iv = blob.subarray(17, 29);
    const tag = blob.subarray(29, 45);
    const decipher = createDecipheriv('aes-256-gcm', master, iv);
    decipher.setAAD(contextAad(context));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(blob.subarray(45)), decipher.final()]);
    } catch {
      throw invalid;
    }
  };

  const blob = (value: unknown): Buffer => {
    if (typeof value !== 'string' || value.length === 0) throw new KmsError(400, 'ValidationException', 'blob required');
    return Buffer.from(value, 'base64');
  };

  const handle = (target: string, input: Record<string, unknown>): unknown => {
    switch (target) {
      case 'TrentService.GenerateDataKey': {
        checkKeyId(input.KeyId);
        if (input.KeyId === undefined) throw new KmsError(400, 'ValidationException', 'KeyId required');
        const n = input.NumberOfBytes ?? (input.KeySpec === 'AES_128' ? 16 : 32);
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 1024) {
          throw new KmsError(400, 'ValidationException', 'NumberOfBytes out of range');
        }
        const dataKey = randomBytes(n);
        return {
          KeyId: keyArn,
          Plaintext: dataKey.toString('base64'),
          CiphertextBlob: wrap(dataKey, input.EncryptionContext).toString('base64'),
        };
      }
      case 'TrentService.Encrypt': {
        checkKeyId(input.KeyId);
        if (input.KeyId === undefined) throw new KmsError(400, 'ValidationException', 'KeyId required');
        return {
          KeyId: keyArn,
          CiphertextBlob: wrap(blob(input.Plaintext), input.EncryptionContext).toString('base64'),
          EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        };
      }
      case 'TrentService.Decrypt': {
        if (input.KeyId !== undefined && input.KeyId !== keyArn && input.KeyId !== keyUuid) {
          throw new KmsError(400, 'IncorrectKeyException', 'The key ID in the request does not identify the key used');
        }
        return {
          KeyId: keyArn,
          Plaintext: unwrap(blob(input.CiphertextBlob), input.EncryptionContext).toString('base64'),
          EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        };
      }
      default:
        throw new KmsError(400, 'UnknownOperationException', 'unsupported operation');
    }
  };

  const server = createServer((req, res) => {
    void (async () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      calls.push({ target });
      const raw = await readBody(req);
      if (failures > 0) {
        failures -= 1;
        send(res, 500, { __type: 'KMSInternalException', message: 'simulated outage' });
        return;
      }
      try {
        if (req.method !== 'POST') throw new KmsError(400, 'ValidationException', 'POST expected');
        const input = (raw.length ? JSON.parse(raw.toString('utf8')) : {}) as Record<string, unknown>;
        send(res, 200, handle(target, input));
      } catch (err) {
        if (err instanceof KmsError) send(res, err.status, { __type: err.type, message: err.message });
        else send(res, 400, { __type: 'SerializationException', message: 'malformed request' });
      }
    })().catch(() => {
      if (!res.headersSent) send(res, 500, { __type: 'KMSInternalException', message: 'double failed' });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    keyId: keyArn,
    calls,
    failNext: (n) => {
      failures = n;
    },
    close: async () => {
      const closing = new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
      server.closeAllConnections();
      await closing;
    },
  };
}
