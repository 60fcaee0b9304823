import { createApiKey } from '../../src/auth/api-keys.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, type Harness } from './harness.js';
import { startSmtpCapture, type SmtpCapture } from './smtp-capture.js';
import { startTwilioDouble, type TwilioDouble } from './twilio-double.js';

/**
 * The service with both ways staff notices leave it captured: the Twilio REST double (SMS) and an
 * SMTP capture (e-mail); the demo practice seeded, and an admin key for it.
 */
export interface NoticeHarness {
  h: Harness;
  double: TwilioDouble;
  smtp: SmtpCapture;
  practiceId: string;
  adminKey: string;
  close(): Promise<void>;
}

/** `name`: the test file's schema and key prefix (unique per file); `clock`: the service's clock. */
export async function startNoticeHarness(name: string, clock: () => Date): Promise<NoticeHarness> {
  const smtp = await startSmtpCapture();
  const double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  const h = await startHarness(name, { TWILIO_API_BASE_URL: double.baseUrl, ...smtp.env }, { clock });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  const practiceId = h.services.seeded.id;
  const adminKey = (await createApiKey(h.services.db, { role: 'admin', practiceId })).key;
  return {
    h,
    double,
    smtp,
    practiceId,
    adminKey,
    close: async () => {
      await h.close();
      await double.close();
      await smtp.close();
    },
  };
}
