import { randomBytes, randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SendSmsInput, TwilioRest } from '../src/adapters/twilio-rest.js';
import { acknowledgePage, openPage } from '../src/oncall/paging.js';
import { getDefaultPolicy } from '../src/oncall/store.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { formatTranscript, heard, type CallResult } from '../devtools/simulator/simulator.js';
import { ACK_PAGE, decideAccess, END_CALL, initialAccessState, providerPinHash, renderAccess, type AccessState } from '../src/voicemail/access-line.js';
import { startHarness, type Harness } from './support/harness.js';
import { simulatorFor } from './support/simulate.js';
import { until } from './support/until.js';
import { inboundParams, postTwilio } from './support/twilio-request.js';
import { pageRound, pendingJobs, runDelayedNow, runJobNow } from './support/queue-time.js';

/**
 * Acknowledging a page on the provider access line: after the PIN, 3 and the page's reference
 * then # stop its repeats. Through the call simulator (and signed requests for a retried
 * webhook), against the real PostgreSQL and Redis with the pages worker running; SMS pages go
 * to a recorder.
 */

const PRACTICE_NUMBER = '+12025550100';
const PROVIDER_PHONE = '+12025550111'; // Dr. Morgan Primary in the demo seed, paged by the default policy
const PROVIDER_PIN = '7391';
const STRANGER = '+12025550177';
const ACCESS = '/twilio/voice/access';
const ACCESS_ACTION = '/twilio/voice/access-action';

const ASK_REF = 'Enter the six-digit page reference, then press pound.';
const ACKED = 'The page is acknowledged. Paging has stopped.';
const IDLE_MENU = 'To acknowledge a page, press 3. To end the call, press 9.';

const now = new Date('2026-11-26T03:00:00Z');
let h: Harness;
let practiceId: string;
let providerId: string;
let policyId: string;
const sent: SendSmsInput[] = [];

interface OpenedPage {
  id: string;
  ref: string;
  callSid: string;
}

beforeAll(async () => {
  h = await startHarness('access-line-pages', {}, { clock: () => now });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practiceId = h.services.seeded.id;
  const real: TwilioRest = h.services.twilio;
  h.services.twilio = {
    ...real,
    sendSms: async (input: SendSmsInput) => {
      sent.push(input);
      return { sid: `SM${randomBytes(16).toString('hex')}` };
    },
  };
  const provider = await h.services.db.selectFrom('providers').select('id').where('practice_id', '=', practiceId).where('phone', '=', PROVIDER_PHONE).executeTakeFirstOrThrow();
  providerId = provider.id;
  await h.services.db.updateTable('providers').set({ pin_hash: providerPinHash(h.services.keyring, providerId, PROVIDER_PIN) }).where('id', '=', providerId).execute();
  const policy = await getDefaultPolicy(tenantScope(h.services, practiceId));
  if (!policy) throw new Error('no default policy');
  policyId = policy.id;
  // Rounds ten minutes apart: a test runs the next one now by promoting its delayed job (runDelayedNow).
  await h.services.db.updateTable('escalation_policies').set({ page_interval_seconds: 600, page_max_repeats: 20 }).where('id', '=', policyId).execute();
});
afterAll(async () => {
  await h?.close();
});

/** A page for an urgent call of the practice, as on-call paging opens it. */
async function openTestPage(): Promise<OpenedPage> {
  const callSid = `CA${randomBytes(16).toString('hex')}`;
  const id = await openPage(h.services, { practiceId, callSid, policyId });
  const { reference_code: ref } = await h.services.db.selectFrom('pages').select('reference_code').where('id', '=', id).executeTakeFirstOrThrow();
  return { id, ref, callSid };
}

async function pageRow(id: string): Promise<{ status: string; acknowledged_by: string | null; rounds_sent: number }> {
  return h.services.db.selectFrom('pages').select(['status', 'acknowledged_by', 'rounds_sent']).where('id', '=', id).executeTakeFirstOrThrow();
}

async function ackAudits(pageId: string): Promise<Array<{ actor: string; details: Record<string, unknown> }>> {
  return h.services.db.selectFrom('audit_log').select(['actor', 'details']).where('action', '=', 'page.acknowledged').where('subject_id', '=', pageId).orderBy('seq').execute();
}

/** SMS pages naming this reference. */
function pagesFor(ref: string): SendSmsInput[] {
  return sent.filter((s) => s.body.includes(`Ref ${ref}.`));
}

/** A six-digit reference no page of the practice has. */
async function unusedReference(): Promise<string> {
  const used = new Set((await h.services.db.selectFrom('pages').select('reference_code').execute()).map((r) => r.reference_code));
  for (;;) {
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    if (!used.has(code)) return code;
  }
}

function call(from: string, digits: Array<string | null>): Promise<CallResult> {
  return simulatorFor(h, () => now).placeCall({ from, to: PRACTICE_NUMBER, incomingPath: ACCESS, digits });
}

/** The first thing said after the caller keyed `digits` (for a reference: the answer to it). */
function answerTo(result: CallResult, digits: string, nth = 0): string | undefined {
  const presses = result.transcript.flatMap((e, i) => (e.kind === 'press' && e.digits === digits ? [i] : []));
  const at = presses[nth];
  if (at === undefined) return undefined;
  const said = result.transcript.slice(at + 1).find((e) => e.kind === 'say');
  return said?.kind === 'say' ? said.text : undefined;
}

describe('access-line page acknowledgement decisions (pure)', () => {
  const verifiedWithout = (): AccessState => decideAccess(initialAccessState('p'), { kind: 'pin', outcome: { kind: 'match', providerId: 'x', urgent: [] } }).state;

  it('with no urgent voicemails the call stays open at a menu that offers 3 and 9', () => {
    const d = decideAccess(initialAccessState('p'), { kind: 'pin', outcome: { kind: 'match', providerId: 'x', urgent: [] } });
    expect(d.speech).toEqual({ kind: 'none' });
    expect(d.state).toMatchObject({ phase: 'listen', current: null, providerId: 'x' });
    const twiml = renderAccess(d.speech, { step: d.state.step, practiceName: 'Demo' });
    expect(twiml).toContain(`<Gather input="dtmf" numDigits="1" timeout="10" action="/twilio/voice/access-action?s=${d.state.step}" method="POST">`);
    expect(twiml).toContain('To acknowledge a page, press 3.</Say><Say voice="Polly.Joanna" language="en-US">To end the call, press 9.</Say></Gather>');
    expect(decideAccess(d.state, { kind: 'key', digits: END_CALL, pending: [] }).speech).toEqual({ kind: 'goodbye' });
    expect(decideAccess(d.state, { kind: 'key', digits: '1', pending: [] }).speech).toEqual({ kind: 'menu_again', voicemailId: null, reason: 'invalid_key' });
  });

  it('3 asks for the reference; the result is spoken and the menu it came from follows', () => {
    const asked = decideAccess(verifiedWithout(), { kind: 'key', digits: ACK_PAGE, pending: [] });
    expect(asked.speech).toEqual({ kind: 'ask_page_ref' });
    expect(asked.state.phase).toBe('page_ref');
    expect(asked.effects).toEqual([]);
    for (const result of ['acknowledged', 'already', 'not_found', 'timeout'] as const) {
      const answered = decideAccess(asked.state, { kind: 'page_ref', result });
      expect(answered.speech).toEqual({ kind: 'page_result', result, voicemailId: null });
      expect(answered.state.phase).toBe('listen');
    }

    // From a message: back to that message's menu, and 1 still marks it heard.
    const listening = decideAccess(initialAccessState('p'), { kind: 'pin', outcome: { kind: 'match', providerId: 'x', urgent: ['a', 'b'] } }).state;
    const fromMessage = decideAccess(decideAccess(listening, { kind: 'key', digits: ACK_PAGE, pending: ['a', 'b'] }).state, { kind: 'page_ref', result: 'acknowledged' });
    expect(fromMessage.speech).toEqual({ kind: 'page_result', result: 'acknowledged', voicemailId: 'a' });
    expect(decideAccess(fromMessage.state, { kind: 'key', digits: '1', pending: ['a', 'b'] }).effects).toEqual([{ kind: 'ack', voicemailId: 'a' }]);
  });

  it('before the PIN, nothing reaches the page option', () => {
    const start = initialAccessState('p');
    const pressed = decideAccess(start, { kind: 'key', digits: ACK_PAGE, pending: [] });
    expect(pressed.state.phase).toBe('pin');
    expect(pressed.speech.kind).toBe('ask_pin');
    expect(decideAccess(start, { kind: 'page_ref', result: 'acknowledged' }).speech.kind).toBe('ask_pin');
    // A state in the reference phase without a verified provider ends the call.
    expect(decideAccess({ ...start, phase: 'page_ref' }, { kind: 'page_ref', result: 'acknowledged' }).speech).toEqual({ kind: 'goodbye' });
    expect(renderAccess(start.last, { step: 1, practiceName: 'Demo' })).not.toContain('acknowledge a page');
  });
});

describe('acknowledging a page on the access line', () => {
  it('the provider keys the PIN, 3, the reference and #: the page is acknowledged and its repeats stop', async () => {
    const page = await openTestPage();
    // Paging repeats while nobody acknowledges: the first round, then (ten minutes on) the second.
    await until('the first round of the page', async () => pagesFor(page.ref).length >= 1 && (await pageRow(page.id)).rounds_sent >= 1);
    expect(await runDelayedNow(h.services.queues.pages, 'the second round', pageRound(page.id))).toEqual([expect.objectContaining({ state: 'completed', returnvalue: 'sent' })]);
    await until('two rounds of the page', async () => pagesFor(page.ref).length >= 2 && (await pageRow(page.id)).rounds_sent >= 2);

    const result = await call(PROVIDER_PHONE, [`${PROVIDER_PIN}#`, ACK_PAGE, `${page.ref}#`, END_CALL]);
    expect(result.errors, formatTranscript(result)).toEqual([]);
    const text = heard(result);
    expect(text).toContain(`You have no new urgent voicemails. ${IDLE_MENU}`);
    expect(answerTo(result, ACK_PAGE)).toBe(ASK_REF);
    // The answer is the outcome alone, then the menu again; 9 ends the call.
    expect(answerTo(result, `${page.ref}#`)).toBe(ACKED);
    expect(text).toContain(`${ACKED} ${IDLE_MENU}`);
    expect(text).toMatch(/Goodbye\.$/);
    expect(result.ended).toBe('hangup');

    expect(await pageRow(page.id)).toMatchObject({ status: 'acknowledged', acknowledged_by: `provider:${providerId}` });
    expect(await ackAudits(page.id)).toEqual([{ actor: `provider:${providerId}`, details: expect.objectContaining({ via: 'keypad' }) }]);
    const verified = await h.services.db.selectFrom('audit_log').select('subject_id').where('call_sid', '=', result.callSid).where('action', '=', 'access.verified').execute();
    expect(verified).toEqual([{ subject_id: providerId }]);

    // No further rounds reach anyone: the next round's timer is gone, and one that fired anyway
    // (its removal lost a race) finds the page acknowledged and sends nothing.
    const atAck = pagesFor(page.ref).length;
    expect(await pendingJobs(h.services.queues.pages, pageRound(page.id))).toEqual([]);
    const late = await runJobNow(h.services.queues.pages, 'a late round', 'page', { pageId: page.id, round: (await pageRow(page.id)).rounds_sent });
    expect(late).toMatchObject({ state: 'completed', returnvalue: 'acknowledged' });
    expect(pagesFor(page.ref)).toHaveLength(atAck);
    expect(await pendingJobs(h.services.queues.pages, (job) => (job.data as { pageId?: unknown }).pageId === page.id)).toEqual([]);
  });

  it('a wrong reference is refused and acknowledges nothing; so is a short one; silence is said; an acknowledged page says so', async () => {
    const page = await openTestPage();
    const wrong = await unusedReference();
    const result = await call(PROVIDER_PHONE, [`${PROVIDER_PIN}#`, ACK_PAGE, `${wrong}#`, ACK_PAGE, '12#', ACK_PAGE, null, END_CALL]);
    expect(result.errors, formatTranscript(result)).toEqual([]);
    expect(answerTo(result, `${wrong}#`)).toBe('We could not find a page with that reference.');
    expect(answerTo(result, '12#')).toBe('We could not find a page with that reference.');
    const afterSilence = result.transcript.findIndex((e) => e.kind === 'silence');
    expect(result.transcript.slice(afterSilence + 1).find((e) => e.kind === 'say')).toMatchObject({ text: 'We did not receive a reference.' });
    // Every answer goes back to the menu; the bad input is never read back.
    expect(heard(result).split(IDLE_MENU)).toHaveLength(5);
    expect(heard(result).replace(/\s/g, '')).not.toContain(wrong);
    expect((await pageRow(page.id)).status).toBe('open');
    expect(await ackAudits(page.id)).toEqual([]);

    await acknowledgePage(h.services, tenantScope(h.services, practiceId), { pageId: page.id, by: 'test', via: 'api' });
    const again = await call(PROVIDER_PHONE, [`${PROVIDER_PIN}#`, ACK_PAGE, `${page.ref}#`]);
    expect(answerTo(again, `${page.ref}#`)).toBe('That page was already acknowledged.');
    expect((await pageRow(page.id)).acknowledged_by).toBe('test');
    expect(await ackAudits(page.id)).toHaveLength(1);
  });

  it('while a message is in hand, the menu offers 3 too, and the answer returns to that message', async () => {
    const v = await h.services.db
      .insertInto('voicemails')
      .values({
        practice_id: practiceId,
        call_sid: `CA${randomBytes(16).toString('hex')}`,
        recording_sid: `RE${randomBytes(16).toString('hex')}`,
        reference_code: '482913',
        urgency: 'urgent',
        duration_seconds: 12,
        state: 'complete',
        storage_key: 'voicemails/not-fetched-by-this-test',
        content_type: 'audio/x-wav',
        plaintext_bytes: 1000,
        stored_at: now,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const page = await openTestPage();
    const result = await call(PROVIDER_PHONE, [`${PROVIDER_PIN}#`, ACK_PAGE, `${page.ref}#`, '1']);
    expect(result.errors, formatTranscript(result)).toEqual([]);
    const text = heard(result);
    expect(text).toContain('Press 1 to mark it heard and hear the next, 2 to hear it again, 9 to end. To acknowledge a page, press 3.');
    expect(answerTo(result, `${page.ref}#`)).toBe(ACKED);
    expect(text).toContain(`${ACKED} Press 1 to mark it heard and hear the next, 2 to hear it again, 9 to end. To acknowledge a page, press 3.`);
    expect(text).toContain(`Marked as heard. There are no more new urgent voicemails. ${IDLE_MENU}`);
    // The audio was played once, before the page; the answer did not replay it.
    expect(result.transcript.filter((e) => e.kind === 'play')).toHaveLength(1);
    expect((await pageRow(page.id)).status).toBe('acknowledged');
    const row = await h.services.db.selectFrom('voicemails').select('acknowledged_by').where('id', '=', v.id).executeTakeFirstOrThrow();
    expect(row.acknowledged_by).toBe(`provider:${providerId}`);
  });

  it('a retried webhook hears the same answer and acknowledges nothing twice', async () => {
    const page = await openTestPage();
    const params = inboundParams({ From: PROVIDER_PHONE, Caller: PROVIDER_PHONE, To: PRACTICE_NUMBER, Called: PRACTICE_NUMBER });
    const post = async (path: string, digits?: string): Promise<string> => {
      const res = await postTwilio(h, path, { ...params, CallStatus: 'in-progress', ...(digits === undefined ? {} : { Digits: digits }) });
      expect(res.status).toBe(200);
      return res.body;
    };
    expect(await post(ACCESS)).toContain(`action="${ACCESS_ACTION}?s=1"`);
    expect(await post(`${ACCESS_ACTION}?s=1`, `${PROVIDER_PIN}#`)).toContain('To acknowledge a page, press 3.');
    expect(await post(`${ACCESS_ACTION}?s=2`, ACK_PAGE)).toContain(ASK_REF);
    const answer = await post(`${ACCESS_ACTION}?s=3`, `${page.ref}#`);
    expect(answer).toContain(ACKED);
    expect(answer).toContain(`action="${ACCESS_ACTION}?s=4"`);
    // Twilio retries the same step: the same answer, not "already acknowledged", and one acknowledgement.
    expect(await post(`${ACCESS_ACTION}?s=3`, `${page.ref}#`)).toBe(answer);
    expect(await ackAudits(page.id)).toHaveLength(1);
    // The call goes on from the next step.
    expect(await post(`${ACCESS_ACTION}?s=4`, END_CALL)).toContain('Goodbye.');
  });
});

describe('the access line on the call runtime: a duplicate webhook replays its own step', () => {
  async function startedCall(): Promise<{ post: (path: string, digits?: string) => Promise<string>; page: OpenedPage }> {
    const page = await openTestPage();
    const params = inboundParams({ From: PROVIDER_PHONE, Caller: PROVIDER_PHONE, To: PRACTICE_NUMBER, Called: PRACTICE_NUMBER });
    const post = async (path: string, digits?: string): Promise<string> => {
      const res = await postTwilio(h, path, { ...params, CallStatus: 'in-progress', ...(digits === undefined ? {} : { Digits: digits }) });
      expect(res.status).toBe(200);
      return res.body;
    };
    return { post, page };
  }

  it('a step retried after the call has moved on hears its own answer again, and acknowledges nothing twice', async () => {
    const { post, page } = await startedCall();
    const greeting = await post(ACCESS);
    await post(`${ACCESS_ACTION}?s=1`, `${PROVIDER_PIN}#`);
    await post(`${ACCESS_ACTION}?s=2`, ACK_PAGE);
    const answer = await post(`${ACCESS_ACTION}?s=3`, `${page.ref}#`);
    expect(answer).toContain(ACKED);
    // The call moves on (a key that means nothing: the menu again)...
    const later = await post(`${ACCESS_ACTION}?s=4`, '7');
    expect(later).toContain('Sorry, that key is not valid.');
    // ...then Twilio's retry of step 3 arrives: step 3's answer, not the last one, and one acknowledgement.
    expect(await post(`${ACCESS_ACTION}?s=3`, `${page.ref}#`)).toBe(answer);
    expect(await ackAudits(page.id)).toHaveLength(1);
    // The call's first webhook delivered again: the greeting, not the menu.
    expect(await post(ACCESS)).toBe(greeting);
    // And the call goes on from where it was.
    expect(await post(`${ACCESS_ACTION}?s=5`, END_CALL)).toContain('Goodbye.');
  });

  it('the same webhook delivered twice at once: both hear the same answer; one acknowledgement', async () => {
    const { post, page } = await startedCall();
    await post(ACCESS);
    await post(`${ACCESS_ACTION}?s=1`, `${PROVIDER_PIN}#`);
    await post(`${ACCESS_ACTION}?s=2`, ACK_PAGE);
    const [a, b] = await Promise.all([post(`${ACCESS_ACTION}?s=3`, `${page.ref}#`), post(`${ACCESS_ACTION}?s=3`, `${page.ref}#`)]);
    expect(a).toContain(ACKED);
    expect(b).toBe(a);
    expect(await ackAudits(page.id)).toHaveLength(1);
  });
});

describe('the page option is out of reach until the PIN is verified', () => {
  function assertNoPageOption(result: CallResult): void {
    expect(result.errors, formatTranscript(result)).toEqual([]);
    const text = heard(result);
    expect(text).not.toContain('acknowledge a page');
    expect(text).not.toContain(ASK_REF);
    expect(text).not.toContain(ACKED);
  }

  it('a caller who is not a provider: 3 and the reference are only PIN attempts', async () => {
    const page = await openTestPage();
    const result = await call(STRANGER, [`${PROVIDER_PIN}#`, ACK_PAGE, `${page.ref}#`]);
    assertNoPageOption(result);
    expect(heard(result)).toContain('That PIN was not accepted. Goodbye.');
    expect((await pageRow(page.id)).status).toBe('open');
    expect(await ackAudits(page.id)).toEqual([]);
    await acknowledgePage(h.services, tenantScope(h.services, practiceId), { pageId: page.id, by: 'test', via: 'api' });
  });

  it('the provider with a wrong PIN: likewise', async () => {
    const page = await openTestPage();
    const result = await call(PROVIDER_PHONE, ['0000#', ACK_PAGE, `${page.ref}#`]);
    assertNoPageOption(result);
    expect((await pageRow(page.id)).status).toBe('open');
    expect(await ackAudits(page.id)).toEqual([]);
    await acknowledgePage(h.services, tenantScope(h.services, practiceId), { pageId: page.id, by: 'test', via: 'api' });
  });
});
