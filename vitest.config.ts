import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

/**
 * Two projects: the service's tests in Node (against the real PostgreSQL and Redis), and the
 * console's component tests (web/src/**) in happy-dom, a browser-like DOM.
 */
export default defineConfig({
  test: {
    pool: 'forks',
    // Most test files wait on PostgreSQL, Redis and sockets rather than the CPU: three files at a
    // time on CI's two cores (Vitest's default there would be one). Override: VITEST_MAX_WORKERS.
    maxWorkers: Number(process.env.VITEST_MAX_WORKERS ?? 3),
    testTimeout: 60_000,
    hookTimeout: 60_000,
    env: { NODE_ENV: 'test' },
    reporters: ['default'],
    projects: [
      // isolate: false — a worker keeps the modules it imported from one test file to the next, so
      // src/ (the AWS SDK, Twilio, BullMQ…) is imported once per worker, not once per file (about
      // 40% less CPU on CI's two cores). Each file still starts its own services, schema and key
      // prefix through the harness; nothing in src/ keeps state in a module that one file could
      // leave for the next.
      { extends: true, test: { name: 'server', isolate: false, include: ['test/**/*.test.ts', 'src/**/*.test.ts'], environment: 'node' } },
      { extends: true, plugins: [react()], test: { name: 'web', include: ['web/src/**/*.test.{ts,tsx}'], environment: 'happy-dom' } },
    ],
  },
});
