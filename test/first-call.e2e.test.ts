import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogs } from '../src/log/logger.js';
import { heard } from '../src/simulator/simulator.js';
import { verifyChain } from '../src/audit/store.js';
import { startHarness, type Harness } from './support/harness.js';
import { simulatorFor, TEST_IDENTITIES } from './support/simulate.js';
import type { CallSimulator } from '../src/simulator/simulator.js';

let h: Harness;
let sim: CallSimulator;
let logs: ReturnType<typeof captureLogs>;
const PATIENT = '+12025550123';
const PRACTICE = '+12025550100';

beforeAll(async () => {
  logs = captureLogs();
  h = await startHarness('first_call');
  sim = simulatorFor(h);
});
afterAll(async () => {
  logs.restore();
  await h.close();
});

async function auditFor(callSid: string): Promise<Array<{ action: string; details: Record<string, unknown> }>> {
  return h.services.db.selectFrom('audit_log').select(['action', 'details']).where('call_sid', '=', callSid).orderBy('seq').execute();
}

describe('the first after-hours call path, end to end', () => {
  it('the caller hears the practice name, then the disclaimer, then the menu', async () => {
    const result = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['2'], recordings: [{ durationSeconds: 20, digits: '#' }] });
    expect(result.errors).toEqual([]);
    const text = heard(result);
    const name = text.indexOf('Thank you for calling Demo Family Medicine.');
    const disclaimer = text.indexOf('If this is a medical emergency, hang up and dial 911.');
    const menu = text.indexOf('press 1');
    expect(name).toBeGreaterThanOrEqual(0);
    expect(disclaimer).toBeGreaterThan(name);
    expect(menu).toBeGreaterThan(disclaimer);
    expect(text).toContain('Your message has been recorded');
  });

  it('writes one call record with its status history, and audit events for every step', async () => {
    const result = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['2'], recordings: [{ durationSeconds: 20, digits: '#' }] });
    const call = await h.services.db.selectFrom('calls').selectAll().where('call_sid', '=', result.callSid).executeTakeFirstOrThrow();
    expect(call.status).toBe('completed');
    expect(call.status_history.map((e) => e.source)).toEqual(['incoming', 'menu', 'recorded', 'status-callback']);
    expect(call.from_index).toMatch(/^[0-9a-f]{64}$/);
    const actions = (await auditFor(result.callSid)).map((e) => e.action);
    expect(actions).toEqual([
      'call.leg.started',
      'call.transition', // → menu
      'call.transition', // menu → voicemail
      'call.transition', // voicemail → hangup
      'voicemail.recording_status',
      'call.leg.status',
    ]);
  });

  it('urgent: dials the on-call number; an unanswered dial falls back to a message', async () => {
    const answered = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1'], dialOutcomes: [{ status: 'completed' }] });
    expect(answered.transcript).toContainEqual(expect.objectContaining({ kind: 'dial', numbers: ['+12025550199'] }));
    const events = await auditFor(answered.callSid);
    expect(events.map((e) => e.details)).toContainEqual({ from: 'on_call', to: 'hangup', dial: 'completed' });

    const missed = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1'], dialOutcomes: [{ status: 'no-answer' }], recordings: [{ durationSeconds: 5, digits: '#' }] });
    expect(heard(missed)).toContain('The on-call provider could not be reached.');
    expect(heard(missed)).toContain('leave your message after the tone');
  });

  it('repeats the menu on 0, on a wrong key and on silence, then takes a message', async () => {
    const result = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['0', '9', null], recordings: [{ durationSeconds: 5, digits: '#' }] });
    const text = heard(result);
    expect(text.match(/For an urgent medical question, press 1\./g)).toHaveLength(3);
    expect(text).toContain('Sorry, that is not a valid choice.');
    expect(text).toContain('We did not receive a valid selection.');
    expect(text).toContain('Your message has been recorded');
  });

  it('a retried webhook returns the same TwiML and records nothing twice', async () => {
    const result = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['2'], recordings: [{ durationSeconds: 5, digits: '#' }] });
    const before = await auditFor(result.callSid);
    const first = result.requests[0];
    if (!first) throw new Error('no request');
    // Replay the very first webhook, as Twilio would after a timeout.
    const replay = await sim.placeCall({ from: PATIENT, to: PRACTICE, callSid: result.callSid, hangupAfterSteps: 1 });
    expect(replay.requests[0]?.body).toBe(first.body);
    const after = await auditFor(result.callSid);
    expect(after.filter((e) => e.action === 'call.leg.started')).toHaveLength(1);
    expect(after.length - before.length).toBeLessThanOrEqual(1); // at most the replay's own final status, which is new
  });

  it('keeps the test identities out of every log line, audit row and call record', async () => {
    // The caller keys a date of birth at the menu, as confused callers do.
    await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['04151980', '2'], recordings: [{ durationSeconds: 5, digits: '#' }] });
    const lines = logs.lines();
    expect(lines.length).toBeGreaterThan(10);
    expect(lines.every((l) => typeof JSON.parse(l).requestId === 'string' || JSON.parse(l).requestId === null)).toBe(true);
    const webhookLines = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => String(l.route ?? '').startsWith('/twilio/voice/menu'));
    expect(webhookLines.length).toBeGreaterThan(0);
    expect(webhookLines.every((l) => typeof l.requestId === 'string' && /^CA[0-9a-f]{32}$/.test(String(l.callSid)))).toBe(true);
    const stored = JSON.stringify([
      await h.services.db.selectFrom('audit_log').selectAll().execute(),
      await h.services.db.selectFrom('calls').selectAll().execute(),
    ]);
    for (const identity of TEST_IDENTITIES) {
      for (const line of lines) expect(line).not.toContain(identity);
      expect(stored).not.toContain(identity);
    }
    expect(await verifyChain(h.services.db)).toMatchObject({ ok: true });
  });
});
