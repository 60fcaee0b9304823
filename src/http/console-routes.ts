import { readFile } from 'node:fs/promises';
import path from 'node:path';
import express from 'express';
import type { Config } from '../config.js';
import { notFound } from './responses.js';

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

  // Static files, like /audio: middleware rather than documented routes (src/http/openapi.ts
  // documents the API). /console alone becomes /console/, so relative URLs resolve under it.
  router.use(CONSOLE_PATH, (req, res, next) => {
    if ((req.method === 'GET' || req.method === 'HEAD') && req.originalUrl.split('?')[0] === CONSOLE_PATH) {
      res.redirect(301, `${CONSOLE_PATH}/`);
      return;
    }
    next();
  });
  router.use(
    `${CONSOLE_PATH}/assets`,
    express.static(path.join(config.consoleDir, 'assets'), {
      index: false,
      dotfiles: 'ignore',
      fallthrough: true,
      etag: true,
      setHeaders: (res) => res.setHeader('Cache-Control', IMMUTABLE),
    }),
  );
  // A missing asset (an old page asking for last deploy's hash) is a 404, never the page itself.
  router.use(`${CONSOLE_PATH}/assets`, (_req, res) => notFound(res));
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
  router.use(CONSOLE_PATH, async (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    let html: string;
    try {
      html = await readFile(indexFile, 'utf8');
    } catch {
      // Not built (the service started some other way than `npm start`, or CONSOLE_DIR is wrong): say how to fix it.
      res.status(503).type('text/plain').send('The console is not built: run `npm run build:web` (npm start builds it when missing).\n');
      return;
    }
    res.setHeader('Cache-Control', 'no-store');
    res.type('text/html').send(html);
  });
  return router;
}
