import { describe, expect, it } from 'vitest';
import { CONVERSATION_GAP_DAYS, OPT_OUT_SMS_SENTENCE, opensConversation, smsLength, withOptOut } from '../../src/outreach/sms-text.js';
import { advances } from '../../src/outreach/send-status.js';
import { getTemplate, renderTemplate, smsWorstCase, validateTemplate, writePhoneNumber } from '../../src/drops/templates.js';

describe('smsLength', () => {
  it('GSM-7: 160 in one segment, 153 per segment beyond', () => {
    expect(smsLength('a'.repeat(160))).toEqual({ encoding: 'GSM-7', units: 160, segments: 1, perSegment: 160 });
    expect(smsLength('a'.repeat(161))).toMatchObject({ encoding: 'GSM-7', segments: 2, perSegment: 153 });
    expect(smsLength('a'.repeat(306)).segments).toBe(2);
    expect(smsLength('a'.repeat(307)).segments).toBe(3);
  });

  it('extension characters take two septets', () => {
    expect(smsLength('€'.repeat(80))).toMatchObject({ encoding: 'GSM-7', units: 160, segments: 1 });
    expect(smsLength('€'.repeat(81))).toMatchObject({ encoding: 'GSM-7', units: 162, segments: 2 });
  });

  it('one character outside GSM-7 makes the whole message UCS-2: 70, then 67', () => {
    expect(smsLength('a'.repeat(69) + 'ł')).toEqual({ encoding: 'UCS-2', units: 70, segments: 1, perSegment: 70 });
    expect(smsLength('a'.repeat(70) + 'ł')).toMatchObject({ encoding: 'UCS-2', segments: 2, perSegment: 67 });
    // A curly apostrophe is not GSM-7 either; an emoji is two UTF-16 units.
    expect(smsLength('it’s').encoding).toBe('UCS-2');
    expect(smsLength('😀').units).toBe(2);
  });
});

describe('the opt-out sentence', () => {
  const now = new Date('2026-12-01T15:00:00Z');
  it('ends the first message of a conversation only', () => {
    expect(withOptOut('Hello.', true)).toBe(`Hello. ${OPT_OUT_SMS_SENTENCE}`);
    expect(withOptOut('Hello.', false)).toBe('Hello.');
  });
  it('a conversation opens with the first SMS to the number, or the first after the gap', () => {
    expect(opensConversation(null, now)).toBe(true);
    expect(opensConversation(new Date(now.getTime() - 86_400_000), now)).toBe(false);
    expect(opensConversation(new Date(now.getTime() - CONVERSATION_GAP_DAYS * 86_400_000), now)).toBe(true);
  });
});

describe('SMS templates', () => {
  it('the built-in SMS templates pass the check and render the number as written', () => {
    const t = getTemplate('sms-recall');
    expect(t?.channel).toBe('sms');
    if (!t) return;
    const r = renderTemplate(t, { practice_name: 'Riverside Clinic', callback_number: '+12025550100' });
    expect(r).toMatchObject({ ok: true });
    if (r.ok) expect(r.text).toContain('202-555-0100');
    expect(writePhoneNumber('+12025550100')).toBe('202-555-0100');
  });

  it('the PHI check applies to SMS templates; the spoken opt-out is not required; segments are limited', () => {
    expect(validateTemplate({ purpose: 'recall', text: '{practice_name}: your biopsy results are in. Call {callback_number}.', channel: 'sms' }).map((p) => p.kind)).toContain('clinical_term');
    expect(validateTemplate({ purpose: 'recall', text: '{practice_name}: time to book. Call {callback_number}.', channel: 'sms' })).toEqual([]);
    const long = `{practice_name}: ${'please call us soon. '.repeat(25)} {callback_number}`;
    expect(smsWorstCase(long).segments).toBeGreaterThan(3);
    expect(validateTemplate({ purpose: 'recall', text: long, channel: 'sms' })).toContainEqual({ kind: 'too_long', term: expect.stringMatching(/segments$/) as unknown as string, category: 'segments' });
  });
});

describe('send status order', () => {
  it('moves forward only; a final status is final', () => {
    expect(advances('planned', 'queued')).toBe(true);
    expect(advances('queued', 'delivered')).toBe(true);
    expect(advances('delivered', 'sent')).toBe(false);
    expect(advances('failed', 'delivered')).toBe(false);
    expect(advances('sent', 'sent')).toBe(false);
  });
});
