import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { createDb, type Db } from '../src/adapters/postgres.js';
import { browserTestsSkipReason, phiInBrowser, screenshot, seriousAxeViolations, startConsoleBrowser, type ConsoleBrowser } from './support/browser.js';
import { createConsoleUser, signedInPage, signIn } from './support/console-user.js';
import { openTaskWithNumber } from './support/callback-task.js';
import { insertTask, seedPractice, type PracticeFixture } from './support/two-practices.js';
import { TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL } from './support/harness.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { until } from './support/until.js';

// page.evaluate takes expressions as text here: the test program is typed for Node, not the DOM.

/**
 * The console's callback work in Debian's Chromium against the real service (issue 14, items 2
 * and 3): a staff member signs in with TOTP and works a callback to the end, plays a voicemail
 * through the audio route and marks it heard; the on-call provider opens a page's link signed
 * out, signs in, lands back on it at 375 px, hears the voicemail and acknowledges the page.
 * Each page: axe finds nothing serious, no PHI in the title, the URL or browser storage.
 */
const skip = browserTestsSkipReason();

describe.skipIf(skip !== null)(`callbacks, voicemail and the page view in Chromium${skip ? ` (${skip})` : ''}`, () => {
  let b: ConsoleBrowser;
  let double: TwilioDouble;
  let owner: Db;
  let practice: PracticeFixture;
  let page: Page;
  let problems: string[];
  let phi: string[];
  const staffName = 'Robin Callwell';
  /** The phone the staff member saves for call backs (the practice line rings it first). */
  const staffPhone = '+13125550177';
  let staffId = '';

  beforeAll(async () => {
    // Twilio's REST API is the loopback double: a call back is placed (or refused where a test says).
    double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
    b = await startConsoleBrowser('console_callbacks', { TWILIO_API_BASE_URL: double.baseUrl });
    owner = createDb(b.harness.config.database.url, b.harness.schema, 1);
    practice = await seedPractice(b.harness, owner, 'Cedar', 4);
    phi = [practice.patientFirstName, practice.patientLastName, practice.patientPhone, practice.patientPhone.slice(2), practice.patientDateOfBirth, practice.patientMrn];
    const staff = await createConsoleUser(b.harness, practice.id, 'staff', { displayName: staffName });
    staffId = staff.id;
    ({ page, problems } = await signedInPage(b, staff, { timeoutMs: 20_000 }));
  }, 240_000);
  afterAll(async () => {
    await owner?.destroy();
    await b?.close();
    await double?.close();
  });

  /** Nothing of the test patient in the title, the address or the browser's storage; axe passes. */
  async function pageIsClean(): Promise<void> {
    expect(await phiInBrowser(page, phi)).toEqual([]);
    expect(await seriousAxeViolations(page)).toEqual([]);
  }

  it('the Callbacks queue, then one task worked to the end: claim, an attempt, close', async () => {
    const started = Date.now();
    await page.goto(b.url('/callbacks'));
    await page.getByRole('heading', { name: 'Callbacks' }).waitFor();
    await page.getByRole('table').waitFor();
    process.stdout.write(`console Callbacks page ready in ${Date.now() - started} ms\n`);
    expect(await page.title()).toBe('Callbacks · After-hours console');
    await pageIsClean();
    await screenshot(page, 'callbacks');
    await page.getByLabel('Overdue').selectOption('true');
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForURL(/overdue=true/);
    await page.getByRole('table').waitFor();

    await page.goto(b.url(`/callbacks/${practice.taskId}`));
    await page.getByRole('heading', { name: 'Callback', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Claim', exact: true }).click();
    await page.getByRole('button', { name: 'Claim', exact: true }).waitFor({ state: 'detached' });
    expect((await owner.selectFrom('callback_tasks').select('status').where('id', '=', practice.taskId).executeTakeFirstOrThrow()).status).toBe('claimed');
    await page.getByLabel('Attempt outcome').selectOption('no_answer');
    await page.getByLabel('Attempt note').fill('Rang twice, no answer');
    await page.getByRole('button', { name: 'Record attempt' }).click();
    await page.getByText(/No answer — Rang twice, no answer/).waitFor();
    await pageIsClean();
    await page.getByLabel('Close as').selectOption('unreachable');
    await page.getByLabel('Closing note').fill('Three tries; letter sent');
    await page.getByRole('button', { name: 'Close the callback' }).click();
    // Closed: the forms go, the closing note is shown.
    await page.getByRole('button', { name: 'Close the callback' }).waitFor({ state: 'detached' });
    await page.getByText('Three tries; letter sent', { exact: true }).waitFor();
    const row = await owner.selectFrom('callback_tasks').select(['status', 'attempts']).where('id', '=', practice.taskId).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'unreachable', attempts: 1 });
    await screenshot(page, 'callback-task');
    expect(problems).toEqual([]);
  }, 120_000);

  it('a staff member with no phone on the account is asked for one, then calls back from the practice line (Twilio refusing it)', async () => {
    const taskId = await openTaskWithNumber(b.harness, practice.id, { callback: '+13125550188', reason: 'refill', urgency: 'routine', dueAt: b.harness.services.clock() });
    await page.goto(b.url(`/callbacks/${taskId}`));
    await page.getByRole('heading', { name: 'Callback', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Call back from the practice line' }).click();
    // Refused (409 no_phone): the console asks for the phone, which the API's message names as PUT /api/me/phone.
    await page.getByLabel('Your phone for call backs').fill(staffPhone);
    // Twilio refuses to ring this phone: the call is asked for from the practice's number and
    // refused (502 call_failed), which the page says instead of "could not answer".
    double.rejectCallsTo(staffPhone, 21215);
    await page.getByRole('button', { name: 'Save and call back' }).click();
    await page.getByText(/The call could not be placed; the failed attempt is recorded/).waitFor();
    const call = await owner.selectFrom('task_calls').select(['caller_id', 'actor']).where('task_id', '=', taskId).executeTakeFirstOrThrow();
    expect(call).toEqual({ caller_id: practice.mainNumber, actor: `user:${staffId}` });
    const phoneSet = await owner.selectFrom('audit_log').select('action').where('action', '=', 'user.phone_set').where('actor', '=', `user:${staffId}`).execute();
    expect(phoneSet).toHaveLength(1);
    await pageIsClean();
    expect(problems).toEqual([]);
  }, 120_000);

  it('a staff member calls a patient back from the console: Twilio rings their phone from the practice number', async () => {
    const patient = '+13125550199';
    // Twilio rings the staff phone again (the last test had it refuse).
    double.rejectCallsTo(staffPhone, null);
    const taskId = await openTaskWithNumber(b.harness, practice.id, { callback: patient, reason: 'clinical', urgency: 'urgent', dueAt: b.harness.services.clock() });
    const before = double.requests.length;
    const urls: string[] = [];
    const onRequest = (r: { url(): string }): void => void urls.push(decodeURIComponent(r.url()));
    page.on('request', onRequest);
    await page.goto(b.url(`/callbacks/${taskId}`));
    await page.getByRole('heading', { name: 'Callback', exact: true }).waitFor();
    // The phone saved in the last test; asked for here when this test runs alone.
    await page.getByRole('button', { name: 'Call back from the practice line' }).click();
    const phoneField = page.getByLabel('Your phone for call backs');
    const placed = page.getByRole('status').filter({ hasText: 'The practice line is calling your phone now' });
    await Promise.race([phoneField.waitFor(), placed.waitFor()]);
    if (await phoneField.isVisible()) {
      await phoneField.fill(staffPhone);
      await page.getByRole('button', { name: 'Save and call back' }).click();
    }
    await placed.waitFor();
    page.off('request', onRequest);
    // The patient's number in no address the browser asked for.
    expect(urls.filter((u) => u.includes(patient.slice(2)))).toEqual([]);
    expect(urls.some((u) => u.includes(`/api/tasks/${taskId}/call`))).toBe(true);
    // The double took exactly one call: to the staff phone (the bridge), from the practice's number;
    // the patient's number nowhere in it (it is dialled only once the staff member presses 1).
    const calls = double.requests.slice(before).filter((r) => r.method === 'POST' && r.path.endsWith('/Calls.json'));
    expect(calls).toHaveLength(1);
    const [req] = calls;
    const row = await owner.selectFrom('task_calls').select(['id', 'caller_id', 'actor', 'caller_leg_sid']).where('task_id', '=', taskId).executeTakeFirstOrThrow();
    expect({ to: req?.form.get('To'), from: req?.form.get('From'), status: req?.status }).toEqual({ to: staffPhone, from: practice.mainNumber, status: 201 });
    expect(req?.form.get('Url')).toBe(`${TEST_PUBLIC_BASE_URL}/twilio/callback/answer?c=${row.id}`);
    expect(req?.form.toString()).not.toContain(patient.slice(2));
    expect(row).toMatchObject({ caller_id: practice.mainNumber, actor: `user:${staffId}`, caller_leg_sid: expect.stringMatching(/^CA[0-9a-f]{32}$/) });
    // Nothing of the patient (their number included) in the title, the address or browser storage.
    expect(await phiInBrowser(page, [...phi, patient, patient.slice(2)])).toEqual([]);
    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(problems).toEqual([]);
  }, 120_000);

  it('the Voicemail inbox streams a recording through the audio route and marks it heard', async () => {
    const started = Date.now();
    await page.goto(b.url('/voicemail'));
    await page.getByRole('heading', { name: 'Voicemail', exact: true }).waitFor();
    const audio = page.locator(`audio[src="/api/voicemails/${practice.voicemailId}/audio"]`);
    await audio.waitFor({ state: 'attached' });
    process.stdout.write(`console Voicemail page ready in ${Date.now() - started} ms\n`);
    const ready = await audio.evaluate(
      (el) =>
        new Promise<string>((resolve) => {
          const a = el as unknown as { readyState: number; addEventListener(t: string, f: () => void): void; load(): void };
          a.addEventListener('canplay', () => resolve('canplay'));
          a.addEventListener('error', () => resolve('error'));
          a.load();
        }),
    );
    expect(ready).toBe('canplay');
    // The bytes came through the route: the element knows the recording's length.
    expect(await audio.evaluate((el) => (el as unknown as { duration: number }).duration)).toBeGreaterThan(0);
    expect(await audio.getAttribute('src')).not.toMatch(/^blob:/);
    await pageIsClean();
    await screenshot(page, 'voicemail');
    await page.getByRole('form', { name: /^Acknowledge Voicemail/ }).first().getByLabel('Note (optional)').fill('Heard; callback queued');
    await page.getByRole('form', { name: /^Acknowledge Voicemail/ }).first().getByRole('button', { name: 'Mark heard' }).click();
    await page.getByText('Heard', { exact: true }).first().waitFor();
    // The note comes back, with who left it and when.
    await page.getByText('Heard; callback queued', { exact: true }).waitFor();
    await page.getByText(new RegExp(` by ${staffName}$`)).first().waitFor();
    expect(problems).toEqual([]);
  }, 120_000);

  it('an admin reassigns a claimed callback to another person, then releases it to open', async () => {
    const admin = await createConsoleUser(b.harness, practice.id, 'admin', { displayName: 'Avery Admin' });
    const taskId = await insertTask(owner, practice.id);
    await owner.updateTable('callback_tasks').set({ status: 'claimed', assignee: `user:${staffId}`, claimed_at: new Date() }).where('id', '=', taskId).execute();
    await page.context().clearCookies();
    await signIn(page, b.harness.baseUrl, admin);
    await page.goto(b.url(`/callbacks/${taskId}`));
    await page.getByRole('heading', { name: 'Callback', exact: true }).waitFor();
    const form = page.getByRole('form', { name: 'Reassign the callback' });
    // The practice's people who work callbacks, the current assignee aside.
    await form.getByRole('option', { name: 'Avery Admin' }).waitFor({ state: 'attached' });
    expect(await form.getByRole('option', { name: staffName }).count()).toBe(0);
    await form.getByLabel('Reassign to').selectOption({ label: 'Avery Admin' });
    await form.getByRole('button', { name: 'Reassign' }).click();
    await until('the task reassigned', async () => (await owner.selectFrom('callback_tasks').select('assignee').where('id', '=', taskId).executeTakeFirstOrThrow()).assignee === `user:${admin.id}`);
    await pageIsClean();
    await form.getByRole('button', { name: 'Release' }).click();
    // Released: open again, so the Claim button is back and the admin's form goes.
    await page.getByRole('button', { name: 'Claim', exact: true }).waitFor();
    expect(await owner.selectFrom('callback_tasks').select(['status', 'assignee']).where('id', '=', taskId).executeTakeFirstOrThrow()).toEqual({ status: 'open', assignee: null });
    expect(problems).toEqual([]);
  }, 120_000);

  it("the page view: the doctor's link, signed out, signs in and comes back; at 375 px", async () => {
    const doctorName = 'Quinn Pagewell';
    const doctor = await createConsoleUser(b.harness, practice.id, 'provider', { displayName: doctorName });
    await page.context().clearCookies();
    await page.setViewportSize({ width: 375, height: 812 });
    // What the page view asks the API for: the page by id, not the practice's pages and voicemails.
    const asked: string[] = [];
    const onRequest = (r: { url(): string }): void => {
      const u = new URL(r.url());
      if (/^\/api\/(pages|voicemails|tasks)(\/|$)/.test(u.pathname) && !u.pathname.endsWith('/audio')) asked.push(u.pathname + u.search);
    };
    await page.goto(b.url(`/pages/${practice.pageId}`));
    await page.waitForURL(/\/console\/sign-in$/);
    page.on('request', onRequest);
    await signIn(page, b.harness.baseUrl, doctor);
    const started = Date.now();
    await page.waitForURL(new RegExp(`/console/pages/${practice.pageId}$`));
    await page.getByRole('heading', { name: /^Page / }).waitFor();
    page.off('request', onRequest);
    // (The same request may go twice while the session settles after sign-in: one page, by id.)
    expect([...new Set(asked)]).toEqual([`/api/pages/${practice.pageId}`]);
    process.stdout.write(`console page view ready in ${Date.now() - started} ms\n`);
    expect(await page.title()).toBe('Page · After-hours console');
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
    await pageIsClean();
    await screenshot(page, 'page-view');
    // The doctor hears the voicemail the page announces: streamed through the audio route, no blob.
    const audio = page.getByLabel('Play the urgent voicemail');
    expect(await audio.getAttribute('src')).toBe(`/api/voicemails/${practice.voicemailId}/audio`);
    const ready = await audio.evaluate(
      (el) =>
        new Promise<string>((resolve) => {
          const a = el as unknown as { addEventListener(t: string, f: () => void): void; load(): void };
          a.addEventListener('canplay', () => resolve('canplay'));
          a.addEventListener('error', () => resolve('error'));
          a.load();
        }),
    );
    expect(ready).toBe('canplay');
    await page.getByRole('button', { name: 'Acknowledge the page' }).click();
    await page.getByText('Acknowledged', { exact: true }).waitFor();
    // Who acknowledged, by name (GET /api/pages/:pageId read again).
    await page.getByText(new RegExp(` by ${doctorName}$`)).waitFor();
    const row = await owner.selectFrom('pages').select('status').where('id', '=', practice.pageId).executeTakeFirstOrThrow();
    expect(row.status).toBe('acknowledged');
    expect(problems).toEqual([]);
  }, 120_000);
});
