import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

/**
 * Two projects: the service's tests in Node (against the real PostgreSQL and Redis), and the
 * console's component tests (web/src/**) in happy-dom, a browser-like DOM.
 */
export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    env: { NODE_ENV: 'test' },
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'server', include: ['test/**/*.test.ts', 'src/**/*.test.ts'], environment: 'node' } },
      { extends: true, plugins: [react()], test: { name: 'web', include: ['web/src/**/*.test.{ts,tsx}'], environment: 'happy-dom' } },
    ],
  },
});
