import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('configuration', () => {
  it('runs with no settings at all, on embedded defaults', () => {
    const c = loadConfig({});
    expect(c.port).toBe(3000);
    expect(c.publicBaseUrl).toBe('http://localhost:3000');
    expect(c.database.url).toBe('postgres://postgres@127.0.0.1:5432/test');
    expect(c.aws.s3Bucket).toBeUndefined();
    expect(c.aws.kmsKeyId).toBeUndefined();
    expect(c.twilio.authTokens).toHaveLength(1);
  });

  it('names the variable and what it expected, without echoing the value', () => {
    const p = problems({ PORT: 'eighty', DATABASE_URL: 'mysql://secret-password@x/y' });
    expect(p.some((l) => l.startsWith('PORT:'))).toBe(true);
    expect(p.some((l) => l.startsWith('DATABASE_URL: expected a postgres:// URL'))).toBe(true);
    expect(p.join('\n')).not.toContain('secret-password');
  });

  it('requires Twilio credentials and an https public URL in production', () => {
    const p = problems({ NODE_ENV: 'production', PUBLIC_BASE_URL: 'http://ahl.example.org' });
    expect(p).toEqual(
      expect.arrayContaining([
        'TWILIO_ACCOUNT_SID: required when NODE_ENV=production',
        'TWILIO_AUTH_TOKEN: required when NODE_ENV=production',
        'PUBLIC_BASE_URL: expected an https:// URL in production',
      ]),
    );
  });

  it('accepts a second auth token for rotation and strips a trailing slash from the public URL', () => {
    const c = loadConfig({
      TWILIO_AUTH_TOKEN: 'primary-token-0123456789',
      TWILIO_AUTH_TOKEN_SECONDARY: 'secondary-token-0123456789',
      PUBLIC_BASE_URL: 'https://ahl.example.org/',
    });
    expect(c.twilio.authTokens).toEqual(['primary-token-0123456789', 'secondary-token-0123456789']);
    expect(c.publicBaseUrl).toBe('https://ahl.example.org');
  });

  it('refuses the public development token in production, as the primary or the secondary token', () => {
    const base = { NODE_ENV: 'production', PUBLIC_BASE_URL: 'https://ahl.example.org', TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}` };
    expect(problems({ ...base, TWILIO_AUTH_TOKEN: 'dev-auth-token-change-me' })).toContain('TWILIO_AUTH_TOKEN: the development token is refused in production');
    expect(problems({ ...base, TWILIO_AUTH_TOKEN: 'real-token-0123456789abcdef', TWILIO_AUTH_TOKEN_SECONDARY: 'dev-auth-token-change-me' })).toEqual([
      'TWILIO_AUTH_TOKEN_SECONDARY: the development token is refused in production',
    ]);
    expect(problems({ ...base, TWILIO_AUTH_TOKEN: 'real-token-0123456789abcdef', TWILIO_AUTH_TOKEN_SECONDARY: 'next-token-0123456789abcdef' })).toEqual([]);
  });

  it('the public URL defaults to the service on its own port, the same rule the simulator uses', async () => {
    const { publicBaseUrlFor } = await import('../src/dev-defaults.js');
    expect(loadConfig({ PORT: '3100' }).publicBaseUrl).toBe('http://localhost:3100');
    for (const env of [{ PORT: '3100' }, { PORT: '3100', PUBLIC_BASE_URL: 'https://ahl.example.org/' }, {}]) {
      const c = loadConfig(env);
      expect(publicBaseUrlFor(env.PUBLIC_BASE_URL, c.port)).toBe(c.publicBaseUrl);
    }
  });

  it('refuses KMS without a blind-index key', () => {
    expect(problems({ KMS_KEY_ID: 'alias/ahl' })).toContain(
      'BLIND_INDEX_KEY: required when KMS_KEY_ID is set (the caller-ID index key must not live on local disk)',
    );
  });

  it('seeds the demo practice by default, except under NODE_ENV=production unless SEED_DEMO asks for it', () => {
    const prod = { NODE_ENV: 'production', PUBLIC_BASE_URL: 'https://ahl.example.org', TWILIO_ACCOUNT_SID: `AC${'a'.repeat(32)}`, TWILIO_AUTH_TOKEN: 'real-token-0123456789abcdef' };
    expect(loadConfig({}).seedDemo).toBe(true);
    expect(loadConfig({ NODE_ENV: 'test' }).seedDemo).toBe(true);
    expect(loadConfig({ SEED_DEMO: 'false' }).seedDemo).toBe(false);
    expect(loadConfig(prod).seedDemo).toBe(false);
    expect(loadConfig({ ...prod, SEED_DEMO: '' }).seedDemo).toBe(false);
    expect(loadConfig({ ...prod, SEED_DEMO: 'true' }).seedDemo).toBe(true);
  });
});
