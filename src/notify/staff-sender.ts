import type { AppContext } from '../app-context.js';
import { mailerFor } from '../adapters/mailer.js';
import { logger } from '../log/logger.js';
import { getPractice, listPracticeNumbers, type Practice } from '../practices/store.js';
import type { PracticeScope } from '../tenancy/scope.js';

/**
 * The one way the service tells a member of staff something: a page's SMS, an overdue-callback
 * alert, the morning report's summary. What they share lives here: the number a practice's staff
 * SMS go out from, the send through the Twilio REST adapter (in log mode its stand-in, which logs
 * instead of sending) or the mailer (none without SMTP: e-mail contacts are then skipped), and a
 * failure logged with ids only. The texts are the callers' (pure, PHI-free by construction:
 * practice name, counts, reference codes, console links by id); each caller audits its own
 * action with the keys of who was reached, and keeps its own bookkeeping (claims, retries).
 */

/**
 * Pure: the number a staff text names (the practice's provider access line when set, else its
 * lowest-sorted number) and the number it is sent from (the access line if it is one of the
 * practice's numbers, so a reply reaches the practice; else the lowest-sorted number).
 */
export function pageNumbers(accessNumber: string | null, practiceNumbers: readonly string[]): { named: string | undefined; from: string | undefined } {
  const sorted = [...practiceNumbers].sort();
  return {
    named: accessNumber ?? sorted[0],
    from: accessNumber && sorted.includes(accessNumber) ? accessNumber : sorted[0],
  };
}

export interface PracticeSender {
  practice: Practice | null;
  /** The number a text names for calling back (the access line). */
  named: string | undefined;
  /** The number staff texts go out from; undefined: the practice has none, so no SMS can go. */
  from: string | undefined;
}

/** The scope's practice and its staff-SMS numbers (`pageNumbers`). */
export async function practiceSender(scope: PracticeScope): Promise<PracticeSender> {
  const [practice, numbers] = await Promise.all([getPractice(scope), listPracticeNumbers(scope)]);
  return { practice, ...pageNumbers(practice?.accessNumber ?? null, numbers.map((n) => n.e164)) };
}

/** One SMS to a member of staff; Twilio's message SID. Throws what the adapter throws (the caller decides on retries). */
export async function sendStaffSms(deps: Pick<AppContext, 'twilio'>, sms: { to: string; from: string; body: string }): Promise<{ sid: string }> {
  const { sid } = await deps.twilio.sendSms(sms);
  return { sid };
}

/** A member of staff to tell: `key` names them in the audit (`provider:<id>`, `user:<id>`), `to` is where. */
export interface StaffContact {
  key: string;
  channel: 'sms' | 'email';
  to: string;
}

export interface StaffNotice {
  /** For the log line of a failed send (e.g. 'overdue task alert'); never PHI. */
  what: string;
  practiceId: string;
  /** The SMS sender (`practiceSender`); SMS contacts are skipped without one. */
  from: string | undefined;
  /** The e-mail's subject (SMS carry the text alone). */
  subject: string;
  text: string;
}

export interface NoticeResult {
  /** The contacts a send was tried for (SMS with a sender, e-mail with a mailer). */
  tried: StaffContact[];
  /** The keys of those whose send was accepted, in order. */
  reached: string[];
  channels: Array<'email' | 'sms'>;
  /** The first failure, when any send failed. */
  failure: unknown;
}

/** Whether the service can send on a channel now: an SMS needs a sender number, an e-mail a configured mailer. */
export function reachableContacts(deps: Pick<AppContext, 'config'>, contacts: readonly StaffContact[], from: string | undefined): StaffContact[] {
  const mailer = mailerFor(deps.config);
  return contacts.filter((c) => (c.channel === 'sms' ? from !== undefined : mailer !== null));
}

/**
 * Sends one notice to each contact by their channel, one after the other: a failed send is logged
 * (ids only) and the others still go. Nothing is retried here and nothing audited: the caller
 * knows what a partial send means for its own record.
 */
export async function notifyStaff(deps: Pick<AppContext, 'twilio' | 'config'>, notice: StaffNotice, contacts: readonly StaffContact[]): Promise<NoticeResult> {
  const mailer = mailerFor(deps.config);
  const tried = reachableContacts(deps, contacts, notice.from);
  const reached: string[] = [];
  const channels = new Set<'email' | 'sms'>();
  let failure: unknown = null;
  for (const c of tried) {
    try {
      if (c.channel === 'sms') await sendStaffSms(deps, { to: c.to, from: notice.from ?? '', body: notice.text });
      else await mailer?.send({ to: c.to, subject: notice.subject, text: notice.text });
      reached.push(c.key);
      channels.add(c.channel);
    } catch (err) {
      failure ??= err;
      logger.error(`${notice.what}: an ${c.channel === 'sms' ? 'SMS' : 'e-mail'} failed`, { err, practiceId: notice.practiceId, recipient: c.key });
    }
  }
  return { tried, reached, channels: [...channels].sort(), failure };
}
