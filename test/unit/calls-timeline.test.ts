import { describe, expect, it } from 'vitest';
import { buildTimeline, type TimelineAuditEvent, type TimelineEntry, type TimelineLeg } from '../../src/calls/timeline.js';

/**
 * The call timeline, pure: audit events in chain order, each leg right after the event that
 * recorded it, legs with no such event by their own (service-clock) time. All events here share
 * one instant, as they do under a fixed test clock, so only the keys can order them.
 */

const AT = '2026-11-26T03:00:00.000Z';
const CHILD_1 = `CA${'1'.repeat(32)}`;
const CHILD_2 = `CA${'2'.repeat(32)}`;
let seq = 100;
const ev = (action: string, details: Record<string, unknown> = {}, at = AT, leg: string | null = 'parent'): TimelineAuditEvent => ({
  seq: (seq += 1),
  at,
  action,
  leg,
  subjectId: null,
  details,
});
const leg = (l: Partial<TimelineLeg> & Pick<TimelineLeg, 'id' | 'kind'>): TimelineLeg => ({
  legSid: null,
  tier: null,
  round: null,
  providerId: null,
  numberTried: null,
  outcome: 'sent',
  durationSeconds: null,
  startedAt: new Date(AT),
  endedAt: null,
  ...l,
});
const label = (t: TimelineEntry): string => (t.kind === 'event' ? t.action : `${t.kind}${t.tier !== null ? `:${t.tier}` : ''}${t.round !== null ? `/${t.round}` : ''}`);

describe('buildTimeline', () => {
  it('puts each leg right after the event that recorded it, whatever order the rows come in', () => {
    const events = [
      ev('call.leg.started'),
      ev('call.dial', { tier: 1, round: 0 }),
      ev('oncall.attempt_failed', { tier: 1, round: 0, childCallSid: CHILD_1, outcome: 'no-answer' }),
      ev('call.dial', { tier: 2, round: 0 }),
      ev('oncall.connected', { tier: 2, round: 0, childCallSid: CHILD_2, outcome: 'accepted' }),
      ev('call.leg.status', { status: 'completed' }),
    ];
    // Rows in the "wrong" order, stamped later than every event by another clock: no matter.
    const later = new Date('2026-11-30T14:00:00Z');
    const legs = [
      leg({ id: 'l2', kind: 'dial', legSid: CHILD_2, tier: 2, round: 0, outcome: 'accepted', startedAt: later, endedAt: later }),
      leg({ id: 'p', kind: 'parent', legSid: `CA${'0'.repeat(32)}`, outcome: 'completed', startedAt: later }),
      leg({ id: 'l1', kind: 'dial', legSid: CHILD_1, tier: 1, round: 0, outcome: 'no-answer', startedAt: later, endedAt: later }),
    ];
    expect(buildTimeline([...events].reverse(), legs).map(label)).toEqual([
      'call.leg.started',
      'parent_leg',
      'call.dial',
      'oncall.attempt_failed',
      'dial_leg:1/0',
      'call.dial',
      'oncall.connected',
      'dial_leg:2/0',
      'call.leg.status',
    ]);
  });

  it('falls back to tier and round when the event has no child SID, and pages after their round', () => {
    const events = [
      ev('oncall.attempt_failed', { tier: 1, round: 0, outcome: 'busy' }),
      ev('oncall.attempt_failed', { tier: 1, round: 1, outcome: 'busy' }),
      ev('page.opened'),
      ev('page.sent', { round: 0, recipients: 2 }),
      ev('page.sent', { round: 1, recipients: 2 }),
    ];
    const legs = [
      leg({ id: 'd2', kind: 'dial', tier: 1, round: 1, outcome: 'busy' }),
      leg({ id: 'd1', kind: 'dial', tier: 1, round: 0, outcome: 'busy' }),
      leg({ id: 's3', kind: 'page', round: 1 }),
      leg({ id: 's1', kind: 'page', round: 0 }),
      leg({ id: 's2', kind: 'page', round: 0 }),
    ];
    expect(buildTimeline(events, legs).map(label)).toEqual([
      'oncall.attempt_failed',
      'dial_leg:1/0',
      'oncall.attempt_failed',
      'dial_leg:1/1',
      'page.opened',
      'page.sent',
      'page_sms/0',
      'page_sms/0',
      'page.sent',
      'page_sms/1',
    ]);
  });

  it('a leg no event recorded goes by its own time: after every event at or before it', () => {
    const events = [ev('call.leg.started', {}, '2026-11-26T03:00:00.000Z'), ev('call.transition', {}, '2026-11-26T03:00:05.000Z'), ev('call.leg.status', {}, '2026-11-26T03:01:00.000Z')];
    const transfer = leg({ id: 't', kind: 'dial', outcome: 'completed', startedAt: new Date('2026-11-26T03:00:05.000Z'), endedAt: new Date('2026-11-26T03:00:30.000Z') });
    const early = leg({ id: 'x', kind: 'page', round: 9, startedAt: new Date('2026-11-26T02:00:00.000Z') });
    expect(buildTimeline(events, [transfer, early]).map(label)).toEqual(['page_sms/9', 'call.leg.started', 'call.transition', 'dial_leg', 'call.leg.status']);
  });

  it('leg entries carry service-clock times and the child leg progress', () => {
    const [entry] = buildTimeline([], [leg({ id: 'l', kind: 'dial', legSid: CHILD_1, tier: 1, round: 0, endedAt: new Date('2026-11-26T03:00:20.000Z') })], new Map([[CHILD_1, [{ status: 'ringing', at: AT }]]]));
    expect(entry).toMatchObject({ kind: 'dial_leg', at: AT, endedAt: '2026-11-26T03:00:20.000Z', seq: null, progress: [{ status: 'ringing', at: AT }] });
  });
});
