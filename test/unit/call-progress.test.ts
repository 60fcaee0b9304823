import { describe, expect, it } from 'vitest';
import { AuditAction } from '../../src/audit/events.js';
import { progressOf } from '../../src/calls/call-progress.js';
import type { StepEvent } from '../../src/calls/fail-safe.js';
import type { Flow } from '../../src/calls/flow-types.js';

/** Only what progressOf reads of a flow: each node's kind, and a transfer's `next`. */
const FLOW = {
  id: 'test',
  start: 'greeting',
  nodes: {
    greeting: { id: 'greeting', kind: 'say', next: 'main_menu' },
    main_menu: { id: 'main_menu', kind: 'menu', options: { '1': 'urgent', '2': 'message', '4': 'front_desk' } },
    front_desk: { id: 'front_desk', kind: 'transfer', next: 'goodbye', onFail: 'message' },
    language: { id: 'language', kind: 'language', next: 'main_menu' },
  },
} as unknown as Flow;

const transitions = (...steps: Array<[string, string, string]>): StepEvent => ({
  action: AuditAction.CallTransition,
  leg: 'parent',
  details: { steps: steps.map(([from, to, via]) => ({ from, to, via })) },
});

describe('a webhook’s progress, read off its audit events', () => {
  it('the path is the menu options taken, by the node each led to; never digits, never other transitions', () => {
    const p = progressOf(FLOW, [transitions(['language', 'main_menu', 'language en'], ['main_menu', 'message', 'key 2'])], false);
    expect(p.path).toEqual(['message']);
    expect(progressOf(FLOW, [transitions(['main_menu', 'message', 'timeout'])], false).path).toEqual([]);
  });

  it('a transfer counts once connected; a failed one is no outcome', () => {
    expect(progressOf(FLOW, [transitions(['front_desk', 'goodbye', 'dial completed'])], true)).toMatchObject({ outcome: 'transferred', urgency: null });
    expect(progressOf(FLOW, [transitions(['front_desk', 'message', 'dial no-answer'])], false).outcome).toBeNull();
  });

  it('a voicemail is urgent or a message only when something was recorded', () => {
    const taken = (urgency: string, recorded: boolean): StepEvent => ({ action: AuditAction.VoicemailTaken, leg: 'parent', details: { node: 'x', urgency, recorded, verified: false } });
    expect(progressOf(FLOW, [taken('urgent', true)], true)).toMatchObject({ outcome: 'urgent_voicemail', urgency: 'urgent' });
    expect(progressOf(FLOW, [taken('routine', true)], true)).toMatchObject({ outcome: 'message', urgency: 'routine' });
    expect(progressOf(FLOW, [taken('routine', false)], false).outcome).toBeNull();
  });

  it('the latest outcome of the webhook wins; a flow that ended with none completed otherwise', () => {
    const connected: StepEvent = { action: AuditAction.OncallConnected, leg: 'parent', subjectId: 'p', details: {} };
    const failSafe: StepEvent = { action: AuditAction.CallFailSafe, leg: 'parent', details: { reason: 'max_steps' } };
    expect(progressOf(FLOW, [connected, failSafe], true).outcome).toBe('fail_safe');
    expect(progressOf(FLOW, [connected], true)).toMatchObject({ outcome: 'handed_to_provider', urgency: 'urgent' });
    expect(progressOf(FLOW, [], true).outcome).toBe('completed_other');
    expect(progressOf(FLOW, [], false).outcome).toBeNull();
  });

  it('a verification names the patient', () => {
    const verified: StepEvent = { action: AuditAction.VerificationSucceeded, leg: 'parent', subjectId: '7d0c3f5e-0000-4000-8000-000000000001', details: { node: 'v', try: 1 } };
    expect(progressOf(FLOW, [verified], false).verifiedPatientId).toBe('7d0c3f5e-0000-4000-8000-000000000001');
  });
});
