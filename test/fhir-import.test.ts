import { randomUUID } from 'node:crypto';
import type { Appointment, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { captureLogs } from '../src/log/logger.js';
import { FHIR_SYNC_JOB } from '../src/fhir/schedule.js';
import { makeClientKeys, startFhirDouble, type ClientKeys, type FhirDouble } from './support/fhir-double.js';
import { fhirPatient, hl7Appointment, MRN_SYSTEM } from './support/fhir-patients.js';
import { startHarness, DEFAULT_TEST_NOW, type Harness } from './support/harness.js';
import { runJobNow } from './support/queue-time.js';
import { until } from './support/until.js';

/**
 * Import from an EHR (FHIR R4), end to end against the real PostgreSQL and Redis: NDJSON files
 * through POST /api/fhir/import, and a loopback FHIR server (test/support/fhir-double.ts) synced
 * through PUT /api/fhir/source and POST /api/fhir/sync under SMART Backend Services, paging, the
 * incremental second run (`ge` its cursor: nothing at the cursor's instant skipped, nothing counted
 * twice), a refused assertion and a foreign next link (nothing half-imported), the schedule, bad
 * source configuration (no private or metadata address), every run listed, and no PHI in the
 * logs. The page budget has its own file (fhir-sync-budget.test.ts).
 */

const CLIENT_ID = 'after-hours-line-test';
/** Given names for the sync's patients: the same name and birth date under two MRNs would be a duplicate. */
const GIVEN: Record<string, string> = { s1: 'Ann', s2: 'Bea', s3: 'Cal', s4: 'Dee', s5: 'Eve', s6: 'Fay', s7: 'Gus', s8: 'Hal' };

function patient(id: string, mrn: string, phone: string, given = GIVEN[id] ?? 'Peter'): Patient {
  return fhirPatient(id, mrn, phone, given);
}
function appointment(id: string, patientId: string, start: string): Appointment {
  return { ...hl7Appointment, id, start, participant: [{ required: 'required', status: 'accepted', actor: { reference: `Patient/${patientId}`, display: 'Peter James Chalmers' } }] };
}
const ndjson = (resources: unknown[]): string => resources.map((r) => JSON.stringify(r)).join('\n') + '\n';

/** What must never reach a log line: the test patients' names, date of birth and numbers. */
const PHI = ['Chalmers', 'Peter', 'Janet', 'Averill', '2025550154', '1974-12-25', '2025550141', '2025550142', '2025550143', '2025550144', '2025550145', '2025550146', '2025550150', 'Severe burn', 'MRI'];

let now = new Date(DEFAULT_TEST_NOW);
let h: Harness;
let practiceId: string;
let adminKey: string;
let staffKey: string;
let keys: ClientKeys;
let fhir: FhirDouble;
let logs: ReturnType<typeof captureLogs>;

beforeAll(async () => {
  logs = captureLogs();
  h = await startHarness('fhir_import', {}, { clock: () => now });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practiceId = h.services.seeded.id;
  adminKey = (await createApiKey(h.services.db, { role: 'admin', practiceId })).key;
  staffKey = (await createApiKey(h.services.db, { role: 'staff', practiceId })).key;
  keys = await makeClientKeys('ES384');
  fhir = await startFhirDouble({ clientId: CLIENT_ID, publicJwk: keys.publicJwk, clock: () => now, maxCount: 2 });
});
afterAll(async () => {
  logs.restore();
  await fhir.close();
  await h.close();
});

async function call(method: string, route: string, opts: { key?: string; json?: unknown; ndjson?: string; contentType?: string } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { authorization: `Bearer ${opts.key ?? adminKey}` };
  let body: string | undefined;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.ndjson !== undefined) {
    headers['content-type'] = opts.contentType ?? 'application/x-ndjson';
    body = opts.ndjson;
  }
  const res = await fetch(h.baseUrl + route, { method, headers, ...(body !== undefined ? { body } : {}) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function patientCount(): Promise<number> {
  const row = await h.services.db.selectFrom('patients').select((eb) => eb.fn.countAll<string>().as('n')).where('practice_id', '=', practiceId).executeTakeFirstOrThrow();
  return Number(row.n);
}
async function appointmentCount(): Promise<number> {
  const row = await h.services.db.selectFrom('appointments').select((eb) => eb.fn.countAll<string>().as('n')).where('practice_id', '=', practiceId).executeTakeFirstOrThrow();
  return Number(row.n);
}
async function linkedId(type: 'Patient' | 'Appointment', resourceId: string): Promise<string> {
  const row = await h.services.db.selectFrom('fhir_resource_links').select('local_id').where('practice_id', '=', practiceId).where('resource_type', '=', type).where('resource_id', '=', resourceId).executeTakeFirstOrThrow();
  return row.local_id;
}
async function auditDetails(action: string): Promise<Array<Record<string, unknown>>> {
  const rows = await h.services.db.selectFrom('audit_log').select('details').where('action', '=', action).where('practice_id', '=', practiceId).orderBy('seq').execute();
  return rows.map((r) => r.details);
}

const importUrl = (resource: string, extra = ''): string => `/api/fhir/import?resource=${resource}&mrnSystem=${encodeURIComponent(MRN_SYSTEM)}${extra}`;

describe('NDJSON files (FHIR Bulk Data)', () => {
  const patients = [patient('example', '12345', '(202) 555-0141'), patient('p2', '20002', '202-555-0142', 'Jane')];
  const appointments = [appointment('example', 'example', '2026-12-10T14:00:00Z'), { ...appointment('a2', 'p2', '2026-12-11T14:00:00Z'), status: 'proposed' }, appointment('a3', 'nobody', '2026-12-12T14:00:00Z')];

  it('a dry run reports without writing', async () => {
    const before = await patientCount();
    const res = await call('POST', importUrl('Patient', '&dryRun=true'), { ndjson: ndjson(patients) });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ resourceType: 'Patient', dryRun: true, committed: false, resources: 2, created: 2 });
    expect(await patientCount()).toBe(before);
  });

  it('Patient.ndjson then Appointment.ndjson: created, linked by the Patient resource, reported by line', async () => {
    const before = { patients: await patientCount(), appointments: await appointmentCount() };
    const p = await call('POST', importUrl('Patient'), { ndjson: ndjson(patients) });
    expect(p.body).toMatchObject({ committed: true, resources: 2, created: 2, updated: 0, invalid: 0 });
    const a = await call('POST', importUrl('Appointment'), { ndjson: ndjson(appointments), contentType: 'application/fhir+ndjson' });
    expect(a.status).toBe(200);
    expect(a.body).toMatchObject({ committed: true, resources: 3, created: 1, skipped: 1, invalid: 1 });
    expect(a.body.entries).toEqual([
      { line: 2, outcome: 'skipped', field: 'status', reason: 'status proposed is not an appointment yet' },
      { line: 3, outcome: 'invalid', field: 'participant', reason: 'its patient has not been imported (import Patient.ndjson first)' },
    ]);
    expect(await patientCount()).toBe(before.patients + 2);
    expect(await appointmentCount()).toBe(before.appointments + 1);
    const [link] = await h.services.db.selectFrom('fhir_resource_links').select('local_id').where('resource_type', '=', 'Patient').where('resource_id', '=', 'example').execute();
    const [appt] = await h.services.db.selectFrom('appointments').innerJoin('fhir_resource_links as l', 'l.local_id', 'appointments.id').select(['appointments.patient_id', 'appointments.starts_at']).where('l.resource_id', '=', 'example').where('l.resource_type', '=', 'Appointment').execute();
    expect(appt?.patient_id).toBe(link?.local_id);
    expect(appt?.starts_at.toISOString()).toBe('2026-12-10T14:00:00.000Z');
  });

  it('importing the same file again updates, adding nothing; a repeated resource is a duplicate', async () => {
    const before = await patientCount();
    const res = await call('POST', importUrl('Patient'), { ndjson: ndjson([...patients, patients[0]]) });
    expect(res.body).toMatchObject({ resources: 3, created: 0, updated: 2, duplicate: 1 });
    expect(await patientCount()).toBe(before);
  });

  it('a patient already on file (added through the API) is matched by MRN and updated, not added again', async () => {
    const added = await call('POST', '/api/patients', { json: { firstName: 'Avery', lastName: 'Chalmers', dateOfBirth: '1974-12-25', mrn: 'M-77', phone: '+12025550153' } });
    expect(added.status).toBe(201);
    const before = await patientCount();
    const res = await call('POST', importUrl('Patient'), { ndjson: ndjson([patient('p77', 'M-77', '202-555-0154', 'Averill')]) });
    expect(res.body).toMatchObject({ created: 0, updated: 1 });
    expect(await patientCount()).toBe(before);
    expect(await linkedId('Patient', 'p77')).toBe(added.body.id);
    expect((await call('GET', `/api/patients/${String(added.body.id)}`)).body).toMatchObject({ firstName: 'Averill', phones: [{ number: '+12025550154', kind: 'mobile', preferred: true }] });
  });

  it('a line that is not a resource of the named type refuses the file: 400 naming the line, nothing imported', async () => {
    const before = await patientCount();
    const fresh = [patient('p3', '30003', '202-555-0143'), patient('p4', '40004', '202-555-0144')];
    const notJson = await call('POST', importUrl('Patient'), { ndjson: `${JSON.stringify(fresh[0])}\n{"resourceType": "Patient", \n` });
    expect(notJson).toEqual({ status: 400, body: { error: 'bad_request', message: 'line 2: not JSON; nothing was imported' } });
    const wrongType = await call('POST', importUrl('Patient'), { ndjson: ndjson([fresh[0], fresh[1], hl7Appointment]) });
    expect(wrongType.body.message).toBe('line 3: resourceType: expected Patient; nothing was imported');
    expect(await patientCount()).toBe(before);
  });

  it('bad queries and bodies: 400 naming the field; other roles: 403', async () => {
    expect((await call('POST', '/api/fhir/import?resource=Observation', { ndjson: '' })).body.message).toMatch(/^query\.resource: /);
    expect((await call('POST', importUrl('Patient'), { json: { resourceType: 'Patient' } })).body.message).toMatch(/^content-type: expected application\/x-ndjson/);
    expect((await call('POST', '/api/fhir/import?resource=Patient', { ndjson: '' })).body.message).toBe('query.mrnSystem: required while the practice has no FHIR source (PUT /api/fhir/source)');
    expect((await call('POST', importUrl('Patient'), { key: staffKey, ndjson: ndjson(patients) })).status).toBe(403);
  });

  it('audited with counts only', async () => {
    const rows = await until('the import audit rows', async () => {
      const r = await auditDetails('fhir.imported');
      return r.length >= 4 ? r : undefined;
    });
    expect(rows[1]).toEqual({ resourceType: 'Patient', dryRun: false, committed: true, resources: 2, created: 2, updated: 0, duplicate: 0, invalid: 0, skipped: 0, unchanged: 0 });
  });

  it('each file is a run in GET /api/fhir/runs (status and counts), refused ones too', async () => {
    const res = await call('GET', '/api/fhir/runs');
    expect(res.status).toBe(200);
    const runs = res.body.runs as Array<Record<string, unknown>>;
    // Newest first: the two refused files, the MRN match, the re-import, the Appointment and Patient files, the dry run.
    expect(runs.map((r) => [r.kind, r.resourceType, r.status, r.reason])).toEqual([
      ['ndjson', 'Patient', 'refused', 'bad_line'],
      ['ndjson', 'Patient', 'refused', 'bad_line'],
      ['ndjson', 'Patient', 'complete', null],
      ['ndjson', 'Patient', 'complete', null],
      ['ndjson', 'Appointment', 'complete', null],
      ['ndjson', 'Patient', 'complete', null],
      ['ndjson', 'Patient', 'dry_run', null],
    ]);
    expect(runs[4]).toMatchObject({ trigger: 'api', counts: { resources: 3, created: 1, skipped: 1, invalid: 1, unchanged: 0 } });
    expect(runs[0]?.counts).toEqual({ line: 3 });
    expect((await call('GET', '/api/fhir/runs?limit=1')).body.runs).toHaveLength(1);
    expect((await call('GET', '/api/fhir/runs?limit=0')).body.message).toMatch(/^query\.limit: /);
    expect((await call('GET', '/api/fhir/runs', { key: staffKey })).status).toBe(403);
  });
});

describe('the FHIR server (SMART Backend Services)', () => {
  const sourceBody = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
    baseUrl: fhir.baseUrl,
    tokenUrl: fhir.tokenUrl,
    clientId: CLIENT_ID,
    mrnSystem: MRN_SYSTEM,
    privateKey: keys.privateJwk,
    algorithm: 'ES384',
    intervalMinutes: 60,
    ...over,
  });

  it('a bad source configuration: 400 naming the field', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ baseUrl: 'http://ehr.example.org/fhir' }, /^baseUrl: must be https/],
      [{ baseUrl: 'https://169.254.169.254/latest/meta-data' }, /^baseUrl: must not be a private, link-local, metadata or reserved address$/],
      [{ tokenUrl: 'https://10.0.0.5/oauth2/token' }, /^tokenUrl: must not be a private, link-local, metadata or reserved address$/],
      [{ tokenUrl: 'https://[fd00:ec2::254]/token' }, /^tokenUrl: must not be a private/],
      [{ baseUrl: 'http://192.168.1.20/fhir' }, /^baseUrl: must be https/],
      [{ tokenUrl: 'not a url' }, /^tokenUrl: /],
      [{ privateKey: { ...keys.publicJwk } }, /^privateKey\.d: /],
      [{ algorithm: 'RS384' }, /^privateKey: not a private key usable with RS384$/],
      [{ intervalMinutes: 1 }, /^intervalMinutes: /],
      [{ mrnSystem: undefined }, /^mrnSystem: /],
    ];
    for (const [over, message] of cases) {
      const res = await call('PUT', '/api/fhir/source', { json: sourceBody(over) });
      expect([res.status, res.body.message], JSON.stringify(over)).toEqual([400, expect.stringMatching(message)]);
    }
    expect((await call('GET', '/api/fhir/source')).status).toBe(404);
    expect(await call('POST', '/api/fhir/sync')).toEqual({ status: 404, body: { error: 'not_found', reason: 'not_configured', message: 'no FHIR source: PUT /api/fhir/source first' } });
  });

  it('PUT stores the source; GET never returns the key', async () => {
    const put = await call('PUT', '/api/fhir/source', { json: sourceBody() });
    expect(put.status).toBe(201);
    const got = await call('GET', '/api/fhir/source');
    expect(got.body).toMatchObject({ baseUrl: fhir.baseUrl, clientId: CLIENT_ID, keyId: keys.kid, algorithm: 'ES384', intervalMinutes: 60, lastSyncedAt: null });
    expect(JSON.stringify(got.body)).not.toContain(String(keys.privateJwk.d));
    expect(JSON.stringify(put.body)).not.toContain(String(keys.privateJwk.d));
    const [row] = await h.services.db.selectFrom('fhir_sources').select('private_key_enc').where('practice_id', '=', practiceId).execute();
    expect(row?.private_key_enc.toString('latin1')).not.toContain(String(keys.privateJwk.d));
  });

  it('syncs Patients then Appointments, paging through next links with the token the signed assertion got', async () => {
    fhir.put([patient('s1', '50001', '202-555-0145'), patient('s2', '50002', '202-555-0146'), patient('s3', '50003', '202-555-0147'), patient('s4', '50004', '202-555-0148'), patient('s5', '50005', '202-555-0149')], '2026-11-20T10:00:00Z');
    fhir.put([appointment('sa1', 's1', '2026-12-01T15:00:00Z'), appointment('sa2', 's2', '2026-12-02T15:00:00Z'), { ...appointment('sa3', 's3', '2026-12-03T15:00:00Z'), status: 'cancelled' }], '2026-11-20T10:00:00Z');
    const before = { patients: await patientCount(), appointments: await appointmentCount() };
    const res = await call('POST', '/api/fhir/sync');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true, patients: { resources: 5, created: 5, updated: 0 }, appointments: { resources: 3, created: 3 } });
    expect(await patientCount()).toBe(before.patients + 5);
    expect(await appointmentCount()).toBe(before.appointments + 3);
    const searches = fhir.requests.filter((r) => r.path === '/fhir/Patient');
    // Five patients, two per page: three pages, the later ones by the next link, all with the bearer token.
    expect(searches.map((r) => [r.query._offset ?? '0', r.authorized])).toEqual([
      ['0', true],
      ['2', true],
      ['4', true],
    ]);
    expect(searches[0]?.query._lastUpdated).toBeUndefined();
    const tokens = fhir.requests.filter((r) => r.path === '/auth/token');
    expect(tokens.map((t) => t.status)).toEqual([200]);
  });

  it('the second run asks only for what changed since, and imports only that', async () => {
    fhir.put([patient('s2', '50002', '202-555-0146', 'Janet')], '2026-11-25T10:00:00Z');
    fhir.put([{ ...appointment('sa1', 's1', '2026-12-01T15:00:00Z'), status: 'noshow' }], '2026-11-25T11:00:00Z');
    const before = fhir.requests.length;
    const res = await call('POST', '/api/fhir/sync');
    // At or after the cursor (`ge`): what was applied at the cursor's instant comes again, unchanged, neither created nor updated.
    expect(res.body).toMatchObject({ ok: true, complete: true, patients: { resources: 5, unchanged: 4, created: 0, updated: 1 }, appointments: { resources: 3, unchanged: 2, created: 0, updated: 1 } });
    const searches = fhir.requests.slice(before).filter((r) => r.path.startsWith('/fhir/'));
    expect(searches.filter((r) => r.query._offset === undefined).map((r) => [r.path, r.query._lastUpdated])).toEqual([
      ['/fhir/Patient', 'ge2026-11-20T10:00:00Z'],
      ['/fhir/Appointment', 'ge2026-11-20T10:00:00Z'],
    ]);
    // The changes reached the records: the new first name, the appointment's status.
    const patientId = await linkedId('Patient', 's2');
    expect((await call('GET', `/api/patients/${patientId}`)).body).toMatchObject({ firstName: 'Janet', mrn: '50002', usState: 'NY' });
    const [appt] = await h.services.db.selectFrom('appointments').select('status').where('id', '=', await linkedId('Appointment', 'sa1')).execute();
    expect(appt?.status).toBe('no_show');
  });

  it('a resource updated in the same instant as the cursor, not seen before, is imported; the one applied at that instant is not counted again', async () => {
    // s9 reached the server's index after the last search, stamped the same instant as s2 (the cursor).
    fhir.put([patient('s9', '50009', '202-555-0159', 'Ivy')], '2026-11-25T10:00:00Z');
    const before = await patientCount();
    const res = await call('POST', '/api/fhir/sync');
    expect(res.body).toMatchObject({ ok: true, patients: { resources: 2, created: 1, updated: 0, unchanged: 1 }, appointments: { resources: 1, created: 0, updated: 0, unchanged: 1 } });
    expect(await patientCount()).toBe(before + 1);
    await linkedId('Patient', 's9');
    // The cursor stays at the greatest lastUpdated committed.
    const [row] = await h.services.db.selectFrom('fhir_sources').select('cursors').where('practice_id', '=', practiceId).execute();
    expect(row?.cursors).toEqual({ Patient: '2026-11-25T10:00:00Z', Appointment: '2026-11-25T11:00:00Z' });
  });

  it('an assertion the server refuses: the sync fails with the reason, nothing imported, cursors kept', async () => {
    const other = await makeClientKeys('ES384');
    await call('PUT', '/api/fhir/source', { json: sourceBody({ privateKey: { ...other.privateJwk, kid: keys.kid } }) });
    fhir.put([patient('s6', '50006', '202-555-0150')], '2026-11-26T01:00:00Z');
    const before = await patientCount();
    const res = await call('POST', '/api/fhir/sync');
    expect(res.status).toBe(502);
    expect(res.body).toEqual({ error: 'sync_failed', reason: 'token_refused', message: 'the token endpoint refused the client assertion (HTTP 401, invalid_client)' });
    expect(fhir.requests.at(-1)).toMatchObject({ path: '/auth/token', status: 401, refusal: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    expect(await patientCount()).toBe(before);
    expect((await call('GET', '/api/fhir/source')).body).toMatchObject({ lastResult: { error: 'token_refused' } });
    expect(await auditDetails('fhir.sync_failed')).toEqual([{ trigger: 'api', reason: 'token_refused' }]);
    await call('PUT', '/api/fhir/source', { json: sourceBody() });
  });

  it('a next link to another origin: refused before the token goes there, nothing of the run imported', async () => {
    fhir.put([patient('s7', '50007', '202-555-0151'), patient('s8', '50008', '202-555-0152')], '2026-11-26T01:30:00Z');
    fhir.nextLinksTo('http://127.0.0.2:9');
    const before = await patientCount();
    const res = await call('POST', '/api/fhir/sync');
    fhir.nextLinksTo(null);
    expect(res.body).toMatchObject({ error: 'sync_failed', reason: 'foreign_next_link' });
    expect(await patientCount()).toBe(before);
  });

  it('the schedule runs a due source (and not one whose interval has not passed)', async () => {
    const queues = h.services.queues;
    const sweep = async (): Promise<unknown> => (await runJobNow(queues.maintenance, 'the FHIR sweep', 'fhir-sync-sweep', { task: 'fhir-sync-sweep' })).returnvalue;
    expect(await sweep()).toEqual({ queued: 0 });
    now = new Date(now.getTime() + 61 * 60_000);
    expect(await sweep()).toEqual({ queued: 1 });
    const source = await until('the scheduled sync', async () => {
      const s = (await call('GET', '/api/fhir/source')).body;
      return s.lastSyncedAt === now.toISOString() ? s : undefined;
    });
    // The three patients the failed runs left behind (s6, s7, s8) come in now; s2 and s9 (at the cursor) are unchanged.
    expect(source.lastResult).toMatchObject({ status: 'complete', patients: { resources: 5, created: 3, updated: 0, unchanged: 2 } });
    expect(source).toMatchObject({ syncState: 'complete', continuing: false });
    // The audit row follows the source's update: wait for it rather than race it.
    await until('the scheduled sync audited', async () => (await auditDetails('fhir.sync_completed')).find((d) => d.trigger === 'schedule'));
    expect((await queues.fhir.getJobs(['waiting', 'active', 'delayed'])).filter((j) => j.name === FHIR_SYNC_JOB)).toEqual([]);
  });
});

describe('privacy', () => {
  it("the FHIR tables are held to their practice by row-level security", async () => {
    const own = h.services.tenants.forPractice(practiceId);
    const other = h.services.tenants.forPractice(randomUUID());
    expect((await own.selectFrom('fhir_sources').select('practice_id').execute()).length).toBe(1);
    expect(await other.selectFrom('fhir_sources').select('practice_id').execute()).toEqual([]);
    expect((await own.selectFrom('fhir_resource_links').select('resource_id').execute()).length).toBeGreaterThan(0);
    expect(await other.selectFrom('fhir_resource_links').select('resource_id').execute()).toEqual([]);
  });

  it('no PHI in the logs or the audit rows', async () => {
    const lines = logs.lines().join('\n');
    const audit = JSON.stringify(await h.services.db.selectFrom('audit_log').select(['details', 'actor', 'action']).where('practice_id', '=', practiceId).execute());
    for (const phi of PHI) {
      expect(lines, phi).not.toContain(phi);
      expect(audit, phi).not.toContain(phi);
    }
    expect(lines.length).toBeGreaterThan(0);
  });
});
