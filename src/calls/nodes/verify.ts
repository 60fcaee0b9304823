import { z } from 'zod';
import { AuditAction } from '../../audit/events.js';
import { Bounds, intBetween, nodeRef, promptSchema, typeError, type NodeWithoutId } from '../flow-fields.js';
import type { Language, VerifyNode } from '../flow-types.js';
import { VOICES, type Turn } from '../turn.js';
import type { NodeDescriptor } from './descriptor.js';

const LOCKED_MESSAGE: Record<Language, string> = {
  en: 'For your security, we cannot verify your identity by phone right now.',
  es: 'Por su seguridad, no podemos verificar su identidad por teléfono en este momento.',
};

const TRIES_USED_MESSAGE: Record<Language, string> = {
  en: 'You have used all the tries to verify your identity on this call.',
  es: 'Ha usado todos los intentos para verificar su identidad en esta llamada.',
};

/** The call has no verification tries left: say so and record the refusal (the caller goes on to the failure branch). */
function triesExhausted(turn: Turn, id: string): void {
  turn.events.push({ action: AuditAction.VerificationRefused, leg: 'parent', details: { node: id, reason: 'tries_exhausted', tries: turn.state.verifyTries ?? 0 } });
  turn.say(TRIES_USED_MESSAGE);
}

/**
 * `verify`: the caller keys the date of birth or PIN of the caller ID's patient (the edge checks
 * it and counts failures and lockouts); success is the only way to a node that reads patient facts.
 */
export const verify: NodeDescriptor<'verify'> = {
  schema: z
    .strictObject({
      kind: z.literal('verify'),
      method: z.enum(['dob', 'pin', 'dob_or_pin'], typeError('must be dob, pin or dob_or_pin')),
      prompt: promptSchema,
      retry_prompt: promptSchema,
      timeout_seconds: intBetween(Bounds.verifyTimeoutSeconds),
      max_tries: intBetween(Bounds.verifyMaxTries),
      success: nodeRef,
      failure: nodeRef,
    })
    .transform(
      (raw): NodeWithoutId<VerifyNode> => ({
        kind: raw.kind,
        method: raw.method,
        prompt: raw.prompt,
        retryPrompt: raw.retry_prompt,
        timeoutSeconds: raw.timeout_seconds,
        maxTries: raw.max_tries,
        success: raw.success,
        failure: raw.failure,
      }),
    ),
  edges: (node) => [
    { label: 'success', to: node.success },
    { label: 'failure', to: node.failure },
  ],
  waitsForCaller: true,
  needsKeypress: (label) => label === 'success',
  prompts: (node) => [
    { field: 'prompt', prompt: node.prompt },
    { field: 'retry_prompt', prompt: node.retryPrompt },
  ],
  readsPatientFacts: false,
  run: (turn, node, reprompt) => {
    if ((turn.state.verifyTries ?? 0) >= node.maxTries) {
      // The call has used its tries (on this visit or an earlier one): no new chance.
      triesExhausted(turn, node.id);
      return { to: node.failure, via: 'tries_exhausted' };
    }
    const g = turn.gather({ finishOnKey: '#', timeout: node.timeoutSeconds, action: turn.actionUrl(node.id), method: 'POST', actionOnEmptyResult: true, language: VOICES[turn.state.lang].language });
    turn.speak(reprompt ? node.retryPrompt : node.prompt, g);
    turn.waitAt(node.id);
    return 'stop';
  },
  resume: (turn, node, event) => {
    if (event.kind !== 'verify') return 'reprompt';
    const id = node.id;
    const used = turn.state.verifyTries ?? 0;
    // At most maxTries a call, across every visit: an answer beyond them is not even looked at.
    if (event.outcome === 'exhausted' || used >= node.maxTries) {
      triesExhausted(turn, id);
      return { to: node.failure, via: 'tries_exhausted' };
    }
    if (event.outcome === 'match' && event.patientId) {
      turn.state = { ...turn.state, verifiedPatientId: event.patientId, verifyTries: used + 1 };
      turn.events.push({ action: AuditAction.VerificationSucceeded, leg: 'parent', subjectId: event.patientId, details: { node: id, try: used + 1 } });
      return { to: node.success, via: 'verified' };
    }
    if (event.outcome === 'locked' || event.outcome === 'no_caller_id') {
      turn.events.push({ action: AuditAction.VerificationRefused, leg: 'parent', details: { node: id, reason: event.outcome } });
      turn.say(LOCKED_MESSAGE);
      return { to: node.failure, via: event.outcome };
    }
    const tries = used + 1;
    turn.state = { ...turn.state, verifyTries: tries };
    turn.events.push({ action: AuditAction.VerificationFailed, leg: 'parent', details: { node: id, try: tries, reason: event.outcome, lockedOut: event.lockedNow === true } });
    if (event.lockedNow) {
      turn.say(LOCKED_MESSAGE);
      return { to: node.failure, via: 'locked' };
    }
    if (tries >= node.maxTries) return { to: node.failure, via: 'failed' };
    return 'reprompt';
  },
};
