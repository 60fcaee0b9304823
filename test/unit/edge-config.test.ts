import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('edge configuration', () => {
  it('defaults: no trusted proxy, limits high enough for a practice', () => {
    const c = loadConfig({});
    expect(c.trustedProxies).toEqual([]);
    expect(c.rateLimits).toEqual({ apiPerSource: 1200, apiPerKey: 600, authFailuresPerSource: 60, twilioUnsignedPerSource: 60, signInPerSource: 30, signInFailuresPerAccount: 10, unsubscribePerSource: 60 });
    expect(c.auditRefusalsInFullPerMinute).toBe(20);
  });

  it('SMTP: unset means no e-mail; a bad setting stops the start naming the variable', () => {
    expect(loadConfig({}).smtp).toBeUndefined();
    expect(loadConfig({ SMTP_URL: 'smtp://127.0.0.1:2525', SMTP_FROM: 'after-hours@example.org' }).smtp).toEqual({ url: 'smtp://127.0.0.1:2525', from: 'after-hours@example.org', requireTls: false });
    expect(loadConfig({ SMTP_HOST: 'mail.example.org', SMTP_FROM: 'after-hours@example.org' }).smtp).toEqual({ host: 'mail.example.org', port: 587, secure: false, from: 'after-hours@example.org', requireTls: false });
    expect(() => loadConfig({ SMTP_URL: 'smtp://127.0.0.1:2525' })).toThrow(/SMTP_FROM: required/);
    expect(() => loadConfig({ SMTP_URL: 'http://mail.example.org', SMTP_FROM: 'a@example.org' })).toThrow(/SMTP_URL: /);
    expect(() => loadConfig({ SMTP_PORT: '25' })).toThrow(/SMTP_HOST: required/);
  });

  it('TRUSTED_PROXIES takes addresses, CIDR ranges and named ranges', () => {
    expect(loadConfig({ TRUSTED_PROXIES: '10.0.0.0/8, loopback, 2001:db8::1, fd00::/8' }).trustedProxies).toEqual(['10.0.0.0/8', 'loopback', '2001:db8::1', 'fd00::/8']);
  });

  it.each(['everyone', '10.0.0.0/33', '10.0.0.1/8/1', '*'])('TRUSTED_PROXIES=%s is refused, naming the variable', (value) => {
    expect(() => loadConfig({ TRUSTED_PROXIES: value })).toThrow(ConfigError);
    expect(() => loadConfig({ TRUSTED_PROXIES: value })).toThrow(/TRUSTED_PROXIES/);
  });

  it('a rate limit must be a positive whole number', () => {
    expect(() => loadConfig({ RATE_LIMIT_API_PER_SOURCE: '0' })).toThrow(/RATE_LIMIT_API_PER_SOURCE/);
    expect(() => loadConfig({ RATE_LIMIT_API_PER_KEY: 'lots' })).toThrow(/RATE_LIMIT_API_PER_KEY/);
  });
});
