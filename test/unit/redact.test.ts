import { describe, it, expect } from 'vitest';
import { MAX_STRING_LENGTH, REDACTED, redactString, redactValue } from '../../src/log/redact.js';

const CALL_SID = 'CA0123456789abcdef0123456789abcdef';
const RECORDING_SID = 'RE0123456789abcdef0123456789abcdef';
const ACCOUNT_SID = 'AC1234567890abcdef1234567890abcdef';
const UUID = '123e4567-e89b-12d3-a456-426614174000';
const SHA256 = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';

describe('redactString', () => {
  it.each([
    ['E.164', '+12025550123'],
    ['E.164 international', '+442079460958'],
    ['E.164 with separators', '+1 (202) 555-0123'],
    ['parenthesised area code', '(202) 555-0123'],
    ['dashes', '202-555-0123'],
    ['dots', '202.555.0123'],
    ['spaces', '202 555 0123'],
    ['bare 10 digits', '2025550123'],
    ['bare 11 digits', '12025550123'],
    ['leading 1 with dashes', '1-202-555-0123'],
  ])('replaces a phone number (%s)', (_label, phone) => {
    expect(redactString(`call back ${phone} tonight`)).toBe('call back [phone] tonight');
  });

  it('replaces a local 7-digit number', () => {
    expect(redactString('dial 555-0123 now')).toBe('dial [phone] now');
  });

  it.each([
    ['ISO', '1980-04-15'],
    ['ISO with slashes', '1980/04/15'],
    ['US slashes', '04/15/1980'],
    ['short US', '4/15/80'],
    ['US dashes', '04-15-1980'],
    ['European dots', '15.04.1980'],
    ['compact MMDDYYYY', '04151980'],
    ['compact YYYYMMDD', '19800415'],
    ['month name first', 'April 15, 1980'],
    ['day first with month name', '15 Apr 1980'],
  ])('replaces a date (%s)', (_label, date) => {
    expect(redactString(`born ${date} ok`)).toBe('born [date] ok');
  });

  it('redacts the date part of a timestamp inside a message', () => {
    expect(redactString('seen at 2024-01-02T03:04:05Z')).toBe('seen at [date]T03:04:05Z');
  });

  it('replaces keypad entries and other runs of 4+ digits', () => {
    expect(redactString('pressed 04151980')).toBe('pressed [date]');
    expect(redactString('pin 4321')).toBe('pin [digits]');
    expect(redactString('mrn 00123456789012')).toBe('mrn [digits]');
    expect(redactString('x4321y')).toBe('x[digits]y');
  });

  it('replaces digits in non-ASCII scripts and full-width forms', () => {
    expect(redactString('pin ٤٣٢١')).toBe('pin [digits]');
    expect(redactString('call ２０２５５５０１２３')).toBe('call [phone]');
  });

  it('replaces e-mail addresses and SSNs', () => {
    expect(redactString('mail jane.doe@example.com now')).toBe('mail [email] now');
    expect(redactString('ssn 123-45-6789')).toBe('ssn [ssn]');
  });

  it('strips control and zero-width characters before matching, so they cannot split a number', () => {
    expect(redactString('202\u0000555\u200b0123')).toBe('[phone]');
    expect(redactString('a\u001b[31mb\u202ec')).toBe('a[31mbc');
    expect(redactString('line one\nline\ttwo')).toBe('line one\nline\ttwo');
  });

  it('keeps short numbers and ordinary words', () => {
    expect(redactString('caller pressed 1 after 3 tries at 10:30')).toBe('caller pressed 1 after 3 tries at 10:30');
  });

  it('keeps Twilio SIDs, UUIDs and hex hashes intact, digits included', () => {
    const text = `call ${CALL_SID} rec ${RECORDING_SID} acct ${ACCOUNT_SID} req ${UUID} hash ${SHA256}`;
    expect(redactString(text)).toBe(text);
  });

  it('keeps SIDs in job ids and URLs while redacting PHI next to them', () => {
    expect(redactString(`voicemail-${RECORDING_SID} from 2025550123`)).toBe(`voicemail-${RECORDING_SID} from [phone]`);
    expect(redactString(`${CALL_SID}:04151980`)).toBe(`${CALL_SID}:[date]`);
  });

  it('does not protect SID- or UUID-shaped strings made only of digits', () => {
    expect(redactString('XX20255501232025550123202555012320')).toBe('XX[digits]');
    expect(redactString('20255501-2320-2555-0123-202555012320')).not.toMatch(/\d{4}/);
  });

  it('keeps stack frame positions but redacts the message in a stack', () => {
    const stack = 'Error: no match for 2025550123\n    at lookup (/app/src/patients/store.ts:1234:56)';
    expect(redactString(stack)).toBe('Error: no match for [phone]\n    at lookup (/app/src/patients/store.ts:1234:56)');
  });

  it('bounds very long strings', () => {
    const out = redactString('a'.repeat(50_000));
    expect(out.startsWith('a'.repeat(MAX_STRING_LENGTH))).toBe(true);
    expect(out.length).toBeLessThan(MAX_STRING_LENGTH + 20);
    expect(out.endsWith('[truncated]')).toBe(true);
  });
});

describe('redactValue', () => {
  it('redacts sensitive keys at depth', () => {
    const meta = { patient: { firstName: 'Jane', lastName: 'Doe', dob: '1980-04-15' }, practiceId: 'p1' };
    expect(redactValue(undefined, meta)).toEqual({
      patient: { firstName: REDACTED, lastName: REDACTED, dob: REDACTED },
      practiceId: 'p1',
    });
  });

  it.each([
    'name',
    'firstName',
    'first_name',
    'LAST-NAME',
    'fullName',
    'patientName',
    'callername',
    'CallerName',
    'dob',
    'patientDob',
    'dateOfBirth',
    'date_of_birth',
    'birthdate',
    'phone',
    'phoneNumber',
    'phone_number',
    'number',
    'From',
    'To',
    'Caller',
    'Called',
    'callerId',
    'ForwardedFrom',
    'Digits',
    'pin',
    'ssn',
    'mrn',
    'address',
    'email',
    'body',
    'rawBody',
    'query',
    'url',
    'RecordingUrl',
    'transcript',
    'TranscriptionText',
    'SpeechResult',
    'password',
    'authToken',
    'secret',
    'authorization',
    'Cookie',
    'apiKey',
    'x-api-key',
    'x-twilio-signature',
  ])('redacts the value under key %s', (key) => {
    expect(redactValue(key, 'Jane Doe')).toBe(REDACTED);
    expect(redactValue(undefined, { [key]: { nested: 'Jane Doe' } })).toEqual({ [key]: REDACTED });
  });

  it('does not treat operational counters as phone numbers', () => {
    expect(redactValue(undefined, { attemptNumber: 3, statusCode: 503, retries: 2 })).toEqual({
      attemptNumber: 3,
      statusCode: 503,
      retries: 2,
    });
  });

  it('passes safe keys unchanged, where the scrubber would otherwise change them', () => {
    const meta = {
      requestId: 'req-20250101-0001',
      callSid: CALL_SID,
      durationMs: 12_345_678,
      status: 'in-progress',
      seq: 4,
      timestamp: '2024-01-02T03:04:05.000Z',
    };
    expect(redactValue(undefined, meta)).toEqual(meta);
  });

  it('strips control characters even from safe keys', () => {
    expect(redactValue('requestId', 'req\u0000-1\u001b\r')).toBe('req-1');
  });

  it('scrubs strings under other keys', () => {
    expect(redactValue(undefined, { reason: 'caller 2025550123 hung up', recordingSid: RECORDING_SID })).toEqual({
      reason: 'caller [phone] hung up',
      recordingSid: RECORDING_SID,
    });
  });

  it('replaces numbers with 7 or more digits', () => {
    expect(redactValue('count', 2025550123)).toBe('[digits]');
    expect(redactValue('count', 19800415)).toBe('[digits]');
    expect(redactValue('count', 1_000_000)).toBe('[digits]');
    expect(redactValue('count', -2025550123)).toBe('[digits]');
    expect(redactValue('count', 2025550123n)).toBe('[digits]');
    expect(redactValue('count', 999_999)).toBe(999_999);
  });

  it('recurses into arrays, Maps and Sets', () => {
    expect(redactValue(undefined, ['2025550123', { email: 'jane@example.com' }, 7])).toEqual([
      '[phone]',
      { email: REDACTED },
      7,
    ]);
    expect(redactValue(undefined, new Map([['phone', '+12025550123']]))).toEqual({ phone: REDACTED });
    expect(redactValue(undefined, new Set(['04151980']))).toEqual(['[date]']);
  });

  it('redacts PHI used as an object key', () => {
    expect(redactValue(undefined, { '+12025550123': 'seen' })).toEqual({ '[phone]': 'seen' });
  });

  it('turns an Error into name, message and stack with PHI removed', () => {
    const err = new TypeError('no patient for +12025550123 born 1980-04-15');
    const out = redactValue('err', err) as Record<string, unknown>;
    expect(out['name']).toBe('TypeError');
    expect(out['message']).toBe('no patient for [phone] born [date]');
    expect(typeof out['stack']).toBe('string');
    expect(out['stack']).toContain('no patient for [phone] born [date]');
    expect(JSON.stringify(out)).not.toMatch(/2025550123|1980-04-15/);
  });

  it('redacts an Error cause too', () => {
    const err = new Error('outer', { cause: new Error('inner 2025550123') });
    const out = redactValue(undefined, err) as { cause: { message: string } };
    expect(out.cause.message).toBe('inner [phone]');
  });

  it('replaces binary data', () => {
    expect(redactValue('audio', Buffer.from('2025550123'))).toBe('[binary]');
    expect(redactValue('audio', new Uint8Array([1, 2, 3]))).toBe('[binary]');
  });

  it('replaces Date values outside safe keys', () => {
    expect(redactValue('seenAt', new Date('1980-04-15T00:00:00Z'))).toBe('[date]');
  });

  it('truncates deep nesting', () => {
    let deep: Record<string, unknown> = { leaf: 'deep-leaf' };
    for (let i = 0; i < 10; i += 1) deep = { level: i, child: deep };
    const out = JSON.stringify(redactValue(undefined, deep));
    expect(out).toContain('[truncated]');
    expect(out).not.toContain('deep-leaf');
  });

  it('survives circular references', () => {
    const a: Record<string, unknown> = { id: 'x' };
    a['self'] = a;
    expect(redactValue(undefined, a)).toEqual({ id: 'x', self: '[circular]' });
  });

  it('truncates long strings', () => {
    const out = redactValue('reason', 'b'.repeat(10_000)) as string;
    expect(out.length).toBeLessThan(MAX_STRING_LENGTH + 20);
  });
});
