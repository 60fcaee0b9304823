import { systemScope } from '../src/tenancy/system-scope.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { createPractice, type Practice } from '../src/practices/store.js';
import { createPatient } from '../src/patients/store.js';
import { nextAppointment } from '../src/patients/appointments.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { DEFAULT_TEST_NOW, startHarness, type Harness } from './support/harness.js';

/** Appointments through the admin API: CRUD, statuses, and the next appointment a caller hears of. */

let h: Harness;
let practice: Practice;
let admin: string;
let provider: string;
let patientId: string;
let otherPatientId: string;
let doctorId: string;

function api(method: string, path: string, body?: unknown, key = admin): Promise<ApiAnswer> {
  return callApi(h, method, path, key, body);
}

const at = (hours: number): string => new Date(DEFAULT_TEST_NOW.getTime() + hours * 3_600_000).toISOString();

beforeAll(async () => {
  h = await startHarness('appointments_api');
  practice = await createPractice(h.services.db, { slug: 'appts', name: 'Appointments Clinic', timeZone: 'America/New_York', numbers: ['+12025550911'] });
  admin = (await createApiKey(h.services.db, { role: 'admin', practiceId: practice.id })).key;
  provider = (await createApiKey(h.services.db, { role: 'provider', practiceId: practice.id })).key;
  patientId = await createPatient(h.services.db, h.services.keyring, { practiceId: practice.id, phone: '+12025550181', dateOfBirth: '1970-01-01' });
  otherPatientId = await createPatient(h.services.db, h.services.keyring, { practiceId: practice.id, phone: '+12025550182', dateOfBirth: '1970-01-02' });
  const doctor = await api('POST', '/api/oncall/providers', { displayName: 'Dr Rowe', phone: '+12025550183' });
  doctorId = String(doctor.body.id);
});
afterAll(async () => {
  await h.close();
});

describe('appointments', () => {
  it('books, reads, lists, changes and cancels (never deletes), audited', async () => {
    const booked = await api('POST', '/api/appointments', { patientId, startsAt: at(24), providerId: doctorId, locationName: 'Main Street' });
    expect(booked.status).toBe(201);
    expect(booked.body).toMatchObject({ patientId, startsAt: at(24), status: 'booked', providerId: doctorId, locationName: 'Main Street' });
    const id = String(booked.body.id);
    expect((await api('GET', `/api/appointments/${id}`, undefined, provider)).body).toMatchObject({ id, status: 'booked' });
    const confirmed = await api('PATCH', `/api/appointments/${id}`, { status: 'confirmed', startsAt: at(26) });
    expect(confirmed.body).toMatchObject({ status: 'confirmed', startsAt: at(26) });
    const list = await api('GET', `/api/appointments?patientId=${patientId}`);
    expect((list.body.appointments as Array<{ id: string }>).map((a) => a.id)).toEqual([id]);
    const cancelled = await api('DELETE', `/api/appointments/${id}`);
    expect(cancelled.body).toMatchObject({ id, status: 'cancelled' });
    expect((await api('GET', `/api/appointments/${id}`)).status).toBe(200);
    const audit = await h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'admin.appointment_changed').where('subject_id', '=', id).orderBy('seq').execute();
    expect(audit.map((a) => (a.details as { change: string }).change)).toEqual(['created', 'updated', 'cancelled']);
  });

  it('refuses bad input with 400 naming the field, an unknown patient or provider, and a second appointment at the same time', async () => {
    expect((await api('POST', '/api/appointments', { patientId, startsAt: '2026-12-01 09:00' })).body.message).toMatch(/^startsAt: /);
    expect((await api('POST', '/api/appointments', { patientId, startsAt: at(5), status: 'maybe' })).body.message).toMatch(/^status: /);
    expect((await api('POST', '/api/appointments', { patientId: '00000000-0000-4000-8000-000000000000', startsAt: at(5) })).body.message).toMatch(/^patientId: no such patient/);
    expect((await api('POST', '/api/appointments', { patientId, startsAt: at(5), providerId: '00000000-0000-4000-8000-000000000000' })).body.message).toMatch(/^providerId: /);
    expect((await api('PATCH', '/api/appointments/00000000-0000-4000-8000-000000000000', { status: 'confirmed' })).status).toBe(404);
    expect((await api('POST', '/api/appointments', { patientId, startsAt: at(30) })).status).toBe(201);
    expect((await api('POST', '/api/appointments', { patientId, startsAt: at(30) })).status).toBe(409);
    expect((await api('GET', '/api/appointments?status=later')).body.message).toMatch(/^status: /);
    expect((await api('POST', '/api/appointments', { patientId, startsAt: at(31) }, provider)).status).toBe(403);
  });

  it('the next appointment as spoken: booked or confirmed only, cancelled and no-show never', async () => {
    const p = otherPatientId;
    const soonest = await api('POST', '/api/appointments', { patientId: p, startsAt: at(2) });
    const noShow = await api('POST', '/api/appointments', { patientId: p, startsAt: at(3) });
    const later = await api('POST', '/api/appointments', { patientId: p, startsAt: at(48), status: 'confirmed' });
    await api('POST', '/api/appointments', { patientId: p, startsAt: at(-2) }); // past
    const next = async (): Promise<unknown> => (await api('GET', `/api/patients/${p}/next-appointment`, undefined, provider)).body.next;
    expect(await next()).toEqual({ id: soonest.body.id, startsAt: at(2) });
    await api('DELETE', `/api/appointments/${String(soonest.body.id)}`);
    await api('PATCH', `/api/appointments/${String(noShow.body.id)}`, { status: 'no_show' });
    expect(await next()).toEqual({ id: later.body.id, startsAt: at(48) });
    // The call path's own read says the same.
    expect(await nextAppointment(systemScope(h.services, practice.id), p, DEFAULT_TEST_NOW)).toEqual({ id: later.body.id, startsAt: new Date(at(48)) });
    await api('PATCH', `/api/appointments/${String(later.body.id)}`, { status: 'cancelled' });
    expect(await next()).toBeNull();
  });
});
