import { z } from 'zod';
import twilio from 'twilio';
import type { AppContext } from '../app-context.js';
import type { ScopeFor } from '../tenancy/scope.js';
import { AuditAction } from '../audit/events.js';
import { HELP_WORDS, START_IF_OPTED_OUT_WORDS, START_WORDS, STOP_WORDS, keywordOf } from '../consent/consent.js';
import { isOptedOut, recordOptOut, removeOptOut } from '../consent/store.js';
import { findPracticeByNumber } from '../practices/store.js';
import { handleProviderAck, parseAck } from '../oncall/sms-service.js';
import type { AckDeps } from '../oncall/paging.js';
import { phoneIndex } from '../patients/store.js';
import { CONFIRM_WORDS, CONFIRMED_REPLY, confirmAppointmentOf, latestOutreachSms, markOutreachReplied } from '../outreach/replies.js';
import { recordPatientText } from './patient-texts.js';
import { autoReplyText, helpReplyText, mediaReplyText, notReceivedText, startReplyText, type ReplyContext } from './replies.js';

/**
 * Inbound SMS to a practice number (`POST /twilio/sms/incoming`). Only what must answer at once
 * runs here; a text from a number this practice sent an outreach SMS recently is a reply to it,
 * its ledger row marked replied by the text's job after the answer (src/outreach/replies.ts). In order:
 * - STOP (the CTIA opt-out words): the number goes on the practice's opt-out list; no reply
 *   (Twilio confirms a STOP itself).
 * - START, UNSTOP (and YES from a number that is opted out): the number's opt-out is removed
 *   (audited) and the reply confirms it. A YES from a number that is not opted out is a patient's
 *   text like any other.
 * - HELP, INFO: the carrier-expected help reply.
 * - "ACK [code]" from an active provider of the practice: acknowledges the page (src/oncall/sms-service.ts).
 * - "C" or "CONFIRM" replying to an appointment reminder or confirmation (or a recall naming its visit): the appointment is
 *   confirmed (audited) and the reply says so, nothing more. With nothing to confirm, it is a text.
 * - Anything else is a patient's text (a reply to outreach: its task's source is outreach_reply): stored, sealed, before the answer (./patient-texts.ts),
 *   then answered with the practice's automatic reply, or with the media reply when it carried
 *   pictures or files (which are never fetched: their URLs are not even parsed). A number that
 *   opted out gets no reply, but its text is still stored.
 *
 * Whatever could not be stored throws: the route then answers 503, never 2xx (./sms-fallback).
 */

const MEDIA_MAX = 10;

export const SmsSchema = z.object({
  MessageSid: z.string().regex(/^(SM|MM)[0-9a-f]{32}$/),
  AccountSid: z.string().regex(/^AC[0-9a-f]{32}$/),
  From: z.string().regex(/^\+[1-9]\d{6,14}$/),
  To: z.string().regex(/^\+[1-9]\d{6,14}$/),
  Body: z.string().max(1600).default(''),
  /** Pictures or files attached (their MediaUrlN parameters are never read). */
  NumMedia: z
    .string()
    .regex(/^\d{1,2}$/)
    .transform(Number)
    .pipe(z.number().int().min(0).max(MEDIA_MAX))
    .default(0),
});
export type Sms = z.output<typeof SmsSchema>;

const EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

function reply(text: string): string {
  const vr = new twilio.twiml.MessagingResponse();
  vr.message(text);
  return vr.toString();
}

/** What an inbound SMS uses: the lookups by number, the keyring (opt-outs, sealing), the audit log, and what an acknowledgement uses. */
export type SmsDeps = Pick<AppContext, 'db' | 'keyring' | 'audit' | 'clock'> & AckDeps;

/** The answer to a text that could not be stored (Twilio's fallback request for it, ./twilio-routes): the patient is told. */
export function smsNotReceivedTwiml(to: string | undefined): string {
  const number = to && /^\+[1-9]\d{6,14}$/.test(to) ? to : null;
  return reply(notReceivedText(number));
}

/** `scopeFor` mints the request scope of the practice the number texted belongs to (the Twilio route's). */
export async function handleSmsIncoming(services: SmsDeps, scopeFor: ScopeFor, body: Record<string, unknown>): Promise<string> {
  const parsed = SmsSchema.safeParse(body);
  if (!parsed.success) return EMPTY;
  const sms = parsed.data;
  const found = await findPracticeByNumber(services.db, sms.To);
  // Not a practice's number: nobody to keep it for.
  if (!found) return EMPTY;
  const { practice } = found;
  const scope = scopeFor(practice.id);
  const ctx: ReplyContext = { practiceName: practice.greetingName, number: sms.To };
  const recordedBy = `sms:${sms.MessageSid}`;
  const keyword = sms.NumMedia === 0 ? keywordOf(sms.Body) : '';
  const now = services.clock();

  if (STOP_WORDS.has(keyword)) {
    await recordOptOut(services, scope, { phone: sms.From, source: 'sms_stop', recordedBy });
    return EMPTY;
  }
  if (START_WORDS.has(keyword) || (START_IF_OPTED_OUT_WORDS.has(keyword) && (await isOptedOut(scope, services.keyring, sms.From)))) {
    await removeOptOut(services, scope, { phone: sms.From, recordedBy });
    return reply(startReplyText(ctx));
  }
  if (HELP_WORDS.has(keyword)) {
    await services.audit({ action: AuditAction.SmsKeywordAnswered, actor: 'twilio', practiceId: practice.id, details: { keyword: 'help' } });
    return reply(helpReplyText(ctx));
  }
  const ack = sms.NumMedia === 0 ? parseAck(sms.Body) : null;
  if (ack) {
    const answer = await handleProviderAck(services, scopeFor, sms, ack);
    if (answer !== null) return answer;
  }

  // A "C" to an outreach SMS is marked a reply at once and may confirm an appointment; any other reply is marked by its text's job.
  const latest = CONFIRM_WORDS.has(keyword) ? await latestOutreachSms(scope, phoneIndex(services.keyring, sms.From), now) : undefined;
  const repliedTo = latest ? await markOutreachReplied(services, scope, latest, now) : undefined;
  if (repliedTo) {
    const confirmed = await confirmAppointmentOf(services, scope, repliedTo, 'sms_reply', 'twilio', now, { sendId: repliedTo.id, messageSid: sms.MessageSid });
    if (confirmed) return (await isOptedOut(scope, services.keyring, sms.From)) ? EMPTY : reply(CONFIRMED_REPLY);
  }

  await recordPatientText(services, scope, {
    messageSid: sms.MessageSid,
    from: sms.From,
    body: sms.Body,
    mediaCount: sms.NumMedia,
    receivedAt: now,
    outreachSendId: repliedTo?.id ?? null,
  });
  // An opt-out stops every later message to that number, our replies included.
  if (await isOptedOut(scope, services.keyring, sms.From)) return EMPTY;
  if (sms.NumMedia > 0) return reply(mediaReplyText(ctx));
  return reply(autoReplyText(practice.smsAutoReply, ctx));
}
