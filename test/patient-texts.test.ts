import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../src/adapters/postgres.js';
import { createApiKey } from '../src/auth/api-keys.js';
import { createApp } from '../src/http/app.js';
import { listen, type RunningServer } from '../src/http/server.js';
import { captureLogs } from '../src/log/logger.js';
import { DEMO } from '../src/practices/seed.js';
import { updatePractice } from '../src/practices/store.js';
import { phoneIndex } from '../src/patients/store.js';
import type { Services } from '../src/services.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { openPatientText } from '../src/texts/patient-texts.js';
import { sweepMissingTextTasks } from '../src/tasks/background.js';
import { callbackTaskJobId } from '../src/tasks/queue-task.js';
import { readTask } from '../src/tasks/work.js';
import { DEFAULT_AUTO_REPLY, SmsAutoReplySchema } from '../src/texts/replies.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { TEST_IDENTITIES } from './support/simulate.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { postTwilio } from './support/twilio-request.js';
import { until } from './support/until.js';
import twilio from 'twilio';

/**
 * Patient texts are never dropped (issue 13, item 6): a text to a practice number is stored
 * sealed before Twilio is answered, then answered with the practice's automatic reply; a retry
 * (same MessageSid) stores nothing twice; HELP and START are answered as carriers expect, STOP
 * as before; a picture gets the media reply and is never fetched; a text that cannot be stored
 * is answered 503, and the SMS fallback tells the patient. Real PostgreSQL and Redis; the
 * Twilio REST API is the loopback double (it would see any media fetch).
 */

const PRACTICE = DEMO.number;
const PATIENT = DEMO.patient.phone;
const STRANGER = '+12025550188';
const SECRET_TEXT = 'My son Avery has a fever of 103, please call me back';

let h: Harness;
let double: TwilioDouble;
let practiceId: string;
const extra: RunningServer[] = [];

beforeAll(async () => {
  double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  h = await startHarness('patient_texts', { TWILIO_API_BASE_URL: double.baseUrl });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practiceId = h.services.seeded.id;
});
afterAll(async () => {
  for (const s of extra) await s.drain(500);
  await h?.close();
  await double?.close();
});

function sid(prefix: 'SM' | 'MM' = 'SM'): string {
  return `${prefix}${randomBytes(16).toString('hex')}`;
}

function text(body: string, overrides: Record<string, string> = {}): Record<string, string> {
  return { MessageSid: sid(), AccountSid: TEST_ACCOUNT_SID, From: PATIENT, To: PRACTICE, Body: body, NumMedia: '0', ...overrides };
}

async function textRows(messageSid: string) {
  return h.services.db.selectFrom('patient_texts').selectAll().where('message_sid', '=', messageSid).execute();
}

/** The stored text once its task is made: by the job the webhook queued after answering (src/tasks/queue-task.ts). */
async function textWithTask(messageSid: string) {
  return until('the text and its task', async () => {
    const [row] = await textRows(messageSid);
    return row?.task_id ? row : undefined;
  });
}

/** What a <Message> says (the one reply), or null for an empty <Response/>. */
function replyOf(twiml: string): string | null {
  const m = /<Message>([\s\S]*)<\/Message>/.exec(twiml);
  return m?.[1]?.replaceAll('&amp;', '&') ?? null;
}

describe("a patient's text", () => {
  it('is stored sealed before the answer, answered with the automatic reply, and nothing of it is logged', async () => {
    const params = text(SECRET_TEXT);
    const logs = captureLogs();
    let res;
    try {
      res = await postTwilio(h, '/twilio/sms/incoming', params);
    } finally {
      logs.restore();
    }
    expect(res.status).toBe(200);
    expect(res.contentType).toContain('text/xml');
    expect(replyOf(res.body)).toBe(
      'Demo Family Medicine: we received your message. Our staff will call you back by the next business day. If this is an emergency, call 911. For an urgent medical question now, call 202-555-0100.',
    );

    const [row, ...more] = await textRows(params.MessageSid ?? '');
    expect(more).toEqual([]);
    if (!row) throw new Error('no row');
    expect(row).toMatchObject({ practice_id: practiceId, match: 'number', media_count: 0, body_chars: SECRET_TEXT.length });
    // Its task is made after the answer, by a job whose payload is ids only (BullMQ keeps it in clear).
    const job = await h.services.queues.maintenance.getJob(callbackTaskJobId('patient_text', row.id));
    expect(job?.data).toEqual({ task: 'callback-task', source: 'patient_text', practiceId, sourceId: row.id });
    // It became a routine callback task, linked back to the text.
    const linked = await textWithTask(params.MessageSid ?? '');
    const task = await h.services.db.selectFrom('callback_tasks').selectAll().where('id', '=', linked.task_id ?? '').executeTakeFirst();
    expect(task).toMatchObject({ source: 'patient_text', source_id: row.id, reason: 'other', urgency: 'routine', match: 'number', patient_id: row.patient_id, status: 'open' });
    expect(row.patient_id).not.toBeNull();
    expect(row.from_index).toBe(phoneIndex(h.services.keyring, PATIENT));
    // No plaintext in the row: neither the text nor the number, in any column.
    const raw = JSON.stringify(row) + (row.from_enc.toString('latin1') ?? '') + (row.body_enc?.toString('latin1') ?? '');
    for (const secret of [SECRET_TEXT, 'fever', PATIENT, PATIENT.slice(2)]) expect(raw).not.toContain(secret);
    // It opens with its own ids only.
    expect(await openPatientText(h.services.keyring, tenantScope(h.services, practiceId), row.id)).toEqual({ from: PATIENT, body: SECRET_TEXT, mediaCount: 0 });
    const moved = { ...linked, id: '00000000-0000-4000-8000-000000000000' };
    await h.services.db.insertInto('patient_texts').values({ ...moved, message_sid: sid() }).execute();
    await expect(openPatientText(h.services.keyring, tenantScope(h.services, practiceId), moved.id)).rejects.toThrow();

    // Audited by ids and codes; the logs and the audit never carry the text or the number.
    const audit = await h.services.db.selectFrom('audit_log').select(['action', 'actor', 'details']).where('subject_id', '=', row.id).execute();
    expect(audit).toEqual([{ action: 'text.received', actor: 'twilio', details: { match: 'number', mediaCount: 0, withText: true } }]);
    const seen = logs.lines().join('\n') + JSON.stringify(audit);
    for (const secret of [SECRET_TEXT, 'fever', ...TEST_IDENTITIES]) expect(seen).not.toContain(secret);
  });

  it("Twilio's retry (same MessageSid) gets the same answer and stores nothing twice", async () => {
    const params = text('Can someone call me about my refill?');
    const first = await postTwilio(h, '/twilio/sms/incoming', params);
    const again = await postTwilio(h, '/twilio/sms/incoming', params);
    expect(again.status).toBe(200);
    expect(again.body).toBe(first.body);
    const rows = await textRows(params.MessageSid ?? '');
    expect(rows).toHaveLength(1);
    const audits = await h.services.db.selectFrom('audit_log').select('seq').where('action', '=', 'text.received').where('subject_id', '=', rows[0]?.id ?? '').execute();
    expect(audits).toHaveLength(1);
  });

  it('from a number no patient has: stored as unknown; the practice template answers it', async () => {
    await updatePractice(tenantScope(h.services, practiceId), { smsAutoReply: '{practice_name}: message received; we call back within 2 hours. Emergency? Call 911.' });
    try {
      const params = text('Hello, is the office open tomorrow?', { From: STRANGER });
      const res = await postTwilio(h, '/twilio/sms/incoming', params);
      expect(replyOf(res.body)).toBe('Demo Family Medicine: message received; we call back within 2 hours. Emergency? Call 911.');
      expect(await textRows(params.MessageSid ?? '')).toEqual([expect.objectContaining({ match: 'unknown', patient_id: null })]);
    } finally {
      await updatePractice(tenantScope(h.services, practiceId), { smsAutoReply: null });
    }
  });

  it('the template is checked: it names 911, stays short, uses only its placeholders and carries nothing about a patient', () => {
    expect(SmsAutoReplySchema.safeParse(DEFAULT_AUTO_REPLY).success).toBe(true);
    expect(SmsAutoReplySchema.safeParse('We will call you back tomorrow.').success).toBe(false);
    expect(SmsAutoReplySchema.safeParse(`${'x'.repeat(320)} 911`).success).toBe(false);
    expect(SmsAutoReplySchema.safeParse('Hi {first_name}, call 911 in an emergency.').success).toBe(false);
    expect(SmsAutoReplySchema.safeParse('Dr. Smith will call back about your lab results. Emergency: 911.').success).toBe(false);
    expect(SmsAutoReplySchema.safeParse('Emergency: 911.\nSecond line').success).toBe(false);
  });
});

describe("a text's callback task", () => {
  it('is made by the task sweep for a text stored without one (its job lost or failed), once', async () => {
    const params = text('Please call me about my appointment', { From: STRANGER });
    await postTwilio(h, '/twilio/sms/incoming', params);
    const row = await textWithTask(params.MessageSid ?? '');
    if (!row.task_id) throw new Error('no task');
    // As if the job had been lost after the text was stored: the text without its task.
    await h.services.db.updateTable('patient_texts').set({ task_id: null }).where('id', '=', row.id).execute();
    await h.services.db.deleteFrom('callback_tasks').where('id', '=', row.task_id).execute();

    expect(await sweepMissingTextTasks(h.services)).toEqual({ textTasks: 1 });
    const [after] = await textRows(params.MessageSid ?? '');
    const task = await h.services.db.selectFrom('callback_tasks').selectAll().where('id', '=', after?.task_id ?? '').executeTakeFirst();
    expect(task).toMatchObject({ source: 'patient_text', source_id: row.id, match: 'unknown', status: 'open' });
    const detail = await readTask(h.services, tenantScope(h.services, practiceId), task?.id ?? '', 'test', 'full');
    expect(detail?.callbackNumber).toBe(STRANGER);
    expect(await sweepMissingTextTasks(h.services)).toEqual({ textTasks: 0 });
  });

  it("GET /api/tasks/:id opens the patient's text for staff (audited as a PHI read), never for an auditor", async () => {
    const params = text(SECRET_TEXT, { From: STRANGER });
    await postTwilio(h, '/twilio/sms/incoming', params);
    const row = await textWithTask(params.MessageSid ?? '');
    if (!row.task_id) throw new Error('no task');
    const get = async (role: 'staff' | 'auditor') => {
      const { key } = await createApiKey(h.services.db, { role, practiceId });
      const res = await fetch(`${h.baseUrl}/api/tasks/${row.task_id}`, { headers: { authorization: `Bearer ${key}` } });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    expect(await get('staff')).toMatchObject({ status: 200, body: { source: 'patient_text', callbackNumber: STRANGER, patientText: { body: SECRET_TEXT, mediaCount: 0 } } });
    expect(await get('auditor')).toMatchObject({ status: 200, body: { callbackNumber: 'masked', patientText: null } });
    const reads = await h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'task.read').where('subject_id', '=', row.task_id).orderBy('seq').execute();
    expect(reads.map((r) => (r.details as { textOpened: boolean }).textOpened)).toEqual([true, false]);
    expect(JSON.stringify(reads)).not.toContain('fever');
  });

  it("is linked to its task by a foreign key (a task removed unlinks it) and goes with its practice (ON DELETE CASCADE)", async () => {
    const params = text('Is the clinic open Friday?', { From: STRANGER });
    await postTwilio(h, '/twilio/sms/incoming', params);
    const row = await textWithTask(params.MessageSid ?? '');
    if (!row.task_id) throw new Error('no task');
    await h.services.db.deleteFrom('callback_tasks').where('id', '=', row.task_id).execute();
    expect((await textRows(params.MessageSid ?? ''))[0]?.task_id).toBeNull();
    // A link to no task is refused.
    await expect(h.services.db.updateTable('patient_texts').set({ task_id: randomUUID() }).where('id', '=', row.id).execute()).rejects.toThrow(/foreign key/);
    const fks = await sql<{ col: string; target: string; on_delete: string }>`
      SELECT a.attname AS col, c.confrelid::regclass::text AS target, c.confdeltype AS on_delete
      FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
      WHERE c.contype = 'f' AND c.conrelid = ${`${h.schema}.patient_texts`}::regclass AND a.attname IN ('practice_id', 'task_id')
      ORDER BY a.attname
    `.execute(h.services.db);
    expect(fks.rows.map((r) => [r.col, r.target.replace(/^.*\./, ''), r.on_delete])).toEqual([
      ['practice_id', 'practices', 'c'],
      ['task_id', 'callback_tasks', 'n'],
    ]);
  });
});

describe('carrier keywords', () => {
  it('HELP and INFO: who is texting, how to reach the office, rates, how to opt out; nothing stored', async () => {
    for (const word of ['HELP', 'info', ' Help! ']) {
      const params = text(word);
      const res = await postTwilio(h, '/twilio/sms/incoming', params);
      expect(res.status).toBe(200);
      const reply = replyOf(res.body) ?? '';
      expect(reply).toContain('Demo Family Medicine');
      expect(reply).toContain('call 202-555-0100');
      expect(reply).toContain('911');
      expect(reply).toContain('Msg&data rates may apply.');
      expect(reply).toContain('Reply STOP to opt out.');
      expect(await textRows(params.MessageSid ?? '')).toEqual([]);
    }
  });

  it('STOP records the opt-out (no reply; later texts are kept, unanswered); START removes it, audited, and confirms', async () => {
    const number = '+12025550199';
    const optOut = () => h.services.db.selectFrom('opt_outs').select('source').where('practice_id', '=', practiceId).where('phone_index', '=', phoneIndex(h.services.keyring, number)).execute();
    const stop = await postTwilio(h, '/twilio/sms/incoming', text('STOP', { From: number }));
    expect(stop.status).toBe(200);
    expect(replyOf(stop.body)).toBeNull();
    expect(await optOut()).toEqual([{ source: 'sms_stop' }]);

    // Opted out: the text is still kept, but no reply goes to the number.
    const quiet = text('please call me', { From: number });
    const kept = await postTwilio(h, '/twilio/sms/incoming', quiet);
    expect(kept.status).toBe(200);
    expect(replyOf(kept.body)).toBeNull();
    expect(await textRows(quiet.MessageSid ?? '')).toHaveLength(1);

    // A stray DELETE of an opt-out is still refused.
    await expect(sql`DELETE FROM ${sql.id(h.schema, 'opt_outs')}`.execute(h.services.db)).rejects.toThrow(/append-only/);

    const start = await postTwilio(h, '/twilio/sms/incoming', text('Start', { From: number }));
    expect(start.status).toBe(200);
    expect(replyOf(start.body)).toBe('Demo Family Medicine: you will receive our messages again. Msg&data rates may apply. Reply HELP for help, STOP to opt out.');
    expect(await optOut()).toEqual([]);
    const removed = await h.services.db.selectFrom('audit_log').select(['actor', 'details']).where('action', '=', 'consent.opt_out_removed').execute();
    expect(removed).toEqual([{ actor: expect.stringMatching(/^sms:SM[0-9a-f]{32}$/), details: { source: 'sms_start', result: 'removed' } }]);

    // YES from a number that is not opted out is a patient's answer: kept, auto-replied, a task.
    const yes = text('Yes', { From: number });
    const answered = await postTwilio(h, '/twilio/sms/incoming', yes);
    expect(replyOf(answered.body)).toContain('911');
    expect((await textWithTask(yes.MessageSid ?? '')).task_id).not.toBeNull();
    // Opted out again, YES is a START.
    await postTwilio(h, '/twilio/sms/incoming', text('STOP', { From: number }));
    const yesStart = text('yes!', { From: number });
    expect(replyOf((await postTwilio(h, '/twilio/sms/incoming', yesStart)).body)).toContain('you will receive our messages again');
    expect(await optOut()).toEqual([]);
    expect(await textRows(yesStart.MessageSid ?? '')).toEqual([]);

    // Replies again; START once more changes nothing but says so in the audit.
    expect(replyOf((await postTwilio(h, '/twilio/sms/incoming', text('call me', { From: number }))).body)).toContain('911');
    await postTwilio(h, '/twilio/sms/incoming', text('UNSTOP', { From: number }));
    expect((await h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'consent.opt_out_removed').orderBy('seq').execute()).map((r) => r.details)).toEqual([
      { source: 'sms_start', result: 'removed' },
      { source: 'sms_start', result: 'removed' },
      { source: 'sms_start', result: 'none' },
    ]);
  });
});

describe('pictures and files', () => {
  it('get the reply asking the patient to call; the text part is stored; the media is never fetched nor stored', async () => {
    const mediaSid = `ME${randomBytes(16).toString('hex')}`;
    const messageSid = sid('MM');
    const mediaUrl = `${double.baseUrl}/2010-04-01/Accounts/${TEST_ACCOUNT_SID}/Messages/${messageSid}/Media/${mediaSid}`;
    const before = double.requests.length;
    const logs = captureLogs();
    let res;
    try {
      res = await postTwilio(h, '/twilio/sms/incoming', text('here is the rash', { MessageSid: messageSid, NumMedia: '1', MediaUrl0: mediaUrl, MediaContentType0: 'image/jpeg' }));
    } finally {
      logs.restore();
    }
    expect(res.status).toBe(200);
    expect(replyOf(res.body)).toBe('Demo Family Medicine: we cannot open pictures or files sent by text. Please call 202-555-0100 to tell us about it. If this is an emergency, call 911.');
    const [row] = await textRows(messageSid);
    expect(row).toMatchObject({ media_count: 1 });
    expect(await openPatientText(h.services.keyring, tenantScope(h.services, practiceId), row?.id ?? '')).toEqual({ from: PATIENT, body: 'here is the rash', mediaCount: 1 });
    // The double saw no request at all, let alone the media's; its URL is nowhere.
    expect(double.requests.slice(before)).toEqual([]);
    expect(logs.lines().join('\n')).not.toContain(mediaSid);
    expect(JSON.stringify(row)).not.toContain(mediaSid);

    // A picture alone: kept (no text), the same reply.
    const only = sid('MM');
    const bare = await postTwilio(h, '/twilio/sms/incoming', text('', { MessageSid: only, NumMedia: '2', MediaUrl0: mediaUrl, MediaUrl1: mediaUrl }));
    expect(replyOf(bare.body)).toContain('we cannot open pictures or files');
    expect(await textRows(only)).toEqual([expect.objectContaining({ media_count: 2, body_enc: null, body_chars: 0 })]);
    expect(double.requests.slice(before)).toEqual([]);
  });
});

describe('when the text cannot be stored', () => {
  it('the webhook answers 503, never 2xx; the SMS fallback tells the patient it was not received', async () => {
    // PostgreSQL refusing every connection (a closed loopback port).
    const down = createDb('postgres://postgres@127.0.0.1:9/test', h.schema, 1, { connectMs: 200 });
    const failing: Services = { ...h.services, db: down, audit: () => Promise.reject(new Error('audit unavailable')) };
    const server = await listen(createApp(failing), 0, '127.0.0.1');
    extra.push(server);
    const post = async (path: string, params: Record<string, string>): Promise<{ status: number; body: string }> => {
      const headers = { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(TEST_AUTH_TOKEN, `${TEST_PUBLIC_BASE_URL}${path}`, params) };
      const res = await fetch(`http://127.0.0.1:${server.port}${path}`, { method: 'POST', headers, body: new URLSearchParams(params).toString() });
      return { status: res.status, body: await res.text() };
    };
    const params = text(SECRET_TEXT);
    const logs = captureLogs();
    try {
      const first = await post('/twilio/sms/incoming', params);
      expect(first.status).toBe(503);
      expect(replyOf(first.body)).toBeNull();
      const fallback = await post('/twilio/sms/fallback', { ...params, ErrorCode: '11200', ErrorUrl: `${TEST_PUBLIC_BASE_URL}/twilio/sms/incoming` });
      expect(fallback.status).toBe(200);
      expect(replyOf(fallback.body)).toBe('We could not receive your message. If this is an emergency, call 911. Otherwise please call 202-555-0100.');
    } finally {
      logs.restore();
      await down.destroy();
    }
    for (const secret of [SECRET_TEXT, ...TEST_IDENTITIES]) expect(logs.lines().join('\n')).not.toContain(secret);
    expect(await textRows(params.MessageSid ?? '')).toEqual([]);

    // With the database back, the fallback stores it (the same MessageSid: once) and answers as the webhook would.
    const ok = await postTwilio(h, '/twilio/sms/fallback', { ...params, ErrorCode: '11200' });
    expect(ok.status).toBe(200);
    expect(replyOf(ok.body)).toContain('we received your message');
    expect(await textRows(params.MessageSid ?? '')).toHaveLength(1);
  });
});
