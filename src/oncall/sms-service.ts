import { z } from 'zod';
import twilio from 'twilio';
import type { AppContext } from '../app-context.js';
import type { ScopeFor } from '../tenancy/scope.js';
import { acknowledgePage, type AckDeps } from './paging.js';
import { providerBySmsSender } from './paging-store.js';
import { isStopMessage } from '../consent/consent.js';
import { recordOptOut } from '../consent/store.js';
import { findPracticeByNumber } from '../practices/store.js';

/**
 * Inbound SMS to a practice number. STOP (or another opt-out keyword) from any number puts it on
 * the practice's opt-out list: no ringless-voicemail drop reaches it again (Twilio itself
 * confirms the STOP to the sender). A provider of that practice replying "ACK" (optionally with
 * the reference code) acknowledges the page. Anything else gets no reply.
 */

export const SmsSchema = z.object({
  MessageSid: z.string().regex(/^(SM|MM)[0-9a-f]{32}$/),
  AccountSid: z.string().regex(/^AC[0-9a-f]{32}$/),
  From: z.string().regex(/^\+[1-9]\d{6,14}$/),
  To: z.string().regex(/^\+[1-9]\d{6,14}$/),
  Body: z.string().max(1600).default(''),
});

const ACK = /^\s*ack\b\s*(\d{6})?\s*$/i;
const EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>';

/** What an inbound SMS uses: the lookups by number, the opt-out register (keyed hashes) and what an acknowledgement uses. */
export type SmsDeps = Pick<AppContext, 'db' | 'keyring'> & AckDeps;

/** `scopeFor` mints the request scope of the practice the number texted belongs to (the Twilio route's). */
export async function handleSmsIncoming(services: SmsDeps, scopeFor: ScopeFor, body: Record<string, unknown>): Promise<string> {
  const parsed = SmsSchema.safeParse(body);
  if (!parsed.success) return EMPTY;
  const sms = parsed.data;
  if (isStopMessage(sms.Body)) {
    const found = await findPracticeByNumber(services.db, sms.To);
    if (found) {
      await recordOptOut(services, scopeFor(found.practice.id), { phone: sms.From, source: 'sms_stop', recordedBy: `sms:${sms.MessageSid}` });
    }
    return EMPTY;
  }
  const m = ACK.exec(sms.Body);
  if (!m) return EMPTY;
  const row = await providerBySmsSender(services.db, sms.To, sms.From);
  if (!row) return EMPTY;
  // The sender and the number texted found the practice (a lookup across practices, on the system role).
  const ack = await acknowledgePage(services, scopeFor(row.practiceId), {
    ...(m[1] ? { referenceCode: m[1] } : {}),
    by: `provider:${row.providerId}`,
    via: 'sms',
  });
  const vr = new twilio.twiml.MessagingResponse();
  if (ack.result === 'not_found') vr.message('No open page found for that reference.');
  else vr.message(ack.result === 'acknowledged' ? `Acknowledged, ref ${ack.referenceCode}. Paging stopped.` : `Ref ${ack.referenceCode} was already acknowledged.`);
  return vr.toString();
}
