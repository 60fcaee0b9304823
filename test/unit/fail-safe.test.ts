import { describe, expect, it } from 'vitest';
import { COULD_NOT_CONNECT, EMERGENCY_DISCLAIMER, emptyTwiml, FAIL_SAFE_DIAL_PATH, failSafe, failSafeDialResult, hangupTwiml } from '../../src/calls/fail-safe.js';
import { parseTwiml } from '../../devtools/simulator/twiml.js';

describe('fail-safe TwiML', () => {
  it('emptyTwiml: a well-formed document with no verbs', () => {
    expect(emptyTwiml()).toBe('<?xml version="1.0" encoding="UTF-8"?><Response/>');
    expect(parseTwiml(emptyTwiml())).toEqual([]);
  });

  it('hangupTwiml: a well-formed document that only hangs up', () => {
    expect(hangupTwiml()).toBe('<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>');
    expect(parseTwiml(hangupTwiml())).toEqual([{ verb: 'Hangup' }]);
  });

  it('failSafe: the disclaimer first, then the fallback number', () => {
    const verbs = parseTwiml(failSafe('+12025550199'));
    expect(verbs[0]).toMatchObject({ verb: 'Say', text: EMERGENCY_DISCLAIMER });
    expect(verbs).toContainEqual(expect.objectContaining({ verb: 'Dial' }));
  });

  it('failSafe: the <Dial> has an action, and nothing after it apologises', () => {
    const verbs = parseTwiml(failSafe('+12025550199'));
    const last = verbs[verbs.length - 1];
    expect(last).toMatchObject({ verb: 'Dial', action: FAIL_SAFE_DIAL_PATH, method: 'POST' });
    expect(failSafe('+12025550199')).not.toContain(COULD_NOT_CONNECT);
  });

  it('failSafeDialResult: hangs up after a connected dial, apologises after any other', () => {
    expect(parseTwiml(failSafeDialResult('completed'))).toEqual([{ verb: 'Hangup' }]);
    expect(parseTwiml(failSafeDialResult('answered'))).toEqual([{ verb: 'Hangup' }]);
    for (const status of ['busy', 'no-answer', 'failed', 'canceled', undefined, 'something-new']) {
      const verbs = parseTwiml(failSafeDialResult(status));
      expect(verbs[0]).toMatchObject({ verb: 'Say', text: EMERGENCY_DISCLAIMER });
      expect(verbs).toContainEqual(expect.objectContaining({ verb: 'Say', text: COULD_NOT_CONNECT }));
      expect(verbs[verbs.length - 1]).toEqual({ verb: 'Hangup' });
    }
  });
});
