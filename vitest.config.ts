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
      { extends: true, test: { name: 'server', include: ['test/**/*.test.ts', 'src/**/*.test.ts'], environment: 'node' } },
      { extends: true, plugins: [react()], test: { name: 'web', include: ['web/src/**/*.test.{ts,tsx}'], environment: 'happy-dom' } },
    ],
  },
});
