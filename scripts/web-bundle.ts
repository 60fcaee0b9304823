import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root (this file is scripts/web-bundle.ts). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const WEB_DIR = path.join(ROOT, 'web');
export const WEB_DIST = path.join(WEB_DIR, 'dist');
/** Written into the build: the hash of the sources it was built from. */
const STAMP_FILE = '.build-stamp';
/** Part of the stamp: what the build is made as (React's production build, whatever NODE_ENV says). */
const BUILD_FLAVOUR = 'production';

/** What the bundle is built from: web/ (its dist aside) and the lockfile (a new Mantine is a new bundle). */
async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (full === WEB_DIST || entry.name === 'node_modules') continue;
      out.push(...(await sourceFiles(full)));
    } else if (entry.isFile() && !entry.name.endsWith('.test.ts') && !entry.name.endsWith('.test.tsx')) {
      out.push(full);
    }
  }
  return out;
}

/** One hash over the sources' paths and contents (mtimes change on checkout; contents are what matter). */
export async function sourceHash(): Promise<string> {
  const files = [...(await sourceFiles(WEB_DIR)), path.join(ROOT, 'package-lock.json')].sort();
  const hash = createHash('sha256');
  // How it is built: a bundle stamped before the console was always built for production is built again.
  hash.update(`${BUILD_FLAVOUR}\0`);
  for (const file of files) {
    hash.update(path.relative(ROOT, file)).update('\0');
    hash.update(await readFile(file)).update('\0');
  }
  return hash.digest('hex');
}

/** Null when the bundle is current; otherwise why it needs building. */
export async function staleReason(outDir: string = WEB_DIST): Promise<string | null> {
  let stamp: string;
  try {
    stamp = (await readFile(path.join(outDir, STAMP_FILE), 'utf8')).trim();
    await readFile(path.join(outDir, 'index.html'));
  } catch {
    return 'not built yet';
  }
  return stamp === (await sourceHash()) ? null : 'web/ changed since the last build';
}

/** Builds web/ with Vite into outDir and stamps it with the sources' hash. */
export async function buildWeb(outDir: string = WEB_DIST): Promise<void> {
  const hash = await sourceHash();
  // Vite is a development dependency: loaded only when a build is needed.
  const { build } = await import('vite');
  // Vite builds React for the NODE_ENV it finds: under the tests (NODE_ENV=test) that was React's
  // development build (40% larger, StrictMode mounting every page twice, so each page's requests went
  // twice, the first aborted). The console is always built as it ships.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({ configFile: path.join(WEB_DIR, 'vite.config.ts'), logLevel: 'warn', mode: 'production', build: { outDir } });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  await writeFile(path.join(outDir, STAMP_FILE), `${hash}\n`);
}

/** Builds when missing or stale; answers what it did. */
export async function ensureWebBuilt(outDir: string = WEB_DIST): Promise<{ built: boolean; reason: string | null }> {
  const reason = await staleReason(outDir);
  if (reason !== null) await buildWeb(outDir);
  return { built: reason !== null, reason };
}
