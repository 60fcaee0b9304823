import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPatient } from '../src/patients/store.js';
import { createAppointment } from '../src/patients/appointments.js';
import { DEMO } from '../src/practices/seed.js';
import type { Practice } from '../src/practices/store.js';
import { captureLogs } from '../src/log/logger.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { dispatchDueDrops } from '../src/drops/dispatcher.js';
import { addAudience, commandSequence, createSequence, reportCsv, sequenceReport } from '../src/sequences/sequences.js';
import { runDueSteps } from '../src/sequences/sweep.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { until } from './support/until.js';
import type { Harness } from './support/harness.js';
import type { TwilioDouble } from './support/twilio-double.js';
import type { RvmDouble } from './support/rvm-double.js';
import { startOutreachHarness, type OutreachHarness } from './support/outreach-harness.js';

/**
 * A two-step sequence (issue 15, item 5) over ten patients, with the real database, queues and
 * workers and the loopback Twilio and ringless-voicemail doubles: SMS to all, then 48 hours later
 * (the moved clock) ringless voicemail to those who neither confirmed nor replied. Two confirm,
 * two reply, one opts out: the voicemail goes to the other five only; the report counts them; each
 * send's audit row names its consent grant and matrix cell; nothing of a patient is logged or queued.
 */

const START = new Date('2026-12-01T15:00:00Z'); // Tuesday 10:00 in New York
let now = START;
let outreach: OutreachHarness;
let h: Harness;
let twilioApi: TwilioDouble;
let vendor: RvmDouble;
let practice: Practice;
let admin: string;
const logs = captureLogs();
const patients: Array<{ id: string; phone: string; appointmentId: string }> = [];
const NAME = 'Yarrowseq';
const DOB = '1968-07-21';

function api(method: string, path: string, body?: unknown): Promise<ApiAnswer> {
  return callApi(h, method, path, admin, body);
}

beforeAll(async () => {
  outreach = await startOutreachHarness('sequences', () => now);
  ({ h, twilioApi, vendor, practice, admin } = outreach);
  for (let i = 0; i < 10; i++) {
    const phone = `+1202555062${i}`;
    const id = await createPatient(h.services.db, h.services.keyring, { practiceId: practice.id, phone, firstName: `${NAME}${i}`, dateOfBirth: DOB });
    for (const [channel, version] of [['sms', 'sms-2026-12'], ['rvm', DEMO.rvmDisclosure.version]] as const) {
      const res = await api('POST', `/api/patients/${id}/consents`, { channel, action: 'granted', source: 'web_form', disclosureVersion: version, evidenceRef: `form-${i}` });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
    const appointmentId = await createAppointment(h.services.db, { practiceId: practice.id, patientId: id, startsAt: new Date('2026-12-10T15:00:00Z') });
    patients.push({ id, phone, appointmentId });
  }
}, 90_000);

afterAll(async () => {
  logs.restore();
  await outreach?.close();
});

const at = (i: number): { id: string; phone: string; appointmentId: string } => {
  const p = patients[i];
  if (!p) throw new Error('no such patient');
  return p;
};

describe('a recall sequence: SMS, then ringless voicemail to those who neither confirmed nor replied', () => {
  let sequenceId = '';

  it('creating it asks the matrix for each step’s cell; a closed cell is refused by name', async () => {
    const scope = tenantScope(h.services, practice.id);
    const refused = await createSequence(h.services, scope, {
      name: 'Results',
      messageType: 'results_ready',
      steps: [
        { channel: 'sms', templateId: 'sms-recall', waitHours: 0, condition: 'always' },
        { channel: 'rvm', templateId: 'recall', waitHours: 24, condition: 'no_reply' },
      ],
      createdBy: 'test',
    });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.message).toMatch(/steps\.1: communication matrix: .*results_ready × rvm/);
    const made = await createSequence(h.services, scope, {
      name: 'Recall',
      messageType: 'recall',
      steps: [
        { channel: 'sms', templateId: 'sms-recall', waitHours: 0, condition: 'always' },
        { channel: 'rvm', templateId: 'recall', waitHours: 48, condition: 'no_reply' },
      ],
      createdBy: 'test',
    });
    expect(made.ok, JSON.stringify(made)).toBe(true);
    if (!made.ok) return;
    sequenceId = made.value.id;
    expect(made.value.cells).toEqual(['recall × sms', 'recall × rvm']);
    const added = await addAudience(h.services, scope, sequenceId, patients.map((p) => ({ patientId: p.id, appointmentId: p.appointmentId, dueAt: null })), 'test');
    expect(added).toEqual({ ok: true, value: { added: 10, unknown: 0, duplicate: 0 } });
    expect(await commandSequence(h.services, scope, sequenceId, 'start', 'test')).toEqual({ ok: true, value: { state: 'running' } });
  });

  it('step 1: an SMS to every patient, through the campaign machinery', async () => {
    expect(await runDueSteps(h.services)).toEqual({ steps: 10 });
    await dispatchDueDrops(h.services);
    await until('ten SMS', async () => twilioApi.requests.filter((r) => r.path.endsWith('/Messages.json')).length >= 10 || undefined, 30_000);
    await until('ten ledger rows sent', async () => {
      const rows = await h.services.db.selectFrom('outreach_sends').select('status').where('channel', '=', 'sms').execute();
      return rows.length === 10 && rows.every((r) => r.status === 'queued' || r.status === 'sent') ? true : undefined;
    });
    // Nothing more is due before the 48 hours.
    expect(await runDueSteps(h.services)).toEqual({ steps: 0 });
  });

  it('48 hours later: voicemail only to the five who neither confirmed, replied nor opted out', async () => {
    // Two confirm, two reply (facts the replies' handling writes), one opts out.
    await h.services.db.updateTable('appointments').set({ status: 'confirmed' }).where('id', 'in', [at(0).appointmentId, at(1).appointmentId]).execute();
    await h.services.db.updateTable('outreach_sends').set({ replied_at: now }).where('patient_id', 'in', [at(2).id, at(3).id]).execute();
    expect((await api('POST', '/api/opt-outs', { phone: at(4).phone })).status).toBe(201);

    now = new Date(START.getTime() + 48 * 3_600_000);
    expect(await runDueSteps(h.services)).toEqual({ steps: 10 });
    await dispatchDueDrops(h.services);
    await until('five voicemails', async () => (vendor.accepted().size >= 5 ? true : undefined), 30_000);
    await new Promise((r) => setTimeout(r, 500));
    const called = new Set(vendor.requests.filter((r) => r.status < 300).map((r) => r.body.phone_number));
    expect([...called].sort()).toEqual([5, 6, 7, 8, 9].map((i) => at(i).phone).sort());
  });

  it('the report counts each step and every recipient’s path; the CSV neutralises formulas', async () => {
    const scope = tenantScope(h.services, practice.id);
    const res = await sequenceReport(scope, sequenceId);
    if (!res.ok) throw new Error(res.message);
    const r = res.value;
    expect(r.recipients).toBe(10);
    expect(r.stopped).toEqual({ confirmed: 2, opted_out: 1, completed: 7 });
    expect(r.steps[0]).toMatchObject({ channel: 'sms', sent: 10, replied: 2, confirmed: 2, failed: 0, skipped: 0 });
    expect(r.steps[1]).toMatchObject({ channel: 'rvm', sent: 5, optedOut: 1, skipped: 5 });
    expect(r.steps[1]?.reasons).toMatchObject({ 'skipped:confirmed': 2, 'skipped:condition_no_reply': 2, 'skipped:opted_out': 1 });
    const five = r.paths.find((p) => p.patientId === at(5).id);
    expect(five?.steps.map((s) => [s.channel, s.status])).toEqual([['sms', expect.stringMatching(/queued|sent/)], ['rvm', 'sent']]);
    const csv = reportCsv(r);
    expect(csv.split('\n')[0]).toBe('recipientId,patientId,appointmentId,stoppedReason,step,channel,status,reason,at');
    expect(csv.split('\n').length).toBe(1 + 10 + 5 + 5 + 1);
    expect(reportCsv({ ...r, paths: [{ recipientId: '=HYPERLINK("x")', patientId: 'p', appointmentId: null, stoppedReason: null, steps: [] }] })).toContain(`"'=HYPERLINK(""x"")"`);
    // The campaign state of the sequence: completed once no one is left.
    expect(r.sequence.state).toBe('completed');
  });

  it('every send’s audit row names its consent grant and matrix cell; no patient in logs, job payloads or audit', async () => {
    const sends = await h.services.db.selectFrom('audit_log').select(['action', 'details']).where('action', 'in', ['sms.sent', 'drop.sent']).execute();
    expect(sends.filter((s) => s.action === 'sms.sent')).toHaveLength(10);
    expect(sends.filter((s) => s.action === 'drop.sent')).toHaveLength(5);
    for (const s of sends) {
      const d = s.details as Record<string, unknown>;
      expect(d.consentId, JSON.stringify(d)).toEqual(expect.any(String));
      expect(String(d.matrixCell)).toMatch(/^recall × (sms|rvm)$/);
    }
    const audit = JSON.stringify(await h.services.db.selectFrom('audit_log').selectAll().execute());
    const jobs = JSON.stringify((await h.services.queues.drops.getJobs(['completed', 'delayed', 'waiting', 'failed', 'active'])).map((j) => j.data));
    const logLines = logs.lines().join('\n');
    for (const p of patients) {
      for (const [where, text] of Object.entries({ audit, jobs, logLines })) {
        expect(text.includes(p.phone), `a phone number in ${where}`).toBe(false);
        expect(text.includes(p.phone.slice(2)), `a phone number in ${where}`).toBe(false);
      }
    }
    for (const [where, text] of Object.entries({ audit, jobs, logLines })) {
      expect(text.includes(NAME), `a name in ${where}`).toBe(false);
      expect(text.includes(DOB), `a date of birth in ${where}`).toBe(false);
    }
  });
});
