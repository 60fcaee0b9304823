import { describe, expect, it } from 'vitest';
import { AuditAction } from '../../src/audit/events.js';
import { progressOf } from '../../src/calls/call-progress.js';
import type { StepEvent } from '../../src/calls/fail-safe.js';
import { parseFlowDocument } from '../../src/calls/flow-schema.js';
import type { Flow } from '../../src/calls/flow-types.js';
import { nextOpening } from '../../src/practices/hours.js';
import { DEFAULT_HOLIDAYS, DEFAULT_WEEKLY_HOURS } from '../../src/practices/settings.js';
import { dueAt, NO_HOURS_FALLBACK_MS } from '../../src/tasks/due.js';
import { overdueAlertText } from '../../src/tasks/overdue.js';

const NY = 'America/New_York';
const PRACTICE = { timeZone: NY, weeklyHours: DEFAULT_WEEKLY_HOURS, holidays: DEFAULT_HOLIDAYS, routineCallbackHours: 2 };

describe('when a callback is due', () => {
  it('urgent: 30 minutes after the message, whatever the hours', () => {
    const at = new Date('2026-11-28T03:00:00Z');
    expect(dueAt('urgent', at, PRACTICE).toISOString()).toBe('2026-11-28T03:30:00.000Z');
  });

  it('routine: the next opening plus the practice’s hours; now, while open', () => {
    // Friday 20:00 New York → Monday 08:00 EST + 2 h.
    expect(dueAt('routine', new Date('2026-11-28T01:00:00Z'), PRACTICE).toISOString()).toBe('2026-11-30T15:00:00.000Z');
    // Open now (Monday 10:00 EST): due 2 h from now; 0 h means now.
    const open = new Date('2026-11-30T15:00:00Z');
    expect(dueAt('routine', open, PRACTICE).toISOString()).toBe('2026-11-30T17:00:00.000Z');
    expect(dueAt('routine', open, { ...PRACTICE, routineCallbackHours: 0 }).toISOString()).toBe(open.toISOString());
  });

  it('skips holidays and follows the zone across a DST change', () => {
    // Wednesday night before Thanksgiving: Friday 08:00 EST.
    expect(nextOpening(new Date('2026-11-26T03:00:00Z'), NY, DEFAULT_WEEKLY_HOURS, DEFAULT_HOLIDAYS)?.toISOString()).toBe('2026-11-27T13:00:00.000Z');
    // Saturday 2026-03-07 (EST) → Monday 2026-03-09 08:00 EDT.
    expect(nextOpening(new Date('2026-03-07T17:00:00Z'), NY, DEFAULT_WEEKLY_HOURS, DEFAULT_HOLIDAYS)?.toISOString()).toBe('2026-03-09T12:00:00.000Z');
  });

  it('a practice with no opening hours: a day after the message', () => {
    const closed = { ...PRACTICE, weeklyHours: { mon: [], tue: [], wed: [], thu: [], fri: [], sat: [], sun: [] } };
    const at = new Date('2026-11-28T01:00:00Z');
    expect(nextOpening(at, NY, closed.weeklyHours, DEFAULT_HOLIDAYS)).toBeNull();
    expect(dueAt('routine', at, closed).getTime()).toBe(at.getTime() + NO_HOURS_FALLBACK_MS);
  });
});

describe('the reason of the path taken', () => {
  const flow = {
    id: 't',
    start: 'main_menu',
    nodes: {
      main_menu: { id: 'main_menu', kind: 'menu', options: { '1': 'urgent', '2': 'message', '3': 'message' }, reasons: { '1': 'clinical', '2': 'refill' } },
      urgent: { id: 'urgent', kind: 'dial_oncall', next: 'goodbye', onFail: 'urgent_voicemail' },
      urgent_voicemail: { id: 'urgent_voicemail', kind: 'voicemail', reason: 'clinical', next: 'goodbye' },
      message: { id: 'message', kind: 'voicemail', next: 'goodbye' },
    },
  } as unknown as Flow;
  const step = (from: string, to: string, via: string): StepEvent => ({ action: AuditAction.CallTransition, leg: 'parent', details: { steps: [{ from, to, via }] } });

  it('is the option’s, or the node’s own; none when neither names one', () => {
    expect(progressOf(flow, [step('main_menu', 'message', 'key 2')], false).reason).toBe('refill');
    expect(progressOf(flow, [step('main_menu', 'message', 'key 3')], false).reason).toBeNull();
    expect(progressOf(flow, [step('main_menu', 'message', 'timeout')], false).reason).toBeNull();
    expect(progressOf(flow, [step('urgent', 'urgent_voicemail', 'onFail')], false).reason).toBe('clinical');
  });

  it('a flow naming a reason for a key its menu does not offer is refused', () => {
    const doc = {
      id: 'bad',
      description: 'x',
      start: 'menu',
      nodes: {
        menu: { kind: 'menu', prompt: { text: { en: 'Press 1.' } }, options: { '1': 'bye' }, reasons: { '2': 'refill' }, timeout_seconds: 5, retries: 2, invalid: { text: { en: 'No.' } }, on_exhausted: 'bye' },
        bye: { kind: 'hangup' },
      },
    };
    expect(() => parseFlowDocument(doc, 'bad.yaml')).toThrow(/reasons/);
  });
});

describe('the overdue alert', () => {
  it('says the practice, a count and the link: nothing else', () => {
    expect(overdueAlertText('Demo Pediatrics', 'urgent', 3, 'https://x.test/console/tasks/abc')).toBe('Demo Pediatrics: 3 urgent callbacks are overdue. https://x.test/console/tasks/abc');
  });
});
