import { systemScope } from '../src/tenancy/system-scope.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { captureLogs } from '../src/log/logger.js';
import { createPractice, type Practice } from '../src/practices/store.js';
import { countPatientsByPhone, patientIdsByPhone, phoneOf } from '../src/patients/store.js';
import { patientCandidates } from '../src/verification/identity.js';
import { phoneIndex } from '../src/patients/store.js';
import { normaliseName } from '../src/patients/identifiers.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { startHarness, type Harness } from './support/harness.js';

/**
 * Patient records through the admin API, against the real PostgreSQL: create (409 for a
 * duplicate, with the existing id), list, search by each blind index, read, edit, deactivate and
 * merge; and nothing of a patient in the logs.
 */

let h: Harness;
let practice: Practice;
let admin: string;
let staff: string;
let otherAdmin: string;
let logs: ReturnType<typeof captureLogs>;

// Test identities: every one of these strings is searched for in the captured logs.
const AVERY = { firstName: 'Avéry', lastName: 'Quinn-Stone', dateOfBirth: '1980-04-12', mrn: 'mrn-1001', mobile: '+12025550171', home: '+12025550172' };
const BLAKE = { firstName: 'Blake', lastName: 'Quinn-Stone', dateOfBirth: '1991-09-30', mrn: 'MRN-1002', mobile: '+12025550173' };
const CASEY = { firstName: 'Casey', lastName: 'Marlowe', dateOfBirth: '1975-01-05', mobile: '+12025550174' };
const PHI = [AVERY, BLAKE, CASEY].flatMap((p) => Object.values(p)).filter((v) => !v.startsWith('mrn') && !v.startsWith('MRN'));

function api(method: string, path: string, body?: unknown, key = admin): Promise<ApiAnswer> {
  return callApi(h, method, path, key, body);
}

const ids: Record<string, string> = {};

beforeAll(async () => {
  h = await startHarness('patients_api');
  logs = captureLogs();
  practice = await createPractice(h.services.db, { slug: 'patients-api', name: 'Patients Clinic', timeZone: 'America/New_York', numbers: ['+12025550901'] });
  admin = (await createApiKey(h.services.db, { role: 'admin', practiceId: practice.id })).key;
  staff = (await createApiKey(h.services.db, { role: 'staff', practiceId: practice.id })).key;
  const other = await createPractice(h.services.db, { slug: 'patients-other', name: 'Other Clinic', timeZone: 'America/New_York', numbers: ['+12025550902'] });
  otherAdmin = (await createApiKey(h.services.db, { role: 'admin', practiceId: other.id })).key;
});
afterAll(async () => {
  logs.restore();
  await h.close();
});

describe('create', () => {
  it('creates patients with several numbers, a preferred one, language, state and zone', async () => {
    const a = await api('POST', '/api/patients', {
      firstName: AVERY.firstName,
      lastName: AVERY.lastName,
      dateOfBirth: AVERY.dateOfBirth,
      mrn: AVERY.mrn,
      phones: [
        { number: AVERY.home, kind: 'home' },
        { number: AVERY.mobile, kind: 'mobile', preferred: true },
      ],
      preferredLanguage: 'es',
      usState: 'FL',
      timeZone: 'America/New_York',
    });
    expect(a.status).toBe(201);
    ids.avery = String(a.body.id);
    const b = await api('POST', '/api/patients', { firstName: BLAKE.firstName, lastName: BLAKE.lastName, dateOfBirth: BLAKE.dateOfBirth, mrn: BLAKE.mrn, phone: BLAKE.mobile }, staff);
    expect(b.status).toBe(201);
    ids.blake = String(b.body.id);
    const c = await api('POST', '/api/patients', { firstName: CASEY.firstName, lastName: CASEY.lastName, dateOfBirth: CASEY.dateOfBirth, phone: CASEY.mobile });
    expect(c.status).toBe(201);
    ids.casey = String(c.body.id);
    // Stored encrypted: no plaintext name in the row.
    const row = await h.services.db.selectFrom('patients').selectAll().where('id', '=', ids.avery).executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain('Quinn');
    expect(row).toMatchObject({ preferred_language: 'es', us_state: 'FL', time_zone: 'America/New_York', active: true });
  });

  it('answers 409 with the existing id for the same MRN (any spelling) or the same name and date of birth', async () => {
    const sameMrn = await api('POST', '/api/patients', { firstName: 'Other', dateOfBirth: '2001-01-01', mrn: ' MRN-1001 ', phone: '+12025550179' });
    expect(sameMrn).toEqual({ status: 409, body: expect.objectContaining({ error: 'conflict', existingId: ids.avery }) });
    // Accents, case and spacing folded: the same person.
    const sameName = await api('POST', '/api/patients', { firstName: 'avery', lastName: ' QUINN-STONE', dateOfBirth: AVERY.dateOfBirth, phone: '+12025550179' });
    expect(sameName).toEqual({ status: 409, body: expect.objectContaining({ existingId: ids.avery }) });
    expect(await h.services.db.selectFrom('patients').select('id').where('practice_id', '=', practice.id).execute()).toHaveLength(3);
  });

  it('refuses bad input with 400 naming the field', async () => {
    const bad = await api('POST', '/api/patients', { firstName: 'X', dateOfBirth: '1980-02-30', phone: '+12025550179' });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/^dateOfBirth: /);
    const noPhone = await api('POST', '/api/patients', { firstName: 'X', dateOfBirth: '1980-02-03' });
    expect(noPhone.body.message).toMatch(/^phones: /);
    const twoPreferred = await api('POST', '/api/patients', { dateOfBirth: '1980-02-03', phones: [{ number: '+12025550178', preferred: true }, { number: '+12025550179', preferred: true }] });
    expect(twoPreferred.body.message).toMatch(/^phones: at most one/);
  });
});

describe('list, search, read', () => {
  it('lists a page, decrypted', async () => {
    const page = await api('GET', '/api/patients?limit=2');
    expect(page.status).toBe(200);
    const patients = page.body.patients as Array<Record<string, unknown>>;
    expect(patients.map((p) => p.id)).toEqual([ids.avery, ids.blake]);
    expect(patients[0]).toMatchObject({ firstName: AVERY.firstName, lastName: AVERY.lastName, dateOfBirth: AVERY.dateOfBirth, mrn: 'MRN-1001', active: true });
    expect((await api('GET', '/api/patients?offset=2')).body.patients).toEqual([expect.objectContaining({ id: ids.casey })]);
    expect((await api('GET', '/api/patients?limit=0')).body.message).toMatch(/^limit: /);
  });

  it('searches by each blind index, and by combinations', async () => {
    const search = async (criteria: Record<string, unknown>): Promise<string[]> => {
      const r = await api('POST', '/api/patients/search', criteria);
      expect(r.status, JSON.stringify(Object.keys(criteria))).toBe(200);
      return (r.body.patients as Array<{ id: string }>).map((p) => p.id);
    };
    // The family name alone finds both Quinn-Stones; the full name (any case, accents folded) one.
    expect(await search({ name: 'quinn-stone' })).toEqual([ids.avery, ids.blake]);
    expect(await search({ name: ' AVERY   quinn-stone ' })).toEqual([ids.avery]);
    expect(await search({ dateOfBirth: BLAKE.dateOfBirth })).toEqual([ids.blake]);
    expect(await search({ phone: AVERY.home })).toEqual([ids.avery]);
    expect(await search({ phone: AVERY.mobile })).toEqual([ids.avery]);
    expect(await search({ mrn: 'mrn-1002' })).toEqual([ids.blake]);
    expect(await search({ name: 'Quinn-Stone', dateOfBirth: AVERY.dateOfBirth })).toEqual([ids.avery]);
    expect(await search({ name: 'Quinn-Stone', mrn: 'MRN-9999' })).toEqual([]);
    expect(await search({ name: 'Quinn' })).toEqual([]);
    const none = await api('POST', '/api/patients/search', {});
    expect(none.status).toBe(400);
    expect(none.body.message).toMatch(/^name: give at least one/);
    // Another practice's key finds nothing of this one.
    expect((await api('POST', '/api/patients/search', { name: 'quinn-stone' }, otherAdmin)).body.patients).toEqual([]);
  });

  it('search never decrypts outside the page: the indexes do the matching', async () => {
    expect(normaliseName('  José   DE la CRUZ ')).toBe('jose de la cruz');
    // A record whose ciphertext cannot be decrypted: a search that decrypted rows to compare them would fail on it.
    const unreadable = await h.services.db
      .insertInto('patients')
      .values({ practice_id: practice.id, phone_index: 'f'.repeat(64), dob_enc: Buffer.from([0]), first_name_enc: Buffer.from([0]), active: true })
      .returning('id')
      .executeTakeFirstOrThrow();
    try {
      const r = await api('POST', '/api/patients/search', { name: 'Quinn-Stone', dateOfBirth: BLAKE.dateOfBirth });
      expect(r.status).toBe(200);
      expect((r.body.patients as Array<{ id: string }>).map((p) => p.id)).toEqual([ids.blake]);
    } finally {
      await h.services.db.deleteFrom('patients').where('id', '=', unreadable.id).execute();
    }
  });

  it('reads a patient with every number, the preferred first', async () => {
    const r = await api('GET', `/api/patients/${ids.avery}`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: ids.avery, preferredLanguage: 'es', usState: 'FL', timeZone: 'America/New_York' });
    expect((r.body.phones as Array<Record<string, unknown>>).map((p) => [p.number, p.kind, p.preferred])).toEqual([
      [AVERY.mobile, 'mobile', true],
      [AVERY.home, 'home', false],
    ]);
    expect((await api('GET', `/api/patients/${ids.avery}`, undefined, otherAdmin)).status).toBe(404);
    expect((await api('GET', '/api/patients/not-a-uuid')).body.message).toMatch(/^patientId: /);
  });

  it('the call path finds a patient by any of their numbers; drops use the preferred one', async () => {
    const db = h.services.db;
    const k = h.services.keyring;
    expect(await patientIdsByPhone(systemScope({ db: db }, practice.id), k, AVERY.home)).toEqual([ids.avery]);
    expect(await countPatientsByPhone(systemScope({ db: db }, practice.id), k, AVERY.home)).toBe(1);
    expect((await patientCandidates(db, practice.id, phoneIndex(k, AVERY.home))).map((c) => c.id)).toEqual([ids.avery]);
    expect(await phoneOf(systemScope({ db: db }, practice.id), k, ids.avery ?? '')).toBe(AVERY.mobile);
  });
});

describe('edit and deactivate', () => {
  it('edits names and numbers, re-indexed; a change that would duplicate another patient is 409', async () => {
    const r = await api('PATCH', `/api/patients/${ids.casey}`, { lastName: 'Marlowe-Ray', phones: [{ number: '+12025550175', kind: 'home', preferred: true }] });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ lastName: 'Marlowe-Ray', phones: [{ number: '+12025550175', kind: 'home', preferred: true }] });
    const found = await api('POST', '/api/patients/search', { name: 'marlowe-ray' });
    expect((found.body.patients as Array<{ id: string }>).map((p) => p.id)).toEqual([ids.casey]);
    expect((await api('POST', '/api/patients/search', { name: 'Marlowe' })).body.patients).toEqual([]);
    expect(await patientIdsByPhone(systemScope({ db: h.services.db }, practice.id), h.services.keyring, CASEY.mobile)).toEqual([]);
    expect(await phoneOf(systemScope({ db: h.services.db }, practice.id), h.services.keyring, ids.casey ?? '')).toBe('+12025550175');
    const clash = await api('PATCH', `/api/patients/${ids.casey}`, { mrn: 'MRN-1001' });
    expect(clash).toEqual({ status: 409, body: expect.objectContaining({ existingId: ids.avery }) });
    const audit = await h.services.db.selectFrom('audit_log').select(['details']).where('action', '=', 'admin.patient_updated').where('subject_id', '=', ids.casey ?? '').execute();
    expect(audit.map((a) => a.details)).toEqual([{ fields: ['lastName', 'phones'] }]);
  });

  it('deactivates: kept, no longer listed or found by number', async () => {
    expect((await api('POST', `/api/patients/${ids.casey}/deactivate`)).body).toEqual({ id: ids.casey, active: false });
    expect(((await api('GET', '/api/patients')).body.patients as Array<{ id: string }>).map((p) => p.id)).not.toContain(ids.casey);
    expect(((await api('GET', '/api/patients?includeInactive=true')).body.patients as Array<{ id: string }>).map((p) => p.id)).toContain(ids.casey);
    expect(await patientIdsByPhone(systemScope({ db: h.services.db }, practice.id), h.services.keyring, '+12025550175')).toEqual([]);
    expect((await api('GET', `/api/patients/${ids.casey}`)).body).toMatchObject({ active: false });
  });
});

describe('merge', () => {
  it('moves numbers, appointments and consents to the survivor in one transaction, keeps the duplicate, audits both ids', async () => {
    const db = h.services.db;
    // The duplicate: Avery again, registered under another MRN and number, with an appointment and a consent.
    const dup = await api('POST', '/api/patients', { firstName: 'Avery', lastName: 'Q', dateOfBirth: AVERY.dateOfBirth, mrn: 'MRN-1003', phone: '+12025550176' });
    const dupId = String(dup.body.id);
    const appt = await api('POST', '/api/appointments', { patientId: dupId, startsAt: '2026-12-10T15:00:00Z' });
    expect(appt.status).toBe(201);
    await api('POST', '/api/consent-disclosures', { version: 'rvm-1', channel: 'rvm', text: 'We may leave you voicemail reminders.' });
    expect((await api('POST', `/api/patients/${dupId}/consents`, { channel: 'rvm', action: 'granted', source: 'verbal', disclosureVersion: 'rvm-1', evidenceRef: 'call-1' })).status).toBe(201);

    expect((await api('POST', `/api/patients/${ids.avery}/merge`, { duplicateId: dupId }, staff)).status).toBe(403);
    const merged = await api('POST', `/api/patients/${ids.avery}/merge`, { duplicateId: dupId });
    expect(merged.status).toBe(200);
    expect(merged.body.moved).toMatchObject({ phones: 1, appointments: 1, consents: 1 });

    expect(await db.selectFrom('patients').select(['active', 'merged_into']).where('id', '=', dupId).executeTakeFirstOrThrow()).toEqual({ active: false, merged_into: ids.avery });
    expect(await patientIdsByPhone(systemScope({ db: db }, practice.id), h.services.keyring, '+12025550176')).toEqual([ids.avery]);
    expect((await db.selectFrom('appointments').select('patient_id').where('id', '=', String(appt.body.id)).executeTakeFirstOrThrow()).patient_id).toBe(ids.avery);
    // The consent history is kept on both: copied, never moved (append-only).
    const consents = await db.selectFrom('consents').select('patient_id').where('practice_id', '=', practice.id).execute();
    expect(consents.map((c) => c.patient_id).sort()).toEqual([dupId, ids.avery].sort());
    // The survivor's preferred number stays preferred; the moved one is listed, decryptable.
    const survivor = await api('GET', `/api/patients/${ids.avery}`);
    expect((survivor.body.phones as Array<Record<string, unknown>>).map((p) => [p.number, p.preferred])).toContainEqual(['+12025550176', false]);
    expect((survivor.body.phones as Array<Record<string, unknown>>)[0]).toMatchObject({ number: AVERY.mobile, preferred: true });

    const audit = await db.selectFrom('audit_log').select(['subject_id', 'details']).where('action', '=', 'admin.patients_merged').executeTakeFirstOrThrow();
    expect(audit).toMatchObject({ subject_id: ids.avery, details: { survivorId: ids.avery, duplicateId: dupId } });

    const again = await api('POST', `/api/patients/${ids.avery}/merge`, { duplicateId: dupId });
    expect(again).toEqual({ status: 400, body: { error: 'bad_request', message: 'duplicateId: already merged' } });
    expect((await api('POST', `/api/patients/${ids.avery}/merge`, { duplicateId: ids.avery })).status).toBe(400);
  });

  it('the survivor takes the e-mail address and recall date it has not; its own are kept', async () => {
    const db = h.services.db;
    const make = async (phone: string, extra: Record<string, unknown>): Promise<string> => {
      // Another date of birth each: the same name and date would be refused as the same patient.
      const r = await api('POST', '/api/patients', { firstName: 'Merle', dateOfBirth: `1975-03-1${phone.slice(-1)}`, phone, ...extra });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      return String(r.body.id);
    };
    const bare = await make('+12025550181', {});
    const full = await make('+12025550182', { email: 'merle.dup@example.org', recallDue: '2033-06-07' });
    const merged = await api('POST', `/api/patients/${bare}/merge`, { duplicateId: full });
    expect(merged.status).toBe(200);
    expect(merged.body.moved).toMatchObject({ email: 1, recallDue: 1 });
    // Sealed again under the survivor's id (it opens), the blind index the duplicate's.
    expect((await api('GET', `/api/patients/${bare}`)).body).toMatchObject({ email: 'merle.dup@example.org', recallDue: '2033-06-07' });
    const rows = await db.selectFrom('patients').select(['id', 'email_index']).where('id', 'in', [bare, full]).execute();
    expect(new Set(rows.map((r) => r.email_index)).size).toBe(1);

    // A survivor with its own keeps them.
    const own = await make('+12025550183', { email: 'merle.own@example.org', recallDue: '2034-01-02' });
    const other = await make('+12025550184', { email: 'merle.other@example.org', recallDue: '2033-01-01' });
    const kept = await api('POST', `/api/patients/${own}/merge`, { duplicateId: other });
    expect(kept.body.moved).toMatchObject({ email: 0, recallDue: 0 });
    expect((await api('GET', `/api/patients/${own}`)).body).toMatchObject({ email: 'merle.own@example.org', recallDue: '2034-01-02' });
  });
});

describe('logs', () => {
  it('carry no name, date of birth or number of a patient', () => {
    const text = logs.lines().join('\n');
    expect(logs.lines().length).toBeGreaterThan(0);
    for (const value of PHI) expect(text, 'a patient value in the logs').not.toContain(value);
  });
});
