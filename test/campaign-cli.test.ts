import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import type { Practice } from '../src/practices/store.js';
import { startHarness, type Harness } from './support/harness.js';

/**
 * `npm run campaign -- create --csv`: the campaign is created, then the file goes as text/csv to
 * the recipients route, whose row-by-row report the CLI prints — a list far past what a JSON body
 * holds, with blank and bad rows reported rather than failing the whole create. When that second
 * request does not go through, the CLI says so with the campaign's id, and start refuses the empty
 * campaign (409).
 */

const ROWS = 7_200;
const BLANK_ROW = 100;
const BAD_ROW = 5_000;

let h: Harness;
let demo: Practice;
let admin: string;
let dir: string;
let patientIds: string[];

beforeAll(async () => {
  h = await startHarness('campaign_cli');
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  demo = h.services.seeded;
  admin = (await createApiKey(h.services.db, { role: 'admin', practiceId: demo.id })).key;
  // Patients enough for a long list: copies of the seeded patient's row under new ids.
  const seeded = await h.services.db.selectFrom('patients').select('id').where('practice_id', '=', demo.id).executeTakeFirstOrThrow();
  const copies = await sql<{ id: string }>`
    INSERT INTO patients (practice_id, phone_index, dob_enc)
    SELECT practice_id, phone_index, dob_enc FROM patients, generate_series(1, ${ROWS - 2}) WHERE id = ${seeded.id}
    RETURNING id`.execute(h.services.db);
  patientIds = copies.rows.map((r) => r.id);
  dir = await mkdtemp(path.join(os.tmpdir(), 'ahl-campaign-cli-'));
  const baa = await fetch(`${h.baseUrl}/api/vendor-baas`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ vendor: 'twilio', signedAt: '2026-10-01', documentRef: 'contracts/twilio-baa.pdf' }),
  });
  expect(baa.status).toBe(201);
});
afterAll(async () => {
  await h.close();
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], url = h.baseUrl): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, AHL_URL: url, AHL_API_KEY: admin };
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/campaign.ts', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A CSV of ROWS data rows: every new patient once, a blank row at BLANK_ROW and a bad id at BAD_ROW. */
async function bigCsv(): Promise<string> {
  const ids = [...patientIds];
  const rows: string[] = [];
  for (let row = 1; row <= ROWS; row++) rows.push(row === BLANK_ROW ? '' : row === BAD_ROW ? 'not-an-id' : (ids.shift() ?? ''));
  expect(ids).toEqual([]);
  const file = path.join(dir, 'big.csv');
  await writeFile(file, `patient_id\n${rows.join('\n')}\n`);
  return file;
}

/**
 * A front for the service that passes every request through except the recipients upload, which
 * it cuts (`reset`: the connection closed, as a network drop or ^C would) or refuses (`503`).
 */
async function cuttingFront(mode: 'reset' | '503'): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (/\/recipients$/.test(req.url ?? '')) {
      if (mode === 'reset') req.socket.destroy();
      else res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'unavailable', message: 'try again later' }));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      void (async (): Promise<void> => {
        const headers: Record<string, string> = {};
        for (const name of ['authorization', 'content-type']) {
          const v = req.headers[name];
          if (typeof v === 'string') headers[name] = v;
        }
        const upstream = await fetch(h.baseUrl + (req.url ?? '/'), { method: req.method ?? 'GET', headers, ...(chunks.length ? { body: Buffer.concat(chunks) } : {}) });
        res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' }).end(Buffer.from(await upstream.arrayBuffer()));
      })().catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const createdId = (out: string): string => /created campaign ([0-9a-f-]{36})/.exec(out)?.[1] ?? '';
const dropCount = async (campaignId: string): Promise<number> =>
  Number((await h.services.db.selectFrom('drops').select((eb) => eb.fn.countAll().as('n')).where('campaign_id', '=', campaignId).executeTakeFirstOrThrow()).n);

describe.concurrent('npm run campaign -- create --csv', () => {
  it(`adds a list of ${ROWS} rows with a blank and a bad row, and prints the row-by-row report`, async () => {
    const file = await bigCsv();
    const run = await cli(['create', '--name', 'Long list', '--template', 'recall', '--provider', 'twilio', '--csv', file]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const id = createdId(run.stdout);
    expect(id).not.toBe('');
    expect(run.stdout).toContain(`recipients: added ${ROWS - 2}, invalid 2`);
    expect(run.stdout).toContain(`row ${BLANK_ROW}: invalid (patient_id must be a UUID)`);
    expect(run.stdout).toContain(`row ${BAD_ROW}: invalid (patient_id must be a UUID)`);
    expect(await dropCount(id)).toBe(ROWS - 2);
  });

  it('when the recipients do not go through, says so with the campaign id; start refuses the empty campaign (409)', async () => {
    const file = path.join(dir, 'small.csv');
    await writeFile(file, `patient_id\n${patientIds[0] ?? ''}\n`);
    const fronts = await Promise.all([cuttingFront('reset'), cuttingFront('503')]);
    try {
      const runs = await Promise.all(fronts.map((f) => cli(['create', '--name', 'Interrupted', '--template', 'recall', '--provider', 'twilio', '--csv', file], f.url)));
      const ids = runs.map((run) => createdId(run.stdout));
      for (const [i, run] of runs.entries()) {
        const id = ids[i] ?? '';
        expect(id, run.stdout).not.toBe('');
        expect(run.code).toBe(2);
        expect(run.stderr).toContain('recipients were not added');
        expect(run.stderr).toContain(`campaign ${id} was created without them; start refuses it (409)`);
        expect(run.stderr).toContain(`npm run campaign -- recipients ${id} --csv ${file}`);
        expect(await dropCount(id)).toBe(0);
      }
      for (const id of ids) {
        const start = await fetch(`${h.baseUrl}/api/campaigns/${id}/start`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });
        expect(start.status).toBe(409);
        expect(((await start.json()) as { message: string }).message).toMatch(/no recipients/);
        const row = await h.services.db.selectFrom('campaigns').select(['state', 'started_at']).where('id', '=', id).executeTakeFirstOrThrow();
        expect(row).toEqual({ state: 'draft', started_at: null });
      }
      expect(runs[1]?.stderr).toContain('503 try again later');
    } finally {
      await Promise.all(fronts.map((f) => f.close()));
    }
  });
});
