import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type express from 'express';

export interface RunningServer {
  server: http.Server;
  port: number;
  /** Stops accepting, lets in-flight requests finish, forces the rest after `timeoutMs`. */
  drain(timeoutMs: number): Promise<void>;
}

export async function listen(app: express.Express, port: number, host: string): Promise<RunningServer> {
  const server = http.createServer(app);
  server.keepAliveTimeout = 65_000; // longer than typical load balancer idle timeouts
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actualPort = (server.address() as AddressInfo).port;
  return {
    server,
    port: actualPort,
    drain: (timeoutMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.closeAllConnections();
        }, timeoutMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
