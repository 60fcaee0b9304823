import { describe, expect, it } from 'vitest';
import { keyState, lastUsedIsStale, parseExpiresIn } from '../../src/auth/api-keys.js';

const NOW = new Date('2026-11-26T03:00:00Z');
const later = (ms: number): Date => new Date(NOW.getTime() + ms);

describe('parseExpiresIn', () => {
  it('reads hours, days, weeks and years, and none', () => {
    expect(parseExpiresIn('12h')).toEqual({ ok: true, ms: 12 * 3_600_000 });
    expect(parseExpiresIn('90d')).toEqual({ ok: true, ms: 90 * 86_400_000 });
    expect(parseExpiresIn('6w')).toEqual({ ok: true, ms: 42 * 86_400_000 });
    expect(parseExpiresIn('1y')).toEqual({ ok: true, ms: 365 * 86_400_000 });
    expect(parseExpiresIn('none')).toEqual({ ok: true, ms: null });
  });

  it('refuses anything else, and more than five years', () => {
    for (const bad of ['', '0d', '1', 'd', '1.5d', '-1d', '1 d', '1D', 'never', '100000d']) expect(parseExpiresIn(bad).ok, bad).toBe(false);
    expect(parseExpiresIn('5y').ok).toBe(true);
    expect(parseExpiresIn('6y')).toEqual({ ok: false, message: 'expected at most 5y' });
  });
});

describe('keyState', () => {
  it('is expired from the expiry instant, revoked whatever the expiry, active otherwise', () => {
    expect(keyState({ revoked_at: null, expires_at: null }, NOW)).toBe('active');
    expect(keyState({ revoked_at: null, expires_at: later(1) }, NOW)).toBe('active');
    expect(keyState({ revoked_at: null, expires_at: NOW }, NOW)).toBe('expired');
    expect(keyState({ revoked_at: later(-1), expires_at: later(-5) }, NOW)).toBe('revoked');
  });
});

describe('lastUsedIsStale', () => {
  it('asks for a write when never used or used a minute or more ago', () => {
    expect(lastUsedIsStale(null, NOW)).toBe(true);
    expect(lastUsedIsStale(later(-59_999), NOW)).toBe(false);
    expect(lastUsedIsStale(later(-60_000), NOW)).toBe(true);
  });
});
