import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTranscript, heard, type CallSimulator } from '../devtools/simulator/simulator.js';
import { pageConsoleUrl, pageText } from '../src/oncall/paging.js';
import { providerPinHash } from '../src/voicemail/access-line.js';
import { voicemailJobId } from '../src/voicemail/pipeline.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { recordingSimulatorFor } from './support/simulate.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { until } from './support/until.js';
import { postTwilio } from './support/twilio-request.js';

/**
 * One code for the doctor (issue 13, item 7): an urgent call whose chain is exhausted is paged
 * and leaves a voicemail; both carry one reference code. Keyed on the access line, that code
 * stops the paging and plays the message; marking the message heard stops its page too. Through
 * the call simulator, the real pipeline (media from the loopback Twilio double) and the pages worker.
 */

const PATIENT = '+12025550123';
const PRACTICE = '+12025550100';
const PROVIDER_PHONE = '+12025550111'; // Dr. Morgan Primary, paged by the demo's default policy
const PROVIDER_PIN = '7391';
const ACCESS = '/twilio/voice/access';
const ACKED = 'The page is acknowledged. Paging has stopped.';

const now = new Date('2026-11-26T03:00:00Z'); // Wednesday 22:00 in New York: after hours
let h: Harness;
let double: TwilioDouble;
let sim: CallSimulator;
let providerId: string;

beforeAll(async () => {
  double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  h = await startHarness('one_code', { TWILIO_API_BASE_URL: double.baseUrl }, { clock: () => now });
  sim = recordingSimulatorFor(h, double).sim;
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  const practiceId = h.services.seeded.id;
  const provider = await h.services.db.selectFrom('providers').select('id').where('practice_id', '=', practiceId).where('phone', '=', PROVIDER_PHONE).executeTakeFirstOrThrow();
  providerId = provider.id;
  await h.services.db.updateTable('providers').set({ pin_hash: providerPinHash(h.services.keyring, providerId, PROVIDER_PIN) }).where('id', '=', providerId).execute();
  // Rounds far apart: no repeat runs by itself during the test.
  await h.services.db.updateTable('escalation_policies').set({ page_interval_seconds: 3600, page_max_repeats: 5 }).execute();
});
afterAll(async () => {
  await h?.close();
  await double?.close();
});

/** An urgent call nobody answers: paged, and an urgent voicemail stored. Returns the page and the voicemail. */
async function pagedVoicemail(): Promise<{ page: { id: string; reference_code: string; status: string }; voicemail: { id: string; reference_code: string } }> {
  const result = await sim.placeCall({
    from: PATIENT,
    to: PRACTICE,
    digits: ['1', '1'],
    dialOutcomes: [{ status: 'no-answer' }, { status: 'no-answer' }, { status: 'no-answer' }, { status: 'no-answer' }],
    recordings: [{ durationSeconds: 3, digits: '#' }],
  });
  expect(result.errors, formatTranscript(result)).toEqual([]);
  const page = await until('the page', () => h.services.db.selectFrom('pages').select(['id', 'reference_code', 'status']).where('call_sid', '=', result.callSid).executeTakeFirst());
  const voicemail = await until(
    'the voicemail stored',
    async () => {
      const v = await h.services.db.selectFrom('voicemails').select(['id', 'reference_code', 'state', 'recording_sid']).where('call_sid', '=', result.callSid).executeTakeFirst();
      return v?.state === 'complete' ? v : undefined;
    },
    30_000,
    async () => {
      const v = await h.services.db.selectFrom('voicemails').select('recording_sid').where('call_sid', '=', result.callSid).executeTakeFirst();
      const job = v ? await h.services.queues.voicemail.getJob(voicemailJobId(v.recording_sid)) : undefined;
      if (job && (await job.getState()) === 'delayed') await job.promote().catch(() => undefined);
    },
  );
  return { page, voicemail };
}

function spoken(code: string): string {
  return code.split('').join(' ');
}

async function pageRow(id: string): Promise<{ status: string; acknowledged_by: string | null }> {
  return h.services.db.selectFrom('pages').select(['status', 'acknowledged_by']).where('id', '=', id).executeTakeFirstOrThrow();
}

describe('a page and the voicemail it announces share one reference code', () => {
  it('the page SMS names the code the access line reads for the message; keyed, it stops the paging and plays the message', async () => {
    const { page, voicemail } = await pagedVoicemail();
    expect(voicemail.reference_code).toBe(page.reference_code);
    const code = page.reference_code;
    await until('the page SMS', () => double.requests.some((r) => r.path.endsWith('/Messages.json') && (r.form.get('Body') ?? '').includes(`Ref ${code}.`)));
    const sms = double.requests.find((r) => r.path.endsWith('/Messages.json') && (r.form.get('Body') ?? '').includes(`Ref ${code}.`));
    expect(sms?.form.get('Body')).toBe(pageText('Demo Family Medicine', code, '+12025550103', 0, pageConsoleUrl(TEST_PUBLIC_BASE_URL, page.id)));

    const result = await sim.placeCall({ from: PROVIDER_PHONE, to: PRACTICE, incomingPath: ACCESS, digits: [`${PROVIDER_PIN}#`, '3', `${code}#`, '1', '9'] });
    expect(result.errors, formatTranscript(result)).toEqual([]);
    const text = heard(result);
    // The message in the queue carries the page's code...
    expect(text).toContain(`Message 1, reference ${spoken(code)}.`);
    // ...and keying that code stops the page and plays the same message.
    expect(text).toContain(`${ACKED} Message reference ${spoken(code)}.`);
    expect(result.transcript.filter((e) => e.kind === 'play')).toHaveLength(2);
    expect(text).toContain('Marked as heard. There are no more new urgent voicemails.');
    expect(await pageRow(page.id)).toEqual({ status: 'acknowledged', acknowledged_by: `provider:${providerId}` });
    const acks = await h.services.db.selectFrom('audit_log').select(['actor', 'details']).where('action', '=', 'page.acknowledged').where('subject_id', '=', page.id).execute();
    expect(acks).toEqual([{ actor: `provider:${providerId}`, details: expect.objectContaining({ via: 'keypad' }) }]);
    const v = await h.services.db.selectFrom('voicemails').select('acknowledged_by').where('id', '=', voicemail.id).executeTakeFirstOrThrow();
    expect(v.acknowledged_by).toBe(`provider:${providerId}`);
  });

  it('marking the message heard on the access line stops its page too', async () => {
    const { page, voicemail } = await pagedVoicemail();
    expect(voicemail.reference_code).toBe(page.reference_code);
    expect(page.status).toBe('open');
    const result = await sim.placeCall({ from: PROVIDER_PHONE, to: PRACTICE, incomingPath: ACCESS, digits: [`${PROVIDER_PIN}#`, '1', '9'] });
    expect(result.errors, formatTranscript(result)).toEqual([]);
    expect(heard(result)).toContain(`Message 1, reference ${spoken(page.reference_code)}.`);
    expect(await pageRow(page.id)).toEqual({ status: 'acknowledged', acknowledged_by: `provider:${providerId}` });
  });

  it('a provider replying "ACK <code>" by SMS stops the page of that same code', async () => {
    const { page } = await pagedVoicemail();
    const res = await postTwilio(h, '/twilio/sms/incoming', {
      MessageSid: `SM${'c'.repeat(32)}`,
      AccountSid: TEST_ACCOUNT_SID,
      From: PROVIDER_PHONE,
      To: PRACTICE,
      Body: `ACK ${page.reference_code}`,
      NumMedia: '0',
    });
    expect(res.status).toBe(200);
    expect(res.body).toContain(`Acknowledged, ref ${page.reference_code}. Paging stopped.`);
    expect((await pageRow(page.id)).status).toBe('acknowledged');
    // A provider's ACK is not a patient's text.
    expect(await h.services.db.selectFrom('patient_texts').select('id').execute()).toEqual([]);
  });
});
