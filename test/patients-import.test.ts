import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { decryptingStream } from '../src/adapters/envelope.js';
import { createPractice, type Practice } from '../src/practices/store.js';
import { importPatients } from '../src/patients/patient-import.js';
import { IMPORT_BATCH } from '../src/patients/csv-import.js';
import { importJobId, importUploadContext, importUploadKey } from '../src/patients/import-requests.js';
import { processImportJob, sweepImports } from '../src/patients/import-worker.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { searchPatients } from '../src/patients/records.js';
import { asOwner, startHarness, type Harness } from './support/harness.js';
import { until } from './support/until.js';

/**
 * CSV import of patients and appointments, through the API as a job (202, then the import's
 * status and report): dry run, report, idempotent re-import, an invalid row or a failing
 * transaction leaving nothing written, appointments by MRN, the upload stored encrypted and
 * deleted afterwards, ids only in the job, and a long file streamed.
 */

let h: Harness;
let practice: Practice;
let admin: string;
let staff: string;

const HEADER = 'mrn,first_name,last_name,date_of_birth,phone,home_phone,preferred_language,us_state';
const ROWS = [
  'A-1,Dana,Ortiz,1960-02-03,+12025550301,,es,FL',
  'A-2,Eli,Ortiz,1962-05-06,+12025550302,+12025550303,,',
  'A-3,Fay,Nolan,1970-07-08,,+12025550304,en,NY',
];
const FILE = [HEADER, ...ROWS].join('\n') + '\n';

type Json = Record<string, unknown>;

async function post(path: string, csv: string, key = admin): Promise<{ status: number; body: Json; location: string | null }> {
  const res = await fetch(h.baseUrl + path, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'text/csv' }, body: csv });
  return { status: res.status, body: (await res.json()) as Json, location: res.headers.get('location') };
}

async function get(path: string, key = admin): Promise<{ status: number; body: Json }> {
  const res = await fetch(h.baseUrl + path, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: (await res.json()) as Json };
}

/** Generous: the machine may be shared, and an import queued behind another waits for it. */
const IMPORT_WAIT_MS = 150_000;

/** The import, once it has finished (done or failed). */
async function finished(id: string, query = ''): Promise<Json> {
  return until(
    `import ${id} to finish`,
    async () => {
      const r = await get(`/api/imports/${id}${query}`);
      expect(r.status).toBe(200);
      return r.body.status === 'done' || r.body.status === 'failed' ? r.body : null;
    },
    IMPORT_WAIT_MS,
  );
}

/** Posts a CSV import (202) and waits for it to finish. */
async function imported(path: string, csv: string): Promise<Json> {
  const r = await post(path, csv);
  expect(r.status).toBe(202);
  expect(r.location).toBe(`/api/imports/${String(r.body.id)}`);
  return finished(String(r.body.id));
}

const patientCount = async (): Promise<number> => (await h.services.db.selectFrom('patients').select('id').where('practice_id', '=', practice.id).execute()).length;

beforeAll(async () => {
  h = await startHarness('patients_import');
  practice = await createPractice(h.services.db, { slug: 'importing', name: 'Import Clinic', timeZone: 'America/New_York', numbers: ['+12025550921'] });
  admin = (await createApiKey(h.services.db, { role: 'admin', practiceId: practice.id })).key;
  staff = (await createApiKey(h.services.db, { role: 'staff', practiceId: practice.id })).key;
});
afterAll(async () => {
  await h.close();
});

describe('patients import', { timeout: IMPORT_WAIT_MS + 30_000 }, () => {
  it('a dry run (the default) is queued (202), ends done with its report, and writes nothing', async () => {
    const r = await imported('/api/patients/import', FILE);
    expect(r).toMatchObject({ kind: 'patients', dryRun: true, status: 'done', rowsRead: 3, committed: false, created: 3, failure: null, message: null });
    expect(r.report).toMatchObject({ kind: 'patients', dryRun: true, committed: false, rows: 3, created: 3, updated: 0, duplicate: 0, invalid: 0, entries: [], entriesTotal: 0 });
    expect(await patientCount()).toBe(0);
    expect((await post('/api/patients/import', FILE, staff)).status).toBe(403);
  });

  it('imports, then a re-import of the same file updates the same records (upsert by MRN)', async () => {
    const first = await imported('/api/patients/import?dryRun=false', FILE);
    expect(first).toMatchObject({ status: 'done', committed: true, created: 3, updated: 0 });
    expect(await patientCount()).toBe(3);
    const search = await fetch(h.baseUrl + '/api/patients/search', { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ mrn: 'a-2' }) });
    const [eli] = ((await search.json()) as { patients: Array<{ id: string; firstName: string }> }).patients;
    expect(eli?.firstName).toBe('Eli');
    const again = await imported('/api/patients/import?dryRun=false', FILE.replace('A-2,Eli,Ortiz', 'A-2,Elias,Ortiz'));
    expect(again.report).toMatchObject({ committed: true, created: 0, updated: 3, duplicate: 0 });
    expect(await patientCount()).toBe(3);
    const read = await fetch(`${h.baseUrl}/api/patients/${eli?.id}`, { headers: { authorization: `Bearer ${admin}` } });
    const patient = (await read.json()) as { firstName: string; phones: Array<{ number: string; kind: string; preferred: boolean }> };
    expect(patient.firstName).toBe('Elias');
    expect(patient.phones).toEqual([
      expect.objectContaining({ number: '+12025550302', kind: 'mobile', preferred: true }),
      expect.objectContaining({ number: '+12025550303', kind: 'home', preferred: false }),
    ]);
    // Requested (by the key), then finished (by the worker): ids, codes and counts only.
    const audit = await h.services.db
      .selectFrom('audit_log')
      .select(['action', 'actor', 'details'])
      .where('subject_id', '=', String(again.id))
      .where('action', 'in', ['admin.import_requested', 'import.finished'])
      .orderBy('seq')
      .execute();
    expect(audit.map((a) => [a.action, a.actor.split(':')[0]])).toEqual([
      ['admin.import_requested', 'api_key'],
      ['import.finished', 'system'],
    ]);
    expect(audit[0]?.details).toMatchObject({ kind: 'patients', dryRun: false, bytes: expect.any(Number) });
    expect(audit[1]?.details).toEqual({ kind: 'patients', dryRun: false, status: 'done', committed: true, rows: 3, created: 0, updated: 3, duplicate: 0, invalid: 0 });
    // Listed, newest first.
    const list = await get('/api/imports?limit=2');
    expect((list.body.imports as Json[]).map((i) => i.id)).toEqual([again.id, first.id]);
    expect((await get('/api/imports', staff)).status).toBe(403);
  });

  it('reports duplicates by row: an MRN repeated, a new MRN for a known name and date of birth; entries paged', async () => {
    const csv = [HEADER, 'B-1,Gus,Hale,1950-01-01,+12025550310,,,', 'B-1,Gus,Hale,1950-01-01,+12025550310,,,', 'B-2,Dana,Ortiz,1960-02-03,+12025550311,,,'].join('\n');
    const r = await imported('/api/patients/import', csv);
    expect(r.report).toMatchObject({ rows: 3, created: 1, duplicate: 2, invalid: 0, entriesTotal: 2 });
    const [dana] = await searchPatients(tenantScope(h.services, practice.id), h.services.keyring, { mrn: 'A-1', includeInactive: false, limit: 1, offset: 0 });
    const entries = [
      { row: 3, outcome: 'duplicate', field: 'mrn', reason: 'the same MRN as row 2' },
      { row: 4, outcome: 'duplicate', field: 'mrn', reason: 'a new MRN, but the same name and date of birth as a patient on file', existingId: dana?.id },
    ];
    expect((r.report as Json).entries).toEqual(entries);
    const second = await get(`/api/imports/${String(r.id)}?limit=1&offset=1`);
    expect(second.body.report).toMatchObject({ entries: [entries[1]], entriesTotal: 2, limit: 1, offset: 1 });
    // No value of the file in the report.
    expect(JSON.stringify(r)).not.toMatch(/Gus|Hale|Dana|1950|\+1202/);
  });

  it('an invalid row: the import ends done, committed false, its message naming the row and the field; nothing is written, batches before it included', async () => {
    const before = await patientCount();
    const valid = Array.from({ length: IMPORT_BATCH + 20 }, (_, i) => `C-${i},Hal,Vance${i},1980-01-01,+1202555${String(4000 + i)},,,`);
    const csv = [HEADER, ...valid, 'C-X,Ivy,Lane,1980-13-01,+12025550399,,,'].join('\n');
    const r = await imported('/api/patients/import?dryRun=false', csv);
    expect(r).toMatchObject({ status: 'done', committed: false, rowsRead: valid.length + 1, invalid: 1 });
    expect(r.message).toBe(`row ${valid.length + 2}: date_of_birth: expected a real date from 1900-01-01 on; nothing was imported`);
    expect(r.report).toMatchObject({ committed: false, invalid: 1, entries: [{ row: valid.length + 2, outcome: 'invalid', field: 'date_of_birth' }] });
    expect(await patientCount()).toBe(before);
  });

  it('refuses a bad header and unreadable CSV in the report, naming where; a body that is not CSV and a bad query at once (400)', async () => {
    const header = await imported('/api/patients/import?dryRun=false', 'mrn,name\nA-9,X\n');
    expect(header.message).toMatch(/^row 1: header: column 2 is not one of/);
    const broken = await imported('/api/patients/import?dryRun=false', `${HEADER}\nA-9,"Jo,Lee,1980-01-01\n`);
    expect(broken.message).toMatch(/^row \d+: row: the row could not be read as CSV/);
    const json = await fetch(h.baseUrl + '/api/patients/import', { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: '{}' });
    expect(await json.json()).toEqual({ error: 'bad_request', message: 'content-type: expected text/csv' });
    expect((await post('/api/patients/import?dryRun=maybe', FILE)).body.message).toMatch(/^dryRun: /);
    expect((await get('/api/imports/not-an-id')).body.message).toMatch(/^id: /);
    expect((await get('/api/imports?limit=0')).body.message).toMatch(/^limit: /);
    expect((await get(`/api/imports/${crypto.randomUUID()}`)).status).toBe(404);
  });

  it('the upload is stored encrypted until the import has run, then deleted; the job carries ids only', async () => {
    const queue = h.services.queues.imports;
    await queue.pause();
    let id = '';
    try {
      const r = await post('/api/patients/import?dryRun=false', [HEADER, 'E-1,Quincy,Marchetti,1966-06-16,+12025550601,,,'].join('\n'));
      expect(r.status).toBe(202);
      id = String(r.body.id);
      expect(r.body).toEqual({ id, kind: 'patients', dryRun: false, status: 'queued' });
      const key = importUploadKey(practice.id, id);
      const stored = await readFile(path.join(h.config.dataDir, 'recordings', ...key.split('/')));
      expect(stored.length).toBeGreaterThan(100);
      for (const plain of ['Quincy', 'Marchetti', '1966-06-16', '+12025550601', 'E-1']) expect(stored.includes(plain), plain).toBe(false);
      // It is the file, under the import's context.
      const chunks: Buffer[] = [];
      for await (const c of (await h.services.storage.get(key)).pipe(decryptingStream(h.services.keyring, importUploadContext(practice.id, id)))) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).toString()).toContain('Quincy,Marchetti');
      const job = await queue.getJob(importJobId(id));
      expect(job?.data).toEqual({ importId: id, practiceId: practice.id });
      expect((await get(`/api/imports/${id}`)).body).toMatchObject({ status: 'queued', uploadBytes: expect.any(Number), report: null });
    } finally {
      await queue.resume();
    }
    const done = await finished(id);
    expect(done).toMatchObject({ status: 'done', committed: true, created: 1 });
    // Deleted once the import ran.
    expect(await h.services.storage.head(importUploadKey(practice.id, id))).toBeNull();
    const row = await h.services.db.selectFrom('imports').select(['upload_key']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(row.upload_key).toBeNull();
  });

  it('a transaction that fails mid-way (the database refuses a row of the second batch) leaves no patients; the import failed, its upload deleted', async () => {
    const before = await patientCount();
    await asOwner(h.services.db, sql`ALTER TABLE patients ADD CONSTRAINT test_no_wyoming CHECK (us_state IS DISTINCT FROM 'WY')`);
    try {
      const rows = Array.from({ length: IMPORT_BATCH + 60 }, (_, i) => `F-${i},Ned,Frost${i},1975-01-01,+1303556${String(i).padStart(4, '0')},,,${i === IMPORT_BATCH + 40 ? 'WY' : ''}`);
      const r = await imported('/api/patients/import?dryRun=false', [HEADER, ...rows].join('\n'));
      expect(r).toMatchObject({ status: 'failed', failure: 'database_refused', committed: false, created: 0, report: null });
      expect(r.message).toBe('the database refused a row; nothing was imported');
      expect(await patientCount()).toBe(before);
      expect(await h.services.storage.head(importUploadKey(practice.id, String(r.id)))).toBeNull();
      const audit = await h.services.db.selectFrom('audit_log').select('details').where('subject_id', '=', String(r.id)).where('action', '=', 'import.finished').executeTakeFirstOrThrow();
      expect(audit.details).toEqual({ kind: 'patients', dryRun: false, status: 'failed', failure: 'database_refused' });
    } finally {
      await asOwner(h.services.db, sql`ALTER TABLE patients DROP CONSTRAINT test_no_wyoming`);
    }
  });

  it('an import is claimed once: a second run of the same job (two at once) imports and audits nothing', async () => {
    const queue = h.services.queues.imports;
    await queue.pause();
    let id = '';
    let outcomes: Array<{ status: string }> = [];
    try {
      const r = await post('/api/patients/import?dryRun=false', [HEADER, 'G-1,Wren,Halloway,1971-02-03,+12025550602,,,'].join('\n'));
      id = String(r.body.id);
      const data = { importId: id, practiceId: practice.id };
      outcomes = await Promise.all([processImportJob(h.services, data, false), processImportJob(h.services, data, false)]);
    } finally {
      await queue.resume();
    }
    expect(outcomes.map((o) => o.status).sort()).toEqual(['done', 'skipped']);
    expect(await finished(id)).toMatchObject({ status: 'done', committed: true, created: 1 });
    const audits = await h.services.db.selectFrom('audit_log').select('details').where('subject_id', '=', id).where('action', '=', 'import.finished').execute();
    expect(audits.map((a) => (a.details as { status: string }).status)).toEqual(['done']);
  });

  it('the sweep deletes an upload a finished import left, and fails an import unfinished after a day', async () => {
    const scope = tenantScope(h.services, practice.id);
    const key = importUploadKey(practice.id, crypto.randomUUID());
    await h.services.storage.put(key, Readable.from([Buffer.from('ciphertext')]));
    const [left, stale] = [crypto.randomUUID(), crypto.randomUUID()];
    await scope.db
      .insertInto('imports')
      .values([
        { id: left, practice_id: practice.id, kind: 'patients', dry_run: true, status: 'done', upload_key: key, upload_bytes: 10, failure: null, created_by: 'test', started_at: null, finished_at: null },
        { id: stale, practice_id: practice.id, kind: 'patients', dry_run: true, upload_key: null, upload_bytes: null, failure: null, created_by: 'test', started_at: null, finished_at: null, created_at: new Date(Date.now() - 2 * 24 * 3600_000) },
      ])
      .execute();
    expect(await sweepImports({ ...h.services, clock: () => new Date() })).toEqual({ deleted: 1, abandoned: 1 });
    expect(await h.services.storage.head(key)).toBeNull();
    expect((await get(`/api/imports/${stale}`)).body).toMatchObject({ status: 'failed', failure: 'abandoned', message: 'the import was abandoned (it never finished); nothing was imported' });
    expect(await sweepImports({ ...h.services, clock: () => new Date() })).toEqual({ deleted: 0, abandoned: 0 });
  });

  it('streams a long file: rows are read as they are checked, never the whole file first', async () => {
    const TOTAL = 20_000;
    let produced = 0;
    function* lines(): Generator<string> {
      yield `${HEADER}\n`;
      for (let i = 0; i < TOTAL; i += 1) {
        produced += 1;
        yield `S-${i},Kim,Stream${i},1990-01-01,+1303555${String(i).padStart(4, '0')},,,\n`;
      }
    }
    let furthestAhead = 0;
    const report = await importPatients(tenantScope(h.services, practice.id), h.services.keyring, Readable.from(lines()), {
      dryRun: true,
      onBatch: (read) => {
        furthestAhead = Math.max(furthestAhead, produced - read);
      },
    });
    expect(report).toMatchObject({ rows: TOTAL, created: TOTAL, invalid: 0, duplicate: 0 });
    // The generator ran at most a few thousand rows ahead of the checks (stream buffers), not the file.
    expect(furthestAhead).toBeLessThan(3_000);
  });
});

describe('appointments import', { timeout: IMPORT_WAIT_MS + 30_000 }, () => {
  it('finds the patient by MRN and the provider by name; re-import updates; an unknown MRN fails it with nothing written', async () => {
    const doctor = await fetch(h.baseUrl + '/api/oncall/providers', {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ displayName: 'Dr Lane', phone: '+12025550390' }),
    });
    expect(doctor.status).toBe(201);
    const csv = ['mrn,starts_at,status,provider,location', 'A-1,2026-12-01T09:30:00-05:00,booked,dr lane,Main Street', 'a-3,2026-12-02T10:00:00-05:00,,,'].join('\n');
    const dry = await imported('/api/appointments/import', csv);
    expect(dry.report).toMatchObject({ kind: 'appointments', dryRun: true, created: 2 });
    const done = await imported('/api/appointments/import?dryRun=false', csv);
    expect(done.report).toMatchObject({ committed: true, created: 2, updated: 0 });
    const again = await imported('/api/appointments/import?dryRun=false', csv.replace(',booked,', ',confirmed,'));
    expect(again.report).toMatchObject({ committed: true, created: 0, updated: 2 });
    const rows = await h.services.db.selectFrom('appointments').select(['status', 'location_name', 'provider_id']).where('practice_id', '=', practice.id).orderBy('starts_at').execute();
    expect(rows.map((r) => [r.status, r.location_name, r.provider_id !== null])).toEqual([
      ['confirmed', 'Main Street', true],
      ['booked', null, false],
    ]);
    const bad = await imported('/api/appointments/import?dryRun=false', `${csv}\nZ-404,2026-12-03T10:00:00-05:00,booked,,\nA-1,2026-12-04T10:00:00-05:00,later,,`);
    expect(bad).toMatchObject({ kind: 'appointments', status: 'done', committed: false });
    expect(bad.message).toBe('row 4: mrn: no patient with this MRN; nothing was imported');
    expect((bad.report as { entries: unknown[] }).entries).toEqual([
      { row: 4, outcome: 'invalid', field: 'mrn', reason: 'no patient with this MRN' },
      { row: 5, outcome: 'invalid', field: 'status', reason: expect.any(String) },
    ]);
    expect((await h.services.db.selectFrom('appointments').select('id').where('practice_id', '=', practice.id).execute()).length).toBe(2);
  });
});

describe('npm run patients:import', () => {
  it('imports a file for a practice named by slug: a dry run, then --commit; the report on standard output', async () => {
    const file = path.join(h.config.dataDir, 'cli.csv');
    await writeFile(file, [HEADER, 'D-1,Lou,Park,1955-03-04,+12025550501,,,'].join('\n'));
    const run = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
      new Promise((resolve, reject) => {
        const env = { ...process.env, DATABASE_SCHEMA: h.schema, DATA_DIR: h.config.dataDir, LOG_LEVEL: 'error' };
        const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/patients-import.ts', '--practice', 'importing', ...args, file], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    const before = await patientCount();
    const dry = await run([]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, committed: false, created: 1 });
    expect(await patientCount()).toBe(before);
    const done = await run(['--commit']);
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ dryRun: false, committed: true, created: 1 });
    expect(await patientCount()).toBe(before + 1);
  });
});
