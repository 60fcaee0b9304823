import { describe, expect, it } from 'vitest';
import { CALL_BACK, decideAccess, initialAccessState, renderAccess, type AccessState } from '../../src/voicemail/access-line.js';
import { callerPromptTwiml, dialOutcome, dialPatientVerbs } from '../../src/tasks/call-back-twiml.js';

/** The call back's pure parts: outcomes, what the person hears, and the access line's call-back key. */

const listening: AccessState = { ...initialAccessState('p1'), phase: 'listen', providerId: 'prov-1', queue: ['vm-1'], current: 'vm-1', number: 1, step: 3 };

describe('call back through the practice line', () => {
  it("reads the <Dial>'s status as the task's attempt outcome", () => {
    expect(dialOutcome('completed')).toBe('reached');
    expect(dialOutcome('answered')).toBe('reached');
    expect(dialOutcome('no-answer')).toBe('no_answer');
    expect(dialOutcome('busy')).toBe('busy');
    expect(dialOutcome('failed')).toBe('failed');
    expect(dialOutcome('canceled')).toBe('failed');
    expect(dialOutcome(null)).toBe('failed');
  });

  it('the prompt names the practice and asks for 1; nothing is dialled before the key', () => {
    const twiml = callerPromptTwiml('Demo Family Medicine', 'id-1');
    expect(twiml).toContain('Demo Family Medicine');
    expect(twiml).toContain('Press 1 to connect.');
    expect(twiml).not.toContain('<Dial');
  });

  it("the access line's key 4 dials the message's caller when a call back was prepared, else says there is none", () => {
    const called = decideAccess(listening, { kind: 'key', digits: CALL_BACK, pending: ['vm-1'], callBack: 'call-1' });
    expect(called.speech).toEqual({ kind: 'call_back', voicemailId: 'vm-1', callId: 'call-1' });
    expect(called.effects).toEqual([]);
    const none = decideAccess(listening, { kind: 'key', digits: CALL_BACK, pending: ['vm-1'], callBack: null });
    expect(none.speech).toEqual({ kind: 'menu_again', voicemailId: 'vm-1', reason: 'no_call_back' });
    // Without a message in hand the key means nothing.
    const empty = decideAccess({ ...listening, current: null }, { kind: 'key', digits: CALL_BACK, pending: [] });
    expect(empty.speech).toMatchObject({ kind: 'menu_again', reason: 'invalid_key' });
  });

  it("renders the access line's call back as the <Dial> from the practice's number, and offers the key with a message in hand", () => {
    const dial = dialPatientVerbs({ callerId: '+12025550100', patientNumber: '+12025550123', callId: 'call-1' });
    const twiml = renderAccess({ kind: 'call_back', voicemailId: 'vm-1', callId: 'call-1' }, { step: 4, practiceName: 'Demo', callBack: dial });
    expect(twiml).toMatch(/<Dial[^>]*callerId="\+12025550100"/);
    expect(twiml).toContain('action="/twilio/callback/dialed?c=call-1"');
    const menu = renderAccess({ kind: 'menu_again', voicemailId: 'vm-1', reason: 'call_ended' }, { step: 4, practiceName: 'Demo' });
    expect(menu).toContain('The call with the patient has ended.');
    expect(menu).toContain("To call the patient back from the practice's number, press 4.");
  });
});
