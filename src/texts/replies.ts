import { z } from 'zod';
import { checkPhi } from '../drops/phi-check.js';
import { spokenNumber } from '../oncall/paging.js';

/**
 * What the service answers a text to a practice number. Pure: the texts, the practice's
 * auto-reply template and its check. Nothing here ever names the sender or repeats their text.
 *
 * The auto-reply is the practice's own (`practices.sms_auto_reply`, the admin API's
 * `smsAutoReply`) or the built-in one. A template says where to call in an emergency (it must
 * name 911) and when to expect a call back; it may use `{practice_name}` and `{callback_number}`
 * (the number the patient texted, which rings the practice's line) and passes the drops' PHI
 * check. At most 320 characters: two GSM-7 segments.
 */

export const AUTO_REPLY_PLACEHOLDERS = ['practice_name', 'callback_number'] as const;
export const AUTO_REPLY_MAX = 320;

export const DEFAULT_AUTO_REPLY =
  '{practice_name}: we received your message. Our staff will call you back by the next business day. ' +
  'If this is an emergency, call 911. For an urgent medical question now, call {callback_number}.';

/** The admin API's `smsAutoReply` (null: back to the built-in reply). Messages never echo the input. */
export const SmsAutoReplySchema = z
  .string({ error: 'expected the reply text' })
  .trim()
  .min(1, { error: 'expected the reply text' })
  .max(AUTO_REPLY_MAX, { error: `at most ${AUTO_REPLY_MAX} characters (two text segments)` })
  .regex(/^[\x20-\x7e\u00a0-\u00ff’]+$/, { error: 'printable characters only, on one line' })
  .refine((t) => /\b911\b/.test(t), { error: 'must say to call 911 in an emergency' })
  .superRefine((t, ctx) => {
    const phi = checkPhi(t, { placeholders: AUTO_REPLY_PLACEHOLDERS });
    if (!phi.ok) {
      const kinds = [...new Set(phi.problems.map((p) => p.kind))].join(', ');
      ctx.addIssue({ code: 'custom', message: `may use only {practice_name} and {callback_number}, and nothing about a patient (${kinds})` });
    }
  });

/** What a reply names: the practice as patients know it, and the number they texted. */
export interface ReplyContext {
  practiceName: string;
  /** The practice number the text was sent to (E.164). */
  number: string;
}

/** Pure: the practice's template (or the built-in one) filled in. */
export function autoReplyText(template: string | null, ctx: ReplyContext): string {
  return (template ?? DEFAULT_AUTO_REPLY).replaceAll('{practice_name}', ctx.practiceName).replaceAll('{callback_number}', spokenNumber(ctx.number));
}

/** Pure: HELP / INFO, as carriers expect it: who is texting, how to reach them, rates, how to opt out. */
export function helpReplyText(ctx: ReplyContext): string {
  return `${ctx.practiceName}: patient messages. To reach the office call ${spokenNumber(ctx.number)}; in an emergency call 911. Msg&data rates may apply. Reply STOP to opt out.`;
}

/** Pure: START / UNSTOP / YES: the number may receive the practice's texts again. */
export function startReplyText(ctx: ReplyContext): string {
  return `${ctx.practiceName}: you will receive our messages again. Msg&data rates may apply. Reply HELP for help, STOP to opt out.`;
}

/** Pure: a message with pictures or files. They are never opened; the patient is asked to call. */
export function mediaReplyText(ctx: ReplyContext): string {
  return `${ctx.practiceName}: we cannot open pictures or files sent by text. Please call ${spokenNumber(ctx.number)} to tell us about it. If this is an emergency, call 911.`;
}

/**
 * Pure: the answer when a text could not be stored (the database down): the patient is told it
 * was not received, so nobody waits for a call back that will not come. No practice lookup needed.
 */
export function notReceivedText(number: string | null): string {
  const call = number ? `please call ${spokenNumber(number)}` : 'please call the office';
  return `We could not receive your message. If this is an emergency, call 911. Otherwise ${call}.`;
}
