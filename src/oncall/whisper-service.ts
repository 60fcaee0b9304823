import type { Services } from '../services.js';
import { AuditAction } from '../audit/events.js';
import { getPractice } from '../practices/store.js';
import { firstNameOf, phoneIndex, phoneOf } from '../patients/store.js';
import { loadCall, setWhisperOutcome } from '../calls/state-store.js';
import type { VoiceWebhook } from '../calls/twilio-params.js';
import { whisperAnswer, whisperTwiml } from './whisper.js';

/**
 * The provider's leg of an on-call dial: the whisper and the provider's key. The outcome is
 * kept in Redis for the parent call's <Dial> action, which decides whether the chain goes on.
 */

export interface WhisperQuery {
  parent: string;
  attempt: number;
}

const HANGUP = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>';

export async function handleWhisper(services: Services, q: WhisperQuery, p: VoiceWebhook): Promise<string> {
  if (p.ParentCallSid && p.ParentCallSid !== q.parent) return HANGUP;
  const stored = await loadCall(services.redis, q.parent);
  if (!stored) return HANGUP;
  const practice = await getPractice(services.db, stored.state.practiceId);
  if (!practice) return HANGUP;
  const patientId = stored.state.verifiedPatientId;
  const firstName = patientId ? await firstNameOf(services.db, services.keyring, practice.id, patientId) : null;
  const callbackNumber = patientId && firstName ? await parentCallbackNumber(services, q.parent, practice.id, patientId) : null;
  const { twiml, outcome } = whisperTwiml({
    practiceName: practice.greetingName,
    // Minimum necessary: a verified caller's first name and callback number, nothing else.
    verifiedCaller: firstName ? { firstName, callbackNumber } : null,
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
 * The verified caller's callback number, from the parent call, never from the provider's leg
 * (whose caller ID is whatever the <Dial> presents). The parent call's record keeps only the
 * blind index of its caller ID: the number is the verified patient's own (decrypted), spoken
 * only if it is the number the parent call came from. Otherwise no number is spoken.
 */
async function parentCallbackNumber(services: Services, parentCallSid: string, practiceId: string, patientId: string): Promise<string | null> {
  const parent = await services.db.selectFrom('calls').select(['from_index', 'practice_id']).where('call_sid', '=', parentCallSid).executeTakeFirst();
  if (!parent?.from_index || parent.practice_id !== practiceId) return null;
  const phone = await phoneOf(services.db, services.keyring, practiceId, patientId);
  if (!phone || phoneIndex(services.keyring, phone) !== parent.from_index) return null;
  return phone;
}

export async function handleWhisperAnswer(services: Services, q: WhisperQuery, p: VoiceWebhook): Promise<string> {
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
