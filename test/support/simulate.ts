import { CallSimulator } from '../../src/simulator/simulator.js';
import { TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness } from './harness.js';

/** A simulator aimed at a harness: signs against the public URL, sends to the loopback port. */
export function simulatorFor(h: Harness, now?: () => Date): CallSimulator {
  return new CallSimulator({
    targetBaseUrl: h.baseUrl,
    publicBaseUrl: TEST_PUBLIC_BASE_URL,
    authToken: TEST_AUTH_TOKEN,
    accountSid: TEST_ACCOUNT_SID,
    ...(now ? { now } : {}),
  });
}

/** The demo test patient's identities: none of them may appear in logs or before verification. */
export const TEST_IDENTITIES = ['+12025550123', '2025550123', '555-0123', '1980-04-15', '04151980', '4/15/1980', 'Avery', 'Example'];
