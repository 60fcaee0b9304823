import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { createPatient } from '../src/patients/store.js';
import { createAppointment } from '../src/patients/appointments.js';
import type { Practice } from '../src/practices/store.js';
import { captureLogs } from '../src/log/logger.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { recipientSchedule } from '../src/sequences/store.js';
import { AudienceAnswerSchema, SequenceDetailAnswer, SequenceListAnswer, SequenceReportAnswer } from '../src/http/sequence-routes.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { startHarness, type Harness } from './support/harness.js';

/**
 * The sequences API (issue 15, item 5): create (a closed matrix cell is 409 naming it), each kind
 * of audience (CSV, ids, the patient search, appointments with each recipient's first step due
 * `remindBefore` hours before their own appointment, patients due for recall), start, pause,
 * resume and cancel, the report as JSON and CSV, who may do what, and nothing of a patient in the
 * logs. The sweep that sends steps is not run here (test/sequences.test.ts runs it).
 */

const START = new Date('2026-12-01T15:00:00Z');
const now = START;
const NAME = 'Quillonseq';
const DOB = '1971-03-14';
const SEARCH_DOB = '1966-05-02';
let h: Harness;
let practice: Practice;
let admin: string;
let staff: string;
let auditor: string;
const logs = captureLogs();
const patients: Array<{ id: string; phone: string }> = [];
const HOUR = 3_600_000;

function api(method: string, path: string, body?: unknown, key = admin): Promise<ApiAnswer> {
  return callApi(h, method, path, key, body);
}

const p = (i: number): { id: string; phone: string } => {
  const x = patients[i];
  if (!x) throw new Error('no such patient');
  return x;
};

const STEPS = [
  { channel: 'rvm', templateId: 'recall', waitHours: 0, condition: 'always' },
  { channel: 'rvm', templateId: 'recall', waitHours: 48, condition: 'not_confirmed' },
];

async function newSequence(name = 'Recall'): Promise<string> {
  const res = await api('POST', '/api/sequences', { name, messageType: 'recall', steps: STEPS, rvmProvider: 'twilio' });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return String(res.body.id);
}

async function scheduleOf(sequenceId: string): Promise<Map<string, { appointmentId: string | null; dueAt: string | null }>> {
  const rows = await recipientSchedule(tenantScope(h.services, practice.id), sequenceId);
  return new Map(rows.map((r) => [r.patient_id, { appointmentId: r.appointment_id, dueAt: r.next_due_at?.toISOString() ?? null }]));
}

beforeAll(async () => {
  h = await startHarness('seq_api', {}, { clock: () => now });
  await h.services.queues.maintenance.removeJobScheduler('sequence-steps');
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practice = h.services.seeded;
  admin = (await createApiKey(h.services.db, { role: 'admin', practiceId: practice.id })).key;
  staff = (await createApiKey(h.services.db, { role: 'staff', practiceId: practice.id })).key;
  auditor = (await createApiKey(h.services.db, { role: 'auditor', practiceId: practice.id })).key;
  expect((await api('POST', '/api/vendor-baas', { vendor: 'twilio', signedAt: '2026-09-01', documentRef: 'twilio-baa' })).status).toBe(201);
  for (let i = 0; i < 8; i++) {
    const phone = `+1202555071${i}`;
    const id = await createPatient(h.services.db, h.services.keyring, { practiceId: practice.id, phone, firstName: `${NAME}${i}`, dateOfBirth: i < 3 ? SEARCH_DOB : DOB });
    patients.push({ id, phone });
  }
}, 90_000);

afterAll(async () => {
  logs.restore();
  await h?.close();
});

describe('creating a sequence', () => {
  it('answers 201 with its id and each step’s matrix cell; GET lists it and shows its steps', async () => {
    const res = await api('POST', '/api/sequences', { name: 'Recall', messageType: 'recall', steps: STEPS, rvmProvider: 'twilio' });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.cells).toEqual(['recall × rvm', 'recall × rvm']);
    const id = String(res.body.id);
    const one = await api('GET', `/api/sequences/${id}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id, name: 'Recall', state: 'draft', messageType: 'recall' });
    expect(one.body.steps).toEqual([
      { position: 0, channel: 'rvm', templateId: 'recall', waitHours: 0, condition: 'always', campaignId: expect.any(String) },
      { position: 1, channel: 'rvm', templateId: 'recall', waitHours: 48, condition: 'not_confirmed', campaignId: expect.any(String) },
    ]);
    const later = await newSequence('Later');
    const list = await api('GET', '/api/sequences', undefined, auditor);
    expect(list.status).toBe(200);
    const rows = list.body.sequences as Array<Record<string, unknown>>;
    expect(rows.map((r) => r.id).slice(0, 2)).toEqual([later, id]);
    expect(rows[1]).toMatchObject({ state: 'draft', steps: 2, recipients: 0, active: 0 });
    // The answers are what the OpenAPI document says they are.
    expect(SequenceListAnswer.safeParse(list.body).error).toBeUndefined();
    expect(SequenceDetailAnswer.safeParse(one.body).error).toBeUndefined();
  });

  it('a closed cell of the communication matrix is 409 naming the cell', async () => {
    const res = await api('POST', '/api/sequences', { name: 'Results', messageType: 'results_ready', steps: STEPS, rvmProvider: 'twilio' });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ error: 'matrix_refused', cell: 'results_ready × rvm' });
    expect(String(res.body.message)).toMatch(/^steps\.0: communication matrix/);
  });

  it('a later step refused (an unknown template) creates nothing: no campaign of an earlier step is left behind', async () => {
    const campaigns = async (): Promise<number> => (await h.services.db.selectFrom('campaigns').select((eb) => eb.fn.countAll<number>().as('n')).where('practice_id', '=', practice.id).executeTakeFirstOrThrow()).n;
    const before = Number(await campaigns());
    const sequences = (await api('GET', '/api/sequences')).body.sequences as unknown[];
    const res = await api('POST', '/api/sequences', { name: 'Orphans', messageType: 'recall', steps: [STEPS[0], { ...STEPS[1], templateId: 'no-such-template' }], rvmProvider: 'twilio' });
    expect(res.status, JSON.stringify(res.body)).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(String(res.body.message)).toMatch(/^steps\.1: /);
    expect(Number(await campaigns())).toBe(before);
    expect((await api('GET', '/api/sequences')).body.sequences).toEqual(sequences);
    const audit = await h.services.db.selectFrom('audit_log').select('action').where('practice_id', '=', practice.id).where('action', 'in', ['campaign.created', 'sequence.created']).execute();
    expect(audit.length).toBe(before + sequences.length);
  });

  it('bad input is 400 naming the field; staff and auditors may read but not create', async () => {
    const bad = await api('POST', '/api/sequences', { name: 'X', messageType: 'recall', steps: [{ ...STEPS[0], channel: 'fax' }] });
    expect(bad.status).toBe(400);
    expect(String(bad.body.message)).toMatch(/^steps\.0\.channel: /);
    expect((await api('POST', '/api/sequences', { name: 'X', messageType: 'recall', steps: [] })).body.message).toMatch(/^steps: /);
    expect((await api('GET', '/api/sequences/not-a-uuid')).status).toBe(400);
    expect((await api('GET', `/api/sequences/${randomUUID()}`)).status).toBe(404);
    for (const key of [staff, auditor]) {
      expect((await api('POST', '/api/sequences', { name: 'X', messageType: 'recall', steps: STEPS }, key)).status).toBe(403);
      expect((await api('GET', '/api/sequences', undefined, key)).status).toBe(200);
    }
  });
});

describe('audiences', () => {
  it('a text/csv body, and JSON {csv}: unknown patients counted, never echoed', async () => {
    const id = await newSequence();
    const unknown = randomUUID();
    const res = await fetch(`${h.baseUrl}/api/sequences/${id}/audience`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'text/csv' },
      body: `patient_id\n${p(0).id}\n${p(1).id}\n${unknown}\nnot-an-id\n`,
    });
    const body = (await res.json()) as Record<string, unknown>;
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toEqual({ added: 2, unknown: 2, duplicate: 0 });
    expect(JSON.stringify(body)).not.toContain(unknown);
    expect(await api('POST', `/api/sequences/${id}/audience`, { csv: `patient_id\n${p(1).id}\n${p(2).id}\n` })).toEqual({ status: 200, body: { added: 1, unknown: 0, duplicate: 1 } });
    expect((await api('POST', `/api/sequences/${id}/audience`, { csv: 'name\nx\n' })).status).toBe(400);
    expect([...(await scheduleOf(id)).keys()].sort()).toEqual([p(0).id, p(1).id, p(2).id].sort());
  });

  it('patient ids; the kind and counts are audited', async () => {
    const id = await newSequence();
    expect(await api('POST', `/api/sequences/${id}/audience`, { patientIds: [p(3).id, p(4).id, randomUUID()] })).toEqual({ status: 200, body: { added: 2, unknown: 1, duplicate: 0 } });
    const audit = await h.services.db.selectFrom('audit_log').select(['details']).where('action', '=', 'sequence.recipients_added').where('subject_id', '=', id).execute();
    expect(audit.map((a) => a.details)).toEqual([{ kind: 'patients', added: 2, unknown: 1, duplicate: 0 }]);
  });

  it('the patients API’s search: every patient it finds', async () => {
    const id = await newSequence();
    expect(await api('POST', `/api/sequences/${id}/audience`, { search: { dateOfBirth: SEARCH_DOB } })).toEqual({ status: 200, body: { added: 3, unknown: 0, duplicate: 0 } });
    expect([...(await scheduleOf(id)).keys()].sort()).toEqual([p(0).id, p(1).id, p(2).id].sort());
    const bad = await api('POST', `/api/sequences/${id}/audience`, { search: { dateOfBirth: 'yesterday' } });
    expect(bad.status).toBe(400);
    expect(String(bad.body.message)).toMatch(/^search\.dateOfBirth: /);
  });

  it('appointments in a window: each recipient due remindBefore hours before their own appointment, kept at start', async () => {
    const starts = [new Date('2026-12-08T14:00:00Z'), new Date('2026-12-09T19:30:00Z'), new Date('2026-12-11T13:15:00Z')];
    const appointments = await Promise.all(starts.map((startsAt, i) => createAppointment(h.services.db, { practiceId: practice.id, patientId: p(5 + i).id, startsAt })));
    // Outside the window, and cancelled inside it: not in the audience.
    await createAppointment(h.services.db, { practiceId: practice.id, patientId: p(0).id, startsAt: new Date('2026-12-20T14:00:00Z') });
    const cancelled = await createAppointment(h.services.db, { practiceId: practice.id, patientId: p(1).id, startsAt: new Date('2026-12-10T14:00:00Z') });
    await h.services.db.updateTable('appointments').set({ status: 'cancelled' }).where('id', '=', cancelled).execute();

    const id = await newSequence();
    const res = await api('POST', `/api/sequences/${id}/audience`, { appointments: { from: '2026-12-07T00:00:00-05:00', to: '2026-12-14T00:00:00-05:00', remindBefore: 24 } });
    expect(res).toEqual({ status: 200, body: { added: 3, unknown: 0, duplicate: 0, past: 0 } });
    const expected = new Map(starts.map((s, i) => [p(5 + i).id, { appointmentId: appointments[i] ?? null, dueAt: new Date(s.getTime() - 24 * HOUR).toISOString() }]));
    expect(await scheduleOf(id)).toEqual(expected);
    // The start schedules those without a time of their own only.
    expect(await api('POST', `/api/sequences/${id}/start`)).toEqual({ status: 200, body: { state: 'running' } });
    expect(await scheduleOf(id)).toEqual(expected);

    const bad = await api('POST', `/api/sequences/${await newSequence()}/audience`, { appointments: { from: '2026-12-07T00:00:00-05:00', to: '2026-12-14', remindBefore: -1 } });
    expect(bad.status).toBe(400);
    expect(String(bad.body.message)).toMatch(/appointments\.to: .*appointments\.remindBefore: /);
  });

  it('appointments already started are left out and counted (past); a reminder time gone by is due now', async () => {
    const started = await createAppointment(h.services.db, { practiceId: practice.id, patientId: p(3).id, startsAt: new Date(now.getTime() - HOUR) });
    const atStart = await createAppointment(h.services.db, { practiceId: practice.id, patientId: p(2).id, startsAt: now });
    const soon = await createAppointment(h.services.db, { practiceId: practice.id, patientId: p(4).id, startsAt: new Date(now.getTime() + 5 * HOUR) });
    const later = await createAppointment(h.services.db, { practiceId: practice.id, patientId: p(0).id, startsAt: new Date(now.getTime() + 30 * HOUR) });
    const id = await newSequence();
    const res = await api('POST', `/api/sequences/${id}/audience`, { appointments: { from: '2026-12-01T00:00:00Z', to: '2026-12-03T00:00:00Z', remindBefore: 24 } });
    expect(res).toEqual({ status: 200, body: { added: 2, unknown: 0, duplicate: 0, past: 2 } });
    expect(AudienceAnswerSchema.safeParse(res.body).error).toBeUndefined();
    expect(await scheduleOf(id)).toEqual(
      new Map([
        [p(4).id, { appointmentId: soon, dueAt: now.toISOString() }],
        [p(0).id, { appointmentId: later, dueAt: new Date(now.getTime() + 6 * HOUR).toISOString() }],
      ]),
    );
    expect([started, atStart]).toHaveLength(2);
    const audit = await h.services.db.selectFrom('audit_log').select(['details']).where('action', '=', 'sequence.recipients_added').where('subject_id', '=', id).execute();
    expect(audit.map((a) => a.details)).toEqual([{ kind: 'appointments', added: 2, unknown: 0, duplicate: 0, past: 2 }]);
  });

  it('patients due for recall: up to today unless a window is given', async () => {
    await h.services.db.updateTable('patients').set({ recall_due: '2026-11-15' }).where('id', '=', p(3).id).execute();
    await h.services.db.updateTable('patients').set({ recall_due: '2026-12-20' }).where('id', '=', p(4).id).execute();
    const due = await newSequence();
    const res = await api('POST', `/api/sequences/${due}/audience`, { recall: {} });
    expect(res.status).toBe(200);
    const dueNow = await scheduleOf(due);
    expect(dueNow.has(p(3).id)).toBe(true);
    expect(dueNow.has(p(4).id)).toBe(false);
    const later = await newSequence();
    expect((await api('POST', `/api/sequences/${later}/audience`, { recall: { from: '2026-12-15', to: '2026-12-31' } })).status).toBe(200);
    const dueLater = await scheduleOf(later);
    expect(dueLater.has(p(4).id)).toBe(true);
    expect(dueLater.has(p(3).id)).toBe(false);
    const bad = await api('POST', `/api/sequences/${later}/audience`, { recall: { from: '2026-12-31', to: '2026-12-15' } });
    expect(bad.status).toBe(400);
    expect(String(bad.body.message)).toMatch(/^recall\.to: /);
  });

  it('a body with none or two kinds is 400; staff may not add; another practice’s or an unknown sequence is 404', async () => {
    const id = await newSequence();
    const none = await api('POST', `/api/sequences/${id}/audience`, {});
    expect(none.status).toBe(400);
    expect(String(none.body.message)).toMatch(/^body: expected exactly one of csv, patientIds, search, appointments, recall/);
    expect((await api('POST', `/api/sequences/${id}/audience`, { patientIds: [p(0).id], recall: {} })).status).toBe(400);
    expect((await api('POST', `/api/sequences/${id}/audience`, { patientIds: [p(0).id] }, staff)).status).toBe(403);
    expect((await api('POST', `/api/sequences/${randomUUID()}/audience`, { patientIds: [p(0).id] })).status).toBe(404);
  });
});

describe('commands and the report', () => {
  let id = '';

  it('start needs an audience; start, pause, resume, cancel; a wrong state is 409', async () => {
    id = await newSequence('Commanded');
    expect((await api('POST', `/api/sequences/${id}/start`)).status).toBe(409);
    expect((await api('POST', `/api/sequences/${id}/audience`, { patientIds: [p(0).id, p(1).id] })).status).toBe(200);
    expect((await api('POST', `/api/sequences/${id}/pause`)).status).toBe(409);
    expect((await api('POST', `/api/sequences/${id}/start`, undefined, staff)).status).toBe(403);
    expect(await api('POST', `/api/sequences/${id}/start`)).toEqual({ status: 200, body: { state: 'running' } });
    expect((await api('POST', `/api/sequences/${id}/start`)).status).toBe(409);
    expect((await api('POST', `/api/sequences/${id}/audience`, { patientIds: [p(2).id] })).status).toBe(409);
    expect(await api('POST', `/api/sequences/${id}/pause`)).toEqual({ status: 200, body: { state: 'paused' } });
    expect(await api('POST', `/api/sequences/${id}/resume`)).toEqual({ status: 200, body: { state: 'running' } });
    expect(await api('POST', `/api/sequences/${id}/cancel`)).toEqual({ status: 200, body: { state: 'cancelled' } });
    expect((await api('POST', `/api/sequences/${id}/resume`)).status).toBe(409);
    expect((await api('POST', `/api/sequences/${id}/explode`)).status).toBe(404);
    const states = await h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'sequence.state_changed').where('subject_id', '=', id).execute();
    expect(states.map((s) => (s.details as { command?: string }).command).filter(Boolean)).toEqual(['start', 'pause', 'resume', 'cancel']);
  });

  it('an audience add that meets a start under way waits for it, then is 409: no recipient of a running sequence lacks a due time', async () => {
    const seq = await newSequence('Raced');
    expect((await api('POST', `/api/sequences/${seq}/audience`, { patientIds: [p(0).id] })).status).toBe(200);
    let added: Promise<ApiAnswer> | undefined;
    await h.services.db.transaction().execute(async (trx) => {
      // A start under way: it holds the sequence's row, schedules the recipients it sees and moves to running.
      await trx.selectFrom('sequences').select('id').where('id', '=', seq).forUpdate().execute();
      const me = (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx)).rows[0]?.pid;
      added = api('POST', `/api/sequences/${seq}/audience`, { patientIds: [p(1).id, p(2).id] });
      // The lock orders the two: go on once the add waits behind this transaction.
      for (;;) {
        const waiting = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE ${me}::int = ANY(pg_blocking_pids(pid))`.execute(h.services.db);
        if ((waiting.rows[0]?.n ?? 0) > 0) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      await trx.updateTable('sequence_recipients').set({ next_due_at: now }).where('sequence_id', '=', seq).where('next_due_at', 'is', null).execute();
      await trx.updateTable('sequences').set({ state: 'running', started_at: now }).where('id', '=', seq).execute();
    });
    const answer = await added;
    expect(answer?.status, JSON.stringify(answer?.body)).toBe(409);
    expect(await scheduleOf(seq)).toEqual(new Map([[p(0).id, { appointmentId: null, dueAt: now.toISOString() }]]));
  });

  it('an audience add and a start at once: whichever goes first, no recipient of the running sequence lacks a due time', async () => {
    for (let round = 0; round < 5; round++) {
      const seq = await newSequence('Raced at once');
      expect((await api('POST', `/api/sequences/${seq}/audience`, { patientIds: [p(0).id] })).status).toBe(200);
      const [add, start] = await Promise.all([api('POST', `/api/sequences/${seq}/audience`, { patientIds: [p(1).id, p(2).id, p(3).id] }), api('POST', `/api/sequences/${seq}/start`)]);
      expect(start).toEqual({ status: 200, body: { state: 'running' } });
      expect([200, 409]).toContain(add.status);
      const schedule = await scheduleOf(seq);
      expect(schedule.size).toBe(add.status === 200 ? 4 : 1);
      expect([...schedule.values()].filter((r) => r.dueAt === null)).toEqual([]);
    }
  });

  it('the report as JSON (auditors may read it) and as a CSV download', async () => {
    const res = await api('GET', `/api/sequences/${id}/report`, undefined, auditor);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ recipients: 2, stopped: { cancelled: 2 }, sequence: { id, state: 'cancelled' } });
    expect((res.body.steps as unknown[]).length).toBe(2);
    expect(SequenceReportAnswer.safeParse(res.body).error).toBeUndefined();
    expect((res.body.paths as Array<{ patientId: string }>).map((x) => x.patientId).sort()).toEqual([p(0).id, p(1).id].sort());

    const csv = await fetch(`${h.baseUrl}/api/sequences/${id}/report.csv`, { headers: { authorization: `Bearer ${auditor}` } });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(csv.headers.get('content-disposition')).toMatch(new RegExp(`^attachment; filename="?sequence-${id}\\.csv"?$`));
    const lines = (await csv.text()).trim().split('\n');
    expect(lines[0]).toBe('recipientId,patientId,appointmentId,stoppedReason,step,channel,status,reason,at');
    expect(lines).toHaveLength(3);
    expect(lines.slice(1).every((l) => l.includes(',cancelled,'))).toBe(true);
    expect((await api('GET', `/api/sequences/${randomUUID()}/report`)).status).toBe(404);
  });

  it('nothing of a patient in the logs', () => {
    const text = logs.lines().join('\n');
    expect(text.length).toBeGreaterThan(0);
    for (const x of patients) {
      expect(text.includes(x.phone)).toBe(false);
      expect(text.includes(x.phone.slice(2))).toBe(false);
    }
    for (const s of [NAME, DOB, SEARCH_DOB]) expect(text.includes(s), s).toBe(false);
  });
});
