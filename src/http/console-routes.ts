import { readFile } from 'node:fs/promises';
import path from 'node:path';
import express from 'express';
import type { Config } from '../config.js';

/** Where the console lives: same origin as /api, so the session cookie and the CSRF check need no CORS. */
export const CONSOLE_PATH = '/console';

/** Vite's hashed file names: a name's content never changes, so a year in any cache is safe. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/**
 * The staff console (web/, built by Vite into CONSOLE_DIR): hashed assets cached for a year,
 * index.html never cached (it names the current assets, and a signed-out page must not come
 * back from a cache), and every other /console/* path answered with index.html so that a deep
 * link (/console/calls?from=…) opens the page the router draws. Reads no data: the page asks
 * /api for everything, with the session cookie.
 */
export function consoleRouter(config: Pick<Config, 'consoleDir'>): express.Router {
  const router = express.Router();
  const indexFile = path.join(config.consoleDir, 'index.html');

  router.get(CONSOLE_PATH, (_req, res) => {
    res.redirect(301, `${CONSOLE_PATH}/`);
  });
  router.use(
    `${CONSOLE_PATH}/assets`,
    express.static(path.join(config.consoleDir, 'assets'), {
      index: false,
      dotfiles: 'ignore',
      fallthrough: false,
      etag: true,
      setHeaders: (res) => res.setHeader('Cache-Control', IMMUTABLE),
    }),
  );
  // Anything else the build put at its top level (an icon): revalidated, it has no hash in its name.
  router.use(
    CONSOLE_PATH,
    express.static(config.consoleDir, {
      index: false,
      dotfiles: 'ignore',
      fallthrough: true,
      etag: true,
      setHeaders: (res, file) => res.setHeader('Cache-Control', path.basename(file) === 'index.html' ? 'no-store' : 'no-cache'),
    }),
  );
  router.get(`${CONSOLE_PATH}/{*rest}`, async (_req, res) => {
    let html: string;
    try {
      html = await readFile(indexFile, 'utf8');
    } catch {
      // Not built (a checkout started with `npm run start` skipped, or CONSOLE_DIR wrong): say how to fix it.
      res.status(503).type('text/plain').send('The console is not built: run `npm run build:web` (npm start builds it when missing).\n');
      return;
    }
    res.setHeader('Cache-Control', 'no-store');
    res.type('text/html').send(html);
  });
  return router;
}
