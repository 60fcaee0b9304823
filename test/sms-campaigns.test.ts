import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { createPatient } from '../src/patients/store.js';
import { DEMO } from '../src/practices/seed.js';
import type { Practice } from '../src/practices/store.js';
import { captureLogs } from '../src/log/logger.js';
import { OPT_OUT_SMS_SENTENCE } from '../src/outreach/sms-text.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { until } from './support/until.js';
import { scheduledTimes } from './support/drop-schedule.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, type Harness } from './support/harness.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { postTwilio } from './support/twilio-request.js';

/**
 * Patient SMS campaigns end to end (issue 15, item 2): the real database, queues and worker, the
 * loopback Twilio double. Six patients: two sent and then delivered / undelivered by status
 * callbacks, one without SMS consent, one opted out by texting STOP, one outside their local
 * hours (deferred), one whose number Twilio refuses. The ledger, the campaign, the audit and the
 * logs account for each; nothing of a patient is logged.
 */

// Tuesday 2026-12-01 15:00Z: 10:00 in New York, 07:00 in Los Angeles.
const now = new Date('2026-12-01T15:00:00Z');
const MG = `MG${'0123456789abcdef'.repeat(2)}`;
let h: Harness;
let twilioApi: TwilioDouble;
let practice: Practice;
let admin: string;
const PHONES = {
  delivered: '+12025550171',
  undelivered: '+12025550172',
  noConsent: '+12025550173',
  optedOut: '+12025550174',
  lateWest: '+12025550175',
  refused: '+12025550176',
} as const;
type Who = keyof typeof PHONES;
const ids = {} as Record<Who, string>;
const NAMES = Object.keys(PHONES).map((k) => `Zed${k}`);
const DOB = '1977-03-14';
let campaignId = '';
const logs = captureLogs();

function api(method: string, path: string, body?: unknown): Promise<ApiAnswer> {
  return callApi(h, method, path, admin, body);
}

const sid = (prefix: string): string => prefix + randomBytes(16).toString('hex');

beforeAll(async () => {
  twilioApi = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  h = await startHarness('sms-campaigns', { TWILIO_API_BASE_URL: twilioApi.baseUrl }, { clock: () => now });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practice = h.services.seeded;
  admin = (await createApiKey(h.services.db, { role: 'admin', practiceId: practice.id })).key;
  expect((await api('POST', '/api/consent-disclosures', { version: 'sms-2026-12', channel: 'sms', text: 'I agree that Demo Family Medicine may text this number about appointments and recalls. Reply STOP to stop.' })).status).toBe(201);
  for (const who of Object.keys(PHONES) as Who[]) {
    ids[who] = await createPatient(h.services.db, h.services.keyring, {
      practiceId: practice.id,
      phone: PHONES[who],
      firstName: `Zed${who}`,
      dateOfBirth: DOB,
      ...(who === 'lateWest' ? { timeZone: 'America/Los_Angeles', usState: 'CA' } : {}),
    });
    if (who === 'noConsent') continue;
    const res = await api('POST', `/api/patients/${ids[who]}/consents`, { channel: 'sms', action: 'granted', source: 'web_form', disclosureVersion: 'sms-2026-12', evidenceRef: `form-${who}` });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  }
  expect((await api('POST', '/api/vendor-baas', { vendor: 'twilio', signedAt: '2026-09-01', documentRef: 'twilio-baa' })).status).toBe(201);
  twilioApi.rejectMessagesTo(PHONES.refused, 21211);
});

afterAll(async () => {
  logs.restore();
  await h.close();
  await twilioApi.close();
});

describe('set-up', () => {
  it('an SMS campaign needs the practice Messaging Service; the setting is validated', async () => {
    const refused = await api('POST', '/api/campaigns', { name: 'Recall by text', templateId: 'sms-recall', provider: 'twilio', channel: 'sms' });
    expect(refused.status).toBe(409);
    expect(String(refused.body.message)).toMatch(/Messaging Service.*messagingServiceSid/);
    const bad = await api('PATCH', `/api/practices/${practice.id}`, { messagingServiceSid: 'MG123' });
    expect(bad.status).toBe(400);
    expect(String(bad.body.message ?? JSON.stringify(bad.body))).toContain('messagingServiceSid');
    const ok = await api('PATCH', `/api/practices/${practice.id}`, { messagingServiceSid: MG });
    expect(ok.status).toBe(200);
    expect(ok.body.messagingServiceSid).toBe(MG);
  });

  it('a spoken template cannot be sent as SMS; the check reports segments and encoding', async () => {
    const wrong = await api('POST', '/api/campaigns', { name: 'Wrong', templateId: 'recall', provider: 'twilio', channel: 'sms' });
    expect(wrong.status).toBe(400);
    expect(String(wrong.body.message)).toContain('templateId');
    const check = await api('POST', '/api/drop-templates/check', { purpose: 'recall', channel: 'sms', text: '{practice_name}: time to book your visit. Call {callback_number}.' });
    expect(check.status).toBe(200);
    expect(check.body).toMatchObject({ ok: true, sms: { encoding: 'GSM-7', segments: 1, maxSegments: 3 } });
    const own = await api('POST', '/api/drop-templates', { name: 'Text recall', purpose: 'recall', channel: 'sms', text: '{practice_name}: time for your visit. Call {callback_number}.' });
    expect(own.status, JSON.stringify(own.body)).toBe(201);
    expect(own.body).toMatchObject({ channel: 'sms', builtIn: false });
    const long = await api('POST', '/api/drop-templates', { name: 'Too long', purpose: 'recall', channel: 'sms', text: `{practice_name}: ${'please call us about booking. '.repeat(16)}{callback_number}` });
    expect(long.status).toBe(400);
    expect(String(long.body.message)).toMatch(/too_long "\d segments"/);
    const ucs = await api('POST', '/api/drop-templates/check', { purpose: 'recall', channel: 'sms', text: '{practice_name}: it’s time to book. Call {callback_number}.' });
    expect(ucs.body).toMatchObject({ sms: { encoding: 'UCS-2' } });
  });
});

describe('an SMS campaign', () => {
  it('STOP from a patient opts that number out of every channel', async () => {
    const res = await postTwilio(h, '/twilio/sms/incoming', { MessageSid: sid('SM'), AccountSid: TEST_ACCOUNT_SID, From: PHONES.optedOut, To: DEMO.number, Body: 'STOP', NumMedia: '0' });
    expect(res.status).toBe(200);
    // A ringless-voicemail campaign honours the same opt-out list.
    const drop = await api('POST', '/api/campaigns', { name: 'Drop after STOP', templateId: 'recall', provider: 'twilio', patientIds: [ids.optedOut] });
    expect(drop.status).toBe(201);
    const dry = await api('POST', `/api/campaigns/${String(drop.body.id)}/dry-run`);
    expect(dry.body).toMatchObject({ excluded: { opted_out: 1 } });
    await api('POST', `/api/campaigns/${String(drop.body.id)}/cancel`);
  });

  it('sends to those allowed, skips the rest with reasons, defers the one outside hours', async () => {
    const created = await api('POST', '/api/campaigns', { name: 'Recall by text', templateId: 'sms-recall', provider: 'twilio', channel: 'sms', patientIds: Object.values(ids) });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    campaignId = String(created.body.id);
    const dry = await api('POST', `/api/campaigns/${campaignId}/dry-run`);
    expect(dry.body).toMatchObject({ recipients: 6, eligibleNow: 3, excluded: { no_consent: 1, opted_out: 1 }, deferred: { outside_hours: 1 } });
    const start = await api('POST', `/api/campaigns/${campaignId}/start`);
    expect(start.body).toMatchObject({ state: 'running', queued: 4, skipped: 2 });

    // Three sends tried to the end: each has its sms.sent audit row (written after Twilio answered, or refused, and the ledger was updated).
    await until('three sends tried', async () => (await h.services.db.selectFrom('audit_log').select('action').where('action', '=', 'sms.sent').execute()).length === 3);
    await until('the refused send closed', async () => (await h.services.db.selectFrom('drops').select('id').where('campaign_id', '=', campaignId).where('status', '=', 'failed').execute()).length === 1);
    // Patient messages (a staff notice may go out too: the STOP text above is a patient text the practice is told of).
    const patientNumbers: readonly string[] = Object.values(PHONES);
    const messages = twilioApi.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Messages.json') && patientNumbers.includes(r.form.get('To') ?? ''));
    expect(messages.map((m) => m.form.get('To')).sort()).toEqual([PHONES.delivered, PHONES.undelivered, PHONES.refused].sort());
    for (const m of messages) {
      expect(m.form.get('MessagingServiceSid')).toBe(MG);
      expect(m.form.get('From')).toBeNull();
      expect(m.form.get('StatusCallback')).toMatch(/\/twilio\/sms\/status$/);
      // The first message to each number opens the conversation: it carries the opt-out sentence.
      expect(m.form.get('Body')).toContain(OPT_OUT_SMS_SENTENCE);
      expect(m.form.get('Body')).toContain('Demo Family Medicine');
      expect(m.form.get('Body')).not.toContain('Zed');
    }

    const sends = await h.services.db.selectFrom('outreach_sends').selectAll().execute();
    const byPatient = new Map(sends.map((s) => [s.patient_id, s]));
    expect(byPatient.get(ids.delivered)).toMatchObject({ status: 'queued', channel: 'sms', message_type: 'recall', origin: `campaign:${campaignId}`, matrix_cell: 'recall × sms', matrix_version: 0, opt_out_appended: true, segments: 1 });
    expect(byPatient.get(ids.delivered)?.provider_ref).toMatch(/^SM[0-9a-f]{32}$/);
    expect(byPatient.get(ids.delivered)?.consent_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(byPatient.get(ids.refused)).toMatchObject({ status: 'failed', reason: 'provider_refused_21211', error_code: '21211' });
    // Skipped at planning: no ledger row (the campaign row says why); the one outside hours waits.
    expect(byPatient.has(ids.noConsent)).toBe(false);
    expect(byPatient.has(ids.optedOut)).toBe(false);
    expect(byPatient.has(ids.lateWest)).toBe(false);
    const drops = await h.services.db.selectFrom('drops').select(['id', 'patient_id', 'status', 'reason']).where('campaign_id', '=', campaignId).execute();
    const dropOf = (who: Who) => drops.find((d) => d.patient_id === ids[who]);
    expect(dropOf('noConsent')).toMatchObject({ status: 'skipped', reason: 'no_consent' });
    expect(dropOf('optedOut')).toMatchObject({ status: 'skipped', reason: 'opted_out' });
    // Outside its hours: pending, its time (the morning there) in the campaign schedule.
    expect(dropOf('lateWest')).toMatchObject({ status: 'pending' });
    expect((await scheduledTimes(h.services, [dropOf('lateWest')?.id ?? ''])).size).toBe(1);
    expect(dropOf('refused')).toMatchObject({ status: 'failed', reason: 'provider_refused_21211' });

    // The audit names the consent grant and the matrix cell and version; ids only.
    const audit = await h.services.db.selectFrom('audit_log').select(['subject_id', 'details']).where('action', '=', 'sms.sent').execute();
    const sent = audit.find((a) => a.subject_id === byPatient.get(ids.delivered)?.id);
    expect(sent?.details).toMatchObject({ consentId: byPatient.get(ids.delivered)?.consent_id, matrixCell: 'recall × sms', matrixVersion: 0, campaignId, providerRef: byPatient.get(ids.delivered)?.provider_ref });
  });

  it('status callbacks move the ledger forward only, and settle the campaign rows', async () => {
    const sends = await h.services.db.selectFrom('outreach_sends').select(['id', 'patient_id', 'provider_ref']).execute();
    const refOf = (who: Who): string => sends.find((s) => s.patient_id === ids[who])?.provider_ref ?? '';
    const status = (MessageSid: string, MessageStatus: string, extra: Record<string, string> = {}) =>
      postTwilio(h, '/twilio/sms/status', { MessageSid, MessageStatus, AccountSid: TEST_ACCOUNT_SID, ...extra });

    expect((await status(refOf('delivered'), 'sent')).status).toBe(200);
    expect((await status(refOf('delivered'), 'delivered')).status).toBe(200);
    // Out of order: a late 'sent' does not move a delivered row back.
    expect((await status(refOf('delivered'), 'sent')).status).toBe(200);
    expect((await status(refOf('undelivered'), 'undelivered', { ErrorCode: '30003' })).status).toBe(200);
    // Malformed: a 400, never a 500; a status we do not track: 200, nothing changes.
    expect((await status('not-a-sid', 'delivered')).status).toBe(400);
    expect((await status(refOf('refused') || sid('SM'), 'read')).status).toBe(200);

    const rows = await h.services.db.selectFrom('outreach_sends').select(['patient_id', 'status', 'error_code', 'delivered_at']).execute();
    expect(rows.find((r) => r.patient_id === ids.delivered)).toMatchObject({ status: 'delivered' });
    expect(rows.find((r) => r.patient_id === ids.delivered)?.delivered_at).toBeInstanceOf(Date);
    expect(rows.find((r) => r.patient_id === ids.undelivered)).toMatchObject({ status: 'undelivered', error_code: '30003' });
    const drops = await h.services.db.selectFrom('drops').select(['patient_id', 'status', 'reason']).where('campaign_id', '=', campaignId).execute();
    expect(drops.find((d) => d.patient_id === ids.delivered)).toMatchObject({ status: 'delivered' });
    expect(drops.find((d) => d.patient_id === ids.undelivered)).toMatchObject({ status: 'failed', reason: 'undelivered_30003' });

    const progress = await api('GET', `/api/campaigns/${campaignId}`);
    expect(progress.body).toMatchObject({ campaign: { channel: 'sms' }, sms: { delivered: 1, undelivered: 1, failed: 1 } });
    const statusAudit = await h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'sms.status').execute();
    expect(statusAudit.map((a) => (a.details as { status: string }).status).sort()).toEqual(['delivered', 'sent', 'undelivered']);
  });

  it('the communication matrix refuses SMS of a closed cell, naming it', async () => {
    const m = await api('GET', `/api/practices/${practice.id}/communication-matrix`);
    const matrix = m.body.matrix as Record<string, Record<string, { allowed: boolean; detail: string }>>;
    const recall = matrix.recall;
    if (!recall) throw new Error('no recall row');
    recall.sms = { allowed: false, detail: 'none' };
    expect((await api('PUT', `/api/practices/${practice.id}/communication-matrix`, matrix)).status).toBe(200);
    const refused = await api('POST', '/api/campaigns', { name: 'Closed', templateId: 'sms-recall', provider: 'twilio', channel: 'sms' });
    expect(refused.status).toBe(409);
    expect(String(refused.body.message)).toContain('recall × sms');
  });

  it('nothing of a patient reached the logs or the audit details', async () => {
    const audit = await h.services.db.selectFrom('audit_log').select('details').execute();
    const out = [...logs.lines(), JSON.stringify(audit)].join('\n');
    for (const phi of [...NAMES, DOB, ...Object.values(PHONES), ...Object.values(PHONES).map((p) => p.slice(2))]) expect(out, phi).not.toContain(phi);
  });
});
