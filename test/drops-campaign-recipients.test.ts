import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import type { Practice } from '../src/practices/store.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { startHarness, type Harness } from './support/harness.js';

/** A campaign is never left to "complete" empty: start refuses one without recipients; the CLI adds a CSV's after the create (test/campaign-cli.test.ts). */

let h: Harness;
let demo: Practice;
let admin: string;
let patientId: string;
let dir: string;

beforeAll(async () => {
  h = await startHarness('rvm_recipients');
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  demo = h.services.seeded;
  admin = (await createApiKey(h.services.db, { role: 'admin', practiceId: demo.id })).key;
  patientId = (await h.services.db.selectFrom('patients').select('id').where('practice_id', '=', demo.id).executeTakeFirstOrThrow()).id;
  dir = await mkdtemp(path.join(os.tmpdir(), 'ahl-campaign-'));
  const baa = await api('POST', '/api/vendor-baas', { vendor: 'twilio', signedAt: '2026-10-01', documentRef: 'contracts/twilio-baa.pdf' });
  expect(baa.status).toBe(201);
});
afterAll(async () => {
  await h.close();
  await rm(dir, { recursive: true, force: true });
});

function api(method: string, p: string, body?: unknown): Promise<ApiAnswer> {
  return callApi(h, method, p, admin, body);
}

const campaignCount = async (): Promise<number> => (await h.services.db.selectFrom('campaigns').select('id').execute()).length;

describe('campaign recipients', () => {
  it('start refuses a campaign with no recipients (409), and it stays a draft', async () => {
    const created = await api('POST', '/api/campaigns', { name: 'Empty', templateId: 'recall', provider: 'twilio' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = String(created.body.id);
    const start = await api('POST', `/api/campaigns/${id}/start`);
    expect(start.status).toBe(409);
    expect(start.body.message).toMatch(/no recipients/);
    const row = await h.services.db.selectFrom('campaigns').select(['state', 'started_at']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(row).toEqual({ state: 'draft', started_at: null });

    expect((await api('POST', `/api/campaigns/${id}/recipients`, { patientIds: [patientId] })).status).toBe(200);
    expect((await api('POST', `/api/campaigns/${id}/start`)).status).toBe(200);
  });

  it('campaign create --csv adds the recipients; an unreadable file creates nothing', async () => {
    const run = promisify(execFile);
    const env = { ...process.env, AHL_URL: h.baseUrl, AHL_API_KEY: admin };
    const cli = (args: string[]): Promise<{ stdout: string; stderr: string }> => run(process.execPath, ['--import', 'tsx', 'scripts/campaign.ts', ...args], { env });
    const csv = path.join(dir, 'ids.csv');
    await writeFile(csv, `patient_id\n${patientId}\nnot-an-id\n`);
    const before = await campaignCount();

    const [ok, missing] = await Promise.all([
      cli(['create', '--name', 'From CSV', '--template', 'recall', '--provider', 'twilio', '--csv', csv]),
      cli(['create', '--name', 'Lost', '--template', 'recall', '--provider', 'twilio', '--csv', path.join(dir, 'nope.csv')]).catch((e: { code: number; stderr: string }) => e),
    ]);
    expect(missing).toMatchObject({ code: 2, stderr: expect.stringContaining('--csv: cannot read') as unknown });
    expect(ok.stdout).toContain('recipients: added 1, invalid 1');
    const id = /created campaign ([0-9a-f-]{36})/.exec(ok.stdout)?.[1] ?? '';
    expect(await campaignCount()).toBe(before + 1);
    const drops = await h.services.db.selectFrom('drops').select('patient_id').where('campaign_id', '=', id).execute();
    expect(drops).toEqual([{ patient_id: patientId }]);
  });
});
