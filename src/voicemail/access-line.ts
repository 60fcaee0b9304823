import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { type Keyring } from '../adapters/keyring.js';
import { AuditAction, type AuditEvent } from '../audit/events.js';
import { EMERGENCY_DISCLAIMER, unknownNumber, type StepEvent } from '../calls/fail-safe.js';
import { answerFailSafe, PRACTICE_SUSPENDED } from '../calls/fail-safe-answer.js';
import { recordCallEvent } from '../calls/records.js';
import { renderTwiml } from '../calls/render-twiml.js';
import { HANGUP, say, type SayVoice, type SpeechVerb, type Verb } from '../calls/verbs.js';
import { awaitFirstDelivery, claimStep, loadCall, saveCall, startCall, type ReplayEntry, type StoredCall } from '../calls/state-store.js';
import { normaliseE164, type VoiceWebhook } from '../calls/twilio-params.js';
import { acknowledgePageByKeypad, type KeypadAckResult } from '../oncall/paging.js';
import { phoneIndex, pinHash } from '../patients/store.js';
import { findPracticeByNumber } from '../practices/store.js';
import type { AppContext } from '../app-context.js';
import type { ScopeFor } from '../tenancy/scope.js';
import { guardedTry } from '../verification/attempts.js';
import { accessCallBackVerbs, prepareAccessCallBack } from '../tasks/call-back.js';
import { acknowledgeVoicemail, getVoicemail, issuePlaybackToken, pendingUrgentIds, playability, playableByReference, playbackUrl } from './playback-store.js';

/**
 * The provider access line: a practice points one of its numbers at /twilio/voice/access. The
 * caller ID must be an active provider of the practice that owns the number and the PIN must
 * match that provider's; until then nothing is said about voicemails. Then each unacknowledged
 * urgent voicemail is played (oldest first) through a fresh single-use playback link. From the
 * menu (with or without a message in hand) the provider may also key a six-digit reference (the
 * one the SMS page gives): it stops that page's repeats and plays the voicemail it announces,
 * which carries the same reference. Marking a message heard stops its page too.
 *
 * `decideAccess` and `renderAccess` are pure; `handleAccessIncoming` / `handleAccessAction` do
 * the I/O around them (the call store's state with ids only, the lockout, acknowledgements,
 * audit). Over 400 lines because the line's decisions, what it says and their I/O are read
 * together when the line changes; the state, claims and replays are the call runtime's
 * (calls/state-store.ts).
 */

const VOICE: SayVoice = { voice: 'Polly.Joanna', language: 'en-US' };

export const ACCESS_PATH = '/twilio/voice/access';
export const ACCESS_ACTION_PATH = '/twilio/voice/access-action';
export const PIN_FINISH_KEY = '#';
export const MARK_HEARD = '1';
export const REPEAT_MESSAGE = '2';
export const ACK_PAGE = '3';
/** With a message in hand: dial its caller from the practice's number (src/tasks/call-back.ts). */
export const CALL_BACK = '4';
export const END_CALL = '9';
export const MAX_PIN_TRIES = 3;
/** A page's (and its voicemail's) reference: six digits. */
const PAGE_REFERENCE = /^\d{6}$/;
/** A provider's access-line PIN: 4 to 8 digits. */
export const PROVIDER_PIN_PATTERN = /^\d{4,8}$/;

/** For the providers API: `pin` on create and patch. The message never echoes the input. */
export const ProviderPinSchema = z
  .string({ error: 'expected a PIN of 4 to 8 digits, as a string' })
  .regex(PROVIDER_PIN_PATTERN, { error: 'expected a PIN of 4 to 8 digits, as a string' });

/**
 * The only value of a provider's PIN ever stored (providers.pin_hash): a keyed hash (HMAC with
 * the blind-index key) salted by the provider's id, the same the access line checks a PIN
 * against. Throws on anything but 4–8 digits. Never store, log or return the PIN itself.
 */
export function providerPinHash(k: Keyring, providerId: string, pin: string): string {
  if (!PROVIDER_PIN_PATTERN.test(pin)) throw new RangeError('a provider PIN is 4 to 8 digits');
  return pinHash(k, providerId, pin);
}

// ---------------------------------------------------------------------------
// Pure: state, events, decisions, TwiML

/**
 * `listen`: verified, at the menu (with `current` the message in hand, or null when none is
 * left); `page_ref`: keying a page reference, back to the menu after.
 */
export type AccessPhase = 'pin' | 'listen' | 'page_ref' | 'done';

/** Per-call state, in Redis under the call's key (calls/state-store.ts): ids and counters only. */
export interface AccessState {
  practiceId: string;
  /** The step the next action URL carries. */
  step: number;
  phase: AccessPhase;
  tries: number;
  providerId: string | null;
  /** Urgent voicemails found at verification, oldest first. */
  queue: string[];
  /** The message being heard (an id of `queue`), and its number as spoken. */
  current: string | null;
  number: number;
  /** What the caller was last told: a retried webhook hears it again. */
  last: Speech;
}

export type PinOutcome =
  | { kind: 'match'; providerId: string; urgent: string[] }
  | { kind: 'no_match'; reason: 'no_caller_id' | 'not_provider' | 'wrong_pin' | 'invalid'; lockedNow: boolean }
  | { kind: 'locked' }
  | { kind: 'timeout' };

export type AccessEvent =
  | { kind: 'pin'; outcome: PinOutcome }
  /**
   * `pending`: which of the queue are still unacknowledged and playable now; `callBack`: for the
   * call-back key, the call back prepared for the message in hand (null: nothing to call).
   */
  | { kind: 'key'; digits: string | null; pending: readonly string[]; callBack?: string | null }
  /**
   * The reference keyed in `page_ref`, already tried (the claimed step's one side effect), and the
   * playable voicemail with that reference, if any: one code stops the page and plays its message.
   */
  | { kind: 'page_ref'; result: KeypadAckResult; voicemailId?: string | null };

export type Speech =
  | { kind: 'ask_pin'; first: boolean; reason: 'start' | 'not_accepted' | 'timeout' }
  | { kind: 'locked' }
  | { kind: 'refused' }
  /** Verified, no urgent voicemail waiting: the menu without messages. */
  | { kind: 'none' }
  | { kind: 'message'; voicemailId: string; number: number; intro: number | null; acked: boolean }
  /** The menu again, without the audio (the message's, or the one without messages when null): after a key that means nothing, or when the audio is gone. */
  | { kind: 'menu_again'; voicemailId: string | null; reason: 'invalid_key' | 'unavailable' | 'no_call_back' | 'call_ended' }
  /** The message's caller is dialled from the practice's number (the call back's id: its TwiML URLs carry it). */
  | { kind: 'call_back'; voicemailId: string; callId: string }
  | { kind: 'none_left'; acked: boolean }
  | { kind: 'ask_page_ref' }
  /** What became of the keyed reference, then the menu it came from. Never anything about the call it was for. */
  | { kind: 'page_result'; result: KeypadAckResult; voicemailId: string | null }
  /** The keyed reference is a message's too: what became of its page, then the message and its menu. */
  | { kind: 'keyed_message'; result: KeypadAckResult; voicemailId: string; number: number }
  | { kind: 'goodbye' };

export type AccessEffect = { kind: 'ack'; voicemailId: string };

export interface AccessDecision {
  state: AccessState;
  speech: Speech;
  effects: AccessEffect[];
  events: StepEvent[];
}

export function initialAccessState(practiceId: string): AccessState {
  const speech: Speech = { kind: 'ask_pin', first: true, reason: 'start' };
  return { practiceId, step: 1, phase: 'pin', tries: 0, providerId: null, queue: [], current: null, number: 0, last: speech };
}

/** Pure: what the caller hears next, given what they did. */
export function decideAccess(state: AccessState, event: AccessEvent): AccessDecision {
  const next = (patch: Partial<AccessState>, speech: Speech, effects: AccessEffect[] = [], events: StepEvent[] = []): AccessDecision => ({
    state: { ...state, ...patch, step: state.step + 1, last: speech },
    speech,
    effects,
    events,
  });
  if (state.phase === 'done') return next({}, { kind: 'goodbye' });

  if (state.phase === 'pin') {
    if (event.kind !== 'pin') return next({}, state.last);
    const o = event.outcome;
    const attempt = state.tries + 1;
    switch (o.kind) {
      case 'match': {
        const verified: StepEvent = { action: AuditAction.AccessLineVerified, subjectId: o.providerId, details: { attempt, urgentWaiting: o.urgent.length } };
        const first = o.urgent[0];
        if (first === undefined) return next({ phase: 'listen', tries: attempt, providerId: o.providerId, queue: [], current: null }, { kind: 'none' }, [], [verified]);
        return next(
          { phase: 'listen', tries: attempt, providerId: o.providerId, queue: o.urgent, current: first, number: 1 },
          { kind: 'message', voicemailId: first, number: 1, intro: o.urgent.length, acked: false },
          [],
          [verified],
        );
      }
      case 'locked':
        return next({ phase: 'done', tries: attempt }, { kind: 'locked' }, [], [{ action: AuditAction.AccessLineRefused, details: { reason: 'locked', attempt } }]);
      case 'no_match':
      case 'timeout': {
        const reason = o.kind === 'timeout' ? 'timeout' : o.reason;
        const lockedNow = o.kind === 'no_match' && o.lockedNow;
        const final = lockedNow || attempt >= MAX_PIN_TRIES;
        const refused: StepEvent = { action: AuditAction.AccessLineRefused, details: { reason, attempt, lockedNow, final } };
        if (final) return next({ phase: 'done', tries: attempt }, lockedNow ? { kind: 'locked' } : { kind: 'refused' }, [], [refused]);
        return next({ tries: attempt }, { kind: 'ask_pin', first: false, reason: o.kind === 'timeout' ? 'timeout' : 'not_accepted' }, [], [refused]);
      }
      default:
        return o satisfies never;
    }
  }

  // Past the PIN: only a verified provider goes on.
  if (state.providerId === null) return next({ phase: 'done', current: null }, { kind: 'goodbye' });

  if (state.phase === 'page_ref') {
    if (event.kind !== 'page_ref') return next({}, state.last);
    // The reference names a message: it is played now, and becomes the one in hand.
    if (event.voicemailId) {
      const number = state.number + 1;
      return next({ phase: 'listen', current: event.voicemailId, number }, { kind: 'keyed_message', result: event.result, voicemailId: event.voicemailId, number });
    }
    // Back to the menu it came from: the message in hand, if any.
    return next({ phase: 'listen' }, { kind: 'page_result', result: event.result, voicemailId: state.current });
  }

  // phase 'listen'
  if (event.kind !== 'key') return next({}, state.last);
  const current = state.current;
  const pending = new Set(event.pending);
  switch (event.digits) {
    case MARK_HEARD: {
      if (current === null) break;
      const after = state.queue.slice(state.queue.indexOf(current) + 1).find((id) => pending.has(id));
      const ack: AccessEffect = { kind: 'ack', voicemailId: current };
      if (after === undefined) return next({ current: null }, { kind: 'none_left', acked: true }, [ack]);
      const number = state.number + 1;
      return next({ current: after, number }, { kind: 'message', voicemailId: after, number, intro: null, acked: true }, [ack]);
    }
    case REPEAT_MESSAGE:
      if (current === null) break;
      return next({}, { kind: 'message', voicemailId: current, number: state.number, intro: null, acked: false });
    case ACK_PAGE:
      return next({ phase: 'page_ref' }, { kind: 'ask_page_ref' });
    case CALL_BACK:
      if (current === null) break;
      if (!event.callBack) return next({}, { kind: 'menu_again', voicemailId: current, reason: 'no_call_back' });
      return next({}, { kind: 'call_back', voicemailId: current, callId: event.callBack });
    case END_CALL:
      return next({ phase: 'done', current: null }, { kind: 'goodbye' });
    default:
      break;
  }
  return next({}, { kind: 'menu_again', voicemailId: current, reason: 'invalid_key' });
}

function spokenDigits(s: string): string {
  return s.split('').join(' ');
}

export interface RenderContext {
  /** The step the Gather's action carries (the state's `step` after the decision). */
  step: number;
  practiceName: string;
  /** For `message`: the voicemail's reference code and a fresh single-use playback URL. */
  message?: { referenceCode: string; playUrl: string };
  /** For `call_back`: the `<Dial>` to the patient (src/tasks/call-back.ts), built with the number opened. */
  callBack?: Verb[];
}

/** What the caller hears about a keyed page reference: the outcome only, never the call it was for. */
const PAGE_RESULT: Record<KeypadAckResult, string> = {
  acknowledged: 'The page is acknowledged. Paging has stopped.',
  already: 'That page was already acknowledged.',
  not_found: 'We could not find a page with that reference.',
  timeout: 'We did not receive a reference.',
};

const MENU_AGAIN: Record<Extract<Speech, { kind: 'menu_again' }>['reason'], string> = {
  invalid_key: 'Sorry, that key is not valid.',
  unavailable: 'That message is no longer available.',
  no_call_back: 'There is no number to call back for this message.',
  call_ended: 'The call with the patient has ended.',
};

/** Pure: the TwiML for one thing said (verbs, rendered as the call flows' are). */
export function renderAccess(speech: Speech, ctx: RenderContext): string {
  const out: Verb[] = [];
  const sayIt = (text: string): void => {
    out.push(say(VOICE, text));
  };
  const action = `${ACCESS_ACTION_PATH}?s=${ctx.step}`;
  /** The menu: the message's when one is in hand, else the one without messages. */
  const menu = (withMessage: boolean): void => {
    const g: SpeechVerb[] = [];
    if (withMessage) g.push(say(VOICE, `Press ${MARK_HEARD} to mark it heard and hear the next, ${REPEAT_MESSAGE} to hear it again, ${END_CALL} to end.`));
    g.push(say(VOICE, `To acknowledge a page, press ${ACK_PAGE}.`));
    if (withMessage) g.push(say(VOICE, `To call the patient back from the practice's number, press ${CALL_BACK}.`));
    if (!withMessage) g.push(say(VOICE, `To end the call, press ${END_CALL}.`));
    out.push({ verb: 'gather', attributes: { input: ['dtmf'], numDigits: 1, timeout: 10, action, method: 'POST' }, speech: g });
    // No key: the Gather falls through.
    sayIt('Goodbye.');
    out.push(HANGUP);
  };
  /** A Gather for keys ending with #; silence posts too (an empty entry). */
  const askKeys = (text: string): void => {
    out.push({ verb: 'gather', attributes: { input: ['dtmf'], finishOnKey: PIN_FINISH_KEY, timeout: 10, action, method: 'POST', actionOnEmptyResult: true }, speech: [say(VOICE, text)] });
  };
  switch (speech.kind) {
    case 'ask_pin': {
      if (speech.first) {
        sayIt(EMERGENCY_DISCLAIMER);
        sayIt(`This is the provider line for ${ctx.practiceName}.`);
      } else {
        sayIt(speech.reason === 'timeout' ? 'We did not receive a PIN.' : 'That PIN was not accepted.');
      }
      askKeys('Please enter your PIN, then press pound.');
      break;
    }
    case 'locked':
      sayIt('Too many attempts. Please try again later. Goodbye.');
      out.push(HANGUP);
      break;
    case 'refused':
      sayIt('That PIN was not accepted. Goodbye.');
      out.push(HANGUP);
      break;
    case 'none':
      sayIt('You have no new urgent voicemails.');
      menu(false);
      break;
    case 'message': {
      if (!ctx.message) throw new Error('renderAccess: a message needs its reference code and playback URL');
      if (speech.acked) sayIt('Marked as heard.');
      if (speech.intro !== null) sayIt(`You have ${speech.intro} new urgent ${speech.intro === 1 ? 'voicemail' : 'voicemails'}.`);
      sayIt(`Message ${speech.number}, reference ${spokenDigits(ctx.message.referenceCode)}.`);
      out.push({ verb: 'play', url: ctx.message.playUrl });
      menu(true);
      break;
    }
    case 'menu_again':
      sayIt(MENU_AGAIN[speech.reason]);
      menu(speech.voicemailId !== null);
      break;
    case 'call_back':
      if (!ctx.callBack) throw new Error('renderAccess: a call back needs its dial');
      // The <Dial>'s action (/twilio/callback/dialed) records the outcome and brings the provider back to this menu.
      out.push(...ctx.callBack);
      break;
    case 'none_left':
      sayIt(`${speech.acked ? 'Marked as heard. ' : ''}There are no more new urgent voicemails.`);
      menu(false);
      break;
    case 'ask_page_ref':
      // Silence posts too (an empty reference): the answer says so and goes back to the menu.
      askKeys('Enter the six-digit page reference, then press pound.');
      break;
    case 'page_result':
      sayIt(PAGE_RESULT[speech.result]);
      menu(speech.voicemailId !== null);
      break;
    case 'keyed_message': {
      if (!ctx.message) throw new Error('renderAccess: a message needs its reference code and playback URL');
      // A message with no page (announced by SMS, not paged): nothing to say about a page.
      if (speech.result !== 'not_found') sayIt(PAGE_RESULT[speech.result]);
      sayIt(`Message reference ${spokenDigits(ctx.message.referenceCode)}.`);
      out.push({ verb: 'play', url: ctx.message.playUrl });
      menu(true);
      break;
    }
    case 'goodbye':
      sayIt('Goodbye.');
      out.push(HANGUP);
      break;
    default:
      return speech satisfies never;
  }
  return renderTwiml(out);
}

/** Pure: equal-length hex digests compared in constant time. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

// ---------------------------------------------------------------------------
// I/O

/**
 * The access line runs on the call flows' runtime (calls/state-store.ts): its state under the
 * call's key, each step claimed once, and the last few steps kept with what they started from,
 * so that a duplicate webhook replays its own step (`replayAccess`) instead of hearing whatever
 * the call last said. `event` is null for the call's start (step 0).
 */
type AccessStored = StoredCall<AccessState, AccessEvent | null>;
type AccessReplay = ReplayEntry<AccessState, AccessEvent | null>;

/** A stored call that is an access-line call (not a call flow's, under a forged or reused SID). */
function isAccessCall(stored: StoredCall<{ step: number }, unknown> | null): stored is AccessStored {
  const state = stored?.state as Partial<AccessState> | undefined;
  return typeof state?.phase === 'string' && typeof state.practiceId === 'string' && Array.isArray(state.queue);
}

/** Pure: a step re-decided from what it started from (the same state and speech as its first delivery). */
export function replayAccess(entry: AccessReplay): { state: AccessState; speech: Speech } {
  if (entry.event === null) return { state: entry.before, speech: entry.before.last };
  const decision = decideAccess(entry.before, entry.event);
  return { state: decision.state, speech: decision.speech };
}

/**
 * What the line's steps use. The access line is a webhook path: its practice comes from the number
 * called (a lookup across practices, on the system role), and its reads and writes of that
 * practice's rows go through the request scope `scopeFor` mints (the Twilio route's).
 */
type RenderDeps = Pick<AppContext, 'db' | 'config' | 'keyring' | 'audit' | 'clock'> & { scopeFor: ScopeFor };
type IncomingDeps = RenderDeps & Pick<AppContext, 'redis' | 'keyring' | 'audit' | 'clock' | 'metrics'>;
type PinDeps = Parameters<typeof guardedTry>[0] & Pick<AppContext, 'keyring'> & { scopeFor: ScopeFor };
export type AccessLineDeps = IncomingDeps & PinDeps & Parameters<typeof acknowledgePageByKeypad>[0];

/** The caller's PIN against the providers of the practice registered with the caller's number. */
async function checkPin(services: PinDeps, practiceId: string, p: VoiceWebhook, now: Date): Promise<PinOutcome> {
  const digits = (p.Digits ?? '').replace(/#$/, '');
  if (digits === '' || digits === 'timeout') return { kind: 'timeout' };
  const caller = normaliseE164(p.From);
  if (!caller) return { kind: 'no_match', reason: 'no_caller_id', lockedNow: false };
  const callerIndex = phoneIndex(services.keyring, caller);
  const providers = await services.scopeFor(practiceId)
    .db.selectFrom('providers')
    .select(['id', 'pin_hash'])
    .where('practice_id', '=', practiceId)
    .where('active', '=', true)
    .where((eb) => eb.or([eb('phone', '=', caller), eb('sms_phone', '=', caller)]))
    .execute();
  const valid = PROVIDER_PIN_PATTERN.test(digits);
  // The try is reserved (number and providers) before anything is compared: concurrent calls cannot all pass.
  const tried = await guardedTry(
    services,
    { practiceId, phoneIndex: callerIndex, line: 'access', callSid: p.CallSid, now },
    providers.map((pr) => ({ kind: 'provider', id: pr.id }) as const),
    async (open) => {
      // Every open candidate is hashed and compared, match or not: the time taken says nothing.
      let match: string | null = null;
      for (const provider of providers) {
        if (!open.some((o) => o.id === provider.id)) continue;
        const ok = valid && provider.pin_hash !== null && sameDigest(provider.pin_hash, providerPinHash(services.keyring, provider.id, digits));
        if (ok && match === null) match = provider.id;
      }
      return match;
    },
  );
  if (tried.kind === 'refused') return { kind: 'locked' };
  if (tried.kind === 'match') return { kind: 'match', providerId: tried.value, urgent: await pendingUrgentIds(services.scopeFor(practiceId)) };
  return { kind: 'no_match', reason: providers.length === 0 ? 'not_provider' : valid ? 'wrong_pin' : 'invalid', lockedNow: tried.lockedNow };
}

/** Renders a speech, issuing a fresh playback link when it plays a message. */
async function render(services: RenderDeps, state: AccessState, speech: Speech, practiceName: string, now: Date): Promise<string> {
  const ctx: RenderContext = { step: state.step, practiceName };
  if (speech.kind === 'message' || speech.kind === 'keyed_message') {
    const scope = services.scopeFor(state.practiceId);
    const row = await getVoicemail(scope, speech.voicemailId);
    const issued = row && playability(row).ok && state.providerId ? await issuePlaybackToken(scope, row.id, `provider:${state.providerId}`, now) : null;
    if (!row || !issued) {
      // Gone since the list was read (retention, or a race): move on rather than play nothing.
      return renderAccess({ kind: 'menu_again', voicemailId: speech.voicemailId, reason: 'unavailable' }, ctx);
    }
    ctx.message = { referenceCode: row.reference_code, playUrl: playbackUrl(services.config.publicBaseUrl, issued.token) };
  }
  if (speech.kind === 'call_back') {
    const dial = await accessCallBackVerbs(services, services.scopeFor(state.practiceId), speech.callId);
    // Closed or called already since (a replay, a stale step): the menu again, nobody dialled.
    if (!dial) return renderAccess({ kind: 'menu_again', voicemailId: speech.voicemailId, reason: 'no_call_back' }, ctx);
    ctx.callBack = dial;
  }
  return renderAccess(speech, ctx);
}

function auditEvents(state: AccessState, callSid: string, events: StepEvent[]): AuditEvent[] {
  return events.map((e) => ({
    ...e,
    actor: e.action === AuditAction.AccessLineVerified && state.providerId ? `provider:${state.providerId}` : 'twilio',
    practiceId: state.practiceId,
    callSid,
    leg: 'parent',
  }));
}

/** A call arrives at an access-line number. */
export async function handleAccessIncoming(services: IncomingDeps, p: VoiceWebhook): Promise<string> {
  const now = services.clock();
  const found = await findPracticeByNumber(services.db, p.To);
  if (!found) {
    const answer = unknownNumber();
    await services.audit(answer.events.map((e) => ({ ...e, actor: 'twilio', callSid: p.CallSid })));
    return answer.twiml;
  }
  const { practice } = found;
  // A suspended practice's access line still answers, as its other lines do: the disclaimer and its fallback line.
  if (practice.suspended) return answerFailSafe(services, { practiceId: practice.id, callSid: p.CallSid, fallbackNumber: practice.fallbackNumber }, PRACTICE_SUSPENDED);
  const state = initialAccessState(practice.id);
  // The call's first step is claimed with the state it leads to; a duplicate saves nothing and replays it.
  if (!(await startCall<AccessState, AccessEvent | null>(services.redis, p.CallSid, { step: 0, before: state, event: null, at: now.toISOString() }, state))) {
    return replayStep(services, await awaitFirstDelivery(services.redis, p.CallSid, 0), 0, practice.greetingName, now);
  }
  const from = normaliseE164(p.From);
  const isNew = await recordCallEvent(
    services.db,
    {
      callSid: p.CallSid,
      practiceId: practice.id,
      direction: p.Direction ?? 'inbound',
      fromIndex: from ? phoneIndex(services.keyring, from) : null,
      toNumber: p.To,
      status: p.CallStatus ?? 'ringing',
      key: 'access',
      source: 'access',
    },
    now,
  );
  if (isNew) {
    await services.audit({ action: AuditAction.CallLegStarted, actor: 'twilio', practiceId: practice.id, callSid: p.CallSid, leg: 'parent', details: { direction: p.Direction ?? 'inbound', line: 'access' } });
  }
  return render(services, state, state.last, practice.greetingName, now);
}

/** The answer to a duplicate of `step`: its replay, or (out of the replay list, or the first delivery never saved) the session-lost goodbye. */
async function replayStep(services: RenderDeps, stored: StoredCall<AccessState, AccessEvent | null> | null, step: number, practiceName: string, now: Date): Promise<string> {
  if (!isAccessCall(stored)) return SESSION_LOST;
  // A call's start is always known, even once out of the replay list.
  const start = initialAccessState(stored.state.practiceId);
  const entry = stored.replay.find((r) => r.step === step) ?? (step === 0 ? { step: 0, before: start, event: null } : undefined);
  if (!entry) return SESSION_LOST;
  const { state, speech } = replayAccess(entry);
  return render(services, state, speech, practiceName, now);
}

const SESSION_LOST = renderTwiml([say(VOICE, 'Sorry, this call could not continue. Please call again. Goodbye.'), HANGUP]);

/** What the caller did at this step, with what it needs read (or, for a page reference, done) first. Runs once per claimed step. */
async function accessEvent(services: AccessLineDeps, state: AccessState, p: VoiceWebhook, now: Date): Promise<AccessEvent> {
  switch (state.phase) {
    case 'pin':
      return { kind: 'pin', outcome: await checkPin(services, state.practiceId, p, now) };
    case 'page_ref':
      // Only a verified provider is ever in this phase; acknowledgePageByKeypad audits an acknowledgement.
      if (state.providerId === null) return { kind: 'key', digits: null, pending: [] };
      return keyedReference(services, state.practiceId, state.providerId, p.Digits);
    case 'listen':
    case 'done': {
      const digits = p.Digits && /^[0-9*#]$/.test(p.Digits) ? p.Digits : null;
      const pending = state.phase === 'listen' ? await pendingUrgentIds(services.scopeFor(state.practiceId), state.queue) : [];
      if (digits === CALL_BACK && state.phase === 'listen' && state.current !== null && state.providerId !== null) {
        const prepared = await prepareAccessCallBack(services, services.scopeFor(state.practiceId), { voicemailId: state.current, providerId: state.providerId, accessCallSid: p.CallSid });
        return { kind: 'key', digits, pending, callBack: prepared?.callId ?? null };
      }
      return { kind: 'key', digits, pending };
    }
    default:
      return state.phase satisfies never;
  }
}

/**
 * A reference keyed on the line: it acknowledges the page with that code (if any) and finds the
 * practice's playable voicemail with the same code (if any): the code that plays the message
 * stops the paging.
 */
async function keyedReference(services: AccessLineDeps, practiceId: string, providerId: string, digits: string | undefined): Promise<AccessEvent> {
  const scope = services.scopeFor(practiceId);
  const result = await acknowledgePageByKeypad(services, scope, { providerId, digits });
  const code = (digits ?? '').replace(/#$/, '');
  const voicemailId = PAGE_REFERENCE.test(code) ? await playableByReference(scope, code) : null;
  return { kind: 'page_ref', result, voicemailId };
}

/** A message marked heard on the line stops its page too (they share one reference). Best effort: the mark stands either way. */
async function acknowledgePageOfVoicemail(services: AccessLineDeps, practiceId: string, providerId: string, voicemailId: string): Promise<void> {
  const scope = services.scopeFor(practiceId);
  const row = await getVoicemail(scope, voicemailId);
  if (!row) return;
  await acknowledgePageByKeypad(services, scope, { providerId, digits: row.reference_code });
}

/**
 * Back on the line after a call back keyed here (the `<Dial>`'s action, once its outcome is
 * recorded): the menu of the message in hand, at the step the call is on.
 */
export async function resumeAccessMenu(services: RenderDeps & Pick<AppContext, 'redis'>, callSid: string): Promise<string> {
  const stored = await loadCall<AccessState, AccessEvent | null>(services.redis, callSid);
  if (!isAccessCall(stored) || stored.state.providerId === null) return SESSION_LOST;
  return render(services, stored.state, { kind: 'menu_again', voicemailId: stored.state.current, reason: 'call_ended' }, '', services.clock());
}

/** The answer to one of the access line's Gathers (`?s=<step>`). */
export async function handleAccessAction(services: AccessLineDeps, step: number, p: VoiceWebhook): Promise<string> {
  const now = services.clock();
  const stored = await loadCall<AccessState, AccessEvent | null>(services.redis, p.CallSid);
  if (!isAccessCall(stored)) return SESSION_LOST;
  const state = stored.state;
  const practice = await findPracticeByNumber(services.db, p.To);
  const practiceName = practice?.practice.id === state.practiceId ? practice.practice.greetingName : '';
  // A retried webhook of an earlier step replays that step, with no side effect.
  if (step < state.step && stored.replay.some((r) => r.step === step)) return replayStep(services, stored, step, practiceName, now);
  // A stale or forged step (or one out of the replay list) hears the last answer again, with no side effect.
  if (step !== state.step) return render(services, state, state.last, practiceName, now);
  // A concurrent duplicate waits for the first delivery and replays it.
  if (!(await claimStep(services.redis, p.CallSid, step))) return replayStep(services, await awaitFirstDelivery(services.redis, p.CallSid, step), step, practiceName, now);

  const event = await accessEvent(services, state, p, now);
  const decision = decideAccess(state, event);
  for (const effect of decision.effects) {
    if (!decision.state.providerId) continue;
    await acknowledgeVoicemail(services, services.scopeFor(state.practiceId), { id: effect.voicemailId, by: `provider:${decision.state.providerId}`, via: 'access_line', accessCallSid: p.CallSid });
    await acknowledgePageOfVoicemail(services, state.practiceId, decision.state.providerId, effect.voicemailId);
  }
  const entry: AccessReplay = { step, before: state, event, at: now.toISOString() };
  await Promise.all([saveCall(services.redis, p.CallSid, stored, entry, decision.state), services.audit(auditEvents(decision.state, p.CallSid, decision.events))]);
  return render(services, decision.state, decision.speech, practiceName, now);
}
