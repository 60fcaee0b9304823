import { describe, expect, it } from 'vitest';
import { DEV_TWILIO_AUTH_TOKEN, loadConfig } from '../../src/config.js';
import { LogModeError, loadLogModeTwilio } from '../../src/log-mode.js';

/** How main.ts gets log mode's Twilio stand-in from devtools/ (never a static import). */
describe('loading the log-mode stand-in', () => {
  const logConfig = loadConfig({ NODE_ENV: 'development', TWILIO_AUTH_TOKEN: DEV_TWILIO_AUTH_TOKEN });

  it('loads devtools/twilio-log-mode.ts in log mode', async () => {
    const twilio = await loadLogModeTwilio(logConfig);
    expect(twilio?.kind).toBe('log');
  });

  it('loads nothing when a Twilio account (or a test double) is configured', async () => {
    expect(await loadLogModeTwilio(loadConfig({ NODE_ENV: 'development', TWILIO_AUTH_TOKEN: 'a-real-token-0123456789abcdef' }))).toBeUndefined();
    expect(await loadLogModeTwilio(loadConfig({ NODE_ENV: 'development', TWILIO_AUTH_TOKEN: DEV_TWILIO_AUTH_TOKEN, TWILIO_API_BASE_URL: 'http://127.0.0.1:9' }))).toBeUndefined();
  });

  it('refuses log mode in production, before loading anything', async () => {
    await expect(loadLogModeTwilio({ ...logConfig, env: 'production' }, './no-such-module.js')).rejects.toThrow(/production never runs in log mode/);
  });

  it('says what to do when the build has no devtools/ (the production image)', async () => {
    const err = await loadLogModeTwilio(logConfig, '../devtools/no-such-module.js').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LogModeError);
    expect((err as Error).message).toContain('set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN');
  });
});
