import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { sealCallerNumber } from '../src/calls/caller-number.js';
import { captureLogs } from '../src/log/logger.js';
import { sealTaskField } from '../src/tasks/sealed.js';
import { asOwner, DEFAULT_TEST_NOW, startHarness, type Harness } from './support/harness.js';
import { consoleCall, staffSessionFor } from './support/staff-session.js';
import { randomSid } from './support/twilio-request.js';

/**
 * GET /api/pages/:pageId (issue 14): one page as the doctor's page view shows it, without listing
 * the practice's pages and voicemails to find it. The voicemail the page announces and its task by
 * id; the number to call back as the task shows it (else the caller's), in full for staff and
 * masked for an auditor; who acknowledged, by name; the read of a number audited without it.
 */

const CALLER = '+12025550131';
const CALLBACK = '+12025550132';
const now = DEFAULT_TEST_NOW;

let h: Harness;
let practiceId: string;
let staffKey: string;
let auditorKey: string;
let session: { cookie: string; csrf: string };
let logs: ReturnType<typeof captureLogs>;

/** An inbound call from CALLER (sealed), with the reason its path named; its sid. */
async function insertCall(reason: 'refill' | 'billing'): Promise<string> {
  const callSid = randomSid('CA');
  const fromEnc = await sealCallerNumber(h.services.keyring, CALLER, practiceId);
  await asOwner(
    h.services.db,
    h.services.db.insertInto('calls').values({ call_sid: callSid, practice_id: practiceId, direction: 'inbound', from_enc: fromEnc, from_index: null, to_number: '+12025550100', status: 'completed', status_history: JSON.stringify([]), patient_id: null, match: 'unknown', outcome: 'urgent_voicemail', duration_seconds: 60, reason }),
  );
  return callSid;
}

async function insertPage(callSid: string, referenceCode: string): Promise<string> {
  const id = randomUUID();
  await asOwner(h.services.db, h.services.db.insertInto('pages').values({ id, practice_id: practiceId, call_sid: callSid, policy_id: null, reference_code: referenceCode, status: 'open', rounds_sent: 99, acknowledged_at: null, acknowledged_by: null }));
  return id;
}

async function get(path: string, key: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const answer = await consoleCall(h, 'GET', path, { key, origin: null });
  return { status: answer.status, body: answer.body };
}

function pageReads(pageId: string) {
  return h.services.db.selectFrom('audit_log').select(['action', 'actor', 'call_sid', 'details']).where('action', '=', 'page.read').where('subject_id', '=', pageId).execute();
}

beforeAll(async () => {
  logs = captureLogs();
  h = await startHarness('page_by_id', {}, { clock: () => now });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practiceId = h.services.seeded.id;
  staffKey = (await createApiKey(h.services.db, { role: 'staff', practiceId })).key;
  auditorKey = (await createApiKey(h.services.db, { role: 'auditor', practiceId })).key;
  const staff = await staffSessionFor(h, practiceId, { email: 'robin@demo.example', displayName: 'Robin Staff' });
  session = { cookie: staff.cookie, csrf: staff.csrf };
});
afterAll(async () => {
  logs?.restore();
  await h?.close();
});

describe('GET /api/pages/:pageId', () => {
  let callSid = '';
  let pageId = '';
  let voicemailId = '';
  let taskId = '';

  beforeAll(async () => {
    callSid = await insertCall('refill');
    pageId = await insertPage(callSid, '481516');
    voicemailId = randomUUID();
    taskId = randomUUID();
    const callbackEnc = await sealTaskField(h.services.keyring, 'callback', CALLBACK, taskId, practiceId);
    await asOwner(
      h.services.db,
      h.services.db.insertInto('voicemails').values({ id: voicemailId, practice_id: practiceId, call_sid: callSid, recording_sid: randomSid('RE'), reference_code: '481516', urgency: 'urgent', duration_seconds: 12, state: 'complete' }),
      h.services.db.insertInto('callback_tasks').values({ id: taskId, practice_id: practiceId, source: 'voicemail', source_id: voicemailId, call_sid: callSid, reason: 'clinical', urgency: 'urgent', callback_enc: callbackEnc, callback_index: null, patient_id: null, match: 'unknown', due_at: now }),
    );
  });

  it("staff: the page, its voicemail and task by id, the task's number in full and reason; the read audited without the number", async () => {
    const res = await get(`/api/pages/${pageId}`, staffKey);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      id: pageId,
      callSid,
      referenceCode: '481516',
      status: 'open',
      roundsSent: 99,
      adminPaged: false,
      createdAt: expect.any(String),
      acknowledgedAt: null,
      acknowledgedBy: null,
      acknowledgedByName: null,
      reason: 'clinical',
      urgency: 'urgent',
      voicemail: { id: voicemailId, state: 'complete' },
      task: { id: taskId, status: 'open' },
      callbackNumber: CALLBACK,
    });
    const reads = await pageReads(pageId);
    expect(reads).toEqual([{ action: 'page.read', actor: expect.stringMatching(/^api_key:/), call_sid: callSid, details: { view: 'full', numberOpened: true } }]);
    expect(JSON.stringify(reads)).not.toContain(CALLBACK.slice(2));
  });

  it('an auditor: the number masked, nothing opened, no read of PHI recorded', async () => {
    const before = (await pageReads(pageId)).length;
    const res = await get(`/api/pages/${pageId}`, auditorKey);
    expect(res.status).toBe(200);
    expect(res.body.callbackNumber).toBe('masked');
    expect(JSON.stringify(res.body)).not.toContain(CALLBACK.slice(2));
    expect((await pageReads(pageId)).length).toBe(before);
  });

  it("a page with no voicemail yet: the caller's number and the call's reason, no voicemail or task", async () => {
    const bare = await insertPage(await insertCall('billing'), '623442');
    const res = await get(`/api/pages/${bare}`, staffKey);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ voicemail: null, task: null, reason: 'billing', urgency: null, callbackNumber: CALLER });
  });

  it("a task with no callback number: the caller's number, as for a page with no task", async () => {
    const sid = await insertCall('refill');
    const page = await insertPage(sid, '735911');
    const vm = randomUUID();
    const task = randomUUID();
    await asOwner(
      h.services.db,
      h.services.db.insertInto('voicemails').values({ id: vm, practice_id: practiceId, call_sid: sid, recording_sid: randomSid('RE'), reference_code: '735911', urgency: 'routine', duration_seconds: 9, state: 'complete' }),
      h.services.db.insertInto('callback_tasks').values({ id: task, practice_id: practiceId, source: 'voicemail', source_id: vm, call_sid: sid, reason: 'refill', urgency: 'routine', callback_enc: null, callback_index: null, patient_id: null, match: 'unknown', due_at: now }),
    );
    const res = await get(`/api/pages/${page}`, staffKey);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ task: { id: task, status: 'open' }, voicemail: { id: vm, state: 'complete' }, callbackNumber: CALLER });
    expect(await pageReads(page)).toEqual([{ action: 'page.read', actor: expect.stringMatching(/^api_key:/), call_sid: sid, details: { view: 'full', numberOpened: true } }]);
  });

  it('acknowledged: when and by whom, by name', async () => {
    const ack = await consoleCall(h, 'POST', `/api/pages/${pageId}/ack`, { body: {}, ...session });
    expect(ack.status).toBe(200);
    const res = await get(`/api/pages/${pageId}`, staffKey);
    expect(res.body).toMatchObject({ status: 'acknowledged', acknowledgedAt: now.toISOString(), acknowledgedBy: expect.stringMatching(/^user:/), acknowledgedByName: 'Robin Staff' });
  });

  it('an unknown page is 404; a bad id 400 naming the field', async () => {
    expect(await get(`/api/pages/${randomUUID()}`, staffKey)).toEqual({ status: 404, body: { error: 'not_found' } });
    expect(await get('/api/pages/481516', staffKey)).toEqual({ status: 400, body: { error: 'bad_request', message: 'pageId must be a UUID' } });
  });

  it('no number reached the logs', () => {
    const text = logs.lines().join('\n');
    expect(text).not.toContain(CALLER.slice(2));
    expect(text).not.toContain(CALLBACK.slice(2));
  });
});
