import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Request } from 'express';
import { describe, expect, it } from 'vitest';
import { redactPath, routeLabel, unmatchedPathLabel } from '../../src/log/route-label.js';
import { redactValue } from '../../src/log/redact.js';

const req = (r: { originalUrl: string; baseUrl?: string; route?: { path: string } }): Request =>
  ({ baseUrl: '', ...r }) as unknown as Request;

describe('redactPath (a matched route mount path)', () => {
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

describe('unmatchedPathLabel: our route words kept, every other segment a placeholder', () => {
  it.each([
    ['/nope/+12025550123/1980-04-15?x=1', '/:segment/:segment/:segment'],
    ['/api/patients/Jane%20Doe/notes', '/api/patients/:segment/:segment'],
    ['/api/patients/Jane Doe/notes', '/api/patients/:segment/:segment'],
    ['/twilio/voice/Maria-Garcia', '/twilio/voice/:segment'],
    ['/API/Patients/JANE%20doe', '/api/patients/:segment'],
    ['/api/patients/Jos%C3%A9', '/api/patients/:segment'],
    ['/api/patients/José', '/api/patients/:segment'],
    ['/api/unknown-thing', '/api/:segment'],
    // Percent-decoded before the check, per segment: an escaped route word is still a word, and `%2F` does not split one.
    ['/%61pi/whoami', '/api/whoami'],
    ['/api/patients%2FJane', '/api/:segment'],
    ['/x/04%2F15%2F1980', '/:segment/:segment'],
    // The shape stays: empty segments and a trailing slash.
    ['/api//patients/', '/api//patients/'],
    ['/', '/'],
    ['/playback/0123456789abcdef0123456789abcdef', '/playback/:token'],
    ['/playback/Avery-Example/x', '/playback/:token/:segment'],
    ['/playback/healthz', '/playback/:token'],
    ['/healthz', '/healthz'],
    ['/feeds/oncall.ics?token=abc', '/feeds/oncall.ics'],
    ['/api/oncall/providers/0d5e3c9a-1b7f-4c1e-9a3e-2f1e0c9b8a7d/shifts.ics', '/api/oncall/providers/:segment/shifts.ics'],
    ['/x/%E0%A4%A/%2B12025550123', '/:segment/:segment/:segment'],
  ])('%s → %s', (raw, expected) => {
    expect(unmatchedPathLabel(raw)).toBe(expected);
  });

  it.each([
    ['/api/patients/Jane%20Doe/notes', ['jane', 'doe']],
    ['/twilio/voice/Maria-Garcia', ['maria', 'garcia']],
    ['/API/PATIENTS/mArIa%20GaRcIa', ['maria', 'garcia']],
    ['/api/patients/Jos%C3%A9%20N%C3%BA%C3%B1ez', ['josé', 'jos', 'núñez', 'ez']],
    ['/api/patients/%E6%9D%8E%E5%B0%8F%E9%BE%99', ['李小龙']],
    ['/nope/Avery/Example/1980-04-15', ['avery', 'example', '1980']],
    ['/api/patients/avery.example@example.com', ['avery', 'example']],
    ['/api/patients/Jane%ZZDoe', ['jane', 'doe']],
  ])('%s never carries the name', (raw, parts) => {
    const label = unmatchedPathLabel(raw).toLowerCase();
    for (const part of parts) expect(label).not.toContain(part);
  });

  it('bounds the length, counting segments up to the bound', () => {
    const label = unmatchedPathLabel('/x'.repeat(500));
    expect(label.length).toBeLessThanOrEqual(121);
    expect(label).toMatch(/^(\/:segment)+\/?:?[a-z]*…$/);
  });

  it('keeps every literal word of our routes (src/http/*.ts)', () => {
    const dir = path.join(import.meta.dirname, '../../src/http');
    const words = new Set<string>(['healthz', 'readyz', 'audio', 'playback']);
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      const source = readFileSync(path.join(dir, file), 'utf8');
      const paths = [
        ...source.matchAll(/\.(?:get|post|put|patch|delete|all|use|route)\(\s*'(\/[^']*)'/g),
        ...source.matchAll(/_PATH = '(\/[^']*)'/g),
      ].map((m) => m[1] ?? '');
      for (const p of paths) for (const w of p.split('/')) if (w && !w.startsWith(':')) words.add(w);
    }
    expect(words.size).toBeGreaterThan(40);
    const dropped = [...words].filter((w) => unmatchedPathLabel(`/${w}`) !== `/${w}`);
    expect(dropped, 'route words missing from ROUTE_WORDS in src/log/route-label.ts').toEqual([]);
  });
});

describe('routeLabel', () => {
  it('is the matched pattern with its mount path, never the values', () => {
    const r = req({ originalUrl: '/api/practices/p1/numbers/%2B12025550155', baseUrl: '/api', route: { path: '/practices/:practiceId/numbers/:e164' } });
    expect(routeLabel(r)).toBe('/api/practices/:practiceId/numbers/:e164');
    expect(routeLabel(r, '/api')).toBe('/practices/:practiceId/numbers/:e164');
  });

  it('is the path shape when no route matched: route words kept, nothing else', () => {
    expect(routeLabel(req({ originalUrl: '/nope/+12025550123/1980-04-15?x=1' }))).toBe('/:segment/:segment/:segment');
    expect(routeLabel(req({ originalUrl: '/twilio/voice/04151980' }), '/twilio')).toBe('/voice/:segment');
    expect(routeLabel(req({ originalUrl: '/twilio/voice/Maria-Garcia', baseUrl: '/twilio' }), '/twilio')).toBe('/voice/:segment');
    expect(routeLabel(req({ originalUrl: '/api/patients/Jane%20Doe/notes', baseUrl: '/api' }), '/api')).toBe('/patients/:segment/:segment');
    expect(routeLabel(req({ originalUrl: '/api/unknown-thing' }))).toBe('/api/:segment');
    expect(routeLabel(req({ originalUrl: '/playback/Avery-Example-04151980%E0%A4%A' }))).toBe('/playback/:token');
  });
});

describe('the logger does not trust a route', () => {
  it('a `route` value is scrubbed like free text (it is not on the allow-list)', () => {
    expect(redactValue('route', '/nope/+12025550123/1980-04-15')).toBe('/nope/[phone]/[date]');
    expect(redactValue('route', '/api/practices/:practiceId')).toBe('/api/practices/:practiceId');
  });
});
