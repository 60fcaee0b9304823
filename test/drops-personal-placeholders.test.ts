import { dispatchDueDrops } from '../src/drops/dispatcher.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { createPatient } from '../src/patients/store.js';
import { captureLogs } from '../src/log/logger.js';
import { DEMO } from '../src/practices/seed.js';
import { createPractice, type Practice } from '../src/practices/store.js';
import { handleDropAnswer } from '../src/drops/drop-service.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { OPT_OUT_SENTENCE } from '../src/drops/templates.js';
import { until } from './support/until.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { startHarness, type Harness } from './support/harness.js';
import { startRvmDouble, type RvmDouble } from './support/rvm-double.js';

/**
 * Personal placeholders end to end (issue 15, item 4): a reminder campaign to several patients,
 * each drop speaking its recipient's own appointment day, time and location (the vendor double
 * records what it was asked to say), with the real PostgreSQL, Redis and BullMQ. A recipient with
 * no upcoming appointment, or whose appointment is cancelled before the send, is skipped
 * `no_appointment`; a campaign-wide appointment day is refused; no name, number or appointment
 * time reaches a log line, a job payload or the audit log.
 */

const API_KEY = 'vendor-api-key-0123456789';
const SECRET = 'vendor-webhook-secret-0123456789';
// Tuesday 2026-12-01. 02:30Z is Monday 21:30 in New York (too late: everything waits for 08:00).
const MON_EVENING = new Date('2026-12-01T02:30:00Z');
const TUE_0800_NY = new Date('2026-12-01T13:00:00Z');

let h: Harness;
let vendor: RvmDouble;
let practice: Practice;
let now = MON_EVENING;
let admin: string;
let staff: string;
let logs: ReturnType<typeof captureLogs>;

interface TestPatient {
  id: string;
  phone: string;
  firstName: string;
  lastName: string;
  dob: string;
}
const people: Record<string, TestPatient> = {};
const appointmentIds: Record<string, string> = {};

const api = (method: string, path: string, body?: unknown, key = admin, contentType?: string): Promise<ApiAnswer> => callApi(h, method, path, key, body, contentType);

async function addPatient(name: string, n: number): Promise<TestPatient> {
  const p = { phone: `+120255502${String(10 + n).padStart(2, '0')}`, firstName: `Rowan${name}`, lastName: `Sample${name}`, dob: `1968-0${(n % 9) + 1}-1${n % 9}` };
  const id = await createPatient(h.services.db, h.services.keyring, { practiceId: practice.id, phone: p.phone, firstName: p.firstName, lastName: p.lastName, dateOfBirth: p.dob });
  const res = await api('POST', `/api/patients/${id}/consents`, { channel: 'rvm', action: 'granted', source: 'paper_form', disclosureVersion: DEMO.rvmDisclosure.version, evidenceRef: 'scan-0002' }, staff);
  expect(res.status).toBe(201);
  people[name] = { id, ...p };
  return people[name];
}

async function addAppointment(key: string, patient: TestPatient, startsAt: string, extra: { location?: string; status?: 'booked' | 'confirmed' | 'cancelled' } = {}): Promise<string> {
  const row = await h.services.db
    .insertInto('appointments')
    .values({ practice_id: practice.id, patient_id: patient.id, starts_at: new Date(startsAt), status: extra.status ?? 'booked', location_name: extra.location ?? null })
    .returning('id')
    .executeTakeFirstOrThrow();
  appointmentIds[key] = row.id;
  return row.id;
}

function p(name: string): TestPatient {
  const found = people[name];
  if (!found) throw new Error(`no test patient ${name}`);
  return found;
}

async function drops(campaignId: string): Promise<Array<{ id: string; patient_id: string; status: string; reason: string | null; appointment_id: string | null }>> {
  return h.services.db.selectFrom('drops').select(['id', 'patient_id', 'status', 'reason', 'appointment_id']).where('campaign_id', '=', campaignId).execute();
}

async function dropOf(campaignId: string, name: string): Promise<{ id: string; status: string; reason: string | null; appointment_id: string | null }> {
  const d = (await drops(campaignId)).find((x) => x.patient_id === p(name).id);
  if (!d) throw new Error('no such drop');
  return d;
}

/** What the vendor was asked to say to this patient. */
function spokenTo(name: string): string[] {
  return vendor.requests.filter((r) => r.body.phone_number === p(name).phone && r.status === 202).map((r) => String(r.body.tts_body));
}

const REMINDER = `Hello, this is {practice_name} with a reminder of your appointment on {appointment_day} at {appointment_time}, at {appointment_location}. To change it, please call us at {callback_number}. ${OPT_OUT_SENTENCE}`;

beforeAll(async () => {
  logs = captureLogs();
  let target = '';
  vendor = await startRvmDouble({ apiKey: API_KEY, webhookSecret: SECRET, webhookTarget: () => target });
  h = await startHarness('personal', { RVM_API_URL: vendor.baseUrl, RVM_API_KEY: API_KEY, RVM_WEBHOOK_SECRET: SECRET }, { clock: () => now });
  target = `${h.baseUrl}/rvm/webhook`;
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practice = h.services.seeded;
  admin = (await createApiKey(h.services.db, { role: 'admin', practiceId: practice.id })).key;
  staff = (await createApiKey(h.services.db, { role: 'staff', practiceId: practice.id })).key;
  expect((await api('POST', '/api/vendor-baas', { vendor: 'rvm_http', signedAt: '2026-10-01', documentRef: 'contracts/rvm-baa.pdf' })).status).toBe(201);

  // Alder: the next of two appointments is the one spoken.
  await addPatient('Alder', 1);
  await addAppointment('alder-next', p('Alder'), '2026-12-03T14:15:00Z', { location: 'Main Street Office' }); // Thu 9:15 AM New York
  await addAppointment('alder-later', p('Alder'), '2026-12-15T15:00:00Z', { location: 'Riverside Clinic' });
  // Birch: the CSV names a later appointment than the next one; the named one is spoken.
  await addPatient('Birch', 2);
  await addAppointment('birch-next', p('Birch'), '2026-12-04T19:30:00Z', { location: 'Riverside Clinic' });
  await addAppointment('birch-named', p('Birch'), '2026-12-10T21:00:00Z', { location: 'North Campus', status: 'confirmed' }); // Thu 4:00 PM
  // Cedar: a confirmed appointment, early on Monday.
  await addPatient('Cedar', 3);
  await addAppointment('cedar-next', p('Cedar'), '2026-12-07T13:05:00Z', { location: 'Suite 200, Oak Building', status: 'confirmed' }); // Mon 8:05 AM
  // Dogwood: only a past appointment and a cancelled one: nothing to remind of.
  await addPatient('Dogwood', 4);
  await addAppointment('dogwood-past', p('Dogwood'), '2026-11-20T15:00:00Z', { location: 'Main Street Office' });
  await addAppointment('dogwood-cancelled', p('Dogwood'), '2026-12-08T15:00:00Z', { location: 'Main Street Office', status: 'cancelled' });
  // Elm: booked now, cancelled between the start and the send.
  await addPatient('Elm', 5);
  await addAppointment('elm-next', p('Elm'), '2026-12-09T16:00:00Z', { location: 'Main Street Office' });
  // Fir: the location is named for a specialty: a clinical word is never spoken.
  await addPatient('Fir', 6);
  await addAppointment('fir-next', p('Fir'), '2026-12-11T16:00:00Z', { location: 'Oncology Center' });
});

afterAll(async () => {
  logs.restore();
  await h.close();
  await vendor.close();
});

describe('campaign-wide appointment values', () => {
  it('are refused with 400 naming the field, by the API', async () => {
    const res = await api('POST', '/api/campaigns', { name: 'Reminders', templateId: 'appointment-reminder', provider: 'rvm_http', templateParams: { appointment_day: 'Friday', appointment_time: '2:30 PM' } });
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/templateParams\.appointment_day: .*each recipient/);
    expect(res.body.message).toMatch(/templateParams\.appointment_time: /);
    expect(res.body.message).not.toContain('2:30 PM');
    const location = await api('POST', '/api/campaigns', { name: 'Reminders', templateId: 'appointment-reminder', provider: 'rvm_http', templateParams: { appointment_location: 'Main Street Office' } });
    expect(location.status).toBe(400);
    expect(location.body.message).toMatch(/templateParams\.appointment_location: /);
    expect(await h.services.db.selectFrom('campaigns').select('id').execute()).toHaveLength(0);
  });

  it('a reminder campaign needs none: its preview keeps the placeholders and says each recipient hears their own', async () => {
    const res = await api('POST', '/api/campaigns', { name: 'Built-in reminder', templateId: 'appointment-reminder', provider: 'rvm_http' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.text).toContain('on {appointment_day} at {appointment_time}');
    expect((res.body.notices as string[]).join(' ')).toMatch(/Each recipient hears their own appointment/);
    // A recording says the same words to everyone: never for a personal template.
    const audio = await api('POST', '/api/campaigns', { name: 'Recorded', templateId: 'appointment-reminder', provider: 'rvm_http', audioFile: 'reminder.wav' });
    expect(audio.status).toBe(400);
    expect(audio.body.message).toMatch(/^audioFile: .*own appointment/);
  });
});

describe('a reminder campaign speaks each recipient’s own appointment', () => {
  let campaignId: string;

  it('takes a CSV naming an appointment for some rows; a row naming another patient’s appointment is refused', async () => {
    const other = await createPractice(h.services.db, { slug: 'other-clinic', name: 'Other Clinic', timeZone: 'America/Chicago', numbers: ['+13125550188'] });
    const otherPatient = await createPatient(h.services.db, h.services.keyring, { practiceId: other.id, phone: '+13125550189', firstName: 'Other', lastName: 'Person', dateOfBirth: '1970-01-02' });
    const otherPracticeAppointment = (
      await h.services.db.insertInto('appointments').values({ practice_id: other.id, patient_id: otherPatient, starts_at: new Date('2026-12-05T15:00:00Z') }).returning('id').executeTakeFirstOrThrow()
    ).id;
    const template = await api('POST', '/api/drop-templates', { name: 'Reminder with place', purpose: 'appointment_reminder', text: REMINDER });
    expect(template.status, JSON.stringify(template.body)).toBe(201);
    const created = await api('POST', '/api/campaigns', { name: 'December reminders', templateId: template.body.id, provider: 'rvm_http', ratePerMinute: 600 });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    campaignId = created.body.id as string;
    const csv = [
      'patient_id,appointment_id',
      `${p('Alder').id},`,
      `${p('Birch').id},${appointmentIds['birch-named']}`,
      `${p('Cedar').id},${appointmentIds['alder-later']}`, // Alder's appointment: refused
      `${p('Cedar').id},`,
      `${p('Dogwood').id},`,
      `${p('Elm').id},`,
      `${p('Fir').id},`,
      `${p('Alder').id},not-an-id`,
      `${p('Elm').id},${otherPracticeAppointment}`, // another practice's appointment: never found
    ].join('\n');
    const res = await api('POST', `/api/campaigns/${campaignId}/recipients`, csv, admin, 'text/csv');
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.added).toBe(6);
    expect(res.body.rows).toEqual([
      expect.objectContaining({ row: 3, result: 'invalid', message: 'appointment_id: no such appointment of this patient' }),
      expect.objectContaining({ row: 8, result: 'invalid', message: 'appointment_id must be a UUID' }),
      expect.objectContaining({ row: 9, result: 'invalid', message: 'appointment_id: no such appointment of this patient' }),
    ]);
    expect(await dropOf(campaignId, 'Birch')).toMatchObject({ appointment_id: appointmentIds['birch-named'] });
    expect(await dropOf(campaignId, 'Alder')).toMatchObject({ appointment_id: null });
  });

  it('the dry run counts who has no appointment to hear of', async () => {
    now = MON_EVENING;
    const res = await api('POST', `/api/campaigns/${campaignId}/dry-run`, undefined, staff);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ recipients: 6, eligibleNow: 0, deferred: { outside_hours: 4 }, excluded: { no_appointment: 1, location_refused: 1 } });
  });

  it('each drop carries its own day, time and location; the one without an appointment is skipped, as is one cancelled before the send', async () => {
    now = MON_EVENING;
    const start = await api('POST', `/api/campaigns/${campaignId}/start`);
    expect(start.status, JSON.stringify(start.body)).toBe(200);
    expect(start.body).toMatchObject({ state: 'running', queued: 4, skipped: 2 });
    expect(await dropOf(campaignId, 'Dogwood')).toMatchObject({ status: 'skipped', reason: 'no_appointment' });
    expect(await dropOf(campaignId, 'Fir')).toMatchObject({ status: 'skipped', reason: 'location_refused' });

    // Between planning and sending, Elm's appointment is cancelled (and nothing else is booked).
    const cancelled = await api('PATCH', `/api/appointments/${appointmentIds['elm-next']}`, { status: 'cancelled' }, staff);
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);

    now = TUE_0800_NY;
    // The dispatcher queues what is due by the moved clock (it runs every 20 s on its own).
    await dispatchDueDrops(h.services);
    for (const job of await h.services.queues.drops.getDelayed()) await job.promote();
    // A drop is marked sent before the vendor is called: wait for the vendor's record too.
    await until(
      'the reminder drops',
      async () => (await drops(campaignId)).every((d) => d.status !== 'queued' && d.status !== 'pending') && ['Alder', 'Birch', 'Cedar'].every((name) => spokenTo(name).length > 0),
      25_000,
    );

    expect(spokenTo('Alder')).toEqual([expect.stringContaining('your appointment on Thursday, December 3 at 9:15 AM, at Main Street Office.')]);
    expect(spokenTo('Birch')).toEqual([expect.stringContaining('your appointment on Thursday, December 10 at 4:00 PM, at North Campus.')]);
    expect(spokenTo('Cedar')).toEqual([expect.stringContaining('your appointment on Monday, December 7 at 8:05 AM, at Suite 200, Oak Building.')]);
    for (const name of ['Alder', 'Birch', 'Cedar']) {
      const [text] = spokenTo(name);
      expect(text).toContain('Demo Family Medicine');
      expect(text).not.toMatch(/[{}]/);
    }
    expect(spokenTo('Dogwood')).toEqual([]);
    expect(spokenTo('Elm')).toEqual([]);
    expect(spokenTo('Fir')).toEqual([]);
    expect(await dropOf(campaignId, 'Elm')).toMatchObject({ status: 'skipped', reason: 'no_appointment' });

    // Each sent drop records the appointment it spoke of, and its audit row names it by id.
    expect(await dropOf(campaignId, 'Alder')).toMatchObject({ status: 'sent', appointment_id: appointmentIds['alder-next'] });
    expect(await dropOf(campaignId, 'Birch')).toMatchObject({ status: 'sent', appointment_id: appointmentIds['birch-named'] });
    expect(await dropOf(campaignId, 'Cedar')).toMatchObject({ status: 'sent', appointment_id: appointmentIds['cedar-next'] });
    const sentRows = await h.services.db.selectFrom('audit_log').select(['subject_id', 'details']).where('action', '=', 'drop.sent').execute();
    const alderDrop = await dropOf(campaignId, 'Alder');
    expect(sentRows.find((r) => r.subject_id === alderDrop.id)?.details).toMatchObject({ appointmentId: appointmentIds['alder-next'] });
    const progress = await api('GET', `/api/campaigns/${campaignId}`, undefined, staff);
    expect(progress.body.reasons).toMatchObject({ 'skipped:no_appointment': 2, 'skipped:location_refused': 1 });
  });

  it('a Twilio drop’s answer plays the recipient’s own message: the appointment recorded when it was claimed', async () => {
    const alder = await dropOf(campaignId, 'Alder');
    // As for a Twilio drop whose call Twilio answers before our write of its CallSid.
    await h.services.db.updateTable('drops').set({ provider_ref: null }).where('id', '=', alder.id).execute();
    // An earlier appointment booked since: the drop still speaks of the one it was sent about.
    await addAppointment('alder-new', p('Alder'), '2026-12-02T15:00:00Z', { location: 'North Campus' });
    const twiml = await handleDropAnswer(h.services, (id) => tenantScope(h.services, id), alder.id, { CallSid: `CA${'b'.repeat(32)}`, AnsweredBy: 'machine_end_beep' });
    expect(twiml).toContain('your appointment on Thursday, December 3 at 9:15 AM, at Main Street Office.');
    // Cancelled meanwhile: nothing is played rather than a stale or another time.
    await h.services.db.updateTable('appointments').set({ status: 'cancelled' }).where('id', '=', appointmentIds['alder-next'] ?? '').execute();
    const after = await handleDropAnswer(h.services, (id) => tenantScope(h.services, id), alder.id, { CallSid: `CA${'b'.repeat(32)}`, AnsweredBy: 'machine_end_beep' });
    expect(after).not.toContain('appointment');
    expect(after).toContain('<Hangup/>');
  });

  it('a recall (no personal placeholder) goes to a patient with no appointment', async () => {
    now = new Date(TUE_0800_NY.getTime() + 2 * 86_400_000);
    const created = await api('POST', '/api/campaigns', { name: 'Recall', templateId: 'recall', provider: 'rvm_http', patientIds: [p('Dogwood').id] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const dry = await api('POST', `/api/campaigns/${created.body.id as string}/dry-run`, undefined, staff);
    expect(dry.body).toMatchObject({ recipients: 1, eligibleNow: 1, excluded: {} });
  });
});

describe('no PHI outside the encrypted columns', () => {
  it('no name, number, date of birth or spoken appointment in a log line, job payload, audit row or campaign record', async () => {
    const identities = Object.values(people).flatMap((x) => [x.phone, x.phone.slice(2), x.firstName, x.lastName, x.dob]);
    const spoken = ['December 3', 'December 10', 'December 7', '9:15 AM', '4:00 PM', '8:05 AM', 'Main Street Office', 'North Campus', 'Oak Building', 'Oncology'];
    const audit = JSON.stringify(await h.services.db.selectFrom('audit_log').selectAll().execute());
    const campaigns = JSON.stringify(await h.services.db.selectFrom('campaigns').selectAll().execute());
    const jobs = await h.services.queues.drops.getJobs(['completed', 'delayed', 'waiting', 'failed', 'active']);
    const payloads = JSON.stringify(jobs.map((j) => j.data));
    const logLines = logs.lines().join('\n');
    expect(jobs.length).toBeGreaterThan(0);
    for (const j of jobs) expect(Object.keys(j.data as object).sort()).toEqual(['dropId', 'version']);
    for (const term of [...identities, ...spoken]) {
      for (const [where, text] of Object.entries({ audit, campaigns, payloads, logLines })) {
        expect(text.includes(term), `${term} found in ${where}`).toBe(false);
      }
    }
  });
});
