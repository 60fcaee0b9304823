import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { createDb } from '../src/adapters/postgres.js';
import { browserTestsSkipReason, screenshot, seriousAxeViolations, startConsoleBrowser, tabOrder, type ConsoleBrowser } from './support/browser.js';
import { createConsoleUser, signIn } from './support/console-user.js';
import { seedPractice } from './support/two-practices.js';

// page.evaluate takes expressions as text here: the test program is typed for Node, not the DOM.

/**
 * The staff console in Debian's Chromium against the real service: the sign-in page (axe at
 * 1280 and 375 px, keyboard order, the CSP refusing nothing the bundle does, no browser storage),
 * deep links, and the Calls page signed in as a staff member (test/support/console-user.ts).
 */
const skip = browserTestsSkipReason();

describe.skipIf(skip !== null)(`console in Chromium${skip ? ` (${skip})` : ''}`, () => {
  let b: ConsoleBrowser;

  beforeAll(async () => {
    b = await startConsoleBrowser('console_browser');
  }, 240_000);
  afterAll(async () => {
    await b?.close();
  });

  it('a signed-out visit to the console lands on sign-in, which axe passes, and nothing is refused or stored', async () => {
    const { page, problems } = await b.newPage();
    const started = Date.now();
    await page.goto(b.url('/'));
    await page.getByRole('heading', { name: 'After-hours console' }).waitFor();
    // Measured, not asserted (issue 14: report the load time).
    process.stdout.write(`console sign-in page ready in ${Date.now() - started} ms\n`);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    expect(await page.title()).toBe('Sign in · After-hours console');
    await expect(page.getByLabel(/^E-mail/).isVisible()).resolves.toBe(true);
    await expect(page.getByLabel(/^Password/).isVisible()).resolves.toBe(true);
    await expect(page.getByRole('button', { name: 'Continue' }).isVisible()).resolves.toBe(true);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'sign-in');
    // Mantine injects no <style> element the CSP would refuse; the bundle runs no inline script.
    expect(problems).toEqual([]);
    expect(await page.evaluate<number[]>('[localStorage.length, sessionStorage.length]')).toEqual([0, 0]);
    await page.close();
  });

  it('at 375 px wide: no sideways scroll, and axe still passes', async () => {
    const { page, problems } = await b.newPage();
    await page.setViewportSize({ width: 375, height: 812 });
    await page.goto(b.url('/sign-in'));
    await page.getByRole('heading', { name: 'After-hours console' }).waitFor();
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'sign-in-375');
    expect(problems).toEqual([]);
    await page.close();
  });

  it('keyboard only: Tab reaches e-mail, password, Continue, then the practice code for single sign-on', async () => {
    const { page } = await b.newPage();
    await page.goto(b.url('/sign-in'));
    await page.getByRole('heading', { name: 'After-hours console' }).waitFor();
    const order = await tabOrder(page, 4);
    expect(order).toEqual([expect.stringContaining('E-mail'), expect.stringContaining('Password'), 'Continue', expect.stringContaining('Practice code')]);
    // The single sign-on button becomes a link to the practice's start once a code is typed.
    await page.keyboard.type('demo');
    await page.keyboard.press('Tab');
    const sso = page.getByRole('link', { name: "Sign in with your practice's single sign-on" });
    expect(await sso.getAttribute('href')).toBe('/api/auth/oidc/start?practice=demo');
    expect(await page.evaluate<string | undefined>('document.activeElement?.textContent')).toBe("Sign in with your practice's single sign-on");
    await page.close();
  });

  it('a deep link is served the console (not a 404) and, signed out, goes to sign-in; the index is never cached', async () => {
    const { page } = await b.newPage();
    const res = await page.goto(b.url('/calls?outcome=message'));
    expect(res?.status()).toBe(200);
    expect(res?.headers()['cache-control']).toBe('no-store');
    await page.getByRole('heading', { name: 'After-hours console' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    await page.close();
  });

  it('signed in with password and TOTP, a staff member works the Calls page', async () => {
    const owner = createDb(b.harness.config.database.url, b.harness.schema, 1);
    try {
      const practice = await seedPractice(b.harness, owner, 'Calloway', 3);
      const user = await createConsoleUser(b.harness, practice.id, 'staff');
      const { page, problems } = await b.newPage();
      page.setDefaultTimeout(20_000);
      await signIn(page, b.harness.baseUrl, user);
      await checkCallsPage(page, b.url('/calls'), [practice.patientFirstName, practice.patientLastName, practice.patientPhone, practice.patientDateOfBirth]);
      expect(problems).toEqual([]);
      await page.close();
    } finally {
      await owner.destroy();
    }
  }, 120_000);
});

/**
 * The Calls page, on a signed-in page of a practice that has calls: the list, a filter that lands
 * in the URL (codes only), axe at full width and at 375 px, the title free of PHI.
 */
async function checkCallsPage(page: Page, callsUrl: string, phi: readonly string[] = []): Promise<void> {
  await page.setViewportSize({ width: 1280, height: 800 });
  const started = Date.now();
  await page.goto(callsUrl);
  await page.getByRole('heading', { name: 'Calls' }).waitFor();
  await page.getByRole('table').waitFor();
  process.stdout.write(`console Calls page ready in ${Date.now() - started} ms\n`);
  expect(await page.title()).toBe('Calls · After-hours console');
  expect(await page.getByRole('row').count()).toBeGreaterThan(1);
  expect(await seriousAxeViolations(page)).toEqual([]);
  await screenshot(page, 'calls');
  await page.getByLabel('Outcome').selectOption('message');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.waitForURL(/outcome=message/);
  for (const identity of phi) {
    expect(page.url()).not.toContain(identity);
    expect(await page.title()).not.toContain(identity);
  }
  await page.setViewportSize({ width: 375, height: 812 });
  expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
  expect(await seriousAxeViolations(page)).toEqual([]);
  await screenshot(page, 'calls-375');
}
