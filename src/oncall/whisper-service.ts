import type { Services } from '../services.js';
import { AuditAction } from '../audit/events.js';
import { getPractice } from '../practices/store.js';
import { firstNameOf } from '../patients/store.js';
import { loadCall, setWhisperOutcome } from '../calls/state-store.js';
import { normaliseE164, type VoiceWebhook } from '../calls/twilio-params.js';
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
  const { twiml, outcome } = whisperTwiml({
    practiceName: practice.greetingName,
    // Minimum necessary: a verified caller's first name and callback number, nothing else.
    verifiedCaller: firstName ? { firstName, callbackNumber: normaliseE164(p.From) } : null,
    answeredBy: p.AnsweredBy,
    query: `parent=${q.parent}&a=${q.attempt}`,
  });
  if (outcome) {
    await setWhisperOutcome(services.redis, q.parent, q.attempt, outcome);
    await services.audit({ action: AuditAction.OncallWhisper, actor: 'twilio', practiceId: practice.id, callSid: q.parent, leg: 'child', details: { attempt: q.attempt, outcome, childCallSid: p.CallSid } });
  }
  return twiml;
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
