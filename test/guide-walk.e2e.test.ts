import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPatient } from '../src/patients/store.js';
import { createAppointment } from '../src/patients/appointments.js';
import { patientsDueForRecall } from '../src/patients/recall.js';
import { DEMO } from '../src/practices/seed.js';
import type { Practice } from '../src/practices/store.js';
import { captureLogs } from '../src/log/logger.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { dispatchDueDrops } from '../src/drops/dispatcher.js';
import { addAudience, commandSequence, createSequence, sequenceReport } from '../src/sequences/sequences.js';
import { runDueSteps } from '../src/sequences/sweep.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { until } from './support/until.js';
import { promoteDelayed } from './support/queue-time.js';
import { scheduledTimes } from './support/drop-schedule.js';
import { TEST_ACCOUNT_SID, type Harness } from './support/harness.js';
import type { TwilioDouble } from './support/twilio-double.js';
import type { RvmDouble } from './support/rvm-double.js';
import { startOutreachHarness, type OutreachHarness } from './support/outreach-harness.js';
import { postTwilio } from './support/twilio-request.js';

/**
 * The guide's walk, end to end (issue 15, "Done means"): fifty patients due for recall, a recall
 * sequence (SMS, then 48 hours later ringless voicemail to whoever neither confirmed nor replied),
 * with the real database, queues and workers, the loopback Twilio and ringless-voicemail doubles
 * and a moved clock. It starts at 20:30 in New York: Florida's patients (8:00–20:00 there) are
 * deferred to the next morning, the others texted at once. Some have no SMS consent (RVM only),
 * some said STOP earlier, eight reply "C" (their booked recall visit is confirmed), one asks a
 * clinical question (a callback task), one number fails at the carrier. The report accounts for
 * every one of the fifty; every send's audit row names its consent grant and matrix cell, every
 * skip has its audit row; nothing of a patient reaches the logs or a job.
 */

// Tuesday 2026-12-01 20:30 in New York (01:30Z on the 2nd): past 20:00 in Florida, before 21:00 elsewhere.
const START = new Date('2026-12-02T01:30:00Z');
const HOUR = 3_600_000;
let now = START;
const NAME = 'Quillwalk';
const DOB = '1961-04-19';
const QUESTION = 'is it normal that my rash spreads after the new cream';

const GROUPS = {
  confirms: 8, // reply "C"
  asks: 1, // replies with a clinical question
  noSmsConsent: 6, // RVM consent only
  optedOut: 5, // said STOP before the sequence
  florida: 6, // 305 numbers, FL: deferred at 20:30
  fails: 1, // the carrier answers failed
  plain: 23, // texted, delivered, no answer
} as const;
type Group = keyof typeof GROUPS;
interface Walker {
  group: Group;
  id: string;
  phone: string;
  name: string;
  appointmentId: string;
}
const walkers: Walker[] = [];
const notDue: string[] = [];
const of = (g: Group): Walker[] => walkers.filter((w) => w.group === g);

let outreach: OutreachHarness;
let h: Harness;
let twilioApi: TwilioDouble;
let vendor: RvmDouble;
let practice: Practice;
let admin: string;
let sequenceId = '';
const logs = captureLogs();

const api = (method: string, path: string, body?: unknown): Promise<ApiAnswer> => callApi(h, method, path, admin, body);
const sid = (): string => `SM${randomBytes(16).toString('hex')}`;
const texts = (w: Walker): number => twilioApi.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Messages.json') && r.form.get('To') === w.phone).length;
const inbound = (from: string, body: string) => postTwilio(h, '/twilio/sms/incoming', { MessageSid: sid(), AccountSid: TEST_ACCOUNT_SID, From: from, To: DEMO.number, Body: body, NumMedia: '0' });
const dropsQueue = () => h.services.queues.drops;

/** The dispatcher at the moved clock; the send jobs it queued run now (their rate spacing promoted away). */
async function dispatchAndSend(what: string, done: () => Promise<boolean>): Promise<void> {
  await dispatchDueDrops(h.services);
  // The campaign's pacing delays are promoted away; Twilio's own pace (1 SMS a second per account, on Redis's clock) is waited for.
  await until(what, async () => ((await done()) ? true : undefined), 60_000, () => promoteDelayed(dropsQueue(), () => true));
}

beforeAll(async () => {
  outreach = await startOutreachHarness('guide-walk', () => now);
  ({ h, twilioApi, vendor, practice, admin } = outreach);

  let n = 0;
  for (const group of Object.keys(GROUPS) as Group[]) {
    for (let i = 0; i < GROUPS[group]; i++, n++) {
      const florida = group === 'florida';
      const phone = `+1${florida ? '305' : '202'}55508${String(n).padStart(2, '0')}`;
      const name = `${NAME}${String.fromCharCode(97 + (n % 26))}${String.fromCharCode(97 + Math.floor(n / 26))}`;
      const id = await createPatient(h.services.db, h.services.keyring, {
        practiceId: practice.id,
        phone,
        firstName: name,
        dateOfBirth: DOB,
        recallDue: '2026-12-05',
        ...(florida ? { usState: 'FL', timeZone: 'America/New_York' } : {}),
      });
      const grants = group === 'noSmsConsent' ? (['rvm'] as const) : (['sms', 'rvm'] as const);
      for (const channel of grants) {
        const res = await api('POST', `/api/patients/${id}/consents`, { channel, action: 'granted', source: 'web_form', disclosureVersion: channel === 'sms' ? 'sms-2026-12' : DEMO.rvmDisclosure.version, evidenceRef: `form-${n}` });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
      }
      // Their recall visit, booked: what a "C" confirms.
      const appointmentId = await createAppointment(h.services.db, { practiceId: practice.id, patientId: id, startsAt: new Date('2026-12-15T15:00:00Z') });
      walkers.push({ group, id, phone, name, appointmentId });
    }
  }
  // Two patients not due in the window: not in the audience.
  for (const i of [0, 1]) notDue.push(await createPatient(h.services.db, h.services.keyring, { practiceId: practice.id, phone: `+1202555099${i}`, firstName: `${NAME}z${i}`, dateOfBirth: DOB, recallDue: '2027-06-01' }));
  // STOP earlier, through the inbound webhook.
  for (const w of of('optedOut')) expect((await inbound(w.phone, 'STOP')).status).toBe(200);
}, 120_000);

afterAll(async () => {
  logs.restore();
  await outreach?.close();
});

describe('the guide’s walk: fifty patients due for recall, SMS then ringless voicemail', () => {
  it('the audience is the recall-due patients; the sequence asks the matrix for each step’s cell and starts', async () => {
    const scope = tenantScope(h.services, practice.id);
    const due = await patientsDueForRecall(scope, { from: '2026-12-01', to: '2026-12-31' });
    expect(due).toHaveLength(50);
    expect(due.some((id) => notDue.includes(id))).toBe(false);
    const made = await createSequence(h.services, scope, {
      name: 'Recall walk',
      messageType: 'recall',
      ratePerMinute: 600,
      steps: [
        { channel: 'sms', templateId: 'sms-recall', waitHours: 0, condition: 'always' },
        // "no_reply": a confirmed recipient stops before any step, one who replied skips this one.
        { channel: 'rvm', templateId: 'recall', waitHours: 48, condition: 'no_reply' },
      ],
      createdBy: 'test',
    });
    if (!made.ok) throw new Error(made.message);
    sequenceId = made.value.id;
    expect(made.value.cells).toEqual(['recall × sms', 'recall × rvm']);
    const appointmentOf = new Map(walkers.map((w) => [w.id, w.appointmentId]));
    const added = await addAudience(h.services, scope, sequenceId, due.map((patientId) => ({ patientId, appointmentId: appointmentOf.get(patientId) ?? null, dueAt: null })), 'test');
    expect(added).toEqual({ ok: true, value: { added: 50, unknown: 0, duplicate: 0 } });
    expect(await commandSequence(h.services, scope, sequenceId, 'start', 'test')).toEqual({ ok: true, value: { state: 'running' } });
  });

  it('20:30 in New York: texts to those allowed; no consent and STOP skipped; Florida deferred to its morning', async () => {
    expect(await runDueSteps(h.services)).toEqual({ steps: 50 });
    const nowAllowed = [...of('confirms'), ...of('asks'), ...of('fails'), ...of('plain')];
    await dispatchAndSend('texts to the 33 allowed now', async () => nowAllowed.every((w) => texts(w) === 1));
    await until('33 sms.sent rows', async () => ((await h.services.db.selectFrom('audit_log').select('action').where('action', '=', 'sms.sent').execute()).length === 33 ? true : undefined));
    for (const w of [...of('noSmsConsent'), ...of('optedOut'), ...of('florida')]) expect(texts(w), w.group).toBe(0);
    // Florida's drops wait, pending, planned in the campaign schedule for 08:00 there.
    const floridaDrops = await h.services.db.selectFrom('drops').select(['id', 'status']).where('patient_id', 'in', of('florida').map((w) => w.id)).execute();
    expect(floridaDrops).toHaveLength(6);
    const planned = await scheduledTimes(h.services, floridaDrops.map((d) => d.id));
    for (const d of floridaDrops) {
      expect(d.status).toBe('pending');
      // 08:00 in Florida, paced by the campaign's rate.
      expect(planned.get(d.id)?.toISOString()).toMatch(/^2026-12-02T13:00:0/);
    }
    // Nothing more is due before the 48 hours.
    expect(await runDueSteps(h.services)).toEqual({ steps: 0 });
  });

  it('replies: "C" confirms the recall visit (audited); a clinical question becomes an outreach_reply task', async () => {
    now = new Date(START.getTime() + 10 * 60_000);
    for (const w of of('confirms')) {
      const res = await inbound(w.phone, 'C');
      expect(res.status).toBe(200);
      expect(res.body).toContain('your appointment is confirmed');
    }
    expect((await inbound(of('asks')[0]?.phone ?? '', QUESTION)).status).toBe(200);
    const confirmed = await h.services.db.selectFrom('appointments').select('id').where('status', '=', 'confirmed').execute();
    expect(confirmed.map((a) => a.id).sort()).toEqual(of('confirms').map((w) => w.appointmentId).sort());
    const audited = await h.services.db.selectFrom('audit_log').select('subject_id').where('action', '=', 'appointment.confirmed').execute();
    expect(audited.map((a) => a.subject_id).sort()).toEqual(of('confirms').map((w) => w.appointmentId).sort());
    // The task is made by a job after Twilio was answered.
    const tasks = await until('the reply’s task', async () => {
      const rows = await tenantScope(h.services, practice.id).db.selectFrom('callback_tasks').select(['patient_id', 'source']).execute();
      return rows.length > 0 ? rows : undefined;
    });
    expect(tasks).toEqual([{ patient_id: of('asks')[0]?.id, source: 'outreach_reply' }]);
  });

  it('the next morning Florida is texted; status callbacks: delivered for all, failed for one', async () => {
    now = new Date('2026-12-02T13:00:00Z');
    await dispatchAndSend('texts to Florida', async () => of('florida').every((w) => texts(w) === 1));
    await until('39 sms.sent rows', async () => ((await h.services.db.selectFrom('audit_log').select('action').where('action', '=', 'sms.sent').execute()).length === 39 ? true : undefined));
    const sends = await h.services.db.selectFrom('outreach_sends').select(['patient_id', 'provider_ref']).where('channel', '=', 'sms').execute();
    expect(sends).toHaveLength(39);
    const failing = of('fails')[0]?.id;
    for (const s of sends) {
      const res = await postTwilio(h, '/twilio/sms/status', { MessageSid: s.provider_ref ?? '', MessageStatus: s.patient_id === failing ? 'failed' : 'delivered', AccountSid: TEST_ACCOUNT_SID, ...(s.patient_id === failing ? { ErrorCode: '30006' } : {}) });
      expect(res.status).toBe(200);
    }
    const rows = await h.services.db.selectFrom('outreach_sends').select(['patient_id', 'status', 'error_code']).where('channel', '=', 'sms').execute();
    expect(rows.filter((r) => r.status === 'delivered')).toHaveLength(38);
    expect(rows.find((r) => r.patient_id === failing)).toMatchObject({ status: 'failed', error_code: '30006' });
  });

  it('48 hours on: voicemail to the rest who are allowed (Florida again the next morning)', async () => {
    now = new Date(START.getTime() + 48 * HOUR); // Thursday 20:30 in New York
    expect(await runDueSteps(h.services)).toEqual({ steps: 45 });
    const rvmNow = [...of('noSmsConsent'), ...of('fails'), ...of('plain')];
    const called = (): Set<unknown> => new Set(vendor.requests.filter((r) => r.status < 300).map((r) => r.body.phone_number));
    await dispatchAndSend('30 voicemails', async () => rvmNow.every((w) => called().has(w.phone)));
    expect(of('florida').some((w) => called().has(w.phone))).toBe(false);
    now = new Date('2026-12-04T13:00:00Z'); // Friday 08:00 in Florida
    await dispatchAndSend('Florida’s voicemails', async () => of('florida').every((w) => called().has(w.phone)));
    await until('36 drop.sent rows', async () => ((await h.services.db.selectFrom('audit_log').select('action').where('action', '=', 'drop.sent').execute()).length === 36 ? true : undefined));
    expect([...called()].sort()).toEqual([...rvmNow, ...of('florida')].map((w) => w.phone).sort());
    expect(vendor.requests.filter((r) => r.status < 300)).toHaveLength(36);
  });

  it('the report accounts for every one of the fifty', async () => {
    const res = await sequenceReport(tenantScope(h.services, practice.id), sequenceId);
    if (!res.ok) throw new Error(res.message);
    const r = res.value;
    expect(r.recipients).toBe(50);
    expect(r.sequence.state).toBe('completed');
    expect(r.stopped).toEqual({ confirmed: 8, opted_out: 5, completed: 37 });
    expect(r.steps[0]).toMatchObject({ channel: 'sms', sent: 38, delivered: 38, replied: 9, confirmed: 8, failed: 1, optedOut: 5, skipped: 11, pending: 0 });
    expect(r.steps[0]?.reasons).toEqual({ 'delivered:delivered': 38, 'skipped:opted_out': 5, 'skipped:no_consent': 6, 'failed:carrier_error_30006': 1 });
    expect(r.steps[1]).toMatchObject({ channel: 'rvm', sent: 36, failed: 0, skipped: 9, pending: 0 });
    expect(r.steps[1]?.reasons).toEqual({ 'skipped:confirmed': 8, 'skipped:condition_no_reply': 1 });
    // Each path ends in a known state, one per group.
    const ending = new Map<string, string>();
    for (const p of r.paths) ending.set(p.patientId, p.steps.map((s) => `${s.channel}:${s.status}${s.reason ? `:${s.reason}` : ''}`).join(' '));
    const expected: Record<Group, string> = {
      confirms: 'sms:delivered:delivered rvm:skipped:confirmed',
      asks: 'sms:delivered:delivered rvm:skipped:condition_no_reply',
      noSmsConsent: 'sms:skipped:no_consent rvm:sent',
      optedOut: 'sms:skipped:opted_out',
      florida: 'sms:delivered:delivered rvm:sent',
      fails: 'sms:failed:carrier_error_30006 rvm:sent',
      plain: 'sms:delivered:delivered rvm:sent',
    };
    for (const w of walkers) expect(ending.get(w.id), w.group).toBe(expected[w.group]);
  });

  it('the audit: every send names its consent grant and matrix cell; every skip and stop has its row', async () => {
    const rows = await h.services.db.selectFrom('audit_log').select(['action', 'subject_id', 'details']).execute();
    const sends = rows.filter((a) => a.action === 'sms.sent' || a.action === 'drop.sent');
    expect(sends.filter((s) => s.action === 'sms.sent')).toHaveLength(39);
    expect(sends.filter((s) => s.action === 'drop.sent')).toHaveLength(36);
    const grants = new Set((await h.services.db.selectFrom('consents').select('id').where('action', '=', 'granted').execute()).map((c) => c.id));
    for (const s of sends) {
      const d = s.details as Record<string, unknown>;
      expect(grants.has(String(d.consentId)), JSON.stringify(d)).toBe(true);
      expect(d.matrixCell).toBe(s.action === 'sms.sent' ? 'recall × sms' : 'recall × rvm');
    }
    const detail = (a: (typeof rows)[number]): Record<string, unknown> => a.details as Record<string, unknown>;
    // Planning's skips are audited in batches (`drop.final_batch`, one row per reason naming every drop id); a send-time skip has its own `drop.final`.
    const skippedNoConsent = new Set<string>();
    for (const a of rows) {
      const d = detail(a);
      if (d.status !== 'skipped' || d.reason !== 'no_consent') continue;
      if (a.action === 'drop.final') skippedNoConsent.add(String(a.subject_id));
      if (a.action === 'drop.final_batch') for (const id of d.dropIds as string[]) skippedNoConsent.add(id);
    }
    expect(skippedNoConsent.size).toBe(6);
    const stops = rows.filter((a) => a.action === 'sequence.step' && detail(a).outcome === 'stopped');
    expect(stops.filter((a) => detail(a).reason === 'opted_out')).toHaveLength(5);
    expect(stops.filter((a) => detail(a).reason === 'confirmed')).toHaveLength(8);
    expect(rows.filter((a) => a.action === 'sequence.step' && detail(a).outcome === 'skipped' && detail(a).reason === 'condition_no_reply')).toHaveLength(1);
    expect(rows.filter((a) => a.action === 'sms.status' && detail(a).status === 'failed')).toHaveLength(1);
    expect(rows.filter((a) => a.action === 'outreach.replied')).toHaveLength(9);
  });

  it('no name, date of birth, number or message text in the logs, job payloads or audit', async () => {
    const audit = JSON.stringify(await h.services.db.selectFrom('audit_log').selectAll().execute());
    const jobs = JSON.stringify(
      await Promise.all(
        (['pages', 'voicemail', 'maintenance', 'drops', 'fhir', 'imports'] as const).map(async (name) => (await h.services.queues[name].getJobs(['completed', 'delayed', 'waiting', 'failed', 'active'])).map((j) => j.data)),
      ),
    );
    const logLines = logs.lines().join('\n');
    expect(logLines.length).toBeGreaterThan(0);
    for (const [where, text] of Object.entries({ audit, jobs, logLines })) {
      for (const w of walkers) {
        expect(text.includes(w.phone), `a phone number in ${where}`).toBe(false);
        expect(text.includes(w.phone.slice(2)), `a phone number in ${where}`).toBe(false);
      }
      expect(text.includes(NAME), `a name in ${where}`).toBe(false);
      expect(text.includes(DOB), `a date of birth in ${where}`).toBe(false);
      expect(text.includes('rash'), `the patient's text in ${where}`).toBe(false);
    }
  });
});
