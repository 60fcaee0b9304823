import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { DEMO } from '../src/practices/seed.js';
import { DEFAULT_TEST_NOW } from './support/harness.js';
import { browserTestsSkipReason, phiInBrowser, phoneWidthProblems, screenshot, seriousAxeViolations, startConsoleBrowser, timed, type ConsoleBrowser } from './support/browser.js';
import { createConsoleUser, seededDemoPractice, signedInPage, type ConsoleUser } from './support/console-user.js';

// page.evaluate takes expressions as text here: the test program is typed for Node, not the DOM.

/**
 * The console's practice pages in Debian's Chromium against the real service, PostgreSQL and
 * Redis, on the demo practice (its patient, providers, schedule and policy): an admin signed in
 * with password and TOTP searches a patient and opens them, imports a CSV (dry run, the bar,
 * the row report, then for real), adds an override on On call and asks for and accepts a swap, and reads Settings. Each page:
 * axe finds nothing serious or critical (at 1280 and 375 px), and the patient's identity is in
 * no title, URL or browser storage. Load times are printed, not asserted.
 */
const skip = browserTestsSkipReason();
const PHI = [DEMO.patient.firstName, DEMO.patient.lastName, DEMO.patient.dateOfBirth, DEMO.patient.phone];

describe.skipIf(skip !== null)(`console practice pages in Chromium${skip ? ` (${skip})` : ''}`, () => {
  let b: ConsoleBrowser;
  let admin: ConsoleUser;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    b = await startConsoleBrowser('console_practice');
    admin = await createConsoleUser(b.harness, await seededDemoPractice(b.harness, DEFAULT_TEST_NOW), 'admin');
    ({ page, problems } = await signedInPage(b, admin));
  }, 240_000);
  afterAll(async () => {
    await b?.close();
  });

  it('Patients: a search (terms in the body, never the URL), the patient opened by id, consents and appointments', async () => {
    await timed('Patients page', async () => {
      await page.goto(b.url('/patients'));
      await page.getByRole('heading', { name: 'Patients', level: 1 }).waitFor();
    });
    expect(await page.title()).toBe('Patients · After-hours console');
    const searched = page.waitForRequest((r) => r.url().endsWith('/api/patients/search'));
    await page.getByLabel('Name').fill(DEMO.patient.lastName);
    await page.getByLabel('Date of birth').fill(DEMO.patient.dateOfBirth);
    await page.getByRole('button', { name: 'Search' }).click();
    const request = await searched;
    expect(request.method()).toBe('POST');
    expect(JSON.parse(request.postData() ?? '{}')).toMatchObject({ name: DEMO.patient.lastName, dateOfBirth: DEMO.patient.dateOfBirth });
    const link = page.getByRole('link', { name: `${DEMO.patient.firstName} ${DEMO.patient.lastName}` });
    await link.waitFor();
    expect(new URL(page.url()).pathname).toBe('/console/patients');
    expect(new URL(page.url()).search).toBe('');
    expect(await phiInBrowser(page, PHI)).toEqual([]);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'patients');
    expect(await phoneWidthProblems(page)).toEqual([]);

    await timed('patient detail', async () => {
      await link.click();
      await page.getByRole('heading', { name: `${DEMO.patient.firstName} ${DEMO.patient.lastName}`, level: 1 }).waitFor();
      await page.getByRole('heading', { name: 'Consents' }).waitFor();
      await page.getByText(/^Ringless voicemail: /).waitFor();
    });
    expect(new URL(page.url()).pathname).toMatch(/^\/console\/patients\/[0-9a-f-]{36}$/);
    expect(await page.title()).toBe('Patient · After-hours console');
    await page.getByText(/· booked/).first().waitFor();
    expect(await phiInBrowser(page, PHI)).toEqual([]);
    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(await phoneWidthProblems(page)).toEqual([]);
    expect(problems).toEqual([]);
  }, 180_000);

  it('Import a CSV: the dry run reports the invalid row by field, the bar reaches the report, then the import for real', async () => {
    await timed('Import page', async () => {
      await page.goto(b.url('/patients/import'));
      await page.getByRole('heading', { name: 'Import a CSV' }).waitFor();
    });
    const header = 'mrn,first_name,last_name,date_of_birth,phone,home_phone,preferred_language,us_state';
    const bad = `${header}\nQ-100,Casey,Importer,1975-06-09,+12025550181,,en,DC\nQ-101,Drew,Importer,1978-13-40,+12025550182,,es,DC\n`;
    await page.getByLabel('CSV file').setInputFiles({ name: 'patients.csv', mimeType: 'text/csv', buffer: Buffer.from(bad) });
    await page.getByText('2 rows in the file.').waitFor();
    await page.getByRole('button', { name: 'Dry run' }).click();
    await page.getByRole('heading', { name: 'Row report' }).waitFor();
    expect(await page.getByRole('progressbar', { name: 'Dry run progress' }).getAttribute('aria-valuenow')).toBe('100');
    const invalid = page.getByRole('row').filter({ hasText: 'date_of_birth' });
    await expect(invalid.getByRole('cell').first().textContent()).resolves.toBe('3');
    await expect(page.getByRole('button', { name: 'Import for real' }).count()).resolves.toBe(0);

    const good = `${header}\nQ-100,Casey,Importer,1975-06-09,+12025550181,,en,DC\nQ-101,Drew,Importer,1978-02-03,+12025550182,,es,DC\n`;
    await page.getByLabel('CSV file').setInputFiles({ name: 'patients.csv', mimeType: 'text/csv', buffer: Buffer.from(good) });
    await page.getByRole('button', { name: 'Dry run' }).click();
    await page.getByText(/^Dry run: 2 new, 0 updated, 0 duplicate, 0 invalid\./).waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.getByRole('button', { name: 'Import for real' }).click();
    await page.getByText('Imported: 2 new, 0 updated, 0 duplicate, 0 invalid.').waitFor();
    expect(await page.getByRole('progressbar', { name: 'Import progress' }).getAttribute('aria-valuenow')).toBe('100');
    await screenshot(page, 'patients-import');
    const imported = await b.harness.services.db.selectFrom('imports').select(['dry_run', 'committed', 'created_count']).orderBy('created_at').execute();
    expect(imported.map((i) => [i.dry_run, i.committed, i.created_count])).toEqual([
      [true, false, 1],
      [true, false, 2],
      [false, true, 2],
    ]);
    expect(await phoneWidthProblems(page)).toEqual([]);
    expect(problems).toEqual([]);
  }, 180_000);

  it('On call: who is on call now, the week per schedule, an override added, a swap requested and accepted, the policies and calendar links', async () => {
    await timed('On call page', async () => {
      await page.goto(b.url('/on-call'));
      await page.getByRole('heading', { name: 'On call now' }).waitFor();
      await page.getByRole('list', { name: /: the week$/ }).first().waitFor();
    });
    expect(await page.title()).toBe('On call · After-hours console');
    await page.getByText(DEMO.providers[0].displayName).first().waitFor();
    await page.getByRole('heading', { name: 'Escalation policies' }).waitFor();

    // Tomorrow 09:00–17:00 (the browser's time), the backup doctor.
    const day = new Date(Date.now() + 86_400_000);
    const local = (h: number): string => `${day.getFullYear()}-${String(day.getMonth() + 1).padStart(2, '0')}-${String(day.getDate()).padStart(2, '0')}T${String(h).padStart(2, '0')}:00`;
    const form = page.getByRole('form', { name: 'Add an override' });
    await form.getByLabel('Provider').selectOption({ label: DEMO.providers[1].displayName });
    await form.getByLabel('From').fill(local(9));
    await form.getByLabel('Until').fill(local(17));
    await form.getByRole('button', { name: 'Add override' }).click();
    await page.getByText('Override added').waitFor();
    const overrides = await b.harness.services.db.selectFrom('oncall_overrides').select(['starts_at', 'ends_at']).execute();
    expect(overrides.map((o) => o.ends_at.getTime() - o.starts_at.getTime())).toEqual([8 * 3_600_000]);
    // The week (when tomorrow is in it) shows the override.
    if (day.getDay() !== 1) await page.getByText(`${DEMO.providers[1].displayName} (override)`).first().waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'oncall');

    // A swap: the doctor on call the day after tomorrow hands 09:00–12:00 of it to the other, who (here the admin) accepts.
    // A swap hands only one's own time: the demo rotation alternates the two doctors daily from 2026-01-01 at 08:00.
    const later = new Date(Date.now() + 2 * 86_400_000);
    const laterLocal = (h: number): string => `${later.getFullYear()}-${String(later.getMonth() + 1).padStart(2, '0')}-${String(later.getDate()).padStart(2, '0')}T${String(h).padStart(2, '0')}:00`;
    const dayIndex = Math.round((Date.UTC(later.getFullYear(), later.getMonth(), later.getDate()) - Date.UTC(2026, 0, 1)) / 86_400_000);
    const [holder, taker] = dayIndex % 2 === 0 ? [DEMO.providers[0], DEMO.providers[1]] : [DEMO.providers[1], DEMO.providers[0]];
    await page.getByRole('heading', { name: 'Swap requests' }).waitFor();
    const swapForm = page.getByRole('form', { name: 'Request a swap' });
    await swapForm.getByLabel('Hand from').selectOption({ label: holder.displayName });
    await swapForm.getByLabel('Hand to').selectOption({ label: taker.displayName });
    await swapForm.getByLabel('Swap starts').fill(laterLocal(9));
    await swapForm.getByLabel('Swap ends').fill(laterLocal(12));
    await swapForm.getByRole('button', { name: 'Request swap' }).click();
    await page.getByText('Swap requested').waitFor();
    const accept = page.getByRole('button', { name: /^Accept the swap from / });
    await accept.focus();
    await page.keyboard.press('Enter');
    await page.getByRole('list', { name: 'Swap requests' }).getByText('accepted').waitFor();
    const swaps = await b.harness.services.db.selectFrom('oncall_swaps').select(['state', 'override_id']).execute();
    expect(swaps).toEqual([{ state: 'accepted', override_id: expect.any(String) }]);
    const afterSwap = await b.harness.services.db.selectFrom('oncall_overrides').select(['starts_at', 'ends_at']).execute();
    expect(afterSwap.map((o) => o.ends_at.getTime() - o.starts_at.getTime()).sort()).toEqual([3 * 3_600_000, 8 * 3_600_000]);
    expect(await seriousAxeViolations(page)).toEqual([]);

    await page.getByRole('button', { name: 'Issue a calendar link' }).first().click();
    const link = page.getByRole('textbox', { name: /^Calendar link for / });
    expect(await link.inputValue()).toMatch(/\/feeds\/oncall\.ics\?token=/);
    expect(await phoneWidthProblems(page)).toEqual([]);
    expect(problems).toEqual([]);
  }, 180_000);

  it('Settings: open or closed right now, lines and phone trees, contacts, people and API keys (an admin sees them all)', async () => {
    await timed('Settings page', async () => {
      await page.goto(b.url('/settings'));
      await page.getByRole('heading', { name: 'Right now' }).waitFor();
    });
    expect(await page.title()).toBe('Settings · After-hours console');
    // The harness's clock is Wednesday 22:00 in New York: the demo practice is closed.
    await page.getByText('Closed', { exact: true }).waitFor();
    await page.getByRole('row', { name: /Monday/ }).getByText('08:00-17:00').waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'settings');
    expect(await phoneWidthProblems(page)).toEqual([]);

    await page.getByRole('tab', { name: 'Lines and phone trees' }).click();
    await page.getByText(DEMO.number, { exact: true }).waitFor();
    await page.getByLabel("View a flow's source").selectOption({ index: 1 });
    await page.getByLabel(/^Source of /).waitFor();
    expect(await page.getByLabel(/^Source of /).textContent()).toMatch(/^id: /m);
    // A refused upload names its problems.
    await page.getByLabel('Flow source').fill('id: broken\nnodes: {}\n');
    await page.getByRole('button', { name: 'Check and upload' }).click();
    await page.getByText(/^the flow was refused/).waitFor();
    // The SMS Messaging Service: a malformed SID is named as typed and not sent; a good one is saved.
    const sid = page.getByLabel('Messaging Service SID');
    await sid.fill('MG123');
    await page.getByText('Expected MG followed by 32 lower-case hexadecimal digits').waitFor();
    expect(await page.getByRole('button', { name: 'Save SMS settings' }).isDisabled()).toBe(true);
    await sid.fill(`MG${'0123456789abcdef'.repeat(2)}`);
    await page.getByRole('button', { name: 'Save SMS settings' }).click();
    await page.getByText('Saved.').waitFor();
    expect((await b.harness.services.db.selectFrom('practices').select('messaging_service_sid').where('id', '=', b.harness.services.seeded?.id ?? '').executeTakeFirstOrThrow()).messaging_service_sid).toBe(`MG${'0123456789abcdef'.repeat(2)}`);
    expect(await seriousAxeViolations(page)).toEqual([]);

    await page.getByRole('tab', { name: 'People' }).click();
    await page.getByText(admin.email).waitFor();
    await page.getByRole('tab', { name: 'API keys' }).click();
    await page.getByRole('form', { name: 'Create an API key' }).waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(await phiInBrowser(page, PHI)).toEqual([]);
    expect(problems).toEqual([]);
  }, 180_000);

  it('Settings → Communication matrix: locked cells disabled with the reason; an admin closes a cell by keyboard and saves a new version', async () => {
    await page.goto(b.url('/settings'));
    await page.getByRole('tab', { name: 'Communication matrix' }).click();
    await page.getByText('Version 0: the defaults (this practice has never changed them).').waitFor();
    const locked = page.getByRole('checkbox', { name: 'Staff page by Voice call: allowed' });
    expect(await locked.isDisabled()).toBe(true);
    await page.getByText(/^Locked open: an urgent call must always be able to ring/).waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(await phoneWidthProblems(page)).toEqual([]);

    // Keyboard: Space closes "Results ready by e-mail"; recall by SMS (logistics by default) is lowered to no detail.
    await page.getByRole('checkbox', { name: 'Results ready by E-mail: allowed' }).focus();
    await page.keyboard.press('Space');
    await page.getByRole('combobox', { name: 'Recall by SMS: detail' }).selectOption('none');
    const saved = page.waitForResponse((r) => r.url().endsWith('/communication-matrix') && r.request().method() === 'PUT');
    await page.getByRole('button', { name: 'Save the matrix' }).focus();
    await page.keyboard.press('Enter');
    expect((await saved).status()).toBe(200);
    await page.getByText(/^Version 1, saved .* by user:[0-9a-f-]{36}\.$/).waitFor();
    await page.getByText('The matrix is now version 1.').waitFor();
    const practice = await b.harness.services.db.selectFrom('practices').select('id').where('slug', '=', DEMO.slug).executeTakeFirstOrThrow();
    const rows = await b.harness.services.db.selectFrom('communication_matrices').select(['version', 'cells', 'created_by']).where('practice_id', '=', practice.id).execute();
    expect(rows).toHaveLength(1);
    const cells = rows[0]?.cells as Record<string, Record<string, { allowed: boolean; detail: string }>>;
    expect(cells.results_ready?.email).toEqual({ allowed: false, detail: 'none' });
    expect(cells.recall?.sms).toEqual({ allowed: true, detail: 'none' });
    expect(rows[0]?.created_by).toBe(`user:${admin.id}`);
    expect((await page.getByRole('checkbox', { name: 'Results ready by E-mail: allowed' }).isChecked())).toBe(false);
    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
  }, 180_000);

  it('Settings → API keys: an admin makes a key, copies it from the one-time dialog; the key works, is nowhere in the browser, and is listed without it', async () => {
    await page.goto(b.url('/settings'));
    await page.getByRole('tab', { name: 'API keys' }).click();
    const form = page.getByRole('form', { name: 'Create an API key' });
    await form.getByLabel('Label').fill('Console made');
    await form.getByLabel('Role').selectOption('auditor');
    await form.getByLabel('Expires').selectOption('90d');
    const answered = page.waitForResponse((r) => r.url().endsWith('/api-keys') && r.request().method() === 'POST');
    await form.getByRole('button', { name: 'Create key' }).click();
    const created = await answered;
    expect(created.status()).toBe(201);
    const dialog = page.getByRole('dialog', { name: 'Copy this key now' });
    await dialog.waitFor();
    const secret = await dialog.getByLabel('The new API key').inputValue();
    expect(secret).toMatch(/^ahl_[A-Za-z0-9_-]{43}$/);
    expect(await seriousAxeViolations(page)).toEqual([]);
    // The key is the practice's auditor key, for 90 days.
    const who = await fetch(`${b.harness.baseUrl}/api/whoami`, { headers: { authorization: `Bearer ${secret}` } });
    expect(await who.json()).toMatchObject({ role: 'auditor' });
    // Keyboard: the dialog's last button closes it; the secret is gone from the page.
    await dialog.getByRole('button', { name: 'I have stored it' }).focus();
    await page.keyboard.press('Enter');
    await dialog.waitFor({ state: 'detached' });
    expect(await page.content()).not.toContain(secret);
    expect(page.url()).not.toContain(secret);
    const stored = await page.evaluate<string>('JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])');
    expect(stored).not.toContain(secret);
    const row = page.getByRole('row').filter({ hasText: 'Console made' });
    await row.getByText('auditor').waitFor();
    expect(await phoneWidthProblems(page)).toEqual([]);
    expect(problems).toEqual([]);
  }, 180_000);
});
