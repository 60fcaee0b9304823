import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createApiKey } from '../src/auth/api-keys.js';
import { createPatient } from '../src/patients/store.js';
import { captureLogs } from '../src/log/logger.js';
import { DEMO } from '../src/practices/seed.js';
import { createPractice, type Practice } from '../src/practices/store.js';
import { processDropJob } from '../src/drops/drop-worker.js';
import { dispatchDueDrops } from '../src/drops/dispatcher.js';
import { until } from './support/until.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { scheduledTimes, sendDueDrops } from './support/drop-schedule.js';
import { startHarness, type Harness } from './support/harness.js';
import { startRvmDouble, type RvmDouble } from './support/rvm-double.js';
import { postTwilio } from './support/twilio-request.js';
import { TEST_ACCOUNT_SID } from './support/harness.js';

/**
 * Ringless-voicemail campaigns end to end, against the real PostgreSQL, Redis and BullMQ, with a
 * loopback vendor double. Time moves by setting the service clock and promoting BullMQ's delayed
 * jobs (what the passing of real time would do).
 */

const API_KEY = 'vendor-api-key-0123456789';
const SECRET = 'vendor-webhook-secret-0123456789';
// Tuesday 2026-12-01. 02:30Z is Monday 21:30 in New York (too late) and 18:30 in Los Angeles.
const MON_EVENING = new Date('2026-12-01T02:30:00Z');
const TUE_0800_NY = new Date('2026-12-01T13:00:00Z');
const WED_0800_NY = new Date('2026-12-02T13:00:00Z');

let h: Harness;
let vendor: RvmDouble;
let practice: Practice;
let now = MON_EVENING;
let admin: string;
let staff: string;
let logs: ReturnType<typeof captureLogs>;

interface TestPatient {
  id: string;
  phone: string;
  firstName: string;
  lastName: string;
  dob: string;
}
const people: Record<string, TestPatient> = {};

const api = (method: string, path: string, body?: unknown, key = admin, contentType?: string): Promise<ApiAnswer> => callApi(h, method, path, key, body, contentType);

async function addPatient(name: string, n: number, extra: { usState?: string; timeZone?: string; consent?: boolean } = {}): Promise<TestPatient> {
  const p = { phone: `+120255501${String(40 + n).padStart(2, '0')}`, firstName: `Quinn${name}`, lastName: `Tester${name}`, dob: `1975-0${(n % 9) + 1}-2${n % 9}` };
  const id = await createPatient(h.services.db, h.services.keyring, {
    practiceId: practice.id,
    phone: p.phone,
    firstName: p.firstName,
    lastName: p.lastName,
    dateOfBirth: p.dob,
    ...(extra.usState ? { usState: extra.usState } : {}),
    ...(extra.timeZone ? { timeZone: extra.timeZone } : {}),
  });
  if (extra.consent !== false) await grant(id);
  const patient = { id, ...p };
  people[name] = patient;
  return patient;
}

async function grant(patientId: string): Promise<void> {
  const res = await api('POST', `/api/patients/${patientId}/consents`, {
    channel: 'rvm',
    action: 'granted',
    source: 'paper_form',
    disclosureVersion: DEMO.rvmDisclosure.version,
    evidenceRef: 'scan-0001',
  }, staff);
  expect(res.status).toBe(201);
}

async function drops(campaignId: string): Promise<Array<{ id: string; patient_id: string; status: string; reason: string | null; attempts: number; provider_ref: string | null }>> {
  return h.services.db.selectFrom('drops').select(['id', 'patient_id', 'status', 'reason', 'attempts', 'provider_ref']).where('campaign_id', '=', campaignId).execute();
}

async function dropOf(campaignId: string, p: TestPatient): Promise<{ id: string; status: string; reason: string | null; attempts: number }> {
  const d = (await drops(campaignId)).find((x) => x.patient_id === p.id);
  if (!d) throw new Error('no such drop');
  return d;
}

/** Lets the time pass: the dispatcher queues what is due by the test's clock, and every delayed drop job becomes due now. */
async function promoteAll(): Promise<void> {
  await sendDueDrops(h.services);
}

/** Waits until the drop workers are idle and no drop of the campaign is in `statuses` (a planned drop waits pending in the schedule). */
async function settled(campaignId: string, statuses: string[] = []): Promise<void> {
  await until('the drop workers', async () => {
    const counts = await h.services.queues.drops.getJobCounts('waiting', 'active', 'prioritized');
    const busy = (counts.waiting ?? 0) + (counts.active ?? 0) + (counts.prioritized ?? 0);
    const rows = await drops(campaignId);
    return busy === 0 && rows.every((d) => !statuses.includes(d.status));
  });
}

async function createCampaign(name: string, body: Record<string, unknown> = {}): Promise<string> {
  const res = await api('POST', '/api/campaigns', { name, templateId: 'recall', provider: 'rvm_http', ratePerMinute: 600, ...body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

beforeAll(async () => {
  logs = captureLogs();
  let target = '';
  vendor = await startRvmDouble({ apiKey: API_KEY, webhookSecret: SECRET, webhookTarget: () => target });
  h = await startHarness('rvm', { RVM_API_URL: vendor.baseUrl, RVM_API_KEY: API_KEY, RVM_WEBHOOK_SECRET: SECRET }, { clock: () => now });
  target = `${h.baseUrl}/rvm/webhook`;
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practice = h.services.seeded;
  admin = (await createApiKey(h.services.db, { role: 'admin', practiceId: practice.id })).key;
  staff = (await createApiKey(h.services.db, { role: 'staff', practiceId: practice.id })).key;
  await addPatient('Ok', 1);
  await addPatient('Revoked', 2);
  await addPatient('Stop', 3);
  await addPatient('Florida', 4, { usState: 'FL' });
  await addPatient('Pacific', 5, { timeZone: 'America/Los_Angeles', usState: 'CA' });
  await addPatient('NoConsent', 6, { consent: false });
  await addPatient('Withdrew', 7);
  await addPatient('OptedOut', 8);
  const revoke = await api('POST', `/api/patients/${people.Withdrew?.id}/consents`, { channel: 'rvm', action: 'revoked', source: 'verbal' }, staff);
  expect(revoke.status).toBe(201);
  expect((await api('POST', '/api/opt-outs', { phone: people.OptedOut?.phone }, staff)).status).toBe(201);
});

afterAll(async () => {
  logs.restore();
  await h.close();
  await vendor.close();
});

function p(name: string): TestPatient {
  const found = people[name];
  if (!found) throw new Error(`no test patient ${name}`);
  return found;
}

describe('templates, consent and vendor agreements', () => {
  it('refuses a template with PHI and names the words that failed', async () => {
    const res = await api('POST', '/api/drop-templates', {
      name: 'Diabetes recall',
      purpose: 'recall',
      text: 'Hello from {practice_name}. Your diabetes follow-up and metformin refill are due. Call {callback_number}. To stop these messages, call {callback_number} and press 8.',
    });
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/diabetes/i);
    expect(res.body.message).toMatch(/metformin/i);
    const stored = await h.services.db.selectFrom('drop_templates').select('id').execute();
    expect(stored).toHaveLength(0);
  });

  it('checks a text without storing it: the same verdict as the save, for admins only', async () => {
    const text = 'Hello from {practice_name}. Your diabetes follow-up is due on 04/15/2026. Call {callback_number}. To stop these messages, call {callback_number} and press 8.';
    const refused = await api('POST', '/api/drop-templates/check', { purpose: 'recall', text });
    expect(refused.status).toBe(200);
    expect(refused.body.ok).toBe(false);
    expect(refused.body.problems).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'clinical_term', term: 'diabetes' }), expect.objectContaining({ kind: 'date', term: '04/15/2026' })]));
    const clean = await api('POST', '/api/drop-templates/check', { purpose: 'recall', text: 'Hello from {practice_name}. Please call {callback_number}. To stop these messages, call {callback_number} and press 8.' });
    expect(clean.body).toEqual({ ok: true, problems: [] });
    expect((await api('POST', '/api/drop-templates/check', { purpose: 'recall' })).body.message).toMatch(/^text: /);
    expect((await api('POST', '/api/drop-templates/check', { purpose: 'recall', text }, staff)).status).toBe(403);
    expect(await h.services.db.selectFrom('drop_templates').select('id').execute()).toHaveLength(0);
  });

  it('accepts a generic template of the practice', async () => {
    const res = await api('POST', '/api/drop-templates', {
      name: 'Flu-season closure',
      purpose: 'office_closure',
      text: 'Hello, this is {practice_name}. Our office will be closed on Friday. Please call {callback_number} if you need us. To stop these messages, call {callback_number} and press 8.',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect((await api('GET', '/api/drop-templates')).body.templates).toContainEqual(expect.objectContaining({ id: res.body.id, builtIn: false }));
  });

  it('a grant needs the disclosure that was shown and evidence; the history cannot be rewritten', async () => {
    const noDisclosure = await api('POST', `/api/patients/${p('Ok').id}/consents`, { channel: 'rvm', action: 'granted', source: 'verbal', evidenceRef: 'call-1' }, staff);
    expect(noDisclosure.status).toBe(400);
    expect(noDisclosure.body.message).toMatch(/disclosureVersion/);
    const unknown = await api('POST', `/api/patients/${p('Ok').id}/consents`, { channel: 'rvm', action: 'granted', source: 'verbal', disclosureVersion: 'nope-1', evidenceRef: 'call-1' }, staff);
    expect(unknown.status).toBe(400);
    const history = await api('GET', `/api/patients/${p('Withdrew').id}/consents`, undefined, staff);
    expect(history.body.current).toMatchObject({ rvm: 'revoked', sms: 'none' });
    expect((history.body.history as unknown[]).length).toBe(2);
    await expect(sql`UPDATE ${sql.id(h.schema, 'consents')} SET action = 'granted'`.execute(h.services.db)).rejects.toThrow(/append-only/);
    await expect(sql`DELETE FROM ${sql.id(h.schema, 'opt_outs')}`.execute(h.services.db)).rejects.toThrow(/append-only/);
  });

  it('refuses a provider until the practice has a signed BAA with it', async () => {
    const refused = await api('POST', '/api/campaigns', { name: 'Recall', templateId: 'recall', provider: 'rvm_http' });
    expect(refused.status).toBe(409);
    expect(refused.body.message).toMatch(/BAA/);
    expect((await api('POST', '/api/vendor-baas', { vendor: 'rvm_http', signedAt: '2026-10-01', documentRef: 'contracts/rvm-baa.pdf' }, staff)).status).toBe(403);
    expect((await api('POST', '/api/vendor-baas', { vendor: 'rvm_http', signedAt: '2026-10-01', documentRef: 'contracts/rvm-baa.pdf' })).status).toBe(201);
  });
});

describe('a campaign from a CSV', () => {
  let campaignId: string;

  it('imports a CSV with a row-by-row report', async () => {
    campaignId = await createCampaign('December recall');
    const unknown = '7d4c5b8e-0000-4000-8000-000000000000';
    const csv = [
      'patient_id,note',
      `${p('Ok').id},first`,
      'not-a-uuid,bad',
      `${unknown},unknown`,
      `${p('Ok').id},again`,
      ...['Revoked', 'Stop', 'Florida', 'Pacific', 'NoConsent', 'Withdrew', 'OptedOut'].map((n) => `${p(n).id},x`),
    ].join('\n');
    const res = await api('POST', `/api/campaigns/${campaignId}/recipients`, csv, admin, 'text/csv');
    expect(res.status).toBe(200);
    expect(res.body.added).toBe(8);
    expect(res.body.summary).toEqual({ added: 8, invalid: 1, unknown_patient: 1, duplicate: 1 });
    expect(res.body.rows).toEqual([
      expect.objectContaining({ row: 2, result: 'invalid' }),
      expect.objectContaining({ row: 3, result: 'unknown_patient' }),
      expect.objectContaining({ row: 4, result: 'duplicate' }),
    ]);
  });

  it('a dry run counts who is eligible now and every reason for exclusion or delay', async () => {
    now = MON_EVENING;
    const res = await api('POST', `/api/campaigns/${campaignId}/dry-run`, undefined, staff);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      recipients: 8,
      // 21:30 in New York and Florida is too late; 18:30 in Los Angeles is fine (the UTC date already turned).
      eligibleNow: 1,
      deferred: { outside_hours: 4 },
      excluded: { no_consent: 1, consent_revoked: 1, opted_out: 1 },
    });
  });

  it('runs: drops only to consented, not opted-out patients inside their hours; consent revoked and STOP between scheduling and sending are honoured', async () => {
    now = MON_EVENING;
    const start = await api('POST', `/api/campaigns/${campaignId}/start`);
    expect(start.status, JSON.stringify(start.body)).toBe(200);
    expect(start.body).toMatchObject({ state: 'running', queued: 5, skipped: 3 });
    await until('the Pacific drop', async () => vendor.accepted().size === 1);
    const pacificDrop = await dropOf(campaignId, p('Pacific'));
    expect(vendor.accepted().has(pacificDrop.id)).toBe(true);

    const req = vendor.accepted().get(pacificDrop.id)?.[0];
    expect(req?.authorized).toBe(true);
    expect(req?.body).toMatchObject({ phone_number: p('Pacific').phone, caller_id: DEMO.dropCallbackNumber, foreign_id: pacificDrop.id });
    const text = String(req?.body.tts_body);
    expect(text).toContain('Demo Family Medicine');
    expect(text).toContain('2 0 2, 5 5 5, 0 1 0 2');
    expect(text).toMatch(/press 8/);
    for (const person of Object.values(people)) {
      expect(text).not.toContain(person.firstName);
      expect(text).not.toContain(person.lastName);
    }

    // Between scheduling and sending: one patient revokes consent, another texts STOP.
    expect((await api('POST', `/api/patients/${p('Revoked').id}/consents`, { channel: 'rvm', action: 'revoked', source: 'verbal' }, staff)).status).toBe(201);
    const stop = await postTwilio(h, '/twilio/sms/incoming', { MessageSid: `SM${'a'.repeat(32)}`, AccountSid: TEST_ACCOUNT_SID, From: p('Stop').phone, To: DEMO.number, Body: 'STOP' });
    expect(stop.status).toBe(200);

    // Still too early in New York: nothing more goes out even if the jobs ran now.
    await promoteAll();
    await settled(campaignId);
    expect(vendor.accepted().size).toBe(1);

    now = TUE_0800_NY;
    await promoteAll();
    await settled(campaignId, ['pending', 'queued']);
    expect(await dropOf(campaignId, p('Ok'))).toMatchObject({ status: 'sent' });
    expect(await dropOf(campaignId, p('Florida'))).toMatchObject({ status: 'sent' });
    expect(await dropOf(campaignId, p('Revoked'))).toMatchObject({ status: 'skipped', reason: 'consent_revoked' });
    expect(await dropOf(campaignId, p('Stop'))).toMatchObject({ status: 'skipped', reason: 'opted_out' });
    expect(await dropOf(campaignId, p('NoConsent'))).toMatchObject({ status: 'skipped', reason: 'no_consent' });
    expect(await dropOf(campaignId, p('Withdrew'))).toMatchObject({ status: 'skipped', reason: 'consent_revoked' });
    expect(await dropOf(campaignId, p('OptedOut'))).toMatchObject({ status: 'skipped', reason: 'opted_out' });
    const sentTo = [...vendor.accepted().values()].map((r) => r[0]?.body.phone_number);
    expect(sentTo.sort()).toEqual([p('Ok').phone, p('Florida').phone, p('Pacific').phone].sort());
  });

  it('the vendor’s signed webhook records the final state; a forged one is refused and audited', async () => {
    const sent = (await drops(campaignId)).filter((d) => d.status === 'sent');
    expect(sent).toHaveLength(3);
    const forged = await vendor.deliver(sent[0]?.id ?? '', 'delivered', { secret: 'not-the-secret-0123456789' });
    expect(forged.status).toBe(401);
    const rejected = await h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'drop.webhook_rejected').execute();
    expect(rejected).toContainEqual({ details: { reason: 'invalid' } });
    expect((await dropOf(campaignId, p('Ok'))).status).toBe('sent');

    const [first, second, third] = sent;
    expect((await vendor.deliver(first?.id ?? '', 'delivered')).status).toBe(200);
    expect((await vendor.deliver(second?.id ?? '', 'delivered')).status).toBe(200);
    expect((await vendor.deliver(third?.id ?? '', 'failed', { reason: 'carrier rejected' })).status).toBe(200);
    // A repeated webhook changes nothing.
    expect((await vendor.deliver(first?.id ?? '', 'failed')).body).toMatchObject({ result: 'already_final' });

    const progress = await api('GET', `/api/campaigns/${campaignId}`, undefined, staff);
    expect(progress.body).toMatchObject({
      campaign: { state: 'completed' },
      counts: { delivered: 2, failed: 1, skipped: 5, queued: 0, sent: 0, pending: 0 },
      total: 8,
      done: 8,
    });
    expect(progress.body.reasons).toMatchObject({ 'failed:carrier_rejected': 1, 'skipped:consent_revoked': 2, 'skipped:opted_out': 2, 'skipped:no_consent': 1 });
    // The list carries each campaign's progress (the console's column).
    const listed = (await api('GET', '/api/campaigns', undefined, staff)).body.campaigns as Array<Record<string, unknown>>;
    expect(listed.find((c) => c.id === campaignId)).toMatchObject({ state: 'completed', total: 8, done: 8 });

    // Every recipient's final state is in the audit log too: a sent drop's own `drop.final`, or
    // the `drop.final_batch` row of planning's skips that names it, with its status and reason.
    const finals = await h.services.db.selectFrom('audit_log').select(['subject_id', 'details']).where('action', '=', 'drop.final').execute();
    const batches = await h.services.db.selectFrom('audit_log').select(['subject_id', 'details']).where('action', '=', 'drop.final_batch').execute();
    const audited = new Map<string, { status: unknown; reason: unknown }>();
    for (const f of finals) audited.set(f.subject_id ?? '', { status: (f.details as Record<string, unknown>).status, reason: (f.details as Record<string, unknown>).reason });
    for (const b of batches) {
      const details = b.details as { campaignId: string; status: string; reason: string; count: number; dropIds: string[] };
      expect(b.subject_id).toBe(details.campaignId);
      expect(details.count).toBe(details.dropIds.length);
      for (const id of details.dropIds) audited.set(id, { status: details.status, reason: details.reason });
    }
    const skippedDrops = (await drops(campaignId)).filter((d) => d.status === 'skipped');
    expect(skippedDrops).toHaveLength(5);
    for (const d of await drops(campaignId)) {
      expect(audited.has(d.id)).toBe(true);
      if (d.status === 'skipped') expect(audited.get(d.id)).toEqual({ status: 'skipped', reason: d.reason });
    }
    // One batch row per skip reason here (a handful of recipients), not one per drop.
    expect(batches.filter((b) => (b.details as { campaignId: string }).campaignId === campaignId)).toHaveLength(3);
  });

  it('the frequency cap holds across campaigns: no second drop the same day, the next day is fine', async () => {
    now = new Date(TUE_0800_NY.getTime() + 3 * 3_600_000);
    const second = await createCampaign('Callback', { templateId: 'callback-request', patientIds: [p('Ok').id] });
    const dry = await api('POST', `/api/campaigns/${second}/dry-run`, undefined, staff);
    expect(dry.body).toMatchObject({ eligibleNow: 0, deferred: { daily_cap: 1 } });
    const start = await api('POST', `/api/campaigns/${second}/start`);
    expect(start.body).toMatchObject({ queued: 1 });
    const before = vendor.accepted().size;
    // Even run now, the worker checks again and defers.
    await promoteAll();
    await settled(second);
    expect(vendor.accepted().size).toBe(before);
    // Planned for tomorrow: pending, its time in the campaign schedule.
    const waiting = await dropOf(second, p('Ok'));
    expect(waiting).toMatchObject({ status: 'pending' });
    expect((await scheduledTimes(h.services, [waiting.id])).get(waiting.id)?.getTime()).toBeGreaterThan(now.getTime());

    now = WED_0800_NY;
    await promoteAll();
    await settled(second, ['pending', 'queued']);
    expect(await dropOf(second, p('Ok'))).toMatchObject({ status: 'sent' });
    expect(vendor.accepted().size).toBe(before + 1);
  });

  it('three drops in seven days: the fourth waits for the oldest to leave the window', async () => {
    const patient = await addPatient('Weekly', 9);
    const other = await createCampaign('Earlier sends');
    const days = [1, 3, 5].map((d) => new Date(WED_0800_NY.getTime() - d * 86_400_000));
    for (const [i, sentAt] of days.entries()) {
      // Earlier campaigns' sent drops, set up directly (they happened before this test's clock).
      const c = i === 0 ? other : await createCampaign(`Earlier ${i}`);
      await h.services.db.insertInto('drops').values({ campaign_id: c, practice_id: practice.id, patient_id: patient.id, provider: 'rvm_http', status: 'delivered', sent_at: sentAt, final_at: sentAt }).execute();
    }
    const fourth = await createCampaign('Fourth', { patientIds: [patient.id] });
    now = WED_0800_NY;
    const dry = await api('POST', `/api/campaigns/${fourth}/dry-run`, undefined, staff);
    expect(dry.body).toMatchObject({ eligibleNow: 0, deferred: { weekly_cap: 1 } });
  });
});

describe('delivery', () => {
  it('retries provider errors with backoff and records the attempts', async () => {
    const patient = await addPatient('Retry', 10);
    now = new Date(WED_0800_NY.getTime() + 86_400_000);
    vendor.failNext(2, 503);
    const id = await createCampaign('Retry', { patientIds: [patient.id] });
    expect((await api('POST', `/api/campaigns/${id}/start`)).status).toBe(200);
    // Each try claims the drop ('sent') before asking the vendor; only a success stores the vendor's id.
    await until('the retried drop', async () => (await drops(id))[0]?.provider_ref, 25_000);
    expect(await dropOf(id, patient)).toMatchObject({ status: 'sent', attempts: 3 });
    const tries = vendor.requests.filter((r) => r.body.phone_number === patient.phone);
    expect(tries.map((r) => r.status)).toEqual([503, 503, 202]);
  });

  it('a restart mid-campaign sends nothing twice', async () => {
    const group = await Promise.all([11, 12, 13, 14].map((n) => addPatient(`Restart${n}`, n)));
    now = new Date('2026-12-04T03:00:00Z'); // Thursday 22:00 in New York: everything waits for 08:00
    const id = await createCampaign('Restart', { patientIds: group.map((g) => g.id), ratePerMinute: 60 });
    expect((await api('POST', `/api/campaigns/${id}/start`)).body).toMatchObject({ queued: 4 });
    // Planned for 08:00 (13:00Z), one a second: at 12:59 the dispatcher queues their jobs (due within its window).
    expect((await h.services.queues.drops.getDelayed()).filter((j) => (j.data as { dropId: string }).dropId)).toHaveLength(0);
    now = new Date('2026-12-04T12:59:00Z');
    expect(await dispatchDueDrops(h.services)).toEqual({ dispatched: 4 });
    now = new Date('2026-12-04T13:30:00Z');
    const mine = new Set((await drops(id)).map((d) => d.id));
    const delayed = (await h.services.queues.drops.getDelayed()).filter((j) => mine.has((j.data as { dropId: string }).dropId));
    expect(delayed).toHaveLength(4);
    for (const job of delayed.slice(0, 2)) await job.promote();
    await until('two drops sent', async () => (await drops(id)).filter((d) => d.status === 'sent').length === 2);

    await h.restart();
    await promoteAll();
    await settled(id, ['pending', 'queued']);
    // A duplicate job for a drop already sent does nothing.
    const sent = await drops(id);
    for (const d of sent) expect(await processDropJob(h.services, { dropId: d.id, version: 1 }, false)).toMatch(/done|stale/);
    expect(sent.every((d) => d.status === 'sent')).toBe(true);
    for (const d of sent) expect(vendor.accepted().get(d.id)).toHaveLength(1);
  });
});

describe('no PHI outside the encrypted columns', () => {
  it('no test identity in any log line, audit row, job payload or campaign record', async () => {
    const identities = Object.values(people).flatMap((x) => [x.phone, x.phone.slice(2), x.firstName, x.lastName, x.dob]);
    const audit = JSON.stringify(await h.services.db.selectFrom('audit_log').selectAll().execute());
    const campaigns = JSON.stringify(await h.services.db.selectFrom('campaigns').selectAll().execute());
    const dropRows = JSON.stringify(await h.services.db.selectFrom('drops').selectAll().execute());
    const jobs = await h.services.queues.drops.getJobs(['completed', 'delayed', 'waiting', 'failed', 'active']);
    const payloads = JSON.stringify(jobs.map((j) => j.data));
    const logLines = logs.lines().join('\n');
    for (const id of identities) {
      for (const [where, text] of Object.entries({ audit, campaigns, dropRows, payloads, logLines })) {
        expect(text.includes(id), `${id} found in ${where}`).toBe(false);
      }
    }
    expect(jobs.length).toBeGreaterThan(0);
    for (const j of jobs) expect(Object.keys(j.data as object).sort()).toEqual(['dropId', 'version']);
  });
});

describe('patients by number', () => {
  it('finds a patient by number in the body, for staff only', async () => {
    const res = await api('POST', '/api/patients/lookup', { phone: p('Ok').phone }, staff);
    expect(res.body).toEqual({ patientIds: [p('Ok').id] });
    const auditor = (await createApiKey(h.services.db, { role: 'auditor', practiceId: practice.id })).key;
    expect((await api('POST', '/api/patients/lookup', { phone: p('Ok').phone }, auditor)).status).toBe(403);
  });
});

describe('the drop callback line', () => {
  it('a practice without one cannot create a campaign: every message tells people to call it and press 8', async () => {
    const other = await createPractice(h.services.db, { slug: 'no-line', name: 'No Line Clinic', timeZone: 'America/Chicago', numbers: ['+13125550177'] });
    const key = (await createApiKey(h.services.db, { role: 'admin', practiceId: other.id })).key;
    expect((await api('POST', '/api/vendor-baas', { vendor: 'rvm_http', signedAt: '2026-10-01', documentRef: 'baa' }, key)).status).toBe(201);
    const res = await api('POST', '/api/campaigns', { name: 'Recall', templateId: 'recall', provider: 'rvm_http' }, key);
    expect(res.status).toBe(409);
    expect(res.body.message).toMatch(/drop-callback/);
  });
});
