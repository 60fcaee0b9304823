import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { heard, type CallResult, type CallSimulator, type DialOutcome } from '../devtools/simulator/simulator.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { simulatorFor, TEST_IDENTITIES } from './support/simulate.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { postTwilio } from './support/twilio-request.js';
import { until } from './support/until.js';
import { pageRound, pendingJobs, promoteDelayed, runDelayedNow, runJobNow } from './support/queue-time.js';
import { randomBytes } from 'node:crypto';
import type { Keyring } from '../src/adapters/keyring.js';
import { phoneIndex } from '../src/patients/store.js';
import type { Services } from '../src/services.js';
import { getWhisperOutcome, setWhisperOutcome } from '../src/calls/state-store.js';
import { VoiceWebhookSchema, type VoiceWebhook } from '../src/calls/twilio-params.js';
import { handleWhisper } from '../src/oncall/whisper-service.js';
import type { TimelineEntry } from '../src/calls/timeline.js';
import { tenantScope } from '../src/tenancy/mint.js';

/**
 * Urgent calls walking the demo escalation chain, through the simulator: tier 1 is the
 * doctors' rotation (Dr. Morgan Primary on call on 2026-11-25), tier 2 Dr. Riley Backup, the
 * chain tried twice, then urgent voicemail and SMS pages through the loopback Twilio double.
 */

const PATIENT = '+12025550123';
const PRACTICE = '+12025550100';
const PRIMARY = '+12025550111';
const BACKUP = '+12025550112';
const MANAGER = '+12025550113';
const URGENT = ['1', '1'];

let now = new Date('2026-11-26T03:00:00Z'); // Wednesday 22:00 in New York
let h: Harness;
let sim: CallSimulator;
let double: TwilioDouble;
let adminKey: string;

beforeAll(async () => {
  double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  h = await startHarness('oncall', { TWILIO_API_BASE_URL: double.baseUrl }, { clock: () => now });
  sim = simulatorFor(h, () => now);
  if (!h.services.seeded) throw new Error('no demo practice');
  adminKey = (await createApiKey(h.services.db, { role: 'admin', practiceId: h.services.seeded.id })).key;
});
afterAll(async () => {
  await h.close();
  await double.close();
});
beforeEach(() => {
  now = new Date('2026-11-26T03:00:00Z');
});

function urgentCall(dialOutcomes: DialOutcome[], extra: Partial<Parameters<CallSimulator['placeCall']>[0]> = {}): Promise<CallResult> {
  return sim.placeCall({ from: PATIENT, to: PRACTICE, digits: URGENT, dialOutcomes, recordings: [{ durationSeconds: 25, digits: '#' }], ...extra });
}

function dialled(result: CallResult): string[] {
  return result.transcript.flatMap((e) => (e.kind === 'dial' ? e.numbers : []));
}

async function legs(callSid: string): Promise<Array<{ kind: string; tier: number | null; round: number | null; outcome: string; number_tried: string | null }>> {
  return h.services.db
    .selectFrom('call_legs')
    .select(['kind', 'tier', 'round', 'outcome', 'number_tried'])
    .where('call_sid', '=', callSid)
    .where('kind', '!=', 'parent')
    .orderBy('created_at')
    .execute();
}

function smsTo(number: string): Array<{ body: string }> {
  return double.requests
    .filter((r) => r.method === 'POST' && r.path.endsWith('/Messages.json') && r.form.get('To') === number)
    .map((r) => ({ body: r.form.get('Body') ?? '' }));
}

describe('the handoff call', () => {
  it('tier 1 answers and presses 1: bridged; the provider heard the whisper, no patient details', async () => {
    const result = await urgentCall([{ status: 'completed', whisperDigits: '1' }]);
    expect(result.errors).toEqual([]);
    expect(dialled(result)).toEqual([PRIMARY]);
    expect(heard(result)).toContain('Please hold');
    const provider = heard(result, 'provider');
    expect(provider).toContain('This is the after-hours line for Demo Family Medicine. Urgent after-hours call.');
    expect(provider).toContain('Press 1 to accept, or 2 to decline.');
    expect(provider).not.toMatch(/The caller is/);
    expect(await legs(result.callSid)).toEqual([{ kind: 'dial', tier: 1, round: 0, outcome: 'accepted', number_tried: PRIMARY }]);
    const actions = (await h.services.db.selectFrom('audit_log').select('action').where('call_sid', '=', result.callSid).execute()).map((r) => r.action);
    expect(actions).toContain('oncall.connected');
    expect(actions).not.toContain('voicemail.taken');
  });

  it('no answer at tier 1, accepted at tier 2', async () => {
    const result = await urgentCall([{ status: 'no-answer' }, { status: 'completed', whisperDigits: '1' }]);
    expect(dialled(result)).toEqual([PRIMARY, BACKUP]);
    expect(heard(result)).toContain('We are still trying to reach the on-call provider.');
    expect((await legs(result.callSid)).map((l) => [l.tier, l.outcome])).toEqual([
      [1, 'no-answer'],
      [2, 'accepted'],
    ]);
  });

  it('the timeline of a tier-1 no-answer then a tier-2 accept is in the order it happened, every leg on the service clock', async () => {
    // The harness clock (2026-11-26T03:00Z) is not the database's: nothing may be ordered or stamped by the latter.
    const result = await urgentCall([{ status: 'no-answer' }, { status: 'completed', whisperDigits: '1' }]);
    expect(result.errors).toEqual([]);
    const res = await fetch(`${h.baseUrl}/api/calls/${result.callSid}`, { headers: { authorization: `Bearer ${adminKey}` } });
    const body = (await res.json()) as { timeline: TimelineEntry[]; legs: Array<{ kind: string; at: string; endedAt: string | null }> };
    const label = (t: TimelineEntry): string | null => {
      if (t.kind !== 'event') return t.kind === 'dial_leg' ? `dial_leg:${t.tier}:${t.outcome}` : t.kind;
      if (t.action === 'call.leg.started' || t.action === 'call.leg.status') return t.action;
      if (t.action === 'call.dial' || t.action === 'oncall.attempt_failed' || t.action === 'oncall.connected') return `${t.action}:${String(t.details.tier)}`;
      return null;
    };
    expect(body.timeline.map(label).filter((l) => l !== null)).toEqual([
      'call.leg.started',
      'parent_leg',
      'call.dial:1',
      'oncall.attempt_failed:1',
      'dial_leg:1:no-answer',
      'call.dial:2',
      'oncall.connected:2',
      'dial_leg:2:accepted',
      'call.leg.status',
    ]);
    for (const leg of body.legs) {
      expect(leg.at).toBe(now.toISOString());
      if (leg.endedAt !== null) expect(leg.endedAt).toBe(now.toISOString());
    }
  });

  it('every leg is logged: the parent, each child with its SID, talk time, outcome and ring/answer progress', async () => {
    const result = await urgentCall([{ status: 'no-answer' }, { status: 'completed', whisperDigits: '1', duration: 42 }]);
    expect(result.errors).toEqual([]);
    // The dialled <Number> reports its progress to the status callback.
    const progress = result.requests.filter((r) => r.kind === 'callback' && r.party === 'provider' && r.path === '/twilio/voice/status');
    expect(progress.map((r) => r.params['CallStatus'])).toEqual(['initiated', 'ringing', 'no-answer', 'initiated', 'ringing', 'in-progress', 'completed']);
    const res = await fetch(`${h.baseUrl}/api/calls/${result.callSid}`, { headers: { authorization: `Bearer ${adminKey}` } });
    const body = (await res.json()) as { timeline: TimelineEntry[] };
    const legsOf = (kind: string): Array<Extract<TimelineEntry, { kind: 'dial_leg' | 'parent_leg' | 'page_sms' }>> =>
      body.timeline.flatMap((t) => (t.kind === kind && t.kind !== 'event' ? [t] : []));
    const [first, second] = legsOf('dial_leg');
    if (!first || !second) throw new Error('two dial legs expected');
    expect(first).toMatchObject({ legSid: expect.stringMatching(/^CA[0-9a-f]{32}$/), outcome: 'no-answer', durationSeconds: 0, numberTried: PRIMARY, tier: 1 });
    expect(second).toMatchObject({ legSid: expect.stringMatching(/^CA[0-9a-f]{32}$/), outcome: 'accepted', numberTried: BACKUP, tier: 2 });
    expect(second.durationSeconds).toBeGreaterThanOrEqual(42);
    expect(first.progress?.map((p) => p.status)).toEqual(['initiated', 'ringing', 'no-answer']);
    expect(second.progress?.map((p) => p.status)).toEqual(['initiated', 'ringing', 'in-progress', 'completed']);
    const events = body.timeline.flatMap((t) => (t.kind === 'event' ? [t] : []));
    expect(events.find((e) => e.action === 'oncall.attempt_failed')?.details).toMatchObject({ childCallSid: first.legSid, durationSeconds: 0, outcome: 'no-answer' });
    expect(events.find((e) => e.action === 'oncall.connected')?.details).toMatchObject({ childCallSid: second.legSid, durationSeconds: second.durationSeconds, outcome: 'accepted' });
    // The parent leg, closed by the parent's status callback.
    expect(legsOf('parent_leg')).toEqual([expect.objectContaining({ legSid: result.callSid, outcome: 'completed', durationSeconds: result.durationSeconds })]);
    // The child legs' call records belong to the practice (their To is the provider's phone).
    const children = await h.services.db.selectFrom('calls').select(['call_sid', 'practice_id']).where('call_sid', 'in', [first.legSid ?? '', second.legSid ?? '']).execute();
    expect(children.map((c) => c.practice_id)).toEqual([h.services.seeded?.id, h.services.seeded?.id]);
  });

  it('a recorded decline is the logged outcome whatever DialCallStatus says', async () => {
    const callSid = `CA${randomBytes(16).toString('hex')}`;
    // The provider of the first dial (whisper 0) declined, but Twilio reports no-answer for the leg.
    await setWhisperOutcome(h.services.redis, callSid, 0, 'declined');
    const result = await urgentCall([{ status: 'no-answer' }, { status: 'completed', whisperDigits: '1' }], { callSid });
    expect(dialled(result)).toEqual([PRIMARY, BACKUP]);
    expect((await legs(callSid)).map((l) => l.outcome)).toEqual(['declined', 'accepted']);
    const failed = await h.services.db.selectFrom('audit_log').select('details').where('call_sid', '=', callSid).where('action', '=', 'oncall.attempt_failed').executeTakeFirstOrThrow();
    expect(failed.details).toMatchObject({ outcome: 'declined' });
  });

  it('a decline (2) moves on; only 1 bridges', async () => {
    const result = await urgentCall([{ status: 'completed', whisperDigits: '2' }, { status: 'completed', whisperDigits: '1' }]);
    expect(dialled(result)).toEqual([PRIMARY, BACKUP]);
    expect((await legs(result.callSid)).map((l) => l.outcome)).toEqual(['declined', 'accepted']);
  });

  it("the provider's voicemail picks up (detected): hung up on, next tier", async () => {
    const result = await urgentCall([{ status: 'completed', answeredBy: 'machine_end_beep' }, { status: 'completed', whisperDigits: '1' }]);
    expect((await legs(result.callSid)).map((l) => l.outcome)).toEqual(['machine', 'accepted']);
    // Only the second (human) leg heard the whisper; the machine was hung up on at once.
    expect(heard(result, 'provider').split('Urgent after-hours call').length - 1).toBe(1);
  });

  it('a verified caller: the whisper gives the first name and callback number, nothing more', async () => {
    const result = await sim.placeCall({
      from: PATIENT,
      to: PRACTICE,
      digits: ['1', '3', '1', '04151980#', '1', '1'],
      dialOutcomes: [{ status: 'completed', whisperDigits: '1' }],
    });
    const provider = heard(result, 'provider');
    expect(provider).toContain('The caller is Avery, calling from 2 0 2 5 5 5 0 1 2 3.');
    expect(provider).not.toContain('Example');
    expect(provider).not.toMatch(/1980|April|appointment/);
  });

  it("the whisper's callback number is the parent call's caller, never the provider leg's caller ID", async () => {
    const result = await sim.placeCall({
      from: PATIENT,
      to: PRACTICE,
      digits: ['1', '3', '1', '04151980#', '1', '1'],
      dialOutcomes: [{ status: 'completed', whisperDigits: '1' }],
    });
    // The provider's leg presents another caller ID (as a <Dial callerId> would).
    const child = VoiceWebhookSchema.parse({
      CallSid: `CA${randomBytes(16).toString('hex')}`,
      AccountSid: TEST_ACCOUNT_SID,
      ParentCallSid: result.callSid,
      From: '+12025550177',
      To: PRIMARY,
      CallStatus: 'in-progress',
      Direction: 'outbound-dial',
      AnsweredBy: 'human',
    });
    const twiml = await handleWhisper(h.services, (id) => tenantScope(h.services, id), { parent: result.callSid, attempt: 0 }, child);
    expect(twiml).toContain('The caller is Avery, calling from 2 0 2 5 5 5 0 1 2 3.');
    expect(twiml).not.toContain('0 1 7 7');
  });

  it("a machine on the provider's leg is hung up on without decrypting anything of the verified caller's", async () => {
    const result = await sim.placeCall({
      from: PATIENT,
      to: PRACTICE,
      digits: ['1', '3', '1', '04151980#', '1', '1'],
      dialOutcomes: [{ status: 'completed', whisperDigits: '1' }],
    });
    const child = (answeredBy: string): VoiceWebhook =>
      VoiceWebhookSchema.parse({
        CallSid: `CA${randomBytes(16).toString('hex')}`,
        AccountSid: TEST_ACCOUNT_SID,
        ParentCallSid: result.callSid,
        From: PRACTICE,
        To: PRIMARY,
        CallStatus: 'in-progress',
        Direction: 'outbound-dial',
        AnsweredBy: answeredBy,
      });
    // A keyring that cannot decrypt: any decryption throws.
    const undecryptable: Services = { ...h.services, keyring: { ...h.services.keyring, keyring: {} as Keyring['keyring'] } };
    const q = { parent: result.callSid, attempt: 7 };
    expect(await handleWhisper(undecryptable, (id) => tenantScope(undecryptable, id), q, child('machine_end_beep'))).toBe('<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>');
    expect(await getWhisperOutcome(h.services.redis, result.callSid, 7)).toBe('machine');
    // The control: a person is told the caller's name, so that needs decryption.
    await expect(handleWhisper(undecryptable, (id) => tenantScope(undecryptable, id), q, child('human'))).rejects.toThrow();
  });

  it('an override puts someone else on call for tier 1', async () => {
    const schedule = await h.services.db.selectFrom('oncall_schedules').select('id').executeTakeFirstOrThrow();
    const backup = await h.services.db.selectFrom('providers').select('id').where('phone', '=', BACKUP).executeTakeFirstOrThrow();
    await h.services.db
      .insertInto('oncall_overrides')
      .values({ schedule_id: schedule.id, provider_id: backup.id, starts_at: new Date('2026-11-26T02:00:00Z'), ends_at: new Date('2026-11-26T04:00:00Z') })
      .execute();
    try {
      const result = await urgentCall([{ status: 'completed', whisperDigits: '1' }]);
      expect(dialled(result)).toEqual([BACKUP]);
    } finally {
      await h.services.db.deleteFrom('oncall_overrides').execute();
    }
  });

  it('the daily hand-off at 08:00 New York changes tier 1 (the next day, Dr. Riley Backup)', async () => {
    now = new Date('2026-11-26T13:30:00Z'); // Thanksgiving 08:30: a holiday, so the after-hours path runs
    const result = await urgentCall([{ status: 'completed', whisperDigits: '1' }]);
    expect(dialled(result)).toEqual([BACKUP]);
  });

  it('DST: on the fall-back Sunday the 08:00 hand-off happens at 13:00 UTC, not 12:00', async () => {
    now = new Date('2026-11-01T12:30:00Z'); // 07:30 EST: Saturday's doctor is still on call
    expect(dialled(await urgentCall([{ status: 'completed', whisperDigits: '1' }]))).toEqual([BACKUP]);
    now = new Date('2026-11-01T13:30:00Z'); // 08:30 EST: handed off
    expect(dialled(await urgentCall([{ status: 'completed', whisperDigits: '1' }]))).toEqual([PRIMARY]);
  });
});

describe('all tiers fail: urgent voicemail, pages until acknowledged', () => {
  it('walks the chain twice, takes an urgent voicemail, pages every tier without PHI; an SMS ACK stops the pages', async () => {
    // Rounds ten minutes apart: the test runs each one now by promoting its delayed job.
    await h.services.db.updateTable('escalation_policies').set({ page_interval_seconds: 600, page_max_repeats: 1 }).execute();
    const before = double.requests.length;
    const result = await urgentCall([{ status: 'no-answer' }, { status: 'busy' }, { status: 'no-answer' }, { status: 'completed', answeredBy: 'machine_start' }]);
    expect(dialled(result)).toEqual([PRIMARY, BACKUP, PRIMARY, BACKUP]);
    expect(result.transcript).toContainEqual(expect.objectContaining({ kind: 'record' }));
    expect((await legs(result.callSid)).filter((l) => l.kind === 'dial').map((l) => [l.tier, l.round, l.outcome])).toEqual([
      [1, 0, 'no-answer'],
      [2, 0, 'busy'],
      [1, 1, 'no-answer'],
      [2, 1, 'machine'],
    ]);
    const voicemail = await h.services.db.selectFrom('audit_log').select('details').where('call_sid', '=', result.callSid).where('action', '=', 'voicemail.taken').executeTakeFirstOrThrow();
    expect(voicemail.details).toMatchObject({ urgency: 'urgent' });

    // The first round reaches both tiers.
    const page = await until('the page', () => h.services.db.selectFrom('pages').selectAll().where('call_sid', '=', result.callSid).executeTakeFirst());
    await until('the primary and backup SMS', () => smsTo(PRIMARY).length >= 1 && smsTo(BACKUP).length >= 1);
    const text = smsTo(PRIMARY)[0]?.body ?? '';
    expect(text).toBe(`Demo Family Medicine: urgent voicemail waiting. Ref ${page.reference_code}. Call 202-555-0103 or reply ACK ${page.reference_code} to acknowledge. ${TEST_PUBLIC_BASE_URL}/console/pages/${page.id}`);
    for (const identity of TEST_IDENTITIES) expect(JSON.stringify(double.requests.slice(before).map((r) => r.form.toString()))).not.toContain(encodeURIComponent(identity));

    // Repeats, then the practice admin after the policy's one repeat.
    const pages = h.services.queues.pages;
    await until('the manager SMS', () => smsTo(MANAGER).length >= 1, 20_000, () => promoteDelayed(pages, pageRound(page.id)));
    expect(smsTo(PRIMARY).length).toBeGreaterThanOrEqual(2);
    // Every SMS of the rounds so far has gone out: only the next round's timer is left.
    await until('the sends of the last round', async () => (await pendingJobs(pages, (job) => job.name === 'page-send')).length === 0);

    // The on-call doctor replies by SMS (a signed Twilio webhook): paging stops.
    const params = { MessageSid: `SM${'a'.repeat(32)}`, AccountSid: TEST_ACCOUNT_SID, From: PRIMARY, To: PRACTICE, Body: `ack ${page.reference_code}` };
    const res = await postTwilio(h, '/twilio/sms/incoming', params);
    expect(res.body).toContain(`Acknowledged, ref ${page.reference_code}.`);
    const acked = await h.services.db.selectFrom('pages').selectAll().where('id', '=', page.id).executeTakeFirstOrThrow();
    expect(acked.status).toBe('acknowledged');
    const sentAtAck = smsTo(PRIMARY).length + smsTo(BACKUP).length + smsTo(MANAGER).length;
    // Any round still queued (the ack removes the next timer, but a round promoted by the wait
    // above and running at the ack may queue one more) finds the page acknowledged and sends nothing.
    const afterAck = await pendingJobs(pages, pageRound(page.id));
    for (const job of afterAck) await job.promote().catch(() => undefined);
    const leftover = await until('the rounds left over finished', async () => {
      const states = await Promise.all(afterAck.map(async (j) => ((await pages.getJob(j.id ?? '')) ?? null)));
      const finished = await Promise.all(states.map(async (j) => (j ? { state: await j.getState(), value: j.returnvalue as unknown } : { state: 'missing', value: undefined })));
      return finished.every((j) => j.state === 'completed' || j.state === 'failed' || j.state === 'missing') ? finished : null;
    });
    expect(leftover.every((j) => j.state !== 'failed')).toBe(true);
    expect(await runJobNow(pages, 'a late round', 'page', { pageId: page.id, round: acked.rounds_sent })).toMatchObject({ state: 'completed', returnvalue: 'acknowledged' });
    expect(smsTo(PRIMARY).length + smsTo(BACKUP).length + smsTo(MANAGER).length).toBe(sentAtAck);

    // The call's timeline accounts for every leg and page, in order.
    const timeline = await fetch(`${h.baseUrl}/api/calls/${result.callSid}`, { headers: { authorization: `Bearer ${adminKey}` } });
    const body = (await timeline.json()) as { timeline: Array<{ at: string; kind: string; action?: string; seq: number | null }>; legs: unknown[]; pages: Array<{ status: string }> };
    const seqs = body.timeline.flatMap((t) => (t.seq === null ? [] : [t.seq]));
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(body.timeline.filter((t) => t.kind === 'dial_leg')).toHaveLength(4);
    expect(body.timeline.filter((t) => t.kind === 'page_sms').length).toBe(sentAtAck);
    expect(body.timeline.map((t) => t.action)).toEqual(expect.arrayContaining(['call.leg.started', 'oncall.exhausted', 'voicemail.taken', 'page.opened', 'page.sent', 'page.admin_escalated', 'page.acknowledged']));
    expect(body.pages).toEqual([expect.objectContaining({ status: 'acknowledged' })]);
  });

  it('a provider acknowledges by keypad on the practice line (*, then the reference); a stranger cannot', async () => {
    await h.services.db.updateTable('escalation_policies').set({ page_interval_seconds: 600, page_max_repeats: 3 }).execute();
    const result = await urgentCall([{ status: 'no-answer' }, { status: 'no-answer' }, { status: 'no-answer' }, { status: 'no-answer' }]);
    const page = await until('the page', () => h.services.db.selectFrom('pages').selectAll().where('call_sid', '=', result.callSid).executeTakeFirst());

    const stranger = await sim.placeCall({ from: '+12025550142', to: PRACTICE, digits: ['1', '*', `${page.reference_code}#`] });
    expect(heard(stranger)).toContain('We could not acknowledge that reference.');
    expect((await h.services.db.selectFrom('pages').select('status').where('id', '=', page.id).executeTakeFirstOrThrow()).status).toBe('open');

    // A provider who keys nothing, or a reference that is not six digits: nothing acknowledged.
    expect(heard(await sim.placeCall({ from: BACKUP, to: PRACTICE, digits: ['1', '*', null] }))).toContain('We did not receive a reference.');
    const taken = new Set((await h.services.db.selectFrom('pages').select('reference_code').execute()).map((p) => p.reference_code));
    const wrong = ['000000', '111111', '222222', '333333'].find((r) => !taken.has(r)) ?? '';
    // (Twilio's literal "timeout", which the webhook schema lets through, is no reference either.)
    for (const digits of [`${page.reference_code.slice(1)}#`, `${wrong}#`, 'timeout']) {
      expect(heard(await sim.placeCall({ from: BACKUP, to: PRACTICE, digits: ['1', '*', digits] }))).toContain('We could not acknowledge that reference.');
    }
    expect((await h.services.db.selectFrom('pages').select('status').where('id', '=', page.id).executeTakeFirstOrThrow()).status).toBe('open');

    const doctor = await sim.placeCall({ from: BACKUP, to: PRACTICE, digits: ['1', '*', `${page.reference_code}#`] });
    expect(heard(doctor)).toContain('The page is acknowledged. Paging has stopped.');
    expect(heard(await sim.placeCall({ from: PRIMARY, to: PRACTICE, digits: ['1', '*', `${page.reference_code}#`] }))).toContain('That page was already acknowledged.');
    const acked = await h.services.db.selectFrom('pages').selectAll().where('id', '=', page.id).executeTakeFirstOrThrow();
    expect(acked.status).toBe('acknowledged');
    expect(acked.acknowledged_by).toMatch(/^provider:[0-9a-f-]{36}$/);
    const audit = await h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'page.acknowledged').where('subject_id', '=', page.id).executeTakeFirstOrThrow();
    expect(audit.details).toMatchObject({ via: 'keypad' });
  });

  it('pages survive a restart of the service; the API acknowledges too', async () => {
    await h.services.db.updateTable('escalation_policies').set({ page_interval_seconds: 600, page_max_repeats: 5 }).execute();
    const result = await urgentCall([{ status: 'no-answer' }, { status: 'no-answer' }, { status: 'no-answer' }, { status: 'no-answer' }]);
    const page = await until('the page', () => h.services.db.selectFrom('pages').selectAll().where('call_sid', '=', result.callSid).executeTakeFirst());
    await until('the first round sent', async () => (await h.services.db.selectFrom('pages').select('rounds_sent').where('id', '=', page.id).executeTakeFirstOrThrow()).rounds_sent >= 1 || undefined);

    // Stop everything between rounds; the delayed job for round 1 waits in Redis, and runs (now) after the restart.
    await h.restart();
    expect(await runDelayedNow(h.services.queues.pages, 'round 1 after the restart', pageRound(page.id))).toEqual([expect.objectContaining({ state: 'completed', returnvalue: 'sent' })]);
    expect((await h.services.db.selectFrom('pages').select('rounds_sent').where('id', '=', page.id).executeTakeFirstOrThrow()).rounds_sent).toBe(2);

    const res = await fetch(`${h.baseUrl}/api/pages/${page.id}/ack`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}` } });
    expect(await res.json()).toMatchObject({ result: 'acknowledged', referenceCode: page.reference_code });
    const again = await fetch(`${h.baseUrl}/api/pages/${page.id}/ack`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}` } });
    expect(await again.json()).toMatchObject({ result: 'already' });
    const rounds = (await h.services.db.selectFrom('pages').select('rounds_sent').where('id', '=', page.id).executeTakeFirstOrThrow()).rounds_sent;
    // No round after the acknowledgement: its timer is gone, and a late one sends nothing.
    expect(await pendingJobs(h.services.queues.pages, pageRound(page.id))).toEqual([]);
    expect(await runJobNow(h.services.queues.pages, 'a late round', 'page', { pageId: page.id, round: rounds })).toMatchObject({ state: 'completed', returnvalue: 'acknowledged' });
    expect((await h.services.db.selectFrom('pages').select('rounds_sent').where('id', '=', page.id).executeTakeFirstOrThrow()).rounds_sent).toBe(rounds);
    // Job payloads carry ids only.
    const jobs = await h.services.queues.pages.getJobs(['completed', 'delayed', 'waiting', 'active']);
    for (const job of jobs) expect(Object.keys(job.data as object).sort()).toEqual(job.name === 'page-send' ? ['pageId', 'providerId', 'round'] : ['pageId', 'round']);
  });
});

describe('inbound SMS', () => {
  async function postSms(params: Record<string, string>): Promise<string> {
    return (await postTwilio(h, '/twilio/sms/incoming', params)).body;
  }

  it("STOP to a practice number puts the sender on that practice's opt-out list; to any other number, on none", async () => {
    const sender = '+12025550166';
    const optOuts = (): Promise<Array<{ practice_id: string; source: string }>> =>
      h.services.db.selectFrom('opt_outs').select(['practice_id', 'source']).where('phone_index', '=', phoneIndex(h.services.keyring, sender)).execute();
    const sms = (to: string): Record<string, string> => ({ MessageSid: `SM${randomBytes(16).toString('hex')}`, AccountSid: TEST_ACCOUNT_SID, From: sender, To: to, Body: 'STOP' });

    expect(await postSms(sms('+12025550198'))).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
    expect(await optOuts()).toEqual([]);
    expect(await postSms(sms(PRACTICE))).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
    const practice = await h.services.db.selectFrom('practice_numbers').select('practice_id').where('e164', '=', PRACTICE).executeTakeFirstOrThrow();
    expect(await optOuts()).toEqual([{ practice_id: practice.practice_id, source: 'sms_stop' }]);
  });
});
