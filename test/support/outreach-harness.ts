import { expect } from 'vitest';
import { createApiKey } from '../../src/auth/api-keys.js';
import type { Practice } from '../../src/practices/store.js';
import { callApi, type ApiAnswer } from './api-request.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, type Harness } from './harness.js';
import { startRvmDouble, type RvmDouble } from './rvm-double.js';
import { startTwilioDouble, type TwilioDouble } from './twilio-double.js';

/** The demo practice's Messaging Service in the outreach tests. */
export const OUTREACH_MG = `MG${'0123456789abcdef'.repeat(2)}`;
const API_KEY = 'vendor-api-key-0123456789';
const SECRET = 'vendor-webhook-secret-0123456789';

export interface OutreachHarness {
  h: Harness;
  twilioApi: TwilioDouble;
  vendor: RvmDouble;
  practice: Practice;
  /** An admin API key of the demo practice. */
  admin: string;
  api: (method: string, path: string, body?: unknown) => Promise<ApiAnswer>;
  close: () => Promise<void>;
}

/**
 * The set-up every outreach walk shares: the loopback Twilio and ringless-voicemail doubles, a
 * harness on `clock` whose scheduled sweeps (drop dispatch, sequence steps) are removed so the
 * test runs them itself at the moved clock, and the demo practice made ready to send: an SMS
 * consent disclosure, its Messaging Service, and signed BAAs with both vendors.
 */
export async function startOutreachHarness(name: string, clock: () => Date): Promise<OutreachHarness> {
  const twilioApi = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  let target = '';
  const vendor = await startRvmDouble({ apiKey: API_KEY, webhookSecret: SECRET, webhookTarget: () => target });
  const h = await startHarness(name, { TWILIO_API_BASE_URL: twilioApi.baseUrl, RVM_API_URL: vendor.baseUrl, RVM_API_KEY: API_KEY, RVM_WEBHOOK_SECRET: SECRET }, { clock });
  target = `${h.baseUrl}/rvm/webhook`;
  await h.services.queues.maintenance.removeJobScheduler('drop-dispatch');
  await h.services.queues.maintenance.removeJobScheduler('sequence-steps');
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  const practice = h.services.seeded;
  const admin = (await createApiKey(h.services.db, { role: 'admin', practiceId: practice.id })).key;
  const api = (method: string, path: string, body?: unknown): Promise<ApiAnswer> => callApi(h, method, path, admin, body);
  expect((await api('POST', '/api/consent-disclosures', { version: 'sms-2026-12', channel: 'sms', text: 'I agree that Demo Family Medicine may text this number about appointments and recalls. Reply STOP to stop.' })).status).toBe(201);
  expect((await api('PATCH', `/api/practices/${practice.id}`, { messagingServiceSid: OUTREACH_MG })).status).toBe(200);
  expect((await api('POST', '/api/vendor-baas', { vendor: 'twilio', signedAt: '2026-09-01', documentRef: 'twilio-baa' })).status).toBe(201);
  expect((await api('POST', '/api/vendor-baas', { vendor: 'rvm_http', signedAt: '2026-09-01', documentRef: 'rvm-baa' })).status).toBe(201);
  return {
    h,
    twilioApi,
    vendor,
    practice,
    admin,
    api,
    close: async () => {
      await h.close();
      await twilioApi.close();
      await vendor.close();
    },
  };
}
