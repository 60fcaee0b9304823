/**
 * Development defaults shared by the service's config and the call simulator CLI
 * (devtools/simulator, scripts/simulate.ts). They live in src/ because the product reads them
 * (config, demo seed) and src/ never imports devtools/.
 *
 * Keep this file free of imports: `src/config.ts` and `scripts/simulate.ts` both read it,
 * and neither should pull the other's dependencies in. These values are for local
 * development and tests only; production must set every one of them explicitly.
 */
export const DEV_DEFAULTS = {
  /** HTTP port the service listens on (`PORT`). */
  port: 3000,
  /** Public base URL Twilio requests and signs (`PUBLIC_BASE_URL`). */
  publicBaseUrl: 'http://localhost:3000',
  /** Twilio account SID (`TWILIO_ACCOUNT_SID`): 'AC' followed by 32 hex digits. */
  twilioAccountSid: `AC${'0'.repeat(32)}`,
  /** Twilio auth token used to sign and check webhooks (`TWILIO_AUTH_TOKEN`). */
  twilioAuthToken: 'dev-auth-token-change-me',
  /** The demo practice's number and the demo test patient's caller ID (555-01xx: fiction). */
  demoPracticeNumber: '+12025550100',
  demoCallerNumber: '+12025550123',
} as const;

export type DevDefaults = typeof DEV_DEFAULTS;

/**
 * The URL Twilio requests and signs: PUBLIC_BASE_URL when set, otherwise the service on its own
 * port (`http://localhost:$PORT`), without a trailing slash. The one rule for both the service
 * (src/config.ts) and the simulator CLI, so `PORT=3100 npm start` and `PORT=3100 npm run simulate`
 * sign the same URL. An empty value counts as unset, as in the service's configuration.
 */
export function publicBaseUrlFor(publicBaseUrl: string | undefined, port: number): string {
  const base = publicBaseUrl === undefined || publicBaseUrl === '' ? `http://localhost:${port}` : publicBaseUrl;
  return base.replace(/\/+$/, '');
}
