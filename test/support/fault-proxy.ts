import net from 'node:net';

/**
 * A loopback TCP proxy in front of PostgreSQL or Redis that plays their faults without touching
 * the shared servers (other test files use them):
 * - `stop()`: every open connection is cut and new ones are closed at once (a stopped server);
 * - `hang()`: connections stay up and accept new ones, but no byte moves (a stalled path);
 * - `hangExisting()`: the connections open now stall; new ones work (one stuck connection);
 * - `drop()`: every open connection is cut once; new ones work (a failover, a network blip);
 * - `restore()`: back to forwarding (what was held during a hang moves on).
 * `upstreamPorts()` are the local ports of the proxy's own connections to the server: for
 * PostgreSQL, `pg_stat_activity.client_port` of exactly this proxy's backends.
 */
export interface FaultProxy {
  port: number;
  stop(): void;
  hang(): void;
  hangExisting(): void;
  drop(): void;
  restore(): void;
  upstreamPorts(): number[];
  /** Bytes the clients sent that a hang holds back (not yet forwarded): proof they asked something. */
  heldBytes(): number;
  close(): Promise<void>;
}

export async function startFaultProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<FaultProxy> {
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  let mode: 'pass' | 'stopped' | 'hung' = 'pass';

  const server = net.createServer((client) => {
    if (mode === 'stopped') {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    const pair = { client, upstream };
    pairs.add(pair);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => client.write(chunk));
    const done = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', done).on('error', done);
    upstream.on('close', done).on('error', done);
    if (mode === 'hung') {
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
  const cutAll = (): void => {
    for (const { client, upstream } of pairs) {
      client.destroy();
      upstream.destroy();
    }
    pairs.clear();
  };
  return {
    port,
    stop: () => {
      mode = 'stopped';
      cutAll();
    },
    hang: () => {
      mode = 'hung';
      pauseAll();
    },
    hangExisting: pauseAll,
    drop: cutAll,
    restore: () => {
      mode = 'pass';
      for (const { client, upstream } of pairs) {
        client.resume();
        upstream.resume();
      }
    },
    upstreamPorts: () => [...pairs].map((p) => p.upstream.localPort).filter((p): p is number => typeof p === 'number'),
    heldBytes: () => [...pairs].reduce((sum, p) => sum + p.client.readableLength, 0),
    close: async () => {
      cutAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
