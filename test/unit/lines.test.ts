import { describe, expect, it } from 'vitest';
import { flowForKind, lineKindOf, lineWebhooks, webhookDifferences } from '../../src/practices/lines.js';
import type { IncomingNumber } from '../../src/adapters/twilio-numbers.js';

describe('lines', () => {
  it('a kind decides the voice URL; every kind gets the fallback, status and SMS webhooks under PUBLIC_BASE_URL', () => {
    expect(lineWebhooks('access', 'https://ahl.example/')).toEqual({
      voiceUrl: 'https://ahl.example/twilio/voice/access',
      voiceFallbackUrl: 'https://ahl.example/twilio/voice/fallback',
      statusCallback: 'https://ahl.example/twilio/voice/status',
      smsUrl: 'https://ahl.example/twilio/sms/incoming',
      // Twilio requests it when the SMS URL answers 5xx (a text not stored): it tells the patient.
      smsFallbackUrl: 'https://ahl.example/twilio/sms/fallback',
    });
    expect(lineWebhooks('main', 'https://ahl.example').voiceUrl).toBe('https://ahl.example/twilio/voice/incoming');
    expect(lineWebhooks('drop_callback', 'https://ahl.example').voiceUrl).toBe('https://ahl.example/twilio/voice/incoming');
  });

  it('a main line keeps its flow, a drop callback line runs drop-callback, and the kind follows from what the number does', () => {
    expect(flowForKind('main', 'weekend', undefined)).toBe('weekend');
    expect(flowForKind('main', 'weekend', 'after-hours')).toBe('after-hours');
    expect(flowForKind('main', null, undefined)).toBe('after-hours');
    expect(flowForKind('main', 'drop-callback', undefined)).toBe('after-hours');
    expect(flowForKind('drop_callback', 'after-hours', undefined)).toBe('drop-callback');
    expect(flowForKind('access', 'weekend', undefined)).toBe('weekend');
    expect(lineKindOf({ flowId: 'after-hours', isAccess: true })).toBe('access');
    expect(lineKindOf({ flowId: 'drop-callback', isAccess: false })).toBe('drop_callback');
    expect(lineKindOf({ flowId: 'after-hours', isAccess: false })).toBe('main');
  });

  it('reports each webhook and method Twilio holds differently', () => {
    const expected = lineWebhooks('main', 'https://ahl.example');
    const actual: IncomingNumber = { sid: 'PN0', phoneNumber: '+12025550100', ...expected, voiceMethod: 'post', voiceFallbackMethod: 'POST', statusCallbackMethod: 'POST', smsMethod: 'GET', smsUrl: '', smsFallbackMethod: 'POST' };
    expect(webhookDifferences(expected, actual)).toEqual([
      { field: 'smsUrl', expected: 'https://ahl.example/twilio/sms/incoming', actual: '' },
      { field: 'smsMethod', expected: 'POST', actual: 'GET' },
    ]);
  });
});
