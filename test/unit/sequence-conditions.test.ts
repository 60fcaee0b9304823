import { describe, expect, it } from 'vitest';
import { decideStep, type StepFacts } from '../../src/sequences/conditions.js';

const base: StepFacts = { appointmentConfirmed: false, optedOut: new Set(), previous: { channel: 'sms', sent: true, delivered: true, replied: false } };

describe('a sequence step for one recipient', () => {
  it('a confirmed appointment stops the recipient whatever the step', () => {
    expect(decideStep({ channel: 'rvm', condition: 'always' }, { ...base, appointmentConfirmed: true })).toEqual({ kind: 'stop', reason: 'confirmed' });
    expect(decideStep({ channel: 'email', condition: 'opted_out_previous_channel' }, { ...base, appointmentConfirmed: true })).toEqual({ kind: 'stop', reason: 'confirmed' });
  });

  it('an opt-out of the step’s channel stops the recipient', () => {
    expect(decideStep({ channel: 'rvm', condition: 'no_reply' }, { ...base, optedOut: new Set(['sms', 'rvm']) })).toEqual({ kind: 'stop', reason: 'opted_out' });
  });

  it('no_reply: sent to those who did not reply, skipped for those who did', () => {
    expect(decideStep({ channel: 'rvm', condition: 'no_reply' }, base)).toEqual({ kind: 'send' });
    expect(decideStep({ channel: 'rvm', condition: 'no_reply' }, { ...base, previous: { channel: 'sms', sent: true, delivered: true, replied: true } })).toEqual({ kind: 'skip', reason: 'condition_no_reply' });
    // A STOP answers the previous SMS though it marks no reply: the e-mail that follows on no_reply is not sent.
    expect(decideStep({ channel: 'email', condition: 'no_reply' }, { ...base, optedOut: new Set(['sms', 'rvm']), previous: { channel: 'sms', sent: true, delivered: true, replied: false } })).toEqual({ kind: 'skip', reason: 'condition_no_reply' });
  });

  it('not_delivered: only when the previous send was not delivered', () => {
    expect(decideStep({ channel: 'rvm', condition: 'not_delivered' }, base)).toEqual({ kind: 'skip', reason: 'condition_not_delivered' });
    expect(decideStep({ channel: 'rvm', condition: 'not_delivered' }, { ...base, previous: { channel: 'sms', sent: false, delivered: false, replied: false } })).toEqual({ kind: 'send' });
  });

  it('opted_out_previous_channel: only to those who opted out of the previous channel and not of this one', () => {
    expect(decideStep({ channel: 'email', condition: 'opted_out_previous_channel' }, { ...base, optedOut: new Set(['sms', 'rvm']) })).toEqual({ kind: 'send' });
    expect(decideStep({ channel: 'email', condition: 'opted_out_previous_channel' }, base)).toEqual({ kind: 'skip', reason: 'condition_opted_out_previous_channel' });
    expect(decideStep({ channel: 'email', condition: 'opted_out_previous_channel' }, { ...base, optedOut: new Set(['sms', 'rvm', 'email']) })).toEqual({ kind: 'skip', reason: 'condition_opted_out_previous_channel' });
  });

  it('always and not_confirmed send to an unconfirmed recipient', () => {
    expect(decideStep({ channel: 'sms', condition: 'always' }, { ...base, previous: null })).toEqual({ kind: 'send' });
    expect(decideStep({ channel: 'sms', condition: 'not_confirmed' }, base)).toEqual({ kind: 'send' });
  });
});
