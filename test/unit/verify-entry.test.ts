import { describe, expect, it } from 'vitest';
import { parseEntry } from '../../src/verification/entry.js';

/** Monday 2026-06-15, noon UTC. */
const NOW = new Date('2026-06-15T12:00:00Z');
const INVALID = { kind: 'invalid' } as const;

describe('parseEntry: date of birth (MMDDYYYY)', () => {
  it('reads a valid date as an ISO date', () => {
    expect(parseEntry('01021980', 'dob', NOW)).toEqual({ kind: 'dob', isoDate: '1980-01-02' });
    expect(parseEntry('12311999', 'dob_or_pin', NOW)).toEqual({ kind: 'dob', isoDate: '1999-12-31' });
    expect(parseEntry('02292000', 'dob', NOW)).toEqual({ kind: 'dob', isoDate: '2000-02-29' });
  });

  it("accepts the trailing '#' finish key", () => {
    expect(parseEntry('01021980#', 'dob', NOW)).toEqual({ kind: 'dob', isoDate: '1980-01-02' });
  });

  it('refuses dates that do not exist', () => {
    for (const digits of ['02301980', '13011980', '00011980', '01001980', '04311980', '02291981', '02291900']) {
      expect(parseEntry(digits, 'dob', NOW), digits).toEqual(INVALID);
    }
  });

  it('refuses future dates, and accepts today', () => {
    expect(parseEntry('06162026', 'dob', NOW)).toEqual(INVALID);
    expect(parseEntry('01012030', 'dob', NOW)).toEqual(INVALID);
    expect(parseEntry('06152026', 'dob', NOW)).toEqual({ kind: 'dob', isoDate: '2026-06-15' });
  });

  it('refuses years before 1900', () => {
    expect(parseEntry('12311899', 'dob', NOW)).toEqual(INVALID);
    expect(parseEntry('01010050', 'dob', NOW)).toEqual(INVALID);
    expect(parseEntry('01011900', 'dob', NOW)).toEqual({ kind: 'dob', isoDate: '1900-01-01' });
  });

  it("method 'pin' refuses an 8-digit entry", () => {
    expect(parseEntry('01021980', 'pin', NOW)).toEqual(INVALID);
  });

  it('an impossible 8-digit date is not taken as a PIN', () => {
    expect(parseEntry('13011980', 'dob_or_pin', NOW)).toEqual(INVALID);
  });
});

describe('parseEntry: PIN', () => {
  it('accepts 4 to 6 digits', () => {
    expect(parseEntry('1234', 'pin', NOW)).toEqual({ kind: 'pin', pin: '1234' });
    expect(parseEntry('12345', 'pin', NOW)).toEqual({ kind: 'pin', pin: '12345' });
    expect(parseEntry('000123', 'dob_or_pin', NOW)).toEqual({ kind: 'pin', pin: '000123' });
    expect(parseEntry('4321#', 'pin', NOW)).toEqual({ kind: 'pin', pin: '4321' });
  });

  it('refuses shorter and longer entries', () => {
    for (const digits of ['1', '123', '1234567', '123456789']) {
      expect(parseEntry(digits, 'pin', NOW), digits).toEqual(INVALID);
      expect(parseEntry(digits, 'dob_or_pin', NOW), digits).toEqual(INVALID);
    }
  });

  it("method 'dob' refuses PINs", () => {
    for (const digits of ['1234', '12345', '123456']) expect(parseEntry(digits, 'dob', NOW), digits).toEqual(INVALID);
  });
});

describe('parseEntry: not digits', () => {
  it('refuses anything but ASCII digits (and one trailing #)', () => {
    for (const digits of ['', '#', '12*4', '*1234', '1234##', '#1234', '0102198a', ' 1234', '1234 ', '12-34', '١٢٣٤', '0102 1980', '+1234']) {
      expect(parseEntry(digits, 'dob_or_pin', NOW), JSON.stringify(digits)).toEqual(INVALID);
    }
  });
});
