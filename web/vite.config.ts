import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

/** The service `npm run dev:web` proxies /api to (the one `npm start` runs). */
const API_TARGET = process.env.AHL_URL ?? `http://localhost:${process.env.PORT ?? '3000'}`;

/**
 * The console: built into web/dist, which the service serves at /console/ (src/http/console-routes.ts).
 * Hashed file names under assets/ (cached for a year); index.html is never cached.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    // No source maps in the bundle the service serves.
    sourcemap: false,
    // Every script is a file under 'self' (CSP: script-src 'self', no inline script).
    assetsInlineLimit: 0,
    // One chunk of React, Mantine and the pages (about 160 kB gzipped), fetched once and cached
    // for a year under its hashed name: splitting it would buy nothing yet.
    chunkSizeWarningLimit: 800,
  },
  server: {
    port: 5173,
    strictPort: true,
    // The service accepts a state-changing request only from its own origin: through the proxy,
    // the request comes from the service's origin (Host and Origin both rewritten to it).
    proxy: {
      '/api': {
        target: API_TARGET,
        changeOrigin: true,
        configure: (proxy) => {
          proxy.on('proxyReq', (req) => {
            if (req.getHeader('origin') !== undefined) req.setHeader('origin', API_TARGET);
          });
        },
      },
    },
  },
});
