import { describe, expect, it } from 'vitest';
import { authorise, isOperator, type KeyPrincipal } from '../../src/auth/api-keys.js';

const PRACTICE = '6f1c1d3e-1111-4222-8333-444455556666';
const admin: KeyPrincipal = { keyId: 'k1', role: 'admin', practiceId: PRACTICE };
const operator: KeyPrincipal = { keyId: 'k2', role: 'operator', practiceId: null };

describe('authorise', () => {
  it("lets a practice's key act on its own practice with one of the roles", () => {
    expect(authorise(admin, ['admin'], PRACTICE)).toEqual({ ok: true });
    expect(authorise(admin, ['admin'], null)).toEqual({ ok: true });
    expect(authorise(admin, ['staff'], PRACTICE)).toEqual({ ok: false, reason: 'role' });
    expect(authorise(admin, ['admin'], '00000000-0000-4000-8000-000000000000')).toEqual({ ok: false, reason: 'practice' });
  });

  it('never lets the operator key reach a practice-data route, whatever roles it lists or practice it names', () => {
    expect(isOperator(operator)).toBe(true);
    expect(authorise(operator, ['admin', 'staff', 'provider', 'auditor'], null)).toEqual({ ok: false, reason: 'role' });
    expect(authorise(operator, ['admin'], PRACTICE)).toEqual({ ok: false, reason: 'role' });
  });
});
