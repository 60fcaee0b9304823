import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../config.js';

/** Object storage for encrypted recordings: S3 when configured, the local disk otherwise. */
export interface Storage {
  kind: 's3' | 'local';
  init(): Promise<void>;
  /** Throws with a short reason when the store cannot be reached. */
  check(): Promise<void>;
  close(): Promise<void>;
}

export function createStorage(config: Config): Storage {
  const { s3Bucket, s3Endpoint, region } = config.aws;
  if (s3Bucket) {
    const client = new S3Client({
      region,
      ...(s3Endpoint ? { endpoint: s3Endpoint, forcePathStyle: true } : {}),
    });
    return {
      kind: 's3',
      init: async () => undefined,
      check: async () => {
        await client.send(new HeadBucketCommand({ Bucket: s3Bucket }));
      },
      close: async () => client.destroy(),
    };
  }
  const dir = path.join(config.dataDir, 'recordings');
  return {
    kind: 'local',
    init: async () => {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    },
    check: async () => {
      await access(dir, constants.W_OK | constants.R_OK);
    },
    close: async () => undefined,
  };
}
