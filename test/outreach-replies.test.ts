import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { captureLogs } from '../src/log/logger.js';
import { createAppointment } from '../src/patients/appointments.js';
import { createPatient, phoneIndex } from '../src/patients/store.js';
import { OPT_OUT_KEY } from '../src/drops/templates.js';
import { DEMO } from '../src/practices/seed.js';
import type { Practice } from '../src/practices/store.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { openPatientText } from '../src/texts/patient-texts.js';
import { CONFIRMED_REPLY, REPLY_WINDOW_MS } from '../src/outreach/replies.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { until } from './support/until.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, type Harness } from './support/harness.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { postTwilio } from './support/twilio-request.js';

/**
 * Replies to outreach (issue 15, item 5): real PostgreSQL, Redis, queues and workers; the Twilio
 * REST API is the loopback double. Patients get an SMS appointment reminder (or a recall) from a
 * campaign, then text back: "c" confirms their own appointment (audited, a short reply, the
 * ledger row marked replied); a question becomes an outreach_reply task with the text sealed; a
 * "C" to a recall has nothing to confirm and is a text; a "C" from a number that got no outreach
 * is an ordinary patient text. Nothing of a patient is logged.
 */

// Tuesday 2026-12-01 15:00Z: 10:00 in New York.
const now = new Date('2026-12-01T15:00:00Z');
const MG = `MG${'0123456789abcdef'.repeat(2)}`;
const PHONES = { confirms: '+12025550161', asks: '+12025550162', recalled: '+12025550163', optsOut: '+12025550164' } as const;
type Who = keyof typeof PHONES;
const STRANGER = '+12025550169';
const QUESTION = 'Can the doctor call me about my rash?';
const ids = {} as Record<Who, string>;
const appointmentOf = {} as Record<Who, string>;
let h: Harness;
let twilioApi: TwilioDouble;
let practice: Practice;
let admin: string;
const logs = captureLogs();

const sid = (prefix: string): string => prefix + randomBytes(16).toString('hex');
const api = (method: string, path: string, body?: unknown): Promise<ApiAnswer> => callApi(h, method, path, admin, body);

function replyOf(twiml: string): string | null {
  const m = /<Message>([\s\S]*)<\/Message>/.exec(twiml);
  return m?.[1]?.replaceAll('&amp;', '&') ?? null;
}

async function textFrom(from: string, body: string): Promise<{ messageSid: string; reply: string | null }> {
  const messageSid = sid('SM');
  const res = await postTwilio(h, '/twilio/sms/incoming', { MessageSid: messageSid, AccountSid: TEST_ACCOUNT_SID, From: from, To: DEMO.number, Body: body, NumMedia: '0' });
  expect(res.status).toBe(200);
  return { messageSid, reply: replyOf(res.body) };
}

async function sendOf(who: Who) {
  return h.services.db.selectFrom('outreach_sends').selectAll().where('patient_id', '=', ids[who]).executeTakeFirstOrThrow();
}

async function taskOfText(messageSid: string) {
  const text = await until('the text and its task', async () => {
    const row = await h.services.db.selectFrom('patient_texts').selectAll().where('message_sid', '=', messageSid).executeTakeFirst();
    return row?.task_id ? row : undefined;
  });
  const task = await h.services.db.selectFrom('callback_tasks').selectAll().where('id', '=', text.task_id ?? '').executeTakeFirstOrThrow();
  return { text, task };
}

async function runCampaign(templateId: string, who: Who[]): Promise<void> {
  const created = await api('POST', '/api/campaigns', { name: `Text ${templateId}`, templateId, provider: 'twilio', channel: 'sms', patientIds: who.map((w) => ids[w]) });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const before = (await h.services.db.selectFrom('audit_log').select('seq').where('action', '=', 'sms.sent').execute()).length;
  expect((await api('POST', `/api/campaigns/${String(created.body.id)}/start`)).status).toBe(200);
  await until('the campaign sent', async () => (await h.services.db.selectFrom('audit_log').select('seq').where('action', '=', 'sms.sent').execute()).length === before + who.length);
}

beforeAll(async () => {
  twilioApi = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  h = await startHarness('outreach-replies', { TWILIO_API_BASE_URL: twilioApi.baseUrl }, { clock: () => now });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practice = h.services.seeded;
  admin = (await createApiKey(h.services.db, { role: 'admin', practiceId: practice.id })).key;
  expect((await api('PATCH', `/api/practices/${practice.id}`, { messagingServiceSid: MG })).status).toBe(200);
  expect((await api('POST', '/api/consent-disclosures', { version: 'sms-2026-12', channel: 'sms', text: 'I agree that Demo Family Medicine may text this number about appointments and recalls. Reply STOP to stop.' })).status).toBe(201);
  expect((await api('POST', '/api/vendor-baas', { vendor: 'twilio', signedAt: '2026-09-01', documentRef: 'twilio-baa' })).status).toBe(201);
  for (const who of Object.keys(PHONES) as Who[]) {
    ids[who] = await createPatient(h.services.db, h.services.keyring, { practiceId: practice.id, phone: PHONES[who], firstName: `Quill${who}`, dateOfBirth: '1980-05-06' });
    const res = await api('POST', `/api/patients/${ids[who]}/consents`, { channel: 'sms', action: 'granted', source: 'web_form', disclosureVersion: 'sms-2026-12', evidenceRef: `form-${who}` });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    // Two appointments each: the reminder speaks of the first; a reply must confirm that one only.
    appointmentOf[who] = await createAppointment(h.services.db, { practiceId: practice.id, patientId: ids[who], startsAt: new Date('2026-12-03T15:00:00Z') });
    await createAppointment(h.services.db, { practiceId: practice.id, patientId: ids[who], startsAt: new Date('2026-12-20T15:00:00Z') });
  }
  await runCampaign('sms-appointment-reminder', ['confirms', 'asks', 'optsOut']);
  await runCampaign('sms-recall', ['recalled']);
});

afterAll(async () => {
  logs.restore();
  await h?.close();
  await twilioApi?.close();
});

describe('a reply to an appointment reminder', () => {
  it('the ledger row names the appointment the reminder spoke of', async () => {
    expect(await sendOf('confirms')).toMatchObject({ message_type: 'appointment_reminder', appointment_id: appointmentOf.confirms, replied_at: null });
    expect(await sendOf('recalled')).toMatchObject({ message_type: 'recall', appointment_id: null });
  });

  it('"c" confirms it: status, audit, a short reply with no day or time, the ledger row marked replied', async () => {
    const { messageSid, reply } = await textFrom(PHONES.confirms, ' c ');
    expect(reply).toBe(CONFIRMED_REPLY);
    const appts = await h.services.db.selectFrom('appointments').select(['id', 'status']).where('patient_id', '=', ids.confirms).orderBy('starts_at').execute();
    expect(appts).toEqual([
      { id: appointmentOf.confirms, status: 'confirmed' },
      { id: expect.any(String), status: 'booked' },
    ]);
    const send = await sendOf('confirms');
    expect(send.replied_at).toEqual(now);
    const audit = await h.services.db.selectFrom('audit_log').select(['action', 'actor', 'subject_id', 'details']).where('action', 'in', ['appointment.confirmed', 'outreach.replied']).where('practice_id', '=', practice.id).orderBy('seq').execute();
    expect(audit).toEqual([
      { action: 'outreach.replied', actor: 'twilio', subject_id: send.id, details: { patientId: ids.confirms, origin: send.origin, messageType: 'appointment_reminder', channel: 'sms' } },
      { action: 'appointment.confirmed', actor: 'twilio', subject_id: appointmentOf.confirms, details: { source: 'sms_reply', patientId: ids.confirms, sendId: send.id, messageSid } },
    ]);
    // A confirmation is not a patient's text: nothing stored, no task.
    expect(await h.services.db.selectFrom('patient_texts').select('id').where('message_sid', '=', messageSid).execute()).toEqual([]);

    // "CONFIRM" again: already confirmed; the same reply, nothing audited twice.
    expect((await textFrom(PHONES.confirms, 'CONFIRM')).reply).toBe(CONFIRMED_REPLY);
    const again = await h.services.db.selectFrom('audit_log').select('action').where('action', 'in', ['appointment.confirmed', 'outreach.replied']).where('practice_id', '=', practice.id).execute();
    expect(again).toHaveLength(2);
  });

  it('a question becomes an outreach_reply task (reason appointment) with the text sealed, and gets the automatic reply; nothing logged', async () => {
    // The maintenance queue held: the webhook answers having stored the text and queued its job, and marks nothing.
    await h.services.queues.maintenance.pause();
    const { messageSid, reply } = await textFrom(PHONES.asks, QUESTION);
    expect(reply).toContain('we received your message');
    expect((await sendOf('asks')).replied_at).toBeNull();
    const stored = await h.services.db.selectFrom('patient_texts').select(['id', 'outreach_send_id']).where('message_sid', '=', messageSid).executeTakeFirstOrThrow();
    expect(stored.outreach_send_id).toBeNull();
    expect(await h.services.queues.maintenance.getJob(`task-patient_text-${stored.id}`)).toBeDefined();
    await h.services.queues.maintenance.resume();
    // The job marks the ledger row replied, at the text's time, and links the text to it.
    const { text, task } = await taskOfText(messageSid);
    const send = await sendOf('asks');
    expect(text.outreach_send_id).toBe(send.id);
    expect(send.replied_at).toEqual(now);
    expect(task).toMatchObject({ source: 'outreach_reply', source_id: text.id, reason: 'appointment', urgency: 'routine', patient_id: ids.asks, match: 'number' });
    expect(JSON.stringify(text) + (text.body_enc?.toString('latin1') ?? '')).not.toContain('rash');
    expect(await openPatientText(h.services.keyring, tenantScope(h.services, practice.id), text.id)).toMatchObject({ body: QUESTION });
    // The appointment is untouched.
    expect((await h.services.db.selectFrom('appointments').select('status').where('id', '=', appointmentOf.asks).executeTakeFirstOrThrow()).status).toBe('booked');
    // Staff read the question on the task.
    const read = await api('GET', `/api/tasks/${task.id}`);
    expect(read.body).toMatchObject({ source: 'outreach_reply', patientText: { body: QUESTION } });
  });

  it('STOP is handled as before: an opt-out (which stops sequences), not a reply marked on the webhook', async () => {
    const { reply } = await textFrom(PHONES.optsOut, 'STOP');
    expect(reply).toBeNull();
    expect((await sendOf('optsOut')).replied_at).toBeNull();
    const optOut = await h.services.db.selectFrom('audit_log').select('action').where('action', '=', 'consent.opt_out').where('practice_id', '=', practice.id).execute();
    expect(optOut.length).toBeGreaterThan(0);
    expect((await h.services.db.selectFrom('appointments').select('status').where('id', '=', appointmentOf.optsOut).executeTakeFirstOrThrow()).status).toBe('booked');
  });
});

describe('a "C" with nothing to confirm', () => {
  it('answering a recall: a patient text, task outreach_reply with reason other; no appointment changes', async () => {
    const { messageSid, reply } = await textFrom(PHONES.recalled, 'C');
    expect(reply).not.toBe(CONFIRMED_REPLY);
    expect(reply).toContain('we received your message');
    const { task } = await taskOfText(messageSid);
    expect(task).toMatchObject({ source: 'outreach_reply', reason: 'other' });
    const appts = await h.services.db.selectFrom('appointments').select('status').where('patient_id', '=', ids.recalled).execute();
    expect(appts.map((a) => a.status)).toEqual(['booked', 'booked']);
    expect((await sendOf('recalled')).replied_at).toEqual(now);
  });

  it('from a number that got no outreach: an ordinary text and task; no ledger row replied', async () => {
    const before = await h.services.db.selectFrom('outreach_sends').select(['id', 'replied_at']).orderBy('id').execute();
    const { messageSid, reply } = await textFrom(STRANGER, 'C');
    expect(reply).toContain('we received your message');
    const { text, task } = await taskOfText(messageSid);
    expect(text.outreach_send_id).toBeNull();
    expect(task).toMatchObject({ source: 'patient_text', reason: 'other', match: 'unknown' });
    expect(await h.services.db.selectFrom('outreach_sends').select(['id', 'replied_at']).orderBy('id').execute()).toEqual(before);
  });

  it('after the reply window, a "C" to an old reminder is an ordinary text', async () => {
    const send = await sendOf('asks');
    // As if the reminder had gone out just over the window ago.
    await h.services.db.updateTable('outreach_sends').set({ sent_at: new Date(now.getTime() - REPLY_WINDOW_MS - 1000), replied_at: null }).where('id', '=', send.id).execute();
    const { messageSid } = await textFrom(PHONES.asks, 'c');
    const { task } = await taskOfText(messageSid);
    expect(task.source).toBe('patient_text');
    expect((await sendOf('asks')).replied_at).toBeNull();
    expect((await h.services.db.selectFrom('appointments').select('status').where('id', '=', appointmentOf.asks).executeTakeFirstOrThrow()).status).toBe('booked');
  });
});

describe('"1" on a voice prompt', () => {
  const VOICE_PHONES = { voice: '+12025550165', machine: '+12025550166' } as const;
  const voiceIds: Record<string, string> = {};
  const voiceAppointment: Record<string, string> = {};
  let calls: Array<{ to: string; path: string; sid: string; dropId: string }> = [];

  it('a person answering a Twilio appointment drop is asked to press 1; a machine only hears the message', async () => {
    for (const [who, phone] of Object.entries(VOICE_PHONES)) {
      voiceIds[who] = await createPatient(h.services.db, h.services.keyring, { practiceId: practice.id, phone, firstName: `Quill${who}`, dateOfBirth: '1980-05-06' });
      const res = await api('POST', `/api/patients/${voiceIds[who]}/consents`, { channel: 'rvm', action: 'granted', source: 'web_form', disclosureVersion: DEMO.rvmDisclosure.version, evidenceRef: `form-${who}` });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      voiceAppointment[who] = await createAppointment(h.services.db, { practiceId: practice.id, patientId: voiceIds[who] ?? '', startsAt: new Date('2026-12-04T15:00:00Z') });
    }
    const created = await api('POST', '/api/campaigns', { name: 'Reminder by phone', templateId: 'appointment-reminder', provider: 'twilio', humanAnswer: 'message', patientIds: Object.values(voiceIds) });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect((await api('POST', `/api/campaigns/${String(created.body.id)}/start`)).status).toBe(200);
    await until('two calls placed', async () => (await h.services.db.selectFrom('drops').select('id').where('campaign_id', '=', String(created.body.id)).where('provider_ref', 'is not', null).execute()).length === 2);
    const rows = await h.services.db.selectFrom('drops').select(['id', 'provider_ref', 'patient_id', 'appointment_id']).where('campaign_id', '=', String(created.body.id)).execute();
    calls = twilioApi.requests
      .filter((r) => r.path.endsWith('/Calls.json'))
      .map((r) => {
        const url = new URL(r.form.get('Url') ?? '');
        const dropId = url.searchParams.get('d') ?? '';
        return { to: r.form.get('To') ?? '', path: url.pathname + url.search, dropId, sid: rows.find((d) => d.id === dropId)?.provider_ref ?? '' };
      });
    for (const who of Object.keys(VOICE_PHONES)) expect(rows.find((d) => d.patient_id === voiceIds[who])?.appointment_id).toBe(voiceAppointment[who]);

    const person = calls.find((c) => c.to === VOICE_PHONES.voice);
    const machine = calls.find((c) => c.to === VOICE_PHONES.machine);
    if (!person || !machine) throw new Error('calls missing');
    const heard = await postTwilio(h, person.path, { CallSid: person.sid, AccountSid: TEST_ACCOUNT_SID, AnsweredBy: 'human', CallStatus: 'in-progress' });
    expect(heard.body).toMatch(/<Gather[^>]*numDigits="1"[^>]*>.*reminder of your appointment.*To confirm your appointment, press 1\..*<\/Gather><Hangup\/>/s);
    expect(heard.body).toContain(`/twilio/rvm/confirm?d=${person.dropId}`);
    const left = await postTwilio(h, machine.path, { CallSid: machine.sid, AccountSid: TEST_ACCOUNT_SID, AnsweredBy: 'machine_end_beep', CallStatus: 'in-progress' });
    expect(left.body).toContain('reminder of your appointment');
    expect(left.body).not.toContain('<Gather');
  });

  it('pressing 1 confirms the appointment (audited, source voice_keypress) and says so; another key, or a forged call, confirms nothing', async () => {
    const person = calls.find((c) => c.to === VOICE_PHONES.voice);
    if (!person) throw new Error('call missing');
    const confirmPath = `/twilio/rvm/confirm?d=${person.dropId}`;
    const forged = await postTwilio(h, confirmPath, { CallSid: `CA${'9'.repeat(32)}`, AccountSid: TEST_ACCOUNT_SID, Digits: '1', CallStatus: 'in-progress' });
    expect(forged.body).not.toContain('confirmed');
    const other = await postTwilio(h, confirmPath, { CallSid: person.sid, AccountSid: TEST_ACCOUNT_SID, Digits: '2', CallStatus: 'in-progress' });
    expect(other.body).toContain('Goodbye');
    expect(other.body).not.toContain('confirmed');
    expect((await h.services.db.selectFrom('appointments').select('status').where('id', '=', voiceAppointment.voice ?? '').executeTakeFirstOrThrow()).status).toBe('booked');

    const pressed = await postTwilio(h, confirmPath, { CallSid: person.sid, AccountSid: TEST_ACCOUNT_SID, Digits: '1', CallStatus: 'in-progress' });
    expect(pressed.status).toBe(200);
    expect(pressed.body).toContain('Thank you, your appointment is confirmed.');
    expect(pressed.body).toContain('<Hangup/>');
    expect((await h.services.db.selectFrom('appointments').select('status').where('id', '=', voiceAppointment.voice ?? '').executeTakeFirstOrThrow()).status).toBe('confirmed');
    const audit = await h.services.db.selectFrom('audit_log').select(['actor', 'details']).where('action', '=', 'appointment.confirmed').where('subject_id', '=', voiceAppointment.voice ?? '').execute();
    expect(audit).toEqual([{ actor: 'twilio', details: { source: 'voice_keypress', patientId: voiceIds.voice, dropId: person.dropId, campaignId: expect.any(String), callSid: person.sid } }]);
    // The opt-out key the message names is heard at this prompt too: the number goes on the opt-out list.
    const optOut = await postTwilio(h, confirmPath, { CallSid: person.sid, AccountSid: TEST_ACCOUNT_SID, Digits: OPT_OUT_KEY, CallStatus: 'in-progress' });
    expect(optOut.body).toContain('You will not receive these messages again.');
    const listed = await h.services.db.selectFrom('opt_outs').select(['source', 'recorded_by']).where('phone_index', '=', phoneIndex(h.services.keyring, VOICE_PHONES.voice)).execute();
    expect(listed).toEqual([{ source: 'keypad', recorded_by: `call:${person.sid}` }]);
    // Confirmed now: a second answer of the same call no longer asks.
    const again = await postTwilio(h, person.path, { CallSid: person.sid, AccountSid: TEST_ACCOUNT_SID, AnsweredBy: 'human', CallStatus: 'in-progress' });
    expect(again.body).not.toContain('<Gather');
  });
});

describe('privacy', () => {
  it('no number, name or text in the logs or the audit of replies', async () => {
    const audit = await h.services.db.selectFrom('audit_log').select('details').where('action', 'in', ['appointment.confirmed', 'outreach.replied', 'task.created', 'text.received']).execute();
    const seen = logs.lines().join('\n') + JSON.stringify(audit);
    for (const secret of [...Object.values(PHONES), STRANGER, 'rash', 'Quill', QUESTION]) expect(seen).not.toContain(secret);
    for (const phone of [...Object.values(PHONES), STRANGER]) expect(seen).not.toContain(phone.slice(2));
  });
});
