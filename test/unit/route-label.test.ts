import type { Request } from 'express';
import { describe, expect, it } from 'vitest';
import { redactPath, routeLabel } from '../../src/log/route-label.js';
import { redactValue } from '../../src/log/redact.js';

const req = (r: { originalUrl: string; baseUrl?: string; route?: { path: string } }): Request =>
  ({ baseUrl: '', ...r }) as unknown as Request;

describe('redactPath', () => {
  it.each([
    ['/nope/+12025550123/1980-04-15', '/nope/[phone]/[date]'],
    ['/api/patients/2025550123', '/api/patients/[phone]'],
    ['/twilio/voice/04151980', '/twilio/voice/[date]'],
    ['/x/04%2F15%2F1980', '/x/[date]'],
    ['/x/%2B12025550123?From=%2B12025550123', '/x/[phone]'],
    ['/x/2468', '/x/[digits]'],
    ['/playback/0123456789abcdef0123456789abcdef', '/playback/:token'],
    ['/healthz', '/healthz'],
  ])('%s → %s', (raw, expected) => {
    expect(redactPath(raw)).toBe(expected);
  });

  it('bounds the length', () => {
    expect(redactPath(`/${'a'.repeat(500)}`).length).toBeLessThanOrEqual(121);
  });

  it('survives a malformed escape', () => {
    expect(redactPath('/x/%E0%A4%A/%2B12025550123')).not.toContain('2025550123');
  });
});

describe('routeLabel', () => {
  it('is the matched pattern with its mount path, never the values', () => {
    const r = req({ originalUrl: '/api/practices/p1/numbers/%2B12025550155', baseUrl: '/api', route: { path: '/practices/:practiceId/numbers/:e164' } });
    expect(routeLabel(r)).toBe('/api/practices/:practiceId/numbers/:e164');
    expect(routeLabel(r, '/api')).toBe('/practices/:practiceId/numbers/:e164');
  });

  it('is the redacted path when no route matched', () => {
    expect(routeLabel(req({ originalUrl: '/nope/+12025550123/1980-04-15?x=1' }))).toBe('/nope/[phone]/[date]');
    expect(routeLabel(req({ originalUrl: '/twilio/voice/04151980' }), '/twilio')).toBe('/voice/[date]');
  });
});

describe('the logger does not trust a route', () => {
  it('a `route` value is scrubbed like free text (it is not on the allow-list)', () => {
    expect(redactValue('route', '/nope/+12025550123/1980-04-15')).toBe('/nope/[phone]/[date]');
    expect(redactValue('route', '/api/practices/:practiceId')).toBe('/api/practices/:practiceId');
  });
});
