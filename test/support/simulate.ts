import { CallSimulator } from '../../devtools/simulator/simulator.js';
import { TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness } from './harness.js';
import type { TwilioDouble } from './twilio-double.js';
import { randomWav } from './wav.js';

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

/** 16-bit mono audio at 8 kHz: bytes per second of a simulated recording. */
const BYTES_PER_SECOND = 16_000;

/**
 * A simulator whose recordings exist at the Twilio double: each gets random WAV audio (at least a
 * second), kept in `media` by recording SID so a test can compare what was stored and played.
 * `ready()` says whether the double serves the media at once (default: yes).
 */
export function recordingSimulatorFor(
  h: Harness,
  double: TwilioDouble,
  opts: { ready?: () => boolean } = {},
): { sim: CallSimulator; media: Map<string, Buffer> } {
  const media = new Map<string, Buffer>();
  const sim = new CallSimulator({
    targetBaseUrl: h.baseUrl,
    publicBaseUrl: TEST_PUBLIC_BASE_URL,
    authToken: TEST_AUTH_TOKEN,
    accountSid: TEST_ACCOUNT_SID,
    twilioApiBaseUrl: double.baseUrl,
    onRecording: ({ recordingSid, callSid, seconds }) => {
      const bytes = randomWav(Math.max(1, seconds) * BYTES_PER_SECOND);
      media.set(recordingSid, bytes);
      double.addRecording({ sid: recordingSid, callSid, bytes, ready: opts.ready?.() ?? true });
    },
  });
  return { sim, media };
}

/** The demo test patient's identities: none of them may appear in logs or before verification. */
export const TEST_IDENTITIES = ['+12025550123', '2025550123', '555-0123', '1980-04-15', '04151980', '4/15/1980', 'Avery', 'Example'];
