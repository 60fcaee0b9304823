import { describe, expect, it } from 'vitest';
import { consoleLink } from './report';
import { dialled, listens, verificationSteps, type AuditEvent, type CallLeg } from '../calls/call-view';

describe("the Overnight page's links", () => {
  it("turns each report list into the console page with the same filters", () => {
    expect(consoleLink('/api/calls?from=2026-11-24T22%3A00%3A00.000Z&to=2026-11-25T13%3A00%3A00.000Z&outcome=fail_safe')).toBe('/calls?from=2026-11-24T22%3A00%3A00.000Z&to=2026-11-25T13%3A00%3A00.000Z&outcome=fail_safe');
    expect(consoleLink('/api/tasks?status=open')).toBe('/callbacks?status=open');
    expect(consoleLink('/api/tasks?overdue=true')).toBe('/callbacks?overdue=true');
    expect(consoleLink('/api/voicemails?from=a&to=b&unhandled=true')).toBe('/voicemail?unhandled=true&from=a&to=b');
    expect(consoleLink('/api/lockouts?from=a&to=b')).toBe('/audit?action=verification.locked_out&from=a&to=b');
  });

  it('leaves a count unlinked when no page lists it, or the page could not apply a filter (a longer list than the count)', () => {
    expect(consoleLink(null)).toBeNull();
    expect(consoleLink('/api/voicemails/dead-letter')).toBeNull();
    expect(consoleLink('/api/calls?patientId=0b7c')).toBeNull();
  });
});

describe("a call's page reads its audit events", () => {
  const ev = (seq: number, action: string, details: Record<string, unknown> = {}, actor = 'system', subjectId: string | null = null): AuditEvent => ({
    seq,
    at: `2026-11-25T03:00:0${seq}.000Z`,
    practiceId: 'p',
    actor,
    action,
    callSid: 'CA',
    leg: 'parent',
    subjectId,
    details,
  });

  it('verification outcomes in order, with the try and the reason code, never anything keyed', () => {
    const steps = verificationSteps([ev(1, 'call.transition'), ev(2, 'verification.failed', { try: 1, reason: 'no_match', node: 'verify' }), ev(3, 'verification.succeeded', { try: 2 })]);
    expect(steps).toEqual([
      { at: '2026-11-25T03:00:02.000Z', result: 'failed', attempt: 1, reason: 'no_match' },
      { at: '2026-11-25T03:00:03.000Z', result: 'verified', attempt: 2, reason: null },
    ]);
  });

  it("who listened: one entry per playback's start (a seek's later ranges are the same listen)", () => {
    const played = listens([
      ev(1, 'voicemail.playback', { phase: 'started', range: null, via: 'console' }, 'user:a', 'vm1'),
      ev(2, 'voicemail.playback', { phase: 'finished', range: null }, 'user:a', 'vm1'),
      ev(3, 'voicemail.playback', { phase: 'started', range: '5000-9999' }, 'user:a', 'vm1'),
      ev(4, 'voicemail.playback', { phase: 'started', range: '0-' }, 'user:b', 'vm1'),
    ]);
    expect(played.map((p) => p.actor)).toEqual(['user:a', 'user:b']);
    expect(played[0]).toMatchObject({ voicemailId: 'vm1', via: 'console' });
  });

  it('the dial legs, the accepted one marked', () => {
    const leg = (outcome: string, kind: CallLeg['kind'] = 'dial'): CallLeg => ({ legSid: null, kind, tier: 1, round: 1, providerId: null, numberTried: 'masked', outcome, durationSeconds: 0, at: '2026-11-25T03:00:00.000Z', endedAt: null });
    expect(dialled([leg('completed', 'parent'), leg('no-answer'), leg('accepted')]).map((l) => [l.outcome, l.accepted])).toEqual([
      ['no-answer', false],
      ['accepted', true],
    ]);
  });
});
