import type { Services } from '../services.js';
import { AuditAction, type AuditEvent } from '../audit/events.js';
import { blindIndex } from '../adapters/keyring.js';
import { PHONE_INDEX } from '../patients/store.js';
import { findPracticeByNumber, type Practice } from '../practices/store.js';
import { recordCallEvent } from './records.js';
import { answerCall, dialResult, failSafe, menuChoice, recorded, unknownNumber, type Step } from './first-path.js';
import { normaliseE164, type VoiceWebhook } from './twilio-params.js';

/**
 * The I/O around the call path: load the practice, save the call record, write the
 * audit events. Decisions live in ./first-path.ts.
 */

export type VoiceEvent =
  | { kind: 'incoming' }
  | { kind: 'menu'; attempt: number; timedOut: boolean }
  | { kind: 'dial-result' }
  | { kind: 'recorded' };

/**
 * Practices seen recently, by number: if PostgreSQL fails mid-call the fail-safe
 * answer still knows where to forward the caller.
 */
const practiceCache = new Map<string, Practice>();

export function cachedFallbackNumber(services: Services, to: string | undefined): string | null {
  const practice = to ? practiceCache.get(to) : undefined;
  return practice?.fallbackNumber ?? services.config.fallbackNumber ?? null;
}

async function loadPractice(services: Services, to: string): Promise<Practice | null> {
  const practice = await findPracticeByNumber(services.db, to);
  if (practice) practiceCache.set(to, practice);
  return practice;
}

async function writeEvents(services: Services, practice: Practice | null, callSid: string, events: Step['events']): Promise<void> {
  for (const e of events) {
    const event: AuditEvent = { ...e, actor: 'twilio', practiceId: practice?.id ?? null, callSid };
    await services.audit(event);
  }
}

function webhookKey(event: VoiceEvent, p: VoiceWebhook): string {
  switch (event.kind) {
    case 'incoming':
      return 'incoming';
    case 'menu':
      return `menu:${event.attempt}:${event.timedOut ? 't' : 'k'}`;
    case 'dial-result':
      return `dial:${p.DialCallSid ?? p.DialCallStatus ?? 'none'}`;
    case 'recorded':
      return `recorded:${p.RecordingSid ?? 'none'}`;
    default:
      return event satisfies never;
  }
}

/** One voice webhook in, TwiML out. Throws on infrastructure failure (the route answers fail-safe). */
export async function handleVoiceEvent(services: Services, event: VoiceEvent, p: VoiceWebhook): Promise<string> {
  const now = services.clock();
  const practice = await loadPractice(services, p.To);
  let step: Step;
  if (!practice) {
    step = unknownNumber();
  } else {
    switch (event.kind) {
      case 'incoming':
        step = answerCall(practice);
        break;
      case 'menu':
        step = menuChoice(practice, event.timedOut ? null : (p.Digits ?? null), event.attempt);
        break;
      case 'dial-result':
        step = dialResult(p.DialCallStatus);
        break;
      case 'recorded':
        step = recorded();
        break;
      default:
        step = event satisfies never;
    }
  }
  const from = normaliseE164(p.From);
  const key = webhookKey(event, p);
  const isNew = await recordCallEvent(
    services.db,
    {
      callSid: p.CallSid,
      practiceId: practice?.id ?? null,
      direction: p.Direction ?? 'inbound',
      fromIndex: from ? blindIndex(services.keyring.indexKey, PHONE_INDEX, from) : null,
      toNumber: practice ? p.To : null,
      status: p.CallStatus ?? 'in-progress',
      key,
      source: event.kind,
    },
    now,
  );
  // A retried webhook gets the same TwiML and writes nothing twice.
  if (isNew) {
    const started: Step['events'] =
      event.kind === 'incoming'
        ? [{ action: AuditAction.CallLegStarted, leg: 'parent', details: { direction: p.Direction ?? 'inbound', knownNumber: practice !== null } }]
        : [];
    await writeEvents(services, practice, p.CallSid, [...started, ...step.events]);
  }
  return step.twiml;
}

/** A call status callback: record it; nothing to say to the caller. */
export async function handleCallStatus(services: Services, p: VoiceWebhook): Promise<void> {
  const practice = await loadPractice(services, p.To);
  const status = p.CallStatus ?? 'unknown';
  const leg = p.ParentCallSid ? 'child' : 'parent';
  const isNew = await recordCallEvent(
    services.db,
    {
      callSid: p.CallSid,
      practiceId: practice?.id ?? null,
      direction: p.Direction ?? 'inbound',
      fromIndex: null,
      toNumber: practice ? p.To : null,
      status,
      key: `status:${status}:${p.SequenceNumber ?? 0}`,
      source: 'status-callback',
      ...(p.SequenceNumber !== undefined ? { seq: p.SequenceNumber } : {}),
    },
    services.clock(),
  );
  if (isNew) {
    await services.audit({
      action: AuditAction.CallLegStatus,
      actor: 'twilio',
      practiceId: practice?.id ?? null,
      callSid: p.CallSid,
      leg,
      details: { status, ...(p.CallDuration !== undefined ? { durationSeconds: p.CallDuration } : {}), ...(p.ParentCallSid ? { parentCallSid: p.ParentCallSid } : {}) },
    });
  }
}

/** Twilio's recording status callback. Storage of the audio is the voicemail pipeline's job. */
export async function handleRecordingStatus(services: Services, p: VoiceWebhook): Promise<void> {
  const practice = await loadPractice(services, p.To);
  await services.audit({
    action: AuditAction.VoicemailRecordingStatus,
    actor: 'twilio',
    practiceId: practice?.id ?? null,
    callSid: p.CallSid,
    leg: 'parent',
    subjectId: p.RecordingSid ?? null,
    details: { status: p.RecordingStatus ?? 'unknown', ...(p.RecordingDuration !== undefined ? { durationSeconds: p.RecordingDuration } : {}) },
  });
}

/** Twilio's fallback URL, or any failure: the disclaimer and a way to a human. */
export function failSafeTwiml(services: Services, to: string | undefined): string {
  return failSafe(cachedFallbackNumber(services, to));
}
