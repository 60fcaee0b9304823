import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatTranscript, heard, type CallSimulator } from '../devtools/simulator/simulator.js';
import { pageConsoleUrl, pageText } from '../src/oncall/paging.js';
import { ACCESS, PRACTICE, PROVIDER_PHONE, PROVIDER_PIN, startAccessLineRig, urgentUnansweredCall, type AccessLineRig } from './support/access-line.js';
import { TEST_ACCOUNT_SID, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import type { TwilioDouble } from './support/twilio-double.js';
import { until } from './support/until.js';
import { postTwilio } from './support/twilio-request.js';

/**
 * One code for the doctor (issue 13, item 7): an urgent call whose chain is exhausted is paged
 * and leaves a voicemail; both carry one reference code. Keyed on the access line, that code
 * stops the paging and plays the message; marking the message heard stops its page too. Through
 * the call simulator, the real pipeline (media from the loopback Twilio double) and the pages worker.
 */

const ACKED = 'The page is acknowledged. Paging has stopped.';

let rig: AccessLineRig;
let h: Harness;
let double: TwilioDouble;
let sim: CallSimulator;
let providerId: string;

beforeAll(async () => {
  rig = await startAccessLineRig('one_code');
  ({ h, double, sim, providerId } = rig);
});
afterAll(async () => {
  await rig?.close();
});

/** An urgent call nobody answers: paged, and an urgent voicemail stored. Returns the page and the voicemail. */
async function pagedVoicemail(): Promise<{ page: { id: string; reference_code: string; status: string }; voicemail: { id: string; reference_code: string } }> {
  const { callSid, voicemail } = await urgentUnansweredCall(rig);
  const page = await until('the page', () => h.services.db.selectFrom('pages').select(['id', 'reference_code', 'status']).where('call_sid', '=', callSid).executeTakeFirst());
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
