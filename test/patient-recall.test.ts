import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { captureLogs } from '../src/log/logger.js';
import { createPractice, type Practice } from '../src/practices/store.js';
import { importPatients } from '../src/patients/patient-import.js';
import { mergePatients } from '../src/patients/merge.js';
import { deactivatePatient, readPatient } from '../src/patients/records.js';
import { patientsDueForRecall, recallDuePage } from '../src/patients/recall.js';
import { createPatient } from '../src/patients/store.js';
import { tenantScope } from '../src/tenancy/mint.js';
import type { PracticeScope } from '../src/tenancy/scope.js';
import { startHarness, type Harness } from './support/harness.js';
import { until } from './support/until.js';

/**
 * Patients due for recall (issue 15, item 5): the recall date imported with the patient (CSV
 * column recall_due) or set through the API, the query the sequences' recall audience reads
 * (window, keyset paging, active and unmerged only, one practice only) and
 * GET /api/patients/recall-due. Recall dates, names and numbers never reach a log line.
 */

let h: Harness;
let A: Practice;
let B: Practice;
let adminA: string;
let staffA: string;
let providerA: string;
let adminB: string;
let logs: ReturnType<typeof captureLogs>;

type Json = Record<string, unknown>;

async function api(method: string, path: string, body?: unknown, key = adminA): Promise<{ status: number; body: Json }> {
  const res = await fetch(h.baseUrl + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': typeof body === 'string' ? 'text/csv' : 'application/json' }) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

const scopeA = (): PracticeScope => tenantScope(h.services, A.id);
const scopeB = (): PracticeScope => tenantScope(h.services, B.id);

let phoneCounter = 100;
const freshPhone = (): string => `+1202555${String(phoneCounter++).padStart(4, '0')}`;

/** A patient of the practice with this recall date (or none). */
async function patientDue(practiceId: string, recallDue?: string): Promise<string> {
  return createPatient(h.services.db, h.services.keyring, { practiceId, phone: freshPhone(), dateOfBirth: '1971-08-09', ...(recallDue ? { recallDue } : {}) });
}

// Dates and identifiers no other test uses, so a scan of the captured logs can look for them.
const IMPORTED = { mrn: 'RCL-7001', firstName: 'Quillon', lastName: 'Marrowby', dateOfBirth: '1958-10-23', phone: '+12025557001', recallDue: '2031-07-19' };

beforeAll(async () => {
  logs = captureLogs();
  h = await startHarness('patient_recall');
  A = await createPractice(h.services.db, { slug: 'recall-a', name: 'Recall Clinic A', timeZone: 'America/New_York', numbers: ['+12025550931'] });
  B = await createPractice(h.services.db, { slug: 'recall-b', name: 'Recall Clinic B', timeZone: 'America/Chicago', numbers: ['+12025550932'] });
  adminA = (await createApiKey(h.services.db, { role: 'admin', practiceId: A.id })).key;
  staffA = (await createApiKey(h.services.db, { role: 'staff', practiceId: A.id })).key;
  providerA = (await createApiKey(h.services.db, { role: 'provider', practiceId: A.id })).key;
  adminB = (await createApiKey(h.services.db, { role: 'admin', practiceId: B.id })).key;
});
afterAll(async () => {
  logs.restore();
  await h?.close();
});

describe('the recall date of a patient', () => {
  it('comes with the CSV import (column recall_due), through the API job, and shows in the detail', async () => {
    const csv = `mrn,first_name,last_name,date_of_birth,phone,recall_due\n${IMPORTED.mrn},${IMPORTED.firstName},${IMPORTED.lastName},${IMPORTED.dateOfBirth},${IMPORTED.phone},${IMPORTED.recallDue}\nRCL-7002,,,1960-01-01,+12025557002,\n`;
    const queued = await api('POST', '/api/patients/import?dryRun=false', csv);
    expect(queued.status).toBe(202);
    const done = await until(
      'the import to finish',
      async () => {
        const r = await api('GET', `/api/imports/${String(queued.body.id)}`);
        return r.body.status === 'done' || r.body.status === 'failed' ? r.body : null;
      },
      150_000,
    );
    expect(done).toMatchObject({ status: 'done', committed: true, created: 2, invalid: 0 });
    const rows = await h.services.db.selectFrom('patients').select('id').where('practice_id', '=', A.id).orderBy('created_at').execute();
    const views = await Promise.all(rows.map((r) => readPatient(scopeA(), h.services.keyring, r.id)));
    expect(views.map((v) => v?.recallDue).sort()).toEqual([IMPORTED.recallDue, null]);
    const imported = views.find((v) => v?.recallDue);
    expect((await api('GET', `/api/patients/${imported?.id ?? ''}`)).body.recallDue).toBe(IMPORTED.recallDue);

    // Re-imported with another date: the record's date follows the file.
    const again = await importPatients(scopeA(), h.services.keyring, Readable.from([`mrn,date_of_birth,phone,recall_due\n${IMPORTED.mrn},${IMPORTED.dateOfBirth},${IMPORTED.phone},2031-08-02\n`]), { dryRun: false });
    expect(again).toMatchObject({ updated: 1, invalid: 0, committed: true });
    expect((await readPatient(scopeA(), h.services.keyring, imported?.id ?? ''))?.recallDue).toBe('2031-08-02');
  }, 180_000);

  it('an import with a bad recall date is refused whole, naming the row and the field, never the value', async () => {
    const bad = ['2031-02-30', '19/07/2031', '1999-12-31', '2031-7-19'];
    const csv = ['mrn,date_of_birth,phone,recall_due', 'RCL-8000,1960-01-01,+12025558000,2031-09-09', ...bad.map((d, i) => `RCL-80${String(i + 1).padStart(2, '0')},1960-01-01,+1202555800${i + 1},${d}`)].join('\n') + '\n';
    const report = await importPatients(scopeA(), h.services.keyring, Readable.from([csv]), { dryRun: false });
    expect(report).toMatchObject({ invalid: bad.length, committed: false });
    expect(report.entries.map((e) => [e.row, e.field])).toEqual(bad.map((_, i) => [i + 3, 'recall_due']));
    for (const d of bad) expect(JSON.stringify(report)).not.toContain(d);
    const written = await h.services.db.selectFrom('patients').select('id').where('practice_id', '=', A.id).where('mrn_index', 'is not', null).execute();
    expect(written.length).toBe(2); // the two of the import above, nothing of this one
  });

  it('is set, changed and cleared through the API; a bad one is a 400 naming recallDue', async () => {
    const made = await api('POST', '/api/patients', { phone: freshPhone(), dateOfBirth: '1980-02-02', recallDue: '2032-01-15' }, staffA);
    expect(made.status).toBe(201);
    const id = String(made.body.id);
    expect((await api('GET', `/api/patients/${id}`)).body.recallDue).toBe('2032-01-15');
    const changed = await api('PATCH', `/api/patients/${id}`, { recallDue: '2032-02-16' });
    expect(changed).toMatchObject({ status: 200, body: { recallDue: '2032-02-16' } });
    expect((await api('PATCH', `/api/patients/${id}`, { recallDue: null })).body.recallDue).toBeNull();
    for (const bad of ['2032-02-30', 'soon', '20320101', '1999-01-01', 5]) {
      const r = await api('PATCH', `/api/patients/${id}`, { recallDue: bad });
      expect(r.status, String(bad)).toBe(400);
      expect(String(r.body.message)).toMatch(/^recallDue: /);
    }
    const refused = await api('POST', '/api/patients', { phone: freshPhone(), dateOfBirth: '1980-02-02', recallDue: 'next year' });
    expect(refused.status).toBe(400);
    expect(String(refused.body.message)).toMatch(/^recallDue: /);
    // The audit row names the field changed, never its value.
    const audited = await h.services.db.selectFrom('audit_log').select('details').where('subject_id', '=', id).execute();
    expect(JSON.stringify(audited)).toContain('recallDue');
    expect(JSON.stringify(audited)).not.toContain('2032-0');
  });
});

describe('patientsDueForRecall', () => {
  const due: Record<string, string> = {};

  beforeAll(async () => {
    for (const [name, date] of [
      ['before', '2033-02-28'],
      ['first', '2033-03-01'],
      ['mid1', '2033-03-10'],
      ['mid2', '2033-03-10'],
      ['mid3', '2033-03-20'],
      ['last', '2033-03-31'],
      ['after', '2033-04-01'],
      ['inactive', '2033-03-15'],
      ['merged', '2033-03-16'],
      ['survivor', '2033-05-05'],
    ] as const) {
      due[name] = await patientDue(A.id, date);
    }
    await patientDue(A.id); // none
    due.other = await patientDue(B.id, '2033-03-12');
    expect(await deactivatePatient(scopeA(), due.inactive ?? '')).toBe(true);
    expect((await mergePatients(scopeA(), h.services.keyring, due.survivor ?? '', due.merged ?? '')).ok).toBe(true);
  });

  const inWindow = (): string[] => [due.first, due.mid1, due.mid2, due.mid3, due.last].map(String).sort();

  it('the active, unmerged patients whose date is in [from, to], both ends included, in id order', async () => {
    expect(await patientsDueForRecall(scopeA(), { from: '2033-03-01', to: '2033-03-31' })).toEqual(inWindow());
    expect(await patientsDueForRecall(scopeA(), { from: '2033-03-10', to: '2033-03-10' })).toEqual([due.mid1, due.mid2].map(String).sort());
    expect(await patientsDueForRecall(scopeA(), { from: '2033-03-31', to: '2033-03-01' })).toEqual([]);
    const page = await recallDuePage(scopeA(), { from: '2033-03-31', to: '2033-04-01' });
    expect(page).toEqual([{ id: due.last, recallDue: '2033-03-31' }, { id: due.after, recallDue: '2033-04-01' }].sort((x, y) => String(x.id).localeCompare(String(y.id))));
  });

  it('pages by id: each patient once, the last page short', async () => {
    const seen: string[][] = [];
    let after: string | undefined;
    for (;;) {
      const page = await patientsDueForRecall(scopeA(), { from: '2033-03-01', to: '2033-03-31', limit: 2, ...(after ? { after } : {}) });
      seen.push(page);
      if (page.length < 2) break;
      after = page.at(-1);
    }
    expect(seen.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(seen.flat()).toEqual(inWindow());
  });

  it("one practice's patients only (B's patient in the window is not A's, and the reverse)", async () => {
    const wide = { from: '2000-01-01', to: '2199-12-31', limit: 5000 };
    expect(await patientsDueForRecall(scopeA(), wide)).not.toContain(due.other);
    expect(await patientsDueForRecall(scopeB(), wide)).toEqual([due.other]);
    const viaApi = await api('GET', '/api/patients/recall-due?from=2033-03-01&to=2033-03-31', undefined, adminB);
    expect(viaApi).toEqual({ status: 200, body: { patients: [{ id: due.other, recallDue: '2033-03-12' }], nextAfter: null } });
  });

  it('refuses a malformed window (a programming error, not a silent empty page)', async () => {
    await expect(patientsDueForRecall(scopeA(), { from: '2033-3-1', to: '2033-03-31' })).rejects.toThrow(/^from: /);
    await expect(patientsDueForRecall(scopeA(), { from: '2033-03-01', to: '2033-03-31', limit: 0 })).rejects.toThrow(/^limit: /);
    await expect(patientsDueForRecall(scopeA(), { from: '2033-03-01', to: '2033-03-31', after: 'x' })).rejects.toThrow(/^after: /);
  });

  it('GET /api/patients/recall-due: ids and dates only, paged with nextAfter; admin and staff only', async () => {
    const first = await api('GET', '/api/patients/recall-due?from=2033-03-01&to=2033-03-31&limit=3', undefined, staffA);
    expect(first.status).toBe(200);
    const patients = first.body.patients as Array<Json>;
    expect(patients.map((p) => Object.keys(p).sort())).toEqual([['id', 'recallDue'], ['id', 'recallDue'], ['id', 'recallDue']]);
    expect(first.body.nextAfter).toBe(patients.at(-1)?.id);
    const second = await api('GET', `/api/patients/recall-due?from=2033-03-01&to=2033-03-31&limit=3&after=${String(first.body.nextAfter)}`);
    expect(second.body.nextAfter).toBeNull();
    expect([...patients, ...(second.body.patients as Json[])].map((p) => p.id)).toEqual(inWindow());
    expect((await api('GET', '/api/patients/recall-due?from=2033-03-01&to=2033-03-31', undefined, providerA)).status).toBe(403);
  });

  it('GET /api/patients/recall-due: 400 naming the field, never 500', async () => {
    for (const [query, field] of [
      ['to=2033-03-31', 'from'],
      ['from=2033-03-01', 'to'],
      ['from=2033-02-30&to=2033-03-31', 'from'],
      ['from=2033-03-01&to=tomorrow', 'to'],
      ['from=2033-03-31&to=2033-03-01', 'to'],
      ['from=2033-03-01&to=2033-03-31&to=2033-04-01', 'to'],
      ['from=2033-03-01&to=2033-03-31&limit=0', 'limit'],
      ['from=2033-03-01&to=2033-03-31&limit=5001', 'limit'],
      ['from=2033-03-01&to=2033-03-31&after=nope', 'after'],
    ] as const) {
      const r = await api('GET', `/api/patients/recall-due?${query}`);
      expect(r.status, query).toBe(400);
      expect(String(r.body.message), query).toMatch(new RegExp(`(^|; )(query\\.)?${field}: `));
    }
    // A strict query: another practice's id is refused, by name.
    const strict = await api('GET', `/api/patients/recall-due?from=2033-03-01&to=2033-03-31&practiceId=${B.id}`);
    expect(strict.status).toBe(400);
    expect(String(strict.body.message)).toContain('practiceId');
  });
});

describe('no PHI in the logs', () => {
  it('no recall date, name, date of birth or number of the patients above in any captured line', () => {
    const text = logs.lines().join('\n');
    expect(text.length).toBeGreaterThan(0);
    for (const secret of [IMPORTED.recallDue, '2031-08-02', '2032-01-15', '2032-02-16', '2033-03-10', '2033-03-12', IMPORTED.firstName, IMPORTED.lastName, IMPORTED.dateOfBirth, IMPORTED.phone]) {
      expect(text, secret).not.toContain(secret);
    }
  });
});
