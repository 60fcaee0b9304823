import { describe, expect, it } from 'vitest';
import { MASKED_NUMBER, numberViewFor, shownNumber } from '../../src/calls/number-view.js';

/**
 * One rule for every caller number a viewer sees (the call log, the voicemail inbox, a task):
 * an auditor gets it masked and nothing is decrypted for them; those who call back get it in full.
 */
describe('the number a viewer sees', () => {
  it('is masked for an auditor and in full for every role that calls back', () => {
    expect(numberViewFor('auditor')).toBe('masked');
    for (const role of ['admin', 'staff', 'provider'] as const) expect(numberViewFor(role)).toBe('full');
  });

  it('masked: the placeholder, and the sealed number is never opened', async () => {
    let opened = 0;
    const open = async (): Promise<string> => {
      opened += 1;
      return '+12025550123';
    };
    expect(await shownNumber(Buffer.from('sealed'), 'masked', open)).toBe(MASKED_NUMBER);
    expect(opened).toBe(0);
  });

  it('full: the number opened; none on record stays null in either view', async () => {
    const open = async (sealed: Buffer): Promise<string> => `opened:${sealed.toString()}`;
    expect(await shownNumber(Buffer.from('x'), 'full', open)).toBe('opened:x');
    expect(await shownNumber(null, 'full', open)).toBeNull();
    expect(await shownNumber(null, 'masked', open)).toBeNull();
  });
});
