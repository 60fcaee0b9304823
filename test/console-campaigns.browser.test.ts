import { dispatchDueDrops } from '../src/drops/dispatcher.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { createApiKey } from '../src/auth/api-keys.js';
import { createPatient } from '../src/patients/store.js';
import { DEMO } from '../src/practices/seed.js';
import { OPT_OUT_SENTENCE } from '../src/drops/templates.js';
import { browserTestsSkipReason, phiInBrowser, phoneWidthProblems, screenshot, seriousAxeViolations, startConsoleBrowser, timed, type ConsoleBrowser } from './support/browser.js';
import { createConsoleUser, seededDemoPractice, signedInPage, type ConsoleUser } from './support/console-user.js';
import { startRvmDouble, type RvmDouble } from './support/rvm-double.js';
import { until } from './support/until.js';

// page.evaluate takes expressions as text here: the test program is typed for Node, not the DOM.

/**
 * Campaigns and the compliance settings in Debian's Chromium against the real service,
 * PostgreSQL, Redis and the drop worker, with a loopback ringless-voicemail vendor: an admin
 * signed in with password and TOTP records the vendor's BAA, changes the retention and revokes an
 * API key in Settings; then builds a campaign with the wizard (the PHI check refuses a message
 * with a name and a date as it is typed, a clean one passes and is saved), adds recipients from a
 * CSV and a search, dry-runs it (the patient without consent named as the reason), starts it and
 * watches the bar reach its end as the vendor reports each drop delivered. Each page: axe finds
 * nothing serious or critical (1280 and 375 px); no patient's identity in the title, a URL or
 * browser storage. Load times are printed, not asserted.
 */
const skip = browserTestsSkipReason();

const API_KEY = 'vendor-api-key-console-0123456789';
const SECRET = 'vendor-webhook-secret-console-0123456789';
// Tuesday 2026-12-01, 10:00 in New York: inside calling hours, so the drops go out at once.
const TUE_MORNING = new Date('2026-12-01T15:00:00Z');

const PEOPLE = [
  { key: 'csv', firstName: 'Rowan', lastName: 'Campaigner', dateOfBirth: '1971-03-04', phone: '+12025550171', consent: true },
  { key: 'search', firstName: 'Sasha', lastName: 'Searchable', dateOfBirth: '1972-05-06', phone: '+12025550172', consent: true },
  { key: 'noconsent', firstName: 'Toby', lastName: 'Unconsented', dateOfBirth: '1973-07-08', phone: '+12025550173', consent: false },
] as const;
const PHI = PEOPLE.flatMap((p) => [p.firstName, p.lastName, p.dateOfBirth, p.phone]);

describe.skipIf(skip !== null)(`console campaigns in Chromium${skip ? ` (${skip})` : ''}`, () => {
  let b: ConsoleBrowser;
  let vendor: RvmDouble;
  let admin: ConsoleUser;
  let page: Page;
  let problems: string[];
  let practiceId: string;
  let spareKey: { id: string; key: string };
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    vendor = await startRvmDouble({ apiKey: API_KEY, webhookSecret: SECRET, webhookTarget: () => `${b.harness.baseUrl}/rvm/webhook` });
    b = await startConsoleBrowser('console_campaigns', { RVM_API_URL: vendor.baseUrl, RVM_API_KEY: API_KEY, RVM_WEBHOOK_SECRET: SECRET }, { clock: () => TUE_MORNING });
    const { db, keyring } = b.harness.services;
    practiceId = await seededDemoPractice(b.harness, TUE_MORNING);
    const setupKey = (await createApiKey(db, { role: 'admin', practiceId, label: 'test set-up' })).key;
    spareKey = await createApiKey(db, { role: 'staff', practiceId, label: 'Old integration' });
    for (const p of PEOPLE) {
      ids[p.key] = await createPatient(db, keyring, { practiceId, phone: p.phone, firstName: p.firstName, lastName: p.lastName, dateOfBirth: p.dateOfBirth });
      if (!p.consent) continue;
      const res = await fetch(`${b.harness.baseUrl}/api/patients/${ids[p.key]}/consents`, {
        method: 'POST',
        headers: { authorization: `Bearer ${setupKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ channel: 'rvm', action: 'granted', source: 'paper_form', disclosureVersion: DEMO.rvmDisclosure.version, evidenceRef: `scan-${p.key}` }),
      });
      expect(res.status).toBe(201);
    }
    admin = await createConsoleUser(b.harness, practiceId, 'admin');
    ({ page, problems } = await signedInPage(b, admin));
  }, 240_000);
  afterAll(async () => {
    await b?.close();
    await vendor?.close();
  });

  it('Settings: the vendor BAA recorded, the retention changed, an API key revoked (401 from then on)', async () => {
    await timed('Settings page', async () => {
      await page.goto(b.url('/settings'));
      await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
    });
    await page.getByRole('tab', { name: 'Vendor agreements' }).click();
    await page.getByText('No agreement on record.').waitFor();
    await page.getByLabel('Vendor', { exact: true }).selectOption('rvm_http');
    await page.getByLabel(/^Signed on/).fill('2026-09-01');
    await page.getByLabel(/^Document reference/).fill('baa-vendor-2026');
    await page.getByRole('button', { name: 'Record agreement' }).click();
    await page.getByRole('cell', { name: 'baa-vendor-2026' }).waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);
    const baas = await b.harness.services.db.selectFrom('vendor_baas').select(['vendor', 'document_ref']).where('practice_id', '=', practiceId).execute();
    expect(baas).toEqual([{ vendor: 'rvm_http', document_ref: 'baa-vendor-2026' }]);
    expect(await phoneWidthProblems(page)).toEqual([]);

    await page.getByRole('tab', { name: 'Retention' }).click();
    const days = page.getByLabel('Keep voicemail audio for (days)');
    await days.fill('400');
    await page.getByRole('button', { name: 'Save retention' }).click();
    await page.getByText('Voicemail audio is kept encrypted for 400 days').waitFor();
    const stored = await b.harness.services.db.selectFrom('practices').select('voicemail_retention_days').where('id', '=', practiceId).executeTakeFirstOrThrow();
    expect(stored.voicemail_retention_days).toBe(400);
    expect(await seriousAxeViolations(page)).toEqual([]);

    const before = await fetch(`${b.harness.baseUrl}/api/drop-templates`, { headers: { authorization: `Bearer ${spareKey.key}` } });
    expect(before.status).toBe(200);
    await page.getByRole('tab', { name: 'API keys' }).click();
    const row = page.getByRole('row').filter({ hasText: 'Old integration' });
    await row.getByText('active').waitFor();
    await page.getByRole('button', { name: 'Revoke key Old integration' }).click();
    await row.getByText('revoked').waitFor();
    const after = await fetch(`${b.harness.baseUrl}/api/drop-templates`, { headers: { authorization: `Bearer ${spareKey.key}` } });
    expect(after.status).toBe(401);
    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
  }, 180_000);

  it('Campaigns: the wizard (PHI check as typed, recipients from a CSV and a search, dry run with reasons), start, and the bar to its end', async () => {
    await timed('Campaigns page', async () => {
      await page.goto(b.url('/campaigns'));
      await page.getByRole('heading', { name: 'Campaigns', level: 1 }).waitFor();
      await page.getByText('No campaigns yet.').waitFor();
    });
    expect(await page.title()).toBe('Campaigns · After-hours console');
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.getByRole('link', { name: 'New campaign' }).click();
    await page.getByRole('heading', { name: 'New campaign', level: 1 }).waitFor();
    expect(await page.title()).toBe('New campaign · After-hours console');

    // Step 1: a message with a doctor's name and a date is refused as it is typed; a clean one passes.
    await page.getByLabel(/^Template name/).fill('Winter recall');
    await page.getByLabel('Purpose').selectOption('recall');
    const message = page.getByLabel(/^Message/);
    await message.fill(`Hello, this is {practice_name} for Dr. Smith. Your visit on 04/15/2026 is due: please call {callback_number}. ${OPT_OUT_SENTENCE}`);
    const verdict = page.getByRole('status', { name: 'PHI check' });
    await verdict.getByText('The check refuses this message').waitFor();
    await verdict.getByText('“Dr. Smith”').waitFor();
    await verdict.getByText('“04/15/2026”').waitFor();
    expect(await page.getByRole('button', { name: 'Save and use this message' }).isDisabled()).toBe(true);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'campaigns-wizard');
    expect(await b.harness.services.db.selectFrom('drop_templates').select('id').execute()).toEqual([]);
    await message.fill(`Hello, this is {practice_name}. It is time to book your next visit: please call {callback_number}. ${OPT_OUT_SENTENCE}`);
    await verdict.getByText('The check passes').waitFor();
    await page.getByRole('button', { name: 'Save and use this message' }).click();

    // Step 2: the draft.
    await page.getByLabel(/^Campaign name/).fill('December recall');
    await page.getByLabel('Drops a minute').fill('600');
    await page.getByRole('button', { name: 'Create the draft' }).click();

    // Step 3: recipients from a CSV (one unknown id reported) and from a search.
    await page.getByRole('heading', { name: 'From a CSV' }).waitFor();
    const unknown = '00000000-0000-4000-8000-000000000000';
    const csv = `patient_id,note\n${ids.csv},a\n${ids.noconsent},b\n${unknown},c\n`;
    await page.getByLabel('CSV of patient ids').setInputFiles({ name: 'recipients.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.getByRole('button', { name: 'Add from the file' }).click();
    await page.getByText('Row 3: unknown patient — no such patient in this practice').waitFor();
    await page.getByLabel('Patient name').fill(PEOPLE[1].lastName);
    const searched = page.waitForRequest((r) => r.url().endsWith('/api/patients/search'));
    await page.getByRole('button', { name: 'Find' }).click();
    expect((await searched).method()).toBe('POST');
    await page.getByLabel(`${PEOPLE[1].firstName} ${PEOPLE[1].lastName} (${PEOPLE[1].dateOfBirth})`).check();
    await page.getByRole('button', { name: 'Add 1 selected' }).click();
    await page.getByText('3 recipients added so far.').waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(await phiInBrowser(page, PHI)).toEqual([]);
    await page.getByRole('button', { name: 'Next: dry run' }).click();

    // Step 4: the dry run names the refusal, then start.
    await page.getByRole('button', { name: 'Dry run' }).click();
    await page.getByText('3 recipients: 2 would get a drop now.').waitFor();
    const refusal = page.getByRole('row').filter({ hasText: 'no ringless-voicemail consent on record' });
    await expect(refusal.getByRole('cell').nth(1).textContent()).resolves.toBe('never');
    await expect(refusal.getByRole('cell').nth(2).textContent()).resolves.toBe('1');
    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(await phoneWidthProblems(page)).toEqual([]);
    expect(await b.harness.services.db.selectFrom('campaigns').select('state').execute()).toEqual([{ state: 'draft' }]);
    await page.getByRole('button', { name: 'Start the campaign' }).click();

    // The progress page (the id only in its URL), polled while the vendor reports each drop.
    await timed('campaign progress', async () => {
      await page.getByRole('heading', { name: 'December recall', level: 1 }).waitFor();
      await page.getByRole('progressbar', { name: 'Campaign progress' }).waitFor();
    });
    expect(new URL(page.url()).pathname).toMatch(/^\/console\/campaigns\/[0-9a-f-]{36}$/);
    expect(await page.title()).toBe('Campaign · After-hours console');
    await until('the vendor accepted two drops', async () => {
      // The dispatcher queues what is due by the moved clock (it runs every 20 s on its own).
      await dispatchDueDrops(b.harness.services);
      for (const job of await b.harness.services.queues.drops.getDelayed()) await job.promote();
      return vendor.accepted().size === 2;
    });
    const dropIds = [...vendor.accepted().keys()];
    expect(dropIds.sort()).toEqual(
      (await b.harness.services.db.selectFrom('drops').select(['id', 'patient_id']).execute())
        .filter((d) => d.patient_id !== ids.noconsent)
        .map((d) => d.id)
        .sort(),
    );
    await page.getByText(/^1 of 3 finished/).waitFor();
    for (const id of dropIds) expect((await vendor.deliver(id, 'delivered')).status).toBe(200);
    await page.getByText('3 of 3 finished (100 %) — the campaign is complete.').waitFor();
    expect(await page.getByRole('progressbar', { name: 'Campaign progress' }).getAttribute('aria-valuenow')).toBe('100');
    await page.getByRole('cell', { name: 'no ringless-voicemail consent on record' }).waitFor();
    await expect.poll(() => page.getByRole('table', { name: "Each drop's status" }).getByRole('row').filter({ hasText: 'delivered' }).count()).toBe(2);
    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(await phiInBrowser(page, PHI)).toEqual([]);
    await screenshot(page, 'campaigns');
    expect(await phoneWidthProblems(page)).toEqual([]);

    // The list: the state, the channel and the progress of each campaign.
    await page.getByRole('link', { name: '← Campaigns' }).click();
    const listed = page.getByRole('row').filter({ hasText: 'December recall' });
    await listed.getByText('completed').waitFor();
    await page.getByRole('columnheader', { name: 'Channel' }).waitFor();
    await listed.getByText('Voicemail', { exact: true }).waitFor();
    await listed.getByText('3 of 3 finished (100 %)').waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(await phoneWidthProblems(page)).toEqual([]);
    expect(problems).toEqual([]);
  }, 240_000);
});
