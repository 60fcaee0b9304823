import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { patientStoreSink } from '../src/fhir/patient-sink.js';
import { syncFhirSource, type SyncOutcome } from '../src/fhir/sync.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { makeClientKeys, startFhirDouble, type ClientKeys, type FhirDouble } from './support/fhir-double.js';
import { fhirPatient, MRN_SYSTEM } from './support/fhir-patients.js';
import { startHarness, DEFAULT_TEST_NOW, type Harness } from './support/harness.js';
import { runJobNow } from './support/queue-time.js';
import { until } from './support/until.js';

/**
 * A FHIR sync longer than its page budget, against the real PostgreSQL and Redis and the loopback
 * FHIR server: the run commits what it fetched, keeps where it stopped (the next link, sealed),
 * says "partial, continuing"; the sweep queues the next run at once and it goes on from the next
 * link; a next link the server has forgotten sends the run back to its cursor, counting nothing
 * twice. Five patients share one lastUpdated instant: more than the budget's pages hold, so the
 * cursor alone could not get past them.
 */

const CLIENT_ID = 'after-hours-line-budget';

const now = new Date(DEFAULT_TEST_NOW);
let h: Harness;
let practiceId: string;
let adminKey: string;
let keys: ClientKeys;
let fhir: FhirDouble;

beforeAll(async () => {
  h = await startHarness('fhir_budget', {}, { clock: () => now });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practiceId = h.services.seeded.id;
  adminKey = (await createApiKey(h.services.db, { role: 'admin', practiceId })).key;
  keys = await makeClientKeys('ES384');
  fhir = await startFhirDouble({ clientId: CLIENT_ID, publicJwk: keys.publicJwk, clock: () => now, maxCount: 2 });
  const put = await call('PUT', '/api/fhir/source', {
    json: { baseUrl: fhir.baseUrl, tokenUrl: fhir.tokenUrl, clientId: CLIENT_ID, mrnSystem: MRN_SYSTEM, privateKey: keys.privateJwk, algorithm: 'ES384', intervalMinutes: 60 },
  });
  if (put.status !== 201) throw new Error(`PUT /api/fhir/source: ${put.status}`);
});
afterAll(async () => {
  await fhir.close();
  await h.close();
});

async function call(method: string, route: string, opts: { json?: unknown } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { authorization: `Bearer ${adminKey}` };
  if (opts.json !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(h.baseUrl + route, { method, headers, ...(opts.json !== undefined ? { body: JSON.stringify(opts.json) } : {}) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function patientCount(): Promise<number> {
  const row = await h.services.db.selectFrom('patients').select((eb) => eb.fn.countAll<string>().as('n')).where('practice_id', '=', practiceId).executeTakeFirstOrThrow();
  return Number(row.n);
}

const sweep = async (): Promise<unknown> => (await runJobNow(h.services.queues.maintenance, 'the FHIR sweep', 'fhir-sync-sweep', { task: 'fhir-sync-sweep' })).returnvalue;
const budgeted = (pageBudget: number): Promise<SyncOutcome> => syncFhirSource(h.services, tenantScope(h.services, practiceId), { trigger: 'api', actor: 'test', sink: patientStoreSink, pageBudget });

describe('the page budget: a long sync commits what it has and continues', () => {
  it('a run out of pages commits what it fetched, records where it stopped (sealed), and says "partial, continuing"', async () => {
    fhir.put(['Ina', 'Jo', 'Kit', 'Lou', 'Max'].map((given, i) => fhirPatient(`b${i + 1}`, `6000${i + 1}`, `202-555-016${i + 1}`, given)), '2026-11-27T09:00:00Z');
    const before = await patientCount();
    // Two pages of two: b1 to b4. Appointments wait for the Patients.
    expect(await budgeted(2)).toMatchObject({ ok: true, complete: false, continuing: true, patients: { resources: 4, created: 4, unchanged: 0 }, appointments: { resources: 0 } });
    expect(await patientCount()).toBe(before + 4);
    const source = (await call('GET', '/api/fhir/source')).body;
    expect(source).toMatchObject({ syncState: 'partial', continuing: true, lastResult: { status: 'partial', patients: { created: 4 } } });
    const [row] = await h.services.db.selectFrom('fhir_sources').select(['cursors', 'resume_enc']).where('practice_id', '=', practiceId).execute();
    expect(row?.cursors).toEqual({ Patient: '2026-11-27T09:00:00Z' });
    expect(row?.resume_enc).toBeInstanceOf(Buffer);
    expect(row?.resume_enc?.toString('latin1')).not.toContain('_offset');
    const runs = (await call('GET', '/api/fhir/runs')).body.runs;
    expect(runs).toEqual([expect.objectContaining({ kind: 'sync', trigger: 'api', status: 'partial', reason: null, counts: { patients: expect.objectContaining({ created: 4 }), appointments: expect.objectContaining({ resources: 0 }) } })]);
  });

  it('the sweep queues the continuing source at once (its interval has not passed), and that run goes on from the next link', async () => {
    const before = { patients: await patientCount(), requests: fhir.requests.length };
    // Queued by this sweep (or by the maintenance queue's own, should its minute come first): the interval has not passed.
    await sweep();
    const source = await until('the continuing sync', async () => {
      const s = (await call('GET', '/api/fhir/source')).body;
      return s.syncState === 'complete' ? s : undefined;
    });
    expect(source).toMatchObject({ continuing: false, lastResult: { patients: { resources: 1, created: 1, unchanged: 0 } } });
    expect(await patientCount()).toBe(before.patients + 1);
    // Not a new search from the cursor: straight on from the stored next link.
    expect(fhir.requests.slice(before.requests).filter((r) => r.path === '/fhir/Patient').map((r) => r.query._offset)).toEqual(['4']);
    expect(await sweep()).toEqual({ queued: 0 });
    const runs = (await call('GET', '/api/fhir/runs?limit=2')).body.runs as Array<Record<string, unknown>>;
    expect(runs.map((r) => [r.kind, r.trigger, r.status])).toEqual([
      ['sync', 'schedule', 'complete'],
      ['sync', 'api', 'partial'],
    ]);
  });

  it('a next link the server has forgotten: the run searches again from the cursor, and counts nothing twice', async () => {
    fhir.put([fhirPatient('c1', '70001', '202-555-0171', 'Ned'), fhirPatient('c2', '70002', '202-555-0172', 'Oda')], '2026-11-28T09:00:00Z');
    // b1 and b2, at the cursor, fill the only page; it stops with a next link.
    expect(await budgeted(1)).toMatchObject({ ok: true, complete: false, patients: { resources: 2, unchanged: 2, created: 0 } });
    fhir.expireNextLinks(410);
    const before = { patients: await patientCount(), requests: fhir.requests.length };
    const res = await call('POST', '/api/fhir/sync');
    expect(res.body).toMatchObject({ ok: true, complete: true, patients: { resources: 7, unchanged: 5, created: 2, updated: 0 } });
    expect(await patientCount()).toBe(before.patients + 2);
    const searches = fhir.requests.slice(before.requests).filter((r) => r.path === '/fhir/Patient');
    expect(searches[0]).toMatchObject({ status: 410, query: { _offset: '2' } });
    expect(searches[1]).toMatchObject({ status: 200, query: { _lastUpdated: 'ge2026-11-27T09:00:00Z' } });
    expect(searches[1]?.query._offset).toBeUndefined();
  });
});
