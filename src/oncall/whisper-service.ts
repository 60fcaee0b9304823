import type { AppContext } from '../app-context.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { AuditAction } from '../audit/events.js';
import { getPractice } from '../practices/store.js';
import { firstNameOf, phoneOf } from '../patients/store.js';
import { loadCall, setWhisperOutcome } from '../calls/state-store.js';
import type { VoiceWebhook } from '../calls/twilio-params.js';
import { isMachine, whisperAnswer, whisperTwiml, type WhisperInput } from './whisper.js';

/**
 * The provider's leg of an on-call dial: the whisper and the provider's key. The outcome is
 * kept in Redis for the parent call's <Dial> action, which decides whether the chain goes on.
 */

export interface WhisperQuery {
  parent: string;
  attempt: number;
}

const HANGUP = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>';

/** What the whisper uses: the parent call's state (Redis), the practice, the verified caller's first name and number (decrypted), the audit log. */
export type WhisperDeps = Pick<AppContext, 'redis' | 'db' | 'keyring' | 'audit'>;

/** `scopeFor` mints the parent call's practice scope (the Twilio route's): the caller's details are read under it. */
export async function handleWhisper(services: WhisperDeps, scopeFor: (practiceId: string) => PracticeScope, q: WhisperQuery, p: VoiceWebhook): Promise<string> {
  if (p.ParentCallSid && p.ParentCallSid !== q.parent) return HANGUP;
  const stored = await loadCall(services.redis, q.parent);
  if (!stored) return HANGUP;
  const practice = await getPractice(scopeFor(stored.state.practiceId));
  if (!practice) return HANGUP;
  const patientId = stored.state.verifiedPatientId;
  // A machine is hung up on without a word: nothing of the caller's is decrypted for it.
  const caller = patientId && !isMachine(p.AnsweredBy) ? await verifiedCaller(services, scopeFor(practice.id), patientId) : null;
  const { twiml, outcome } = whisperTwiml({
    practiceName: practice.greetingName,
    // Minimum necessary: a verified caller's first name and callback number, nothing else.
    verifiedCaller: caller,
    answeredBy: p.AnsweredBy,
    query: `parent=${q.parent}&a=${q.attempt}`,
  });
  if (outcome) {
    await setWhisperOutcome(services.redis, q.parent, q.attempt, outcome);
    await services.audit({ action: AuditAction.OncallWhisper, actor: 'twilio', practiceId: practice.id, callSid: q.parent, leg: 'child', details: { attempt: q.attempt, outcome, childCallSid: p.CallSid } });
  }
  return twiml;
}

/**
 * The verified caller's first name and callback number (the patient's own, decrypted), or null
 * without a first name. The callback number comes from the patient record, never from the
 * provider's leg (whose caller ID is whatever the <Dial> presents): verification matched this
 * patient by the blind index of the parent call's caller ID (patientCandidates), so it is the number
 * the parent call came from.
 */
async function verifiedCaller(services: Pick<AppContext, 'keyring'>, scope: PracticeScope, patientId: string): Promise<WhisperInput['verifiedCaller']> {
  const [firstName, callbackNumber] = await Promise.all([
    firstNameOf(scope, services.keyring, patientId),
    phoneOf(scope, services.keyring, patientId),
  ]);
  return firstName ? { firstName, callbackNumber } : null;
}

export async function handleWhisperAnswer(services: Pick<AppContext, 'redis' | 'audit'>, q: WhisperQuery, p: VoiceWebhook): Promise<string> {
  if (p.ParentCallSid && p.ParentCallSid !== q.parent) return HANGUP;
  const stored = await loadCall(services.redis, q.parent);
  if (!stored) return HANGUP;
  const { twiml, outcome } = whisperAnswer(p.Digits);
  await setWhisperOutcome(services.redis, q.parent, q.attempt, outcome);
  await services.audit({
    action: AuditAction.OncallWhisper,
    actor: 'twilio',
    practiceId: stored.state.practiceId,
    callSid: q.parent,
    leg: 'child',
    details: { attempt: q.attempt, outcome, childCallSid: p.CallSid },
  });
  return twiml;
}
