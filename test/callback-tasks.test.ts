import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import type { TaskSource } from '../src/adapters/db-schema.js';
import { createApiKey } from '../src/auth/api-keys.js';
import { formatTranscript } from '../devtools/simulator/simulator.js';
import { processMaintenanceJob } from '../src/maintenance.js';
import { captureLogs } from '../src/log/logger.js';
import { callbackTaskJobId } from '../src/tasks/queue-task.js';
import { sealCallbackNumber, storeCallbackNumber } from '../src/calls/callback-number.js';
import { openTaskField } from '../src/tasks/sealed.js';
import { sweepOverdueTasks } from '../src/tasks/overdue.js';
import { URGENT_CALLBACK_MINUTES } from '../src/tasks/due.js';
import { systemScope } from '../src/tenancy/system-scope.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { DEFAULT_TEST_NOW, startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, type Harness } from './support/harness.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { recordingSimulatorFor, TEST_IDENTITIES } from './support/simulate.js';
import { until } from './support/until.js';

/**
 * Callback tasks (issue 13, items 3 and 9), through the service as it runs: an after-hours call
 * that leaves a refill message becomes a routine task with its reason and due time; a caller who
 * hangs up at the menu becomes an abandoned-call task; staff claim, try and close a task through
 * the API (audited, with the key as the actor); an overdue task alerts once, with no PHI in the
 * SMS; the voicemail inbox lists the caller's number, reason, match and task, and filters the
 * unhandled.
 */

const PATIENT = '+12025550123';
const PRACTICE = '+12025550100';
/** Wed 2026-11-25 22:00 in New York: after hours, the night before Thanksgiving. */
let now = DEFAULT_TEST_NOW;

let h: Harness;
let double: TwilioDouble;
let practiceId: string;
let staff: { key: string; id: string };
let auditor: string;
let auditorId: string;

function api(method: string, path: string, key: string, body?: unknown): Promise<ApiAnswer> {
  return callApi(h, method, path, key, body);
}

function tasksOf(source: TaskSource) {
  return h.services.db.selectFrom('callback_tasks').selectAll().where('source', '=', source).orderBy('created_at').execute();
}

beforeAll(async () => {
  double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  h = await startHarness('callback_tasks', { TWILIO_API_BASE_URL: double.baseUrl }, { clock: () => now });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practiceId = h.services.seeded.id;
  const created = await createApiKey(h.services.db, { role: 'staff', practiceId });
  staff = { key: created.key, id: created.id };
  const auditorKey = await createApiKey(h.services.db, { role: 'auditor', practiceId });
  auditor = auditorKey.key;
  auditorId = auditorKey.id;
});
afterAll(async () => {
  await h?.close();
  await double?.close();
});

describe('callback tasks', () => {
  let messageTaskId = '';
  let voicemailId = '';

  it('an after-hours refill message becomes a routine task with its reason, the caller and a due time past the next opening', async () => {
    const { sim } = recordingSimulatorFor(h, double);
    // English, then "prescription refill": the office message box.
    const call = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '2'], recordings: [{ durationSeconds: 4, digits: '#' }] });
    expect(call.errors, formatTranscript(call)).toEqual([]);
    const [task] = await until('the message task', async () => {
      const rows = await tasksOf('message');
      return rows.length > 0 ? rows : undefined;
    });
    if (!task) throw new Error('unreachable');
    messageTaskId = task.id;
    voicemailId = task.source_id;
    const call_ = await h.services.db.selectFrom('calls').select(['reason', 'outcome']).where('call_sid', '=', call.callSid).executeTakeFirstOrThrow();
    expect(call_).toEqual({ reason: 'refill', outcome: 'message' });
    expect(task).toMatchObject({ practice_id: practiceId, call_sid: call.callSid, reason: 'refill', urgency: 'routine', status: 'open', match: 'number', assignee: null });
    // Thanksgiving (Thursday) is closed: Friday 08:00 in New York plus the default two hours.
    expect(task.due_at.toISOString()).toBe('2026-11-27T15:00:00.000Z');
    // The number is sealed, never stored in clear.
    expect(task.callback_enc).not.toBeNull();
    expect(task.callback_enc?.toString('latin1')).not.toContain(PATIENT);
    // The audit row follows the insert: wait for it, then there is exactly one.
    const audit = await until('the task.created audit', async () => {
      const rows = await h.services.db.selectFrom('audit_log').select(['actor', 'details']).where('action', '=', 'task.created').where('subject_id', '=', task.id).execute();
      return rows.length > 0 ? rows : undefined;
    });
    expect(audit).toHaveLength(1);
    expect(JSON.stringify(audit)).not.toContain(PATIENT.slice(2));
  });

  it('a call abandoned at the menu, past the greeting, becomes a task; one hung up during the greeting does not', async () => {
    const { sim } = recordingSimulatorFor(h, double);
    // English chosen, then the caller hangs up at the main menu.
    const abandoned = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1'], hangupAfterSteps: 2 });
    const early = await sim.placeCall({ from: PATIENT, to: PRACTICE, hangupAfterSteps: 1 });
    const rows = await until('the abandoned-call task', async () => {
      const r = await tasksOf('abandoned_call');
      return r.length > 0 ? r : undefined;
    });
    expect(rows.map((r) => r.source_id)).toEqual([abandoned.callSid]);
    expect(rows[0]).toMatchObject({ reason: 'other', urgency: 'routine', status: 'open', call_sid: abandoned.callSid });
    // Made after the status callback was answered, by a job whose payload is ids only (BullMQ keeps it in clear).
    const job = await h.services.queues.maintenance.getJob(callbackTaskJobId('abandoned_call', abandoned.callSid));
    expect(job?.data).toEqual({ task: 'callback-task', source: 'abandoned_call', practiceId, sourceId: abandoned.callSid });
    const outcomes = await h.services.db.selectFrom('calls').select(['call_sid', 'outcome']).where('call_sid', 'in', [abandoned.callSid, early.callSid]).execute();
    expect(outcomes.every((o) => o.outcome === 'abandoned_at_menu')).toBe(true);
  });

  it('claim → attempt → close through the API, audited with the key as actor; the number for staff, masked for an auditor', async () => {
    const actor = `api_key:${staff.id}`;
    const list = await api('GET', '/api/tasks?status=open&reason=refill', staff.key);
    expect(list.status).toBe(200);
    expect((list.body.tasks as Array<{ id: string }>).map((t) => t.id)).toEqual([messageTaskId]);

    const claimed = await api('POST', `/api/tasks/${messageTaskId}/claim`, staff.key);
    expect(claimed).toMatchObject({ status: 200, body: { status: 'claimed', assignee: actor } });
    const other = (await createApiKey(h.services.db, { role: 'provider', practiceId })).key;
    expect((await api('POST', `/api/tasks/${messageTaskId}/claim`, other)).status).toBe(409);
    expect((await api('GET', '/api/tasks?assignee=me', staff.key)).body.tasks).toMatchObject([{ id: messageTaskId }]);

    const attempt = await api('POST', `/api/tasks/${messageTaskId}/attempts`, staff.key, { outcome: 'no_answer', note: 'Rang out, left nothing' });
    expect(attempt).toMatchObject({ status: 201, body: { attempts: 1 } });
    expect((await api('POST', `/api/tasks/${messageTaskId}/attempts`, staff.key, { outcome: 'maybe' })).status).toBe(400);

    const detail = await api('GET', `/api/tasks/${messageTaskId}`, staff.key);
    expect(detail.body).toMatchObject({ callbackNumber: PATIENT, attemptList: [{ outcome: 'no_answer', actor, note: 'Rang out, left nothing' }] });
    const masked = await api('GET', `/api/tasks/${messageTaskId}`, auditor);
    expect(masked.body).toMatchObject({ callbackNumber: 'masked', attemptList: [{ note: null }] });
    expect((await api('POST', `/api/tasks/${messageTaskId}/close`, auditor, { outcome: 'done' })).status).toBe(403);

    const closed = await api('POST', `/api/tasks/${messageTaskId}/close`, staff.key, { outcome: 'done', note: 'Refill sent to pharmacy' });
    expect(closed).toMatchObject({ status: 200, body: { status: 'done', closedBy: actor } });
    expect((await api('POST', `/api/tasks/${messageTaskId}/close`, staff.key, { outcome: 'cancelled' })).status).toBe(409);

    const trail = await h.services.db
      .selectFrom('audit_log')
      .select(['action', 'actor', 'details'])
      .where('subject_id', '=', messageTaskId)
      .where('action', 'like', 'task.%')
      .orderBy('seq')
      .execute();
    expect(trail.map((r) => r.action)).toEqual(['task.created', 'task.claimed', 'task.attempt', 'task.read', 'task.read', 'task.closed']);
    expect(trail.filter((r) => r.action !== 'task.created').every((r) => r.actor.startsWith('api_key:'))).toBe(true);
    const text = JSON.stringify(trail);
    for (const phi of [PATIENT.slice(2), 'Rang out', 'pharmacy']) expect(text).not.toContain(phi);
    const sealed = await h.services.db.selectFrom('callback_task_attempts').select('note_enc').where('task_id', '=', messageTaskId).executeTakeFirstOrThrow();
    expect(sealed.note_enc?.toString('latin1')).not.toContain('Rang out');
  });

  it('routineCallbackHours is a validated practice setting', async () => {
    const admin = (await createApiKey(h.services.db, { role: 'admin', practiceId })).key;
    const refused = await api('PATCH', `/api/practices/${practiceId}`, admin, { routineCallbackHours: 73 });
    expect(refused.status).toBe(400);
    expect(String(refused.body.message)).toContain('routineCallbackHours');
    expect(await api('PATCH', `/api/practices/${practiceId}`, admin, { routineCallbackHours: 4 })).toMatchObject({ status: 200, body: { routineCallbackHours: 4 } });
    expect(await api('PATCH', `/api/practices/${practiceId}`, admin, { routineCallbackHours: 2 })).toMatchObject({ status: 200, body: { routineCallbackHours: 2 } });
  });

  it('an overdue task alerts once, by SMS to the practice admin, with counts and a console link only', async () => {
    const [abandoned] = await tasksOf('abandoned_call');
    if (!abandoned) throw new Error('no abandoned-call task');
    const smsBefore = double.requests.filter((q) => q.method === 'POST' && q.path.endsWith('/Messages.json')).length;
    now = new Date(abandoned.due_at.getTime() + 60_000);
    const logs = captureLogs();
    try {
      await processMaintenanceJob(h.services, { task: 'task-sweep' });
      await processMaintenanceJob(h.services, { task: 'task-sweep' });
    } finally {
      logs.restore();
    }
    // Nothing of the patient in what the sweep logged or audited either.
    const audited = await h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'task.overdue_alerted').where('subject_id', '=', abandoned.id).execute();
    expect(audited).toHaveLength(1);
    for (const out of [...logs.lines(), JSON.stringify(audited)]) for (const phi of TEST_IDENTITIES) expect(out, phi).not.toContain(phi);
    const sms = double.requests.filter((q) => q.method === 'POST' && q.path.endsWith('/Messages.json')).slice(smsBefore);
    expect(sms).toHaveLength(1);
    const body = sms[0]?.form.get('Body') ?? '';
    expect(sms[0]?.form.get('To')).toBe('+12025550113'); // the demo practice's admin
    expect(body).toContain('1 routine callback is overdue');
    expect(body).toContain(`/console/tasks/${abandoned.id}`);
    for (const phi of TEST_IDENTITIES) expect(body).not.toContain(phi);
    const row = await h.services.db.selectFrom('callback_tasks').select('alerted_at').where('id', '=', abandoned.id).executeTakeFirstOrThrow();
    expect(row.alerted_at?.toISOString()).toBe(now.toISOString());
    expect((await api('GET', '/api/tasks?overdue=true', staff.key)).body.tasks).toMatchObject([{ id: abandoned.id, overdue: true }]);
  });

  it('GET /api/voicemails: the number (masked for an auditor), reason, match and task; unhandled filters; ack keeps the actor and a sealed note', async () => {
    const list = await api('GET', '/api/voicemails', staff.key);
    const item = (list.body.voicemails as Array<Record<string, unknown>>).find((v) => v.id === voicemailId);
    expect(item).toMatchObject({ callerNumber: PATIENT, reason: 'refill', patient: { match: 'number' }, task: { id: messageTaskId, status: 'done' } });
    const masked = await api('GET', '/api/voicemails', auditor);
    expect((masked.body.voicemails as Array<Record<string, unknown>>).find((v) => v.id === voicemailId)).toMatchObject({ callerNumber: 'masked' });
    // The audit counts numbers opened only for the full view: the auditor's masked list opened none.
    const reads = await h.services.db.selectFrom('audit_log').select(['actor', 'details']).where('action', '=', 'voicemail.list_read').execute();
    expect(reads.find((r) => r.actor === `api_key:${staff.id}`)?.details).toMatchObject({ view: 'full' });
    expect((reads.find((r) => r.actor === `api_key:${staff.id}`)?.details as { numbersOpened: number }).numbersOpened).toBeGreaterThan(0);
    expect(reads.filter((r) => r.actor === `api_key:${auditorId}`)).toEqual([]);
    // Its task is done: not unhandled.
    const unhandled = await api('GET', '/api/voicemails?unhandled=true', staff.key);
    expect((unhandled.body.voicemails as Array<{ id: string }>).map((v) => v.id)).not.toContain(voicemailId);
    await h.services.db.updateTable('callback_tasks').set({ status: 'open', closed_at: null }).where('id', '=', messageTaskId).execute();
    const again = await api('GET', '/api/voicemails?unhandled=true', staff.key);
    expect((again.body.voicemails as Array<{ id: string }>).map((v) => v.id)).toContain(voicemailId);

    const ack = await api('POST', `/api/voicemails/${voicemailId}/ack`, staff.key, { note: 'Called back about the refill' });
    expect(ack).toMatchObject({ status: 200, body: { result: 'acknowledged', acknowledgedBy: `api_key:${staff.id}` } });
    const row = await h.services.db.selectFrom('voicemails').select(['acknowledged_by', 'acknowledged_note_enc']).where('id', '=', voicemailId).executeTakeFirstOrThrow();
    expect(row.acknowledged_by).toBe(`api_key:${staff.id}`);
    expect(row.acknowledged_note_enc).not.toBeNull();
    expect(row.acknowledged_note_enc?.toString('latin1')).not.toContain('Called back');
  });
});

describe('callback tasks: what the sweep guarantees (review items 2, 7, 10, 15)', () => {
  const KEYED = '+12025550177';
  const smsCount = () => double.requests.filter((q) => q.method === 'POST' && q.path.endsWith('/Messages.json')).length;

  it('an abandoned call whose task the status callback did not make gets it from the task sweep; a withheld caller ID with a confirmed number too', async () => {
    const { sim } = recordingSimulatorFor(h, double);
    const lost = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1'], hangupAfterSteps: 2 });
    await until('its task', async () => ((await tasksOf('abandoned_call')).some((t) => t.source_id === lost.callSid) ? true : undefined));
    // The callback's creation failed: no task (as if it had thrown before the insert).
    await h.services.db.deleteFrom('callback_tasks').where('source', '=', 'abandoned_call').where('source_id', '=', lost.callSid).execute();
    // A withheld caller ID: no task at the callback (nobody to call back) ...
    const anonymous = await sim.placeCall({ from: 'anonymous', to: PRACTICE, digits: ['1'], hangupAfterSteps: 2 });
    const call = await h.services.db.selectFrom('calls').select(['from_enc', 'outcome']).where('call_sid', '=', anonymous.callSid).executeTakeFirstOrThrow();
    expect(call).toEqual({ from_enc: null, outcome: 'abandoned_at_menu' });
    // ... but the number the caller keyed and confirmed on the call is someone to call back.
    const scope = systemScope(h.services, practiceId);
    await storeCallbackNumber(scope, anonymous.callSid, await sealCallbackNumber(h.services.keyring, KEYED, anonymous.callSid, practiceId), 'keyed');

    await processMaintenanceJob(h.services, { task: 'task-sweep' });
    const rows = await tasksOf('abandoned_call');
    const recreated = rows.find((t) => t.source_id === lost.callSid);
    const withheld = rows.find((t) => t.source_id === anonymous.callSid);
    expect(recreated).toMatchObject({ status: 'open', call_sid: lost.callSid });
    expect(withheld).toMatchObject({ status: 'open', call_sid: anonymous.callSid });
    if (!withheld?.callback_enc) throw new Error('the withheld caller ID task has no number');
    expect(await openTaskField(h.services.keyring, 'callback', withheld.callback_enc, withheld.id, practiceId)).toBe(KEYED);
    // Idempotent: a second sweep makes nothing more.
    await processMaintenanceJob(h.services, { task: 'task-sweep' });
    expect((await tasksOf('abandoned_call')).filter((t) => [lost.callSid, anonymous.callSid].includes(t.source_id))).toHaveLength(2);
  });

  it('more than a page of unusable abandoned calls (greeting hang-ups, access-line sessions, withheld numbers) does not stall the sweep', async () => {
    const { sim } = recordingSimulatorFor(h, double);
    const usable = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1'], hangupAfterSteps: 2 });
    await until('its task', async () => ((await tasksOf('abandoned_call')).some((t) => t.source_id === usable.callSid) ? true : undefined));
    await h.services.db.deleteFrom('callback_tasks').where('source', '=', 'abandoned_call').where('source_id', '=', usable.callSid).execute();
    await h.services.db.updateTable('calls').set({ ended_at: new Date(now.getTime() - 60_000) }).where('call_sid', '=', usable.callSid).execute();
    // 201 calls the rule refuses, all ended before the usable one.
    const flow = { source: 'flow:menu', status: 'in-progress', at: now.toISOString() };
    const unusable = Array.from({ length: 201 }, (_, i) => {
      const kind = i % 3;
      return {
        call_sid: `CA${(0xabc000 + i).toString(16).padStart(32, '0')}`,
        practice_id: practiceId,
        direction: 'inbound',
        from_index: null,
        to_number: PRACTICE,
        status: 'completed',
        // 0: hung up during the greeting; 1: a provider's access-line session; 2: a withheld number, none keyed.
        status_history: JSON.stringify(kind === 0 ? [] : kind === 1 ? [{ source: 'access', status: 'in-progress', at: now.toISOString() }, flow] : [flow]),
        from_enc: kind === 2 ? null : Buffer.from('sealed'),
        outcome: 'abandoned_at_menu' as const,
        ended_at: new Date(now.getTime() - 3_600_000 - i * 1000),
      };
    });
    await h.services.db.insertInto('calls').values(unusable).execute();
    await processMaintenanceJob(h.services, { task: 'task-sweep' });
    const rows = await tasksOf('abandoned_call');
    expect(rows.filter((t) => t.source_id === usable.callSid)).toHaveLength(1);
    expect(rows.filter((t) => t.source_id.startsWith('CA0000000000000000000000000abc'))).toEqual([]);
  });

  it('two overdue sweeps at once alert a task once; a send that fails gives the claim back for the next sweep', async () => {
    const [task] = await tasksOf('abandoned_call');
    if (!task) throw new Error('no abandoned-call task');
    // Only this task is overdue and unalerted.
    await h.services.db.updateTable('callback_tasks').set({ alerted_at: new Date(0) }).execute();
    await h.services.db.updateTable('callback_tasks').set({ alerted_at: null, status: 'open' }).where('id', '=', task.id).execute();
    now = new Date(task.due_at.getTime() + 60_000);

    const before = smsCount();
    const [a, b] = await Promise.all([sweepOverdueTasks(h.services), sweepOverdueTasks(h.services)]);
    expect(a.alerted + b.alerted).toBe(1);
    expect(smsCount() - before).toBe(1);

    // The send fails (a 400: not retried): the task stays unalerted, and the next sweep alerts it.
    await h.services.db.updateTable('callback_tasks').set({ alerted_at: null }).where('id', '=', task.id).execute();
    double.failNext(1, 400);
    expect((await sweepOverdueTasks(h.services)).alerted).toBe(0);
    const row = await h.services.db.selectFrom('callback_tasks').select('alerted_at').where('id', '=', task.id).executeTakeFirstOrThrow();
    expect(row.alerted_at).toBeNull();
    const again = smsCount();
    expect((await sweepOverdueTasks(h.services)).alerted).toBe(1);
    expect(smsCount() - again).toBe(1);
  });

  it('one bad row (a stored text whose number cannot be opened) stops neither the rest of the sweep nor the overdue alerts', async () => {
    const [task] = await tasksOf('abandoned_call');
    if (!task) throw new Error('no abandoned-call task');
    await h.services.db.updateTable('callback_tasks').set({ alerted_at: new Date(0) }).execute();
    await h.services.db.updateTable('callback_tasks').set({ alerted_at: null, status: 'open' }).where('id', '=', task.id).execute();
    now = new Date(task.due_at.getTime() + 60_000);
    const textId = crypto.randomUUID();
    await h.services.db
      .insertInto('patient_texts')
      .values({ id: textId, practice_id: practiceId, message_sid: `SM${'f'.repeat(32)}`, from_index: 'a'.repeat(64), from_enc: Buffer.from('not sealed'), body_enc: null, body_chars: 0, match: 'unknown', patient_id: null, received_at: now, task_id: null })
      .execute();
    try {
      const before = smsCount();
      await processMaintenanceJob(h.services, { task: 'task-sweep' });
      expect(smsCount() - before).toBe(1);
      const row = await h.services.db.selectFrom('callback_tasks').select('alerted_at').where('id', '=', task.id).executeTakeFirstOrThrow();
      expect(row.alerted_at).not.toBeNull();
    } finally {
      await h.services.db.deleteFrom('patient_texts').where('id', '=', textId).execute();
    }
  });

  it("a voicemail's task is due from when the message was left, not from when the sweep ran", async () => {
    const { sim } = recordingSimulatorFor(h, double);
    const call = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '2'], recordings: [{ durationSeconds: 4, digits: '#' }] });
    expect(call.errors, formatTranscript(call)).toEqual([]);
    const vm = await until('the voicemail task', async () => (await tasksOf('message')).find((t) => t.call_sid === call.callSid));
    // The job's task creation was lost; the message, urgent, was left an hour ago; the sweep runs five hours later.
    await h.services.db.deleteFrom('callback_tasks').where('id', '=', vm.id).execute();
    const moved = await sql<{ created_at: Date }>`
      UPDATE ${sql.id(h.schema, 'voicemails')} SET urgency = 'urgent', created_at = now() - interval '1 hour' WHERE id = ${vm.source_id}::uuid RETURNING created_at
    `.execute(h.services.db);
    const left = moved.rows[0];
    if (!left) throw new Error('no voicemail');
    now = new Date(left.created_at.getTime() + 6 * 3_600_000);
    await processMaintenanceJob(h.services, { task: 'task-sweep' });
    const [task] = (await tasksOf('voicemail')).filter((t) => t.source_id === vm.source_id);
    expect(task?.due_at.toISOString()).toBe(new Date(left.created_at.getTime() + URGENT_CALLBACK_MINUTES * 60_000).toISOString());
  });
});
