import { expect } from 'vitest';
import { formatTranscript, type CallSimulator } from '../../devtools/simulator/simulator.js';
import { providerPinHash } from '../../src/voicemail/access-line.js';
import { voicemailJobId } from '../../src/voicemail/pipeline.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, type Harness } from './harness.js';
import { recordingSimulatorFor } from './simulate.js';
import { startTwilioDouble, type TwilioDouble } from './twilio-double.js';
import { until } from './until.js';

/**
 * The access line's tests on the demo practice, after hours: the service with the Twilio double
 * (media served from it), a recording call simulator, and the provider the demo's default policy
 * pages given a PIN; escalation rounds set far apart so no repeat page runs by itself.
 */

export const PATIENT = '+12025550123';
export const PRACTICE = '+12025550100';
/** Dr. Morgan Primary, paged by the demo's default policy. */
export const PROVIDER_PHONE = '+12025550111';
export const PROVIDER_PIN = '7391';
export const ACCESS = '/twilio/voice/access';
/** Wednesday 22:00 in New York: after hours. */
export const AFTER_HOURS = new Date('2026-11-26T03:00:00Z');

export interface AccessLineRig {
  h: Harness;
  double: TwilioDouble;
  sim: CallSimulator;
  practiceId: string;
  providerId: string;
  close(): Promise<void>;
}

export async function startAccessLineRig(name: string, now: Date = AFTER_HOURS): Promise<AccessLineRig> {
  const double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  const h = await startHarness(name, { TWILIO_API_BASE_URL: double.baseUrl }, { clock: () => now });
  const close = async (): Promise<void> => {
    await h.close();
    await double.close();
  };
  try {
    const { sim } = recordingSimulatorFor(h, double);
    if (!h.services.seeded) throw new Error('demo practice was not seeded');
    const practiceId = h.services.seeded.id;
    const provider = await h.services.db.selectFrom('providers').select('id').where('practice_id', '=', practiceId).where('phone', '=', PROVIDER_PHONE).executeTakeFirstOrThrow();
    await h.services.db.updateTable('providers').set({ pin_hash: providerPinHash(h.services.keyring, provider.id, PROVIDER_PIN) }).where('id', '=', provider.id).execute();
    // Rounds far apart: no repeat page runs by itself during the test.
    await h.services.db.updateTable('escalation_policies').set({ page_interval_seconds: 3600, page_max_repeats: 5 }).execute();
    return { h, double, sim, practiceId, providerId: provider.id, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * A patient's urgent call nobody answers (the chain exhausted, so paged), with an urgent voicemail
 * left; resolves once the voicemail is stored (its job promoted if it waits for the media).
 */
export async function urgentUnansweredCall(rig: Pick<AccessLineRig, 'h' | 'sim'>): Promise<{ callSid: string; voicemail: { id: string; reference_code: string } }> {
  const { h, sim } = rig;
  const result = await sim.placeCall({
    from: PATIENT,
    to: PRACTICE,
    digits: ['1', '1'],
    dialOutcomes: [{ status: 'no-answer' }, { status: 'no-answer' }, { status: 'no-answer' }, { status: 'no-answer' }],
    recordings: [{ durationSeconds: 3, digits: '#' }],
  });
  expect(result.errors, formatTranscript(result)).toEqual([]);
  const voicemail = await until(
    'the voicemail stored',
    async () => {
      const v = await h.services.db.selectFrom('voicemails').select(['id', 'reference_code', 'state']).where('call_sid', '=', result.callSid).executeTakeFirst();
      return v?.state === 'complete' ? { id: v.id, reference_code: v.reference_code } : undefined;
    },
    30_000,
    async () => {
      const v = await h.services.db.selectFrom('voicemails').select('recording_sid').where('call_sid', '=', result.callSid).executeTakeFirst();
      const job = v ? await h.services.queues.voicemail.getJob(voicemailJobId(v.recording_sid)) : undefined;
      if (job && (await job.getState()) === 'delayed') await job.promote().catch(() => undefined);
    },
  );
  return { callSid: result.callSid, voicemail };
}
