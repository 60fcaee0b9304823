import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type express from 'express';
import { TIMED_OUT, withDeadline } from '../adapters/deadline.js';

export interface RunningServer {
  server: http.Server;
  port: number;
  /** Stops accepting, lets in-flight requests finish, forces the rest after `timeoutMs`. */
  drain(timeoutMs: number): Promise<void>;
}

/**
 * A request Node's parser refuses before Express sees it (headers or URL over the 16 KiB limit,
 * a malformed request line) gets its answer in JSON like every other refusal, never Node's
 * plain text. The request is not echoed.
 */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const body = JSON.stringify(
    status === 431
      ? { error: 'headers_too_large', message: 'the request line or headers are too large' }
      : status === 408
        ? { error: 'request_timeout', message: 'the request took too long to arrive' }
        : { error: 'bad_request', message: 'the request could not be read' },
  );
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n' +
      body,
  );
}

export async function listen(app: express.Express, port: number, host: string): Promise<RunningServer> {
  const server = http.createServer(app);
  server.keepAliveTimeout = 65_000; // longer than typical load balancer idle timeouts
  server.on('clientError', answerClientError);
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

interface ShutdownResult {
  /** True when the drain and the close both finished within the budget. */
  clean: boolean;
  drainedMs: number;
  totalMs: number;
}

/**
 * SIGTERM within one budget (SHUTDOWN_TIMEOUT_MS): stop accepting and drain in-flight requests,
 * then close the services (workers wait for their running jobs, then the pools) with whatever
 * budget remains. Never takes longer than `budgetMs`: a step still running then is abandoned and
 * the result is not clean, so the caller exits anyway. The drain gets at most `budgetMs` less
 * `closeReserveMs`, so a slow request cannot leave the pools no time to close.
 */
export async function shutdownWithin(
  budgetMs: number,
  steps: { drain: (timeoutMs: number) => Promise<void>; close: () => Promise<void> },
  opts: { closeReserveMs?: number; now?: () => number } = {},
): Promise<ShutdownResult> {
  const now = opts.now ?? ((): number => Date.now());
  const started = now();
  const deadline = started + budgetMs;
  const closeReserveMs = Math.min(opts.closeReserveMs ?? 2_000, Math.floor(budgetMs / 2));
  // A step that fails still counts as finished: the next one must run regardless.
  const within = async (work: Promise<void>, ms: number): Promise<boolean> =>
    (await withDeadline(work.then(() => true, () => true), Math.max(0, ms), { unref: true })) !== TIMED_OUT;
  const drainBudget = Math.max(0, budgetMs - closeReserveMs);
  // The drain forces open connections closed at its own timeout; the race is a second guard.
  const drained = await within(steps.drain(drainBudget), Math.min(drainBudget + 50, budgetMs));
  const drainedMs = now() - started;
  const closed = await within(steps.close(), deadline - now());
  return { clean: drained && closed, drainedMs, totalMs: now() - started };
}
