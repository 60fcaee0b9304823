import type { AppContext } from '../app-context.js';
import { mailerFor } from '../adapters/mailer.js';
import { logger } from '../log/logger.js';
import { currentMatrix } from '../outreach/matrix-store.js';
import { decideSend } from '../outreach/matrix.js';
import { getPractice, listPracticeNumbers, type Practice } from '../practices/store.js';
import type { PracticeScope } from '../tenancy/scope.js';

/**
 * The one way the service tells a member of staff something: a page's SMS, an overdue-callback
 * alert, the morning report's summary. What they share lives here: the number a practice's staff
 * SMS go out from, the send through the Twilio REST adapter (in log mode its stand-in, which logs
 * instead of sending) or the mailer (none without SMTP: e-mail contacts are then skipped), and a
 * failure logged with ids only, and the practice's communication matrix asked for each channel
 * (`staff_page × sms`, `staff_page × email`: a refused cell means that contact is not sent on
 * that channel, logged by ids and returned with the cell's name for the caller's audit; the SMS
 * cell is locked open, so pages always go). The texts are the callers' (pure, PHI-free by construction:
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
  /** The practice's scope: its communication matrix is read through it. */
  scope: PracticeScope;
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
  /** Contacts the communication matrix refused, with the cell that refused (`staff_page × email`). */
  refused: Array<{ key: string; cell: string }>;
  /** The matrix version asked and the cells that allowed the sends tried: for the caller's audit. */
  matrix: { version: number; cells: string[] };
}

/** A staff message's cell of the practice's communication matrix: whether it is open, its name and the matrix version. */
export interface StaffCell {
  allowed: boolean;
  cell: string;
  version: number;
}

/**
 * Asks the practice's communication matrix whether a staff message may go on `channel`
 * (`staff_page`, no detail: staff messages carry no PHI). `staff_page × sms` is locked open.
 */
export async function staffCell(scope: PracticeScope, channel: 'sms' | 'email'): Promise<StaffCell> {
  const { matrix, version } = await currentMatrix(scope);
  const d = decideSend(matrix, 'staff_page', channel, 'none');
  return { allowed: d.ok, cell: d.ok ? d.allowed.cell : d.cell, version };
}

/** Whether the service can send on a channel now: an SMS needs a sender number, an e-mail a configured mailer. */
export function reachableContacts(deps: Pick<AppContext, 'config'>, contacts: readonly StaffContact[], from: string | undefined): StaffContact[] {
  const mailer = mailerFor(deps.config);
  return contacts.filter((c) => (c.channel === 'sms' ? from !== undefined : mailer !== null));
}

/**
 * Sends one notice to each contact by their channel, one after the other: a contact whose channel
 * the matrix refuses is skipped (logged by ids), a failed send is logged (ids only) and the
 * others still go. Nothing is retried here and nothing audited: the caller knows what a partial
 * send means for its own record.
 */
export async function notifyStaff(deps: Pick<AppContext, 'twilio' | 'config'>, notice: StaffNotice, contacts: readonly StaffContact[]): Promise<NoticeResult> {
  const practiceId = notice.scope.practiceId;
  const mailer = mailerFor(deps.config);
  const reachable = reachableContacts(deps, contacts, notice.from);
  const cells = new Map<'sms' | 'email', StaffCell>();
  for (const channel of new Set(reachable.map((c) => c.channel))) cells.set(channel, await staffCell(notice.scope, channel));
  const refused: Array<{ key: string; cell: string }> = [];
  const tried = reachable.filter((c) => {
    const cell = cells.get(c.channel);
    if (!cell || cell.allowed) return true;
    refused.push({ key: c.key, cell: cell.cell });
    logger.warn(`${notice.what}: not sent, refused by the communication matrix`, { practiceId, recipient: c.key, cell: cell.cell });
    return false;
  });
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
      logger.error(`${notice.what}: an ${c.channel === 'sms' ? 'SMS' : 'e-mail'} failed`, { err, practiceId, recipient: c.key });
    }
  }
  const version = [...cells.values()][0]?.version ?? 0;
  const usedCells = [...cells.values()].filter((c) => c.allowed).map((c) => c.cell).sort();
  return { tried, reached, channels: [...channels].sort(), failure, refused, matrix: { version, cells: usedCells } };
}
