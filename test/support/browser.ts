import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import { ensureWebBuilt, ROOT } from '../../scripts/web-bundle.js';
import { startHarness, type Harness } from './harness.js';

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it when missing). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Headless, no sandbox (containers), and nothing that reaches the network on its own. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

export const SCREENSHOTS_DIR = path.join(ROOT, 'docs', 'screenshots');

/**
 * Whether the browser tests run here: they need Chromium. Without it they are skipped on a
 * developer's machine, and fail in CI (`CI` set), where a skipped browser test would hide a gap.
 */
export function browserTestsSkipReason(): string | null {
  if (existsSync(CHROMIUM_PATH)) return null;
  if (process.env.CI) return null;
  return `skipped: ${CHROMIUM_PATH} is missing (apt-get install -y chromium); with CI set this fails instead`;
}

export interface ConsoleBrowser {
  harness: Harness;
  context: BrowserContext;
  /** http://127.0.0.1:<port>/console<path> */
  url(pathInConsole?: string): string;
  /** A new tab that records what the page complained of: CSP refusals, script errors. */
  newPage(): Promise<{ page: Page; problems: string[] }>;
  close(): Promise<void>;
}

/**
 * The real service (test/support/harness.ts: PostgreSQL, Redis, the workers) serving the console
 * bundle (built first when missing or stale), and Chromium with a fresh profile of its own. The
 * service runs in development, as `npm start` does: Chromium reaches it at http://127.0.0.1:<port>,
 * which the CSRF Origin check accepts only there (elsewhere it wants PUBLIC_BASE_URL's origin).
 * `opts.clock`: the service's clock (a test that moves time, e.g. into calling hours).
 */
export async function startConsoleBrowser(name: string, env: Record<string, string> = {}, opts: { clock?: () => Date } = {}): Promise<ConsoleBrowser> {
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`Chromium is missing at ${CHROMIUM_PATH}: apt-get install -y chromium (.ci/run does)`);
  await ensureWebBuilt();
  const harness = await startHarness(name, { NODE_ENV: 'development', ...env }, opts);
  const profile = await mkdtemp(path.join(os.tmpdir(), 'ahl-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 800 },
      locale: 'en-US',
      timezoneId: 'America/New_York',
    });
  } catch (err) {
    await harness.close();
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
  return {
    harness,
    context,
    url: (p = '/') => `${harness.baseUrl}/console${p}`,
    newPage: async () => {
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m: ConsoleMessage) => {
        if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
      });
      page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
      return { page, problems };
    },
    close: async () => {
      await context.close().catch(() => undefined);
      await harness.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** axe's serious and critical findings on the page as it is now (rule id and the elements). */
export async function seriousAxeViolations(page: Page): Promise<string[]> {
  // A dialog still fading in has colours part-way (axe then measures a contrast nobody sees):
  // wait until no finite CSS transition or animation is running (a spinner's loop never ends).
  const settled = `document.getAnimations().every((a) =>
    a.playState !== 'running' || a.effect?.getComputedTiming().endTime === Infinity)`;
  // Polled with evaluate: waitForFunction compiles its text in the page, which the console's CSP forbids.
  for (let i = 0; i < 50 && !(await page.evaluate<boolean>(settled)); i++) await new Promise((r) => setTimeout(r, 100));
  const result = await new AxeBuilder({ page }).analyze();
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** Saves a screenshot under docs/screenshots/ (the README shows them). */
export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOTS_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS_DIR, `${name}.png`), fullPage: true });
}

/** The accessible names of the elements Tab reaches from the top of the page, in order. */
/** In the page (as text: this program is typed for Node, not the DOM): the focused element's accessible name, roughly. */
const FOCUSED_NAME = `(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return '(body)';
  const labelled = el.getAttribute('aria-label');
  if (labelled) return labelled;
  const label = el.id ? document.querySelector('label[for="' + CSS.escape(el.id) + '"]')?.textContent : null;
  return (label ?? el.textContent ?? el.tagName).replace(/\\s+/g, ' ').trim();
})()`;

/** The accessible names of the elements Tab reaches from the top of the page, in order. */
export async function tabOrder(page: Page, presses: number): Promise<string[]> {
  await page.evaluate('document.activeElement?.blur()');
  const names: string[] = [];
  for (let i = 0; i < presses; i++) {
    await page.keyboard.press('Tab');
    names.push(await page.evaluate<string>(FOCUSED_NAME));
  }
  return names;
}

/**
 * Where the page shows any of `phi` (a test patient's names, date of birth, numbers): its address
 * (as sent and decoded), its title and browser storage; and browser storage that holds anything at
 * all (the console keeps nothing there). Empty when the page is clean.
 */
export async function phiInBrowser(page: Page, phi: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  const url = page.url();
  const title = await page.title();
  const stored = await page.evaluate<string>('JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])');
  for (const identity of phi) {
    if (url.includes(identity) || decodeURIComponent(url).includes(identity)) found.push(`address holds ${identity}`);
    if (title.includes(identity)) found.push(`title holds ${identity}`);
    if (stored.includes(identity)) found.push(`browser storage holds ${identity}`);
  }
  const [local, session] = await page.evaluate<number[]>('[localStorage.length, sessionStorage.length]');
  if (local !== 0 || session !== 0) found.push(`browser storage is not empty (local ${local}, session ${session})`);
  return found;
}

/** At 375 px: sideways scroll and axe's serious findings (empty when the page fits a phone); back to 1280 after. */
export async function phoneWidthProblems(page: Page): Promise<string[]> {
  await page.setViewportSize({ width: 375, height: 812 });
  const problems: string[] = [];
  const width = await page.evaluate<number>('document.documentElement.scrollWidth');
  if (width > 375) problems.push(`scrolls sideways at 375 px (${width} px wide)`);
  problems.push(...(await seriousAxeViolations(page)));
  await page.setViewportSize({ width: 1280, height: 800 });
  return problems;
}

/** Runs `ready` and prints how long it took (load times are reported, never asserted). */
export async function timed(label: string, ready: () => Promise<unknown>): Promise<void> {
  const started = Date.now();
  await ready();
  process.stdout.write(`console ${label} ready in ${Date.now() - started} ms\n`);
}
