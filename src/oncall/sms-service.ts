import twilio from 'twilio';
import type { Db } from '../adapters/postgres.js';
import type { ScopeFor } from '../tenancy/scope.js';
import { acknowledgePage, type AckDeps } from './paging.js';
import { providerBySmsSender } from './paging-store.js';

/**
 * A provider's SMS to a practice number replying "ACK" (optionally with the page's reference
 * code) acknowledges the page. The other inbound texts (keywords, patients' texts) are
 * src/texts/sms-incoming.ts's; it asks here first whether a text is a provider's ACK.
 */

const ACK = /^\s*ack\b\s*(\d{6})?\s*$/i;

/** Pure: whether a text reads as an ACK, and the reference it names. */
export function parseAck(body: string): { code: string | null } | null {
  const m = ACK.exec(body);
  return m ? { code: m[1] ?? null } : null;
}

/**
 * The TwiML answer to a provider's ACK, or null when the sender is no active provider of the
 * practice that owns the number texted (then the text is a patient's like any other).
 * `scopeFor` mints the request scope of that practice (the Twilio route's).
 */
export async function handleProviderAck(
  services: AckDeps & { db: Db },
  scopeFor: ScopeFor,
  sms: { From: string; To: string; MessageSid: string },
  ack: { code: string | null },
): Promise<string | null> {
  const row = await providerBySmsSender(services.db, sms.To, sms.From);
  if (!row) return null;
  // The sender and the number texted found the practice (a lookup across practices, on the system role).
  const result = await acknowledgePage(services, scopeFor(row.practiceId), {
    ...(ack.code ? { referenceCode: ack.code } : {}),
    by: `provider:${row.providerId}`,
    via: 'sms',
  });
  const vr = new twilio.twiml.MessagingResponse();
  if (result.result === 'not_found') vr.message('No open page found for that reference.');
  else vr.message(result.result === 'acknowledged' ? `Acknowledged, ref ${result.referenceCode}. Paging stopped.` : `Ref ${result.referenceCode} was already acknowledged.`);
  return vr.toString();
}
