import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The part of s3rver's (untyped) API used here. */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  httpServer?: Server;
}
type S3rverCtor = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: Array<{ name: string }>;
}) => S3rverInstance;

const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;

/**
 * s3rver 3.x checks signatures against its one built-in key pair: any other access key id is
 * refused with InvalidAccessKeyId. Tests put these in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
 * so that the SDK's default credential chain picks them up.
 */
export const S3_DOUBLE_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface S3Double {
  /** http://127.0.0.1:<port>; use with forcePathStyle. */
  endpoint: string;
  bucket: string;
  /** s3rver's on-disk store. */
  dir: string;
  /** Every HTTP request the double received (method and path with query), across restarts. */
  requests: Array<{ method: string; url: string }>;
  /** Takes the server down (storage "down"); objects stay on disk. */
  stop(): Promise<void>;
  /** Brings it back on the same port and directory. */
  restart(): Promise<void>;
  /** Stops (if running) and removes the directory. */
  dispose(): Promise<void>;
}

/** A loopback S3 (s3rver) with one bucket, on a random port, silent, in a temp directory. */
export async function startS3Double(bucket = 'ahl-test-recordings'): Promise<S3Double> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ahl-s3-'));
  let port = 0;
  let server: S3rverInstance | null = null;
  const requests: Array<{ method: string; url: string }> = [];

  const start = async (): Promise<void> => {
    const instance = new S3rver({
      address: '127.0.0.1',
      port,
      silent: true,
      directory: dir,
      configureBuckets: [{ name: bucket }],
    });
    const info = await instance.run();
    instance.httpServer?.prependListener('request', (req: IncomingMessage) => {
      requests.push({ method: req.method ?? '', url: req.url ?? '' });
    });
    port = info.port;
    server = instance;
  };

  const stop = async (): Promise<void> => {
    const running = server;
    if (!running) return;
    server = null;
    const closing = running.close();
    // Keep-alive sockets from SDK clients would hold close() open: drop them, as a crash would.
    running.httpServer?.closeAllConnections();
    await closing;
  };

  await start();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    dir,
    requests,
    stop,
    restart: async () => {
      if (server) return;
      await start();
    },
    dispose: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
