import { z } from 'zod';
import { CALL_SID_PATTERN } from '../adapters/twilio-ids.js';

/** What our voice webhooks accept from Twilio. Anything else is malformed and gets safe TwiML. */

const sid = (prefix: string): z.ZodString => z.string().regex(new RegExp(`^${prefix}[0-9a-f]{32}$`));
// Caller ID may be a number, a SIP URI, or a word such as "anonymous"; bounded and printable.
const party = z.string().max(256).regex(/^[\x20-\x7e]*$/);

// A call's SID pattern is the Twilio adapter's (../adapters/twilio-ids.ts); re-exported for the domain's callers.
export { CALL_SID_PATTERN };
export const CallSidSchema = z.string().regex(CALL_SID_PATTERN);

/** What Twilio's <Dial action> reports in DialCallStatus. */
export type DialResultStatus = 'completed' | 'answered' | 'busy' | 'no-answer' | 'failed' | 'canceled';

export const VoiceWebhookSchema = z.object({
  CallSid: CallSidSchema,
  AccountSid: sid('AC'),
  From: party.optional().default(''),
  To: party.optional().default(''),
  CallStatus: z.enum(['queued', 'initiated', 'ringing', 'in-progress', 'completed', 'busy', 'failed', 'no-answer', 'canceled']).optional(),
  Direction: z.string().max(32).optional(),
  Digits: z.string().max(32).regex(/^[0-9*#]*$|^hangup$|^timeout$/).optional(),
  ParentCallSid: CallSidSchema.optional(),
  DialCallStatus: z.enum(['completed', 'answered', 'busy', 'no-answer', 'failed', 'canceled']).optional(),
  DialCallSid: CallSidSchema.optional(),
  DialCallDuration: z.coerce.number().int().min(0).optional(),
  CallDuration: z.coerce.number().int().min(0).optional(),
  SequenceNumber: z.coerce.number().int().min(0).optional(),
  RecordingSid: sid('RE').optional(),
  RecordingStatus: z.enum(['in-progress', 'completed', 'absent', 'failed']).optional(),
  RecordingDuration: z.coerce.number().int().min(-1).optional(),
  RecordingUrl: z.string().max(500).optional(),
  ErrorCode: z.string().max(16).optional(),
  AnsweredBy: z.string().max(32).regex(/^[a-z_]+$/).optional(),
});

export type VoiceWebhook = z.infer<typeof VoiceWebhookSchema>;

export function parseVoiceWebhook(body: unknown): { ok: true; value: VoiceWebhook } | { ok: false; fields: string[] } {
  const result = VoiceWebhookSchema.safeParse(body ?? {});
  if (result.success) return { ok: true, value: result.data };
  // Field names only: never the values, which may be PHI.
  return { ok: false, fields: [...new Set(result.error.issues.map((i) => String(i.path[0] ?? 'body')))] };
}

/** Normalises a caller ID to E.164, or null if it is not a dialable number (anonymous, SIP…). */
export function normaliseE164(raw: string): string | null {
  return /^\+[1-9]\d{6,14}$/.test(raw) ? raw : null;
}
