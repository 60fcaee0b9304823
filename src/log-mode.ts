import { twilioRestMode, type TwilioRest } from './adapters/twilio-rest.js';
import type { Config } from './config.js';

/**
 * Log mode (no Twilio account configured: `npm start` with the development defaults) runs on a
 * stand-in for Twilio's REST API that lives in devtools/, with the other development code. The
 * product never imports devtools/ statically (lint forbids it) and the production image does not
 * contain it: main.ts asks here, and only log mode loads it, by a dynamic import whose specifier
 * is a variable so neither the compiler nor the layer rules pull devtools/ into the build.
 */
export const LOG_MODE_MODULE = '../devtools/twilio-log-mode.js';

export class LogModeError extends Error {
  override readonly name = 'LogModeError';
}

/**
 * The Twilio stand-in for log mode, or undefined when a Twilio account is configured (the real
 * adapter is then made by startServices). Production never runs in log mode: refused explicitly,
 * as is a build without devtools/.
 */
export async function loadLogModeTwilio(config: Config, specifier: string = LOG_MODE_MODULE): Promise<TwilioRest | undefined> {
  // The development token on Twilio's own API URL: log mode everywhere but production.
  if (twilioRestMode({ ...config, env: 'development' }) !== 'log') return undefined;
  if (config.env === 'production') {
    throw new LogModeError('production never runs in log mode: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN to a real Twilio account');
  }
  let mod: unknown;
  try {
    mod = await import(specifier);
  } catch {
    throw new LogModeError(
      'no Twilio account is configured (log mode), and log mode needs devtools/, which this build does not contain: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN',
    );
  }
  const create = (mod as { createLogTwilioRest?: unknown }).createLogTwilioRest;
  if (typeof create !== 'function') throw new LogModeError(`${specifier} does not export createLogTwilioRest`);
  return (create as (config: Config) => TwilioRest)(config);
}

