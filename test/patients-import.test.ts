import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { createPractice, type Practice } from '../src/practices/store.js';
import { importPatients } from '../src/patients/patient-import.js';
import { IMPORT_BATCH } from '../src/patients/csv-import.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { searchPatients } from '../src/patients/records.js';
import { startHarness, type Harness } from './support/harness.js';

/**
 * CSV import of patients and appointments: dry run, report, idempotent re-import, an invalid row
 * failing the whole import with nothing written, appointments by MRN, and a long file streamed.
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

async function post(path: string, csv: string, key = admin): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(h.baseUrl + path, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'text/csv' }, body: csv });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
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

describe('patients import', () => {
  it('a dry run (the default) reports and writes nothing', async () => {
    const r = await post('/api/patients/import', FILE);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ kind: 'patients', dryRun: true, committed: false, rows: 3, created: 3, updated: 0, duplicate: 0, invalid: 0, entries: [] });
    expect(await patientCount()).toBe(0);
    expect((await post('/api/patients/import', FILE, staff)).status).toBe(403);
  });

  it('imports, then a re-import of the same file updates the same records (upsert by MRN)', async () => {
    const first = await post('/api/patients/import?dryRun=false', FILE);
    expect(first.body).toMatchObject({ committed: true, created: 3, updated: 0 });
    expect(await patientCount()).toBe(3);
    const search = await fetch(h.baseUrl + '/api/patients/search', { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ mrn: 'a-2' }) });
    const [eli] = ((await search.json()) as { patients: Array<{ id: string; firstName: string }> }).patients;
    expect(eli?.firstName).toBe('Eli');
    const again = await post('/api/patients/import?dryRun=false', FILE.replace('A-2,Eli,Ortiz', 'A-2,Elias,Ortiz'));
    expect(again.body).toMatchObject({ committed: true, created: 0, updated: 3, duplicate: 0 });
    expect(await patientCount()).toBe(3);
    const read = await fetch(`${h.baseUrl}/api/patients/${eli?.id}`, { headers: { authorization: `Bearer ${admin}` } });
    const patient = (await read.json()) as { firstName: string; phones: Array<{ number: string; kind: string; preferred: boolean }> };
    expect(patient.firstName).toBe('Elias');
    expect(patient.phones).toEqual([
      expect.objectContaining({ number: '+12025550302', kind: 'mobile', preferred: true }),
      expect.objectContaining({ number: '+12025550303', kind: 'home', preferred: false }),
    ]);
    const audit = await h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'admin.patients_imported').orderBy('seq').execute();
    expect(audit.map((a) => a.details)).toContainEqual({ dryRun: false, committed: true, rows: 3, created: 0, updated: 3, duplicate: 0, invalid: 0 });
  });

  it('reports duplicates by row: an MRN repeated, a new MRN for a known name and date of birth', async () => {
    const csv = [HEADER, 'B-1,Gus,Hale,1950-01-01,+12025550310,,,', 'B-1,Gus,Hale,1950-01-01,+12025550310,,,', 'B-2,Dana,Ortiz,1960-02-03,+12025550311,,,'].join('\n');
    const r = await post('/api/patients/import', csv);
    expect(r.body).toMatchObject({ rows: 3, created: 1, duplicate: 2, invalid: 0 });
    const [dana] = await searchPatients(tenantScope(h.services, practice.id), h.services.keyring, { mrn: 'A-1', includeInactive: false, limit: 1, offset: 0 });
    expect(r.body.entries).toEqual([
      { row: 3, outcome: 'duplicate', field: 'mrn', reason: 'the same MRN as row 2' },
      { row: 4, outcome: 'duplicate', field: 'mrn', reason: 'a new MRN, but the same name and date of birth as a patient on file', existingId: dana?.id },
    ]);
    // No value of the file in the report.
    expect(JSON.stringify(r.body)).not.toMatch(/Gus|Hale|Dana|1950|\+1202/);
  });

  it('an invalid row fails the whole import with 400 naming the row and the field; nothing is written, batches before it included', async () => {
    const before = await patientCount();
    const valid = Array.from({ length: IMPORT_BATCH + 20 }, (_, i) => `C-${i},Hal,Vance${i},1980-01-01,+1202555${String(4000 + i)},,,`);
    const csv = [HEADER, ...valid, 'C-X,Ivy,Lane,1980-13-01,+12025550399,,,'].join('\n');
    const r = await post('/api/patients/import?dryRun=false', csv);
    expect(r.status).toBe(400);
    expect(r.body.message).toBe(`row ${valid.length + 2}: date_of_birth: expected a real date from 1900-01-01 on; nothing was imported`);
    expect(r.body.report).toMatchObject({ committed: false, invalid: 1, entries: [{ row: valid.length + 2, outcome: 'invalid', field: 'date_of_birth' }] });
    expect(await patientCount()).toBe(before);
  });

  it('refuses a bad header, a body that is not CSV, and unreadable CSV, naming where', async () => {
    const header = await post('/api/patients/import?dryRun=false', 'mrn,name\nA-9,X\n');
    expect(header.status).toBe(400);
    expect(header.body.message).toMatch(/^row 1: header: column 2 is not one of/);
    const broken = await post('/api/patients/import?dryRun=false', `${HEADER}\nA-9,"Jo,Lee,1980-01-01\n`);
    expect(broken.status).toBe(400);
    expect(broken.body.message).toMatch(/^row \d+: row: the row could not be read as CSV/);
    const json = await fetch(h.baseUrl + '/api/patients/import', { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: '{}' });
    expect(await json.json()).toEqual({ error: 'bad_request', message: 'content-type: expected text/csv' });
    expect((await post('/api/patients/import?dryRun=maybe', FILE)).body.message).toMatch(/^dryRun: /);
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

describe('appointments import', () => {
  it('finds the patient by MRN and the provider by name; re-import updates; an unknown MRN is 400 with nothing written', async () => {
    const doctor = await fetch(h.baseUrl + '/api/oncall/providers', {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ displayName: 'Dr Lane', phone: '+12025550390' }),
    });
    expect(doctor.status).toBe(201);
    const csv = ['mrn,starts_at,status,provider,location', 'A-1,2026-12-01T09:30:00-05:00,booked,dr lane,Main Street', 'a-3,2026-12-02T10:00:00-05:00,,,'].join('\n');
    const dry = await post('/api/appointments/import', csv);
    expect(dry.body).toMatchObject({ kind: 'appointments', dryRun: true, created: 2 });
    const done = await post('/api/appointments/import?dryRun=false', csv);
    expect(done.body).toMatchObject({ committed: true, created: 2, updated: 0 });
    const again = await post('/api/appointments/import?dryRun=false', csv.replace(',booked,', ',confirmed,'));
    expect(again.body).toMatchObject({ committed: true, created: 0, updated: 2 });
    const rows = await h.services.db.selectFrom('appointments').select(['status', 'location_name', 'provider_id']).where('practice_id', '=', practice.id).orderBy('starts_at').execute();
    expect(rows.map((r) => [r.status, r.location_name, r.provider_id !== null])).toEqual([
      ['confirmed', 'Main Street', true],
      ['booked', null, false],
    ]);
    const bad = await post('/api/appointments/import?dryRun=false', `${csv}\nZ-404,2026-12-03T10:00:00-05:00,booked,,\nA-1,2026-12-04T10:00:00-05:00,later,,`);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toBe('row 4: mrn: no patient with this MRN; nothing was imported');
    expect((bad.body.report as { entries: unknown[] }).entries).toEqual([
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
    const run = (args: string[]): Promise<{ code: number | null; stdout: string }> =>
      new Promise((resolve, reject) => {
        const env = { ...process.env, DATABASE_SCHEMA: h.schema, DATA_DIR: h.config.dataDir, LOG_LEVEL: 'error' };
        const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/patients-import.ts', '--practice', 'importing', ...args, file], { env, stdio: ['ignore', 'pipe', 'ignore'] });
        let stdout = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout }));
      });
    const before = await patientCount();
    const dry = await run([]);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, committed: false, created: 1 });
    expect(await patientCount()).toBe(before);
    const done = await run(['--commit']);
    expect(JSON.parse(done.stdout)).toMatchObject({ dryRun: false, committed: true, created: 1 });
    expect(await patientCount()).toBe(before + 1);
  });
});
