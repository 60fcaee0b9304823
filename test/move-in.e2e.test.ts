import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { heard, type CallResult } from '../devtools/simulator/simulator.js';
import { DEFAULT_TEST_NOW, startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { simulatorFor } from './support/simulate.js';
import { until } from './support/until.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';

/**
 * A practice moves in (issue 12, item 9), through the API alone: no SQL and no store call. The
 * only key made behind the API's back is the platform operator's first one (`keys:create --role
 * operator`: something has to bootstrap) and the practice's first admin key (`keys:create --role
 * admin`: the API has no route that mints keys). Then: the operator creates the practice and
 * connects its main and access numbers at the Twilio double; the admin imports patients and
 * appointments by CSV (each queued as a job and followed to its report) and a patient with an appointment by FHIR NDJSON (bad files refused with
 * the row or line named, nothing imported); adds a contact and uploads the after-hours template
 * with an option that transfers to it, and runs it on the main line; an imported patient calls,
 * verifies by date of birth and hears the imported appointment; another option reaches the contact.
 * The steps share one practice and run in order.
 */

const MAIN = '+13125550170';
const ACCESS = '+13125550171';
const NURSE_LINE = '+13125550175';
const MRN_SYSTEM = 'urn:oid:1.2.36.146.595.217.0.1';
/** Dana, imported by CSV, calls from her mobile number and keys her date of birth (MMDDYYYY). */
const DANA = { mrn: 'R-100', phone: '+13125550181', dobKeys: '06091975#' };
/** Wednesday 2026-11-25 21:00 in Chicago: closed on the default hours, so the call takes the after-hours path. */
const now = DEFAULT_TEST_NOW;

let h: Harness;
let double: TwilioDouble;
let operatorKey: string;
let adminKey = '';
let practiceId = '';

beforeAll(async () => {
  double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  h = await startHarness('move_in', { TWILIO_API_BASE_URL: double.baseUrl, SEED_DEMO: 'false' }, { clock: () => now });
  operatorKey = (await createApiKey(h.services.db, { role: 'operator', practiceId: null, label: 'platform operator' })).key;
});
afterAll(async () => {
  await h?.close();
  await double?.close();
});

interface Answer {
  status: number;
  body: Record<string, unknown>;
  text: string;
}

async function api(method: string, path: string, key: string, body?: { json: unknown } | { csv: string } | { ndjson: string }): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  let payload: string | undefined;
  if (body && 'json' in body) [headers['content-type'], payload] = ['application/json', JSON.stringify(body.json)];
  if (body && 'csv' in body) [headers['content-type'], payload] = ['text/csv', body.csv];
  if (body && 'ndjson' in body) [headers['content-type'], payload] = ['application/x-ndjson', body.ndjson];
  const res = await fetch(h.baseUrl + path, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    parsed = {};
  }
  return { status: res.status, body: parsed, text };
}

const admin = (method: string, path: string, body?: Parameters<typeof api>[3]): Promise<Answer> => api(method, path, adminKey, body);
const lineUrl = (e164: string): string => `/api/practices/${practiceId}/lines/${encodeURIComponent(e164)}`;

async function patientCount(): Promise<number> {
  const res = await admin('GET', '/api/patients?limit=100');
  expect(res.status).toBe(200);
  return (res.body.patients as unknown[]).length;
}
async function appointments(): Promise<Array<{ patientId: string; startsAt: string }>> {
  const res = await admin('GET', '/api/appointments');
  expect(res.status).toBe(200);
  return res.body.appointments as Array<{ patientId: string; startsAt: string }>;
}

/** A CSV import through the API: queued (202), then followed until it has finished; the import as GET /api/imports/:id shows it. */
async function csvImport(path: string, csv: string): Promise<Record<string, unknown>> {
  const queued = await admin('POST', path, { csv });
  expect(queued.status).toBe(202);
  return until(
    'the import to finish',
    async () => {
      const r = await admin('GET', `/api/imports/${String(queued.body.id)}`);
      expect(r.status).toBe(200);
      return r.body.status === 'done' || r.body.status === 'failed' ? r.body : null;
    },
    60_000,
  );
}

const dials = (call: CallResult): string[][] => call.transcript.flatMap((e) => (e.kind === 'dial' ? [e.numbers] : []));

/** The after-hours template with one more main-menu option: 6 transfers to the practice's nurse line (a contact). */
function withNurseLine(template: string): string {
  const option = '      "5": provider_line\n';
  const announced = 'To hear these options again, press 0.';
  if (!template.includes(option) || !template.includes(announced)) throw new Error('the after-hours template changed: update this test');
  return (
    template
      .replace('id: after-hours', 'id: riverside')
      .replace(option, `${option}      "6": nurse_line\n`)
      .replace(announced, `For the nurse line, press 6. ${announced}`) +
    `
  nurse_line:
    kind: transfer
    to: contact
    contact: nurse_line
    prompt:
      text:
        en: "Connecting you to the nurse line."
        es: "Le comunicamos con la línea de enfermería."
    timeout_seconds: 20
    on_fail: message
    next: goodbye
`
  );
}

/** The calls placed on the way, by what they are: checked in GET /api/calls at the end. */
const calls: { verified?: string; transferred?: string } = {};

describe('a practice moves in through the API', () => {
  it('the operator creates the practice (bad input: 400 naming the field)', async () => {
    const bad = await api('POST', '/api/practices', operatorKey, { json: { name: 'Riverside Pediatrics', slug: 'Riverside Peds', timeZone: 'America/Chicago' } });
    expect(bad.status).toBe(400);
    expect(String(bad.body.message)).toMatch(/^slug: /);
    const zone = await api('POST', '/api/practices', operatorKey, { json: { name: 'Riverside Pediatrics', slug: 'riverside-peds', timeZone: 'Mars/Olympus' } });
    expect(String(zone.body.message)).toMatch(/^timeZone: /);

    const created = await api('POST', '/api/practices', operatorKey, {
      json: { name: 'Riverside Pediatrics', slug: 'riverside-peds', timeZone: 'America/Chicago', number: MAIN, fallbackNumber: '+13125550179' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ slug: 'riverside-peds', name: 'Riverside Pediatrics', timeZone: 'America/Chicago', fallbackNumber: '+13125550179' });
    practiceId = String(created.body.id);
    const listed = await api('GET', '/api/practices', operatorKey);
    expect(listed.body.practices).toEqual([expect.objectContaining({ id: practiceId, status: 'active', numbers: 1 })]);
  });

  it('the operator connects the main and access numbers at Twilio', async () => {
    const mainSid = double.addIncomingNumber(MAIN);
    const accessSid = double.addIncomingNumber(ACCESS);
    const wrongKind = await api('POST', `${lineUrl(MAIN)}/connect`, operatorKey, { json: { kind: 'fax' } });
    expect(wrongKind.status).toBe(400);
    expect(String(wrongKind.body.message)).toMatch(/^kind: /);

    const main = await api('POST', `${lineUrl(MAIN)}/connect`, operatorKey, { json: { kind: 'main' } });
    expect(main.status).toBe(200);
    expect(main.body).toMatchObject({ e164: MAIN, kind: 'main', flowId: 'after-hours', change: 'updated', twilioSid: mainSid, differences: [] });
    const access = await api('POST', `${lineUrl(ACCESS)}/connect`, operatorKey, { json: { kind: 'access', assign: true } });
    expect(access.status).toBe(201);
    expect(access.body).toMatchObject({ e164: ACCESS, kind: 'access', differences: [] });
    // What Twilio now holds for each number: our webhooks under the public URL.
    expect(double.incomingNumbers.get(mainSid)).toMatchObject({ voiceUrl: `${TEST_PUBLIC_BASE_URL}/twilio/voice/incoming`, voiceFallbackUrl: `${TEST_PUBLIC_BASE_URL}/twilio/voice/fallback` });
    expect(double.incomingNumbers.get(accessSid)).toMatchObject({ voiceUrl: `${TEST_PUBLIC_BASE_URL}/twilio/voice/access`, smsUrl: `${TEST_PUBLIC_BASE_URL}/twilio/sms/incoming` });
    // The operator holds no practice data.
    expect((await api('GET', '/api/patients', operatorKey)).status).toBe(403);
  });

  it('the practice gets its first admin key (keys:create --role admin: no API route mints keys)', async () => {
    adminKey = (await createApiKey(h.services.db, { role: 'admin', practiceId, label: 'Riverside office manager' })).key;
    const practice = await admin('GET', `/api/practices/${practiceId}`);
    expect(practice.status).toBe(200);
    expect(practice.body).toMatchObject({ accessNumber: ACCESS });
  });

  it('the admin imports patients by CSV: a bad file is refused naming the row, and nothing of it is imported', async () => {
    const header = 'mrn,first_name,last_name,date_of_birth,phone,home_phone,preferred_language,us_state';
    const rows = [`${DANA.mrn},Dana,Ortiz,1975-06-09,${DANA.phone},,en,IL`, 'R-101,Eli,Ortiz,1978-02-03,+13125550182,+13125550183,es,IL'];
    const bad = await csvImport('/api/patients/import?dryRun=false', [header, ...rows, 'R-102,Fay,Nolan,1980-02-30,+13125550184,,,IL'].join('\n'));
    expect(bad).toMatchObject({ status: 'done', committed: false });
    expect(bad.message).toBe('row 4: date_of_birth: expected a real date from 1900-01-01 on; nothing was imported');
    expect(await patientCount()).toBe(0);

    const dry = await csvImport('/api/patients/import', [header, ...rows].join('\n'));
    expect(dry.report).toMatchObject({ dryRun: true, committed: false, created: 2 });
    expect(await patientCount()).toBe(0);
    const done = await csvImport('/api/patients/import?dryRun=false', [header, ...rows].join('\n'));
    expect(done).toMatchObject({ status: 'done', message: null });
    expect(done.report).toMatchObject({ committed: true, rows: 2, created: 2, invalid: 0 });
    expect(await patientCount()).toBe(2);
  });

  it('the admin imports appointments by CSV: an unknown MRN is refused naming the row, nothing imported', async () => {
    const header = 'mrn,starts_at,status,provider,location';
    const good = `${DANA.mrn},2026-12-01T09:30:00-06:00,booked,,Riverside Main`;
    const bad = await csvImport('/api/appointments/import?dryRun=false', [header, good, 'R-404,2026-12-02T10:00:00-06:00,booked,,'].join('\n'));
    expect(bad.message).toBe('row 3: mrn: no patient with this MRN; nothing was imported');
    expect(await appointments()).toEqual([]);

    const done = await csvImport('/api/appointments/import?dryRun=false', [header, good].join('\n'));
    expect(done.report).toMatchObject({ committed: true, created: 1 });
    expect((await appointments()).map((a) => a.startsAt)).toEqual(['2026-12-01T15:30:00.000Z']);
  });

  it('the admin imports a patient and an appointment from FHIR NDJSON: a bad line is refused naming it, nothing imported', async () => {
    const patient = {
      resourceType: 'Patient',
      id: 'ehr-7',
      identifier: [{ system: MRN_SYSTEM, value: 'R-200' }],
      name: [{ use: 'official', family: 'Chalmers', given: ['Peter'] }],
      birthDate: '1974-12-25',
      telecom: [{ system: 'phone', value: '(312) 555-0186', use: 'mobile' }],
    };
    const appointment = { resourceType: 'Appointment', id: 'ehr-appt-7', status: 'booked', start: '2026-12-03T16:00:00Z', participant: [{ actor: { reference: 'Patient/ehr-7' }, status: 'accepted' }] };
    const importUrl = (resource: string): string => `/api/fhir/import?resource=${resource}&mrnSystem=${encodeURIComponent(MRN_SYSTEM)}`;

    const broken = await admin('POST', importUrl('Patient'), { ndjson: `${JSON.stringify(patient)}\n{"resourceType": "Patient",\n` });
    expect(broken).toMatchObject({ status: 400, body: { message: 'line 2: not JSON; nothing was imported' } });
    expect(await patientCount()).toBe(2);

    const patients = await admin('POST', importUrl('Patient'), { ndjson: `${JSON.stringify(patient)}\n` });
    expect(patients.body).toMatchObject({ committed: true, resources: 1, created: 1, invalid: 0 });
    const appts = await admin('POST', importUrl('Appointment'), { ndjson: `${JSON.stringify(appointment)}\n` });
    expect(appts.body).toMatchObject({ committed: true, resources: 1, created: 1, invalid: 0 });
    expect(await patientCount()).toBe(3);
    expect((await appointments()).map((a) => a.startsAt).sort()).toEqual(['2026-12-01T15:30:00.000Z', '2026-12-03T16:00:00.000Z']);
  });

  it('the admin adds a contact and uploads its phone tree (the template plus a transfer to the contact), then runs it on the main line', async () => {
    const badContact = await admin('PUT', `/api/practices/${practiceId}/contacts/nurse_line`, { json: { label: 'Nurse line', number: '312-555-0175' } });
    expect(badContact.status).toBe(400);
    expect(String(badContact.body.message)).toMatch(/^number: /);
    expect((await admin('PUT', `/api/practices/${practiceId}/contacts/nurse_line`, { json: { label: 'Nurse line', number: NURSE_LINE } })).status).toBe(201);

    const template = await admin('GET', '/api/flows/after-hours/source');
    expect(template.status).toBe(200);
    const source = withNurseLine(template.text);
    const refused = await admin('POST', `/api/practices/${practiceId}/flows`, { json: { format: 'yaml', source: source.replace('contact: nurse_line', 'contact: night_nurse') } });
    expect(refused.status).toBe(400);
    expect(refused.body.problems).toEqual([expect.objectContaining({ file: 'upload', node: 'nurse_line', message: expect.stringContaining('no contact "night_nurse"') })]);

    const uploaded = await admin('POST', `/api/practices/${practiceId}/flows`, { json: { format: 'yaml', source } });
    expect(uploaded.status).toBe(201);
    expect(uploaded.body).toMatchObject({ flowId: 'riverside', version: 1 });
    const activated = await admin('PUT', `${lineUrl(MAIN)}/flow`, { json: { flowId: 'riverside', version: 1 } });
    expect(activated.body).toMatchObject({ flowId: 'riverside', version: 1, builtIn: false });
  });

  it('an imported patient calls, verifies by date of birth and hears the imported appointment', async () => {
    const sim = simulatorFor(h, () => now);
    // 1 English, 3 appointments, 1 hear my next appointment, date of birth, 9 end the call.
    const call = await sim.placeCall({ from: DANA.phone, to: MAIN, digits: ['1', '3', '1', DANA.dobKeys, '9'] });
    expect(call.errors).toEqual([]);
    calls.verified = call.callSid;
    const text = heard(call);
    expect(text).toContain('Thank you for calling Riverside Pediatrics.');
    expect(text).toContain('For the nurse line, press 6.');
    expect(text).toContain('Your next appointment is on Tuesday, December 1 at 9:30 AM.');

    // The FHIR-imported patient hears the appointment that came with it (10:00 in Chicago).
    const fhirCall = await sim.placeCall({ from: '+13125550186', to: MAIN, digits: ['1', '3', '1', '12251974#', '9'] });
    expect(heard(fhirCall)).toContain('Your next appointment is on Thursday, December 3 at 10:00 AM.');
  });

  it('the new option transfers the caller to the contact', async () => {
    const sim = simulatorFor(h, () => now);
    const call = await sim.placeCall({ from: DANA.phone, to: MAIN, digits: ['1', '6'], dialOutcomes: [{ status: 'completed' }] });
    expect(call.errors).toEqual([]);
    calls.transferred = call.callSid;
    expect(heard(call)).toContain('Connecting you to the nurse line.');
    expect(dials(call)).toEqual([[NURSE_LINE]]);
  });

  it('the calls are on record in GET /api/calls: the number to call back, the patient, the path by option name, the outcome', async () => {
    const res = await admin('GET', '/api/calls');
    expect(res.status).toBe(200);
    const listed = res.body.calls as Array<{ callSid: string; callerNumber: string | null; patient: { match: string }; path: string[]; outcome: string | null; durationSeconds: number | null }>;
    const verified = listed.find((c) => c.callSid === calls.verified);
    expect(verified).toMatchObject({ callerNumber: DANA.phone, patient: { match: 'verified' } });
    expect(verified?.path).toEqual(expect.arrayContaining(['appointments_menu']));
    expect(verified?.durationSeconds).toBeGreaterThan(0);
    const transferred = listed.find((c) => c.callSid === calls.transferred);
    expect(transferred).toMatchObject({ callerNumber: DANA.phone, path: ['nurse_line'], outcome: 'transferred' });
  });
});
