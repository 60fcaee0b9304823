import net from 'node:net';

/**
 * A loopback TCP proxy that can be frozen: it keeps accepting connections but stops moving
 * bytes either way, as a database behind a stalled network path looks to its clients (the
 * connection is up; no answer ever comes). Thawing moves what was held back.
 */
export interface FreezableProxy {
  port: number;
  /** Stop forwarding on every connection, present and future. */
  freeze(): void;
  /** Stop forwarding on the connections open now only; new ones work. */
  freezeExisting(): void;
  /** Forward again, everywhere. */
  thaw(): void;
  close(): Promise<void>;
}

export async function startFreezableProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<FreezableProxy> {
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  let frozen = false;

  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    const pair = { client, upstream };
    pairs.add(pair);
    // Plain 'data' forwarding (no pipe): nothing but thaw() resumes a paused socket.
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => client.write(chunk));
    const done = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', done).on('error', done);
    upstream.on('close', done).on('error', done);
    if (frozen) {
      client.pause();
      upstream.pause();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;

  const pauseAll = (): void => {
    for (const { client, upstream } of pairs) {
      client.pause();
      upstream.pause();
    }
  };
  return {
    port,
    freeze: () => {
      frozen = true;
      pauseAll();
    },
    freezeExisting: pauseAll,
    thaw: () => {
      frozen = false;
      for (const { client, upstream } of pairs) {
        client.resume();
        upstream.resume();
      }
    },
    close: async () => {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
