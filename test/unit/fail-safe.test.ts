import { describe, expect, it } from 'vitest';
import { EMERGENCY_DISCLAIMER, emptyTwiml, failSafe, hangupTwiml } from '../../src/calls/fail-safe.js';
import { parseTwiml } from '../../src/simulator/twiml.js';

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
});
