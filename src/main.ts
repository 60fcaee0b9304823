import { ConfigError, loadConfig } from './config.js';
import { startServices } from './services.js';
import { startWorkers } from './workers.js';
import { createApp } from './http/app.js';
import { createMetricsApp } from './http/metrics-routes.js';
import { listen, shutdownWithin } from './http/server.js';
import { logger } from './log/logger.js';
import { AuditAction } from './audit/events.js';
import { auditWriterStats } from './audit/store.js';
import { DEMO } from './practices/seed.js';
import { resolvePractice } from './practices/store.js';
import { DEMO_ADMIN_EMAIL, demoAdminInvitation } from './auth/accounts.js';
import { loadLogModeTwilio } from './log-mode.js';

/** Kept back from SHUTDOWN_TIMEOUT_MS for the last log line and the exit itself. */
const EXIT_MARGIN_MS = 150;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\nSee README.md, "Configuration".\n`);
      process.exit(1);
    }
    throw err;
  }
  logger.level = config.logLevel;

  // Log mode (no Twilio account) runs on the development stand-in from devtools/ (./log-mode.ts).
  const twilio = await loadLogModeTwilio(config);
  const services = await startServices(config, twilio === undefined ? {} : { twilio });
  // The job workers, the maintenance schedule and the fallback numbers (./workers.ts); they stop before the adapters.
  const workers = await startWorkers(services);
  const app = createApp(services);
  const running = await listen(app, config.port, config.host);
  // METRICS_PORT: /metrics on a port of its own (loopback unless METRICS_HOST says otherwise).
  const metricsServer = config.metrics.port === undefined ? null : await listen(createMetricsApp(services), config.metrics.port, config.metrics.host);
  await services.audit({ action: AuditAction.SystemStarted, actor: 'system', details: { storage: services.storage.kind, keyring: services.keyring.kind } });

  // The stop is in place before the service says it is listening: a SIGTERM sent as soon as the
  // banner appears must not meet the default action (an immediate kill).
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { event: signal });
    // The whole stop fits in SHUTDOWN_TIMEOUT_MS: drain, close with what is left, then exit
    // whatever is still running (a job that will not stop, a pool that will not close).
    const budget = config.shutdownTimeoutMs;
    // Last resort, should the event loop itself be stuck; the steps end EXIT_MARGIN_MS before it.
    const hardStop = setTimeout(() => process.exit(1), budget);
    hardStop.unref();
    const drain = async (ms: number): Promise<void> => {
      await Promise.all([running.drain(ms), metricsServer?.drain(ms)]);
    };
    const close = async (): Promise<void> => {
      await workers.close();
      await services.close();
    };
    const steps = { drain, close };
    const result = await shutdownWithin(Math.max(50, budget - EXIT_MARGIN_MS), steps);
    // What this instance's audit writer did: lock waits and collisions mean instances shared a chain.
    const audit = auditWriterStats(services.audit);
    if (audit) process.stdout.write(`audit writer: ${audit.batches} batches, ${audit.rows} rows, ${audit.lockWaits} lock waits, ${audit.conflicts} chain collisions\n`);
    if (result.clean) logger.info('stopped', { event: signal, durationMs: result.totalMs });
    else logger.warn('stopped before everything closed (shutdown budget spent)', { event: signal, durationMs: result.totalMs });
    process.exit(result.clean ? 0 : 1);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  // The demo admin's first sign-in: a one-time link on the console (stdout), never in the log.
  const demo = config.seedDemo ? await resolvePractice(services.db, DEMO.slug) : null;
  const demoInvite = demo ? await demoAdminInvitation(services, demo.id) : null;
  const local = `http://127.0.0.1:${running.port}`;
  logger.info('listening', { port: running.port, storage: services.storage.kind, keyring: services.keyring.kind });
  if (metricsServer) logger.info('metrics listening', { port: metricsServer.port });
  process.stdout.write(
    [
      `After-hours line listening on ${local}  (Twilio webhooks: ${config.publicBaseUrl}/twilio/voice/incoming)`,
      `  storage: ${services.storage.kind === 'local' ? `local disk (${config.dataDir})` : 'S3'}; keys: ${services.keyring.kind === 'local' ? `local master key (${config.localMasterKeyFile})` : 'KMS'}`,
      services.seeded ? `  seeded demo practice "${DEMO.name}" (id ${services.seeded.id}), number ${DEMO.number}` : '',
      `  staff console: ${local}/console/`,
      `  try a call: npm run simulate -- --digits 1,2 --recording 15:#`,
      demoInvite ? `  demo admin (${DEMO_ADMIN_EMAIL}): set a password and TOTP through this one-time link: ${demoInvite}` : '',
      '',
    ]
      .filter(Boolean)
      .join('\n') + '\n',
  );

}

main().catch((err: unknown) => {
  logger.error('start failed', { err });
  process.stderr.write(`start failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
