import { randomBytes } from 'node:crypto';
import { dispatchDueDrops } from '../src/drops/dispatcher.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { createPatient } from '../src/patients/store.js';
import { DEMO } from '../src/practices/seed.js';
import type { Practice } from '../src/practices/store.js';
import { DEFAULT_MATRIX, LOCKED_OPEN, type CommunicationMatrix } from '../src/outreach/matrix.js';
import { currentMatrix, forgetCachedMatrix, MATRIX_CACHE_TTL_MS, matrixFor } from '../src/outreach/matrix-store.js';
import { openPage } from '../src/oncall/paging.js';
import { getDefaultPolicy } from '../src/oncall/store.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { OPT_OUT_SENTENCE } from '../src/drops/templates.js';
import { until } from './support/until.js';
import { scheduledTimes } from './support/drop-schedule.js';
import { startHarness, type Harness } from './support/harness.js';
import { startRvmDouble, type RvmDouble } from './support/rvm-double.js';

/**
 * The communication matrix (issue 15, items 1 and 6) against the real PostgreSQL, Redis and
 * BullMQ, with the loopback drop vendor: its API (versions, audit, 400s naming the cell), and
 * every drop path that consults it — a template, a campaign's creation and start, each drop at
 * send time — plus the trace of a drop and a page in the audit log.
 */

const API_KEY = 'vendor-api-key-0123456789';
const SECRET = 'vendor-webhook-secret-0123456789';
// Monday 2026-11-30 21:30 in New York (too late for drops); Tuesday 08:00 there.
const MON_EVENING = new Date('2026-12-01T02:30:00Z');
const TUE_1000_NY = new Date('2026-12-01T15:00:00Z');

let h: Harness;
let vendor: RvmDouble;
let practice: Practice;
let now = TUE_1000_NY;
let admin: string;
let staff: string;
let auditor: string;
let patients: string[] = [];

async function api(method: string, path: string, body?: unknown, key = admin): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(h.baseUrl + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const matrixPath = (): string => `/api/practices/${practice.id}/communication-matrix`;
function withCell(base: CommunicationMatrix, type: keyof CommunicationMatrix, channel: 'sms' | 'rvm' | 'voice' | 'email', allowed: boolean, detail: 'none' | 'logistics' = 'none'): CommunicationMatrix {
  return { ...base, [type]: { ...base[type], [channel]: { allowed, detail } } };
}

async function putMatrix(m: CommunicationMatrix): Promise<number> {
  const res = await api('PUT', matrixPath(), m);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.version as number;
}

async function auditRows(action: string, subjectId?: string): Promise<Array<{ subject_id: string | null; details: Record<string, unknown> }>> {
  let q = h.services.db.selectFrom('audit_log').select(['subject_id', 'details']).where('action', '=', action).where('practice_id', '=', practice.id);
  if (subjectId) q = q.where('subject_id', '=', subjectId);
  return q.orderBy('seq').execute();
}

async function dropsOf(campaignId: string): Promise<Array<{ id: string; patient_id: string; status: string; reason: string | null }>> {
  return h.services.db.selectFrom('drops').select(['id', 'patient_id', 'status', 'reason']).where('campaign_id', '=', campaignId).orderBy('patient_id').execute();
}

async function settled(campaignId: string, waitFor: (rows: Awaited<ReturnType<typeof dropsOf>>) => boolean): Promise<Awaited<ReturnType<typeof dropsOf>>> {
  return until('the drops', async () => {
    const rows = await dropsOf(campaignId);
    return waitFor(rows) ? rows : undefined;
  });
}

async function newCampaign(name: string): Promise<string> {
  const res = await api('POST', '/api/campaigns', { name, templateId: 'recall', provider: 'rvm_http', ratePerMinute: 600, patientIds: patients });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id as string;
}

beforeAll(async () => {
  let target = '';
  vendor = await startRvmDouble({ apiKey: API_KEY, webhookSecret: SECRET, webhookTarget: () => target });
  h = await startHarness('matrix', { RVM_API_URL: vendor.baseUrl, RVM_API_KEY: API_KEY, RVM_WEBHOOK_SECRET: SECRET }, { clock: () => now });
  target = `${h.baseUrl}/rvm/webhook`;
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practice = h.services.seeded;
  admin = (await createApiKey(h.services.db, { role: 'admin', practiceId: practice.id })).key;
  staff = (await createApiKey(h.services.db, { role: 'staff', practiceId: practice.id })).key;
  auditor = (await createApiKey(h.services.db, { role: 'auditor', practiceId: practice.id })).key;
  expect((await api('POST', '/api/vendor-baas', { vendor: 'rvm_http', signedAt: '2026-10-01', documentRef: 'baa' })).status).toBe(201);
  patients = [];
  for (const n of [1, 2]) {
    const id = await createPatient(h.services.db, h.services.keyring, { practiceId: practice.id, phone: `+120255502${60 + n}`, firstName: `Matrix${n}`, lastName: 'Tester', dateOfBirth: '1970-01-0' + n });
    const grant = await api('POST', `/api/patients/${id}/consents`, { channel: 'rvm', action: 'granted', source: 'paper_form', disclosureVersion: DEMO.rvmDisclosure.version, evidenceRef: 'scan-1' }, staff);
    expect(grant.status).toBe(201);
    patients.push(id);
  }
  patients.sort();
});

afterAll(async () => {
  await h.close();
  await vendor.close();
});

describe('GET/PUT /api/practices/:id/communication-matrix', () => {
  it('a practice without a matrix reads the defaults as version 0; every role that reads gets it', async () => {
    for (const key of [admin, staff, auditor]) {
      const res = await api('GET', matrixPath(), undefined, key);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ version: 0, isDefault: true, matrix: DEFAULT_MATRIX });
      // The cells no practice may close, with the reason, for the console to show them locked.
      expect(res.body.locked).toEqual(LOCKED_OPEN.map(({ type, channel, why }) => ({ type, channel, why })));
    }
  });

  it('every PUT is a new version, the highest current, audited with the version and the changed cells; only admins write', async () => {
    expect((await api('PUT', matrixPath(), DEFAULT_MATRIX, staff)).status).toBe(403);
    const v1 = await putMatrix(withCell(DEFAULT_MATRIX, 'billing_callback', 'email', false));
    const v2 = await putMatrix(DEFAULT_MATRIX);
    expect([v1, v2]).toEqual([1, 2]);
    const current = await api('GET', matrixPath());
    expect(current.body).toMatchObject({ version: 2, isDefault: false, matrix: DEFAULT_MATRIX });
    const rows = await h.services.db.selectFrom('communication_matrices').select('version').where('practice_id', '=', practice.id).orderBy('version').execute();
    expect(rows.map((r) => r.version)).toEqual([1, 2]);
    const audited = await auditRows('admin.matrix_updated');
    expect(audited.map((a) => a.details)).toEqual([
      { version: 1, changed: ['billing_callback × email'] },
      { version: 2, changed: ['billing_callback × email'] },
    ]);
  });

  it('a bad body is a 400 naming the cell and field; closing staff_page × voice or × sms is refused with the reason', async () => {
    const bad = await api('PUT', matrixPath(), { ...DEFAULT_MATRIX, recall: { ...DEFAULT_MATRIX.recall, email: { allowed: true, detail: 'clinical' } } });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/^recall\.email\.detail: /);
    const missing = await api('PUT', matrixPath(), { ...DEFAULT_MATRIX, staff_page: undefined });
    expect(missing.status).toBe(400);
    expect(missing.body.message).toMatch(/^staff_page: /);
    for (const channel of ['voice', 'sms'] as const) {
      const locked = await api('PUT', matrixPath(), withCell(DEFAULT_MATRIX, 'staff_page', channel, false));
      expect(locked.status).toBe(400);
      expect(locked.body.message).toMatch(new RegExp(`^staff_page\\.${channel}\\.allowed: staff_page × ${channel} cannot be closed: `));
    }
    expect((await api('GET', matrixPath())).body.version).toBe(2);
  });
});

describe('drops consult the matrix', () => {
  const TEXT = `Hello, this is {practice_name}. A message is waiting for you; please call {callback_number}. ${OPT_OUT_SENTENCE}`;

  it('creating a template is refused when its message type × rvm is not allowed, naming the cell', async () => {
    const refused = await api('POST', '/api/drop-templates', { name: 'Results', purpose: 'callback_request', messageType: 'results_ready', text: TEXT });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ error: 'matrix_refused', cell: 'results_ready × rvm', message: 'communication matrix: results_ready × rvm: not allowed' });
    // Too much detail for the cell: an office closure naming the hours, where the cell allows none.
    await putMatrix(withCell(DEFAULT_MATRIX, 'office_closure', 'rvm', true, 'none'));
    const detail = await api('POST', '/api/drop-templates', { name: 'Closure', purpose: 'office_closure', text: `Hello, this is {practice_name}. Our hours change: {office_hours}. Call {callback_number}. ${OPT_OUT_SENTENCE}` });
    expect(detail.status).toBe(409);
    expect(detail.body.message).toBe('communication matrix: office_closure × rvm: allows no detail (this message carries logistics)');
    // A message type the purpose's words do not fit.
    const mismatch = await api('POST', '/api/drop-templates', { name: 'Sneaky', purpose: 'billing_callback', messageType: 'recall', text: TEXT });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.message).toContain('invalid_message_type');
    // Allowed: stored with its type, the cell and version audited.
    const ok = await api('POST', '/api/drop-templates', { name: 'Call us', purpose: 'callback_request', text: `Hello, this is {practice_name}. Please call {callback_number}. ${OPT_OUT_SENTENCE}` });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect(ok.body.messageType).toBe('callback_request');
    const [created] = await auditRows('drop.template_created', ok.body.id as string);
    expect(created?.details).toMatchObject({ messageType: 'callback_request', matrixCell: 'callback_request × rvm', matrixVersion: 3 });
    await putMatrix(DEFAULT_MATRIX);
  });

  it('creating and starting a campaign are refused when recall × rvm is closed', async () => {
    await putMatrix(withCell(DEFAULT_MATRIX, 'recall', 'rvm', false));
    const refused = await api('POST', '/api/campaigns', { name: 'Refused', templateId: 'recall', provider: 'rvm_http' });
    expect(refused.status).toBe(409);
    expect(refused.body.message).toBe('communication matrix: recall × rvm: not allowed');
    await putMatrix(DEFAULT_MATRIX);
    const id = await newCampaign('Created while open');
    await putMatrix(withCell(DEFAULT_MATRIX, 'recall', 'rvm', false));
    const start = await api('POST', `/api/campaigns/${id}/start`, {});
    expect(start.status).toBe(409);
    expect(start.body.message).toBe('communication matrix: recall × rvm: not allowed');
    expect((await api('GET', `/api/campaigns/${id}`)).body.campaign).toMatchObject({ state: 'draft' });
    await putMatrix(DEFAULT_MATRIX);
  });

  it('a cell closed after the campaign started stops the remaining drops, the reason and cell recorded per drop', async () => {
    now = MON_EVENING; // too late in New York: every drop waits for the morning
    const id = await newCampaign('Closed meanwhile');
    expect((await api('POST', `/api/campaigns/${id}/start`, {})).status).toBe(200);
    // Planned for the morning: pending, each with its time in the campaign schedule.
    const planned = await dropsOf(id);
    expect(planned.map((d) => d.status)).toEqual(['pending', 'pending']);
    expect((await scheduledTimes(h.services, planned.map((d) => d.id))).size).toBe(2);
    await putMatrix(withCell(DEFAULT_MATRIX, 'recall', 'rvm', false));
    now = TUE_1000_NY;
    // The dispatcher queues what is due by the moved clock (it runs every 20 s on its own).
    await dispatchDueDrops(h.services);
    for (const job of await h.services.queues.drops.getDelayed()) await job.promote();
    const rows = await settled(id, (r) => r.every((d) => d.status === 'skipped'));
    expect(rows.map((d) => d.reason)).toEqual(['matrix_not_allowed', 'matrix_not_allowed']);
    for (const d of rows) {
      // The row changes before its audit event is written: wait for the event.
      const final = await until('drop.final', async () => (await auditRows('drop.final', d.id)).at(-1));
      expect(final.details).toMatchObject({ status: 'skipped', reason: 'matrix_not_allowed', matrixCell: 'recall × rvm' });
    }
    expect(vendor.requests.length).toBe(0);
    await putMatrix(DEFAULT_MATRIX);
  });

  it('drop.sent names the consent grant and the matrix cell and version that allowed it', async () => {
    now = TUE_1000_NY;
    const version = await putMatrix(withCell(DEFAULT_MATRIX, 'recall', 'sms', false));
    const id = await newCampaign('Sent');
    expect((await api('POST', `/api/campaigns/${id}/start`, {})).status).toBe(200);
    const rows = await settled(id, (r) => r.every((d) => d.status !== 'queued' && d.status !== 'pending'));
    const grants = await h.services.db.selectFrom('consents').select(['id', 'patient_id']).where('patient_id', 'in', patients).where('channel', '=', 'rvm').execute();
    for (const d of rows) {
      const sent = await until('drop.sent', async () => (await auditRows('drop.sent', d.id))[0]);
      expect(sent.details).toMatchObject({
        consentId: grants.find((g) => g.patient_id === d.patient_id)?.id,
        matrixCell: 'recall × rvm',
        matrixVersion: version,
      });
    }
  });
});

describe("the send paths' copy of the matrix (this instance, 30 s)", () => {
  it('after a PUT, the next drop send uses the new matrix at once: its version is in drop.sent', async () => {
    // The drops just sent read the matrix: this instance holds it now. A campaign to a patient
    // who had no drop yet (the others are under the frequency cap) waits for the morning...
    now = MON_EVENING;
    const fresh = await createPatient(h.services.db, h.services.keyring, { practiceId: practice.id, phone: '+12025550269', firstName: 'Matrix9', lastName: 'Tester', dateOfBirth: '1970-01-09' });
    const grant = await api('POST', `/api/patients/${fresh}/consents`, { channel: 'rvm', action: 'granted', source: 'paper_form', disclosureVersion: DEMO.rvmDisclosure.version, evidenceRef: 'scan-9' }, staff);
    expect(grant.status).toBe(201);
    const created = await api('POST', '/api/campaigns', { name: 'After a PUT', templateId: 'recall', provider: 'rvm_http', ratePerMinute: 600, patientIds: [fresh] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    expect((await api('POST', `/api/campaigns/${id}/start`, {})).status).toBe(200);
    // ...the matrix changes (recall × rvm still open) and the drops go.
    const version = await putMatrix(withCell(DEFAULT_MATRIX, 'recall', 'email', false));
    now = TUE_1000_NY;
    // The dispatcher queues what is due by the moved clock (it runs every 20 s on its own).
    await dispatchDueDrops(h.services);
    for (const job of await h.services.queues.drops.getDelayed()) await job.promote();
    const rows = await settled(id, (r) => r.every((d) => d.status !== 'queued' && d.status !== 'pending'));
    expect(rows).toHaveLength(1);
    for (const d of rows) {
      const sent = await until('drop.sent', async () => (await auditRows('drop.sent', d.id))[0]);
      expect(sent.details).toMatchObject({ matrixCell: 'recall × rvm', matrixVersion: version });
    }
  });

  it('a read within the TTL is served from the copy, not PostgreSQL; a save here or the TTL ends it', async () => {
    const scope = tenantScope(h.services, practice.id);
    // Time of its own, past anything the workers' reads set.
    const t0 = performance.now() + 10 * MATRIX_CACHE_TTL_MS;
    const held = await matrixFor(scope, t0);
    expect(held.version).toBe((await currentMatrix(scope)).version);
    // A row written behind this instance's back (as another instance's save would be).
    await h.services.db.insertInto('communication_matrices').values({ practice_id: practice.id, version: held.version + 1, cells: JSON.stringify(DEFAULT_MATRIX), created_by: 'test' }).execute();
    expect((await currentMatrix(scope)).version).toBe(held.version + 1);
    expect((await matrixFor(scope, t0 + MATRIX_CACHE_TTL_MS - 1)).version).toBe(held.version);
    expect((await matrixFor(scope, t0 + MATRIX_CACHE_TTL_MS)).version).toBe(held.version + 1);
    // A save in this instance drops the copy at once.
    const saved = await putMatrix(DEFAULT_MATRIX);
    expect((await matrixFor(scope, t0 + MATRIX_CACHE_TTL_MS + 1)).version).toBe(saved);
    forgetCachedMatrix(practice.id);
  });
});

describe('pages to staff', () => {
  it('a page round names staff_page × sms and the matrix version it went under', async () => {
    const policy = await getDefaultPolicy(tenantScope(h.services, practice.id));
    const pageId = await openPage(h.services, { practiceId: practice.id, callSid: `CA${randomBytes(16).toString('hex')}`, policyId: policy?.id ?? null });
    const sent = await until('page.sent', async () => (await auditRows('page.sent', pageId))[0]);
    const version = (await api('GET', matrixPath())).body.version;
    expect(sent.details).toMatchObject({ round: 0, matrixCell: 'staff_page × sms', matrixVersion: version });
  });
});
