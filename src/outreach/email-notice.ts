import type { AppContext } from '../app-context.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { mailerFor } from '../adapters/mailer.js';
import { AuditAction } from '../audit/events.js';
import { currentConsents } from '../consent/store.js';
import { isEmailOptedOut } from '../consent/email-opt-outs.js';
import { emailOf } from '../patients/store.js';
import { getPractice } from '../practices/store.js';
import { decideSend } from './matrix.js';
import { currentMatrix } from './matrix-store.js';
import { emailTemplate, readableNumber, renderNotice, type EmailMessageType } from './email-templates.js';
import { signUnsubscribeToken, unsubscribeUrl } from './unsubscribe-token.js';

/**
 * Sending one notice e-mail to a patient (issue 15, item 3). The order of the checks, each a
 * skip the caller records and this function audits (`email.skipped`, ids only):
 * 1. the communication matrix's `<type> × email` cell (`matrix`, the cell named);
 * 2. an e-mail address on the patient (`no_email`);
 * 3. the address not opted out of the practice (`opted_out`), whatever consent says;
 * 4. a current `email` consent grant (`no_consent`).
 * Then the notice is rendered (src/outreach/email-templates.ts, PHI-checked with its values),
 * carries `List-Unsubscribe` (the https `/u/<token>` link) and `List-Unsubscribe-Post:
 * List-Unsubscribe=One-Click` (RFC 8058) and the same link in its body, and goes to the relay
 * (TLS required in production, src/adapters/mailer.ts). `email.sent` names the consent, the
 * matrix cell and version, the template, the origin and the send key; never the address.
 *
 * The caller (the API now; sequences and the SMS helper's ledger later) records the send by its
 * `sendKey`; the Message-ID is derived from it, so a retried send is recognisable downstream.
 */

export type EmailSkipReason = 'no_consent' | 'opted_out' | 'no_email' | 'matrix';
export type EmailNoticeResult = { kind: 'sent'; messageId: string } | { kind: 'skipped'; reason: EmailSkipReason; cell?: string };

export interface EmailNoticeRequest {
  patientId: string;
  messageType: EmailMessageType;
  templateId: string;
  /** Who asked, as a code (`api`, `sequence`…): audited. */
  origin: string;
  /** The caller's business key of this send (letters, digits, `.`, `_`, `-`): audited, and the Message-ID's. */
  sendKey: string;
  /** Who the audit rows name (the signed-in person or key); `email:<origin>` when not given. */
  actor?: string;
}

/** Why a notice could not be sent at all (not a skip: the request or the set-up is wrong). */
export class EmailNoticeError extends Error {
  constructor(
    readonly reason: 'invalid_request' | 'no_mailer' | 'no_callback_number' | 'no_portal_link' | 'template_refused' | 'relay_failed',
    message: string,
  ) {
    super(message);
    this.name = 'EmailNoticeError';
  }
}

export const ORIGIN_PATTERN = /^[a-z][a-z0-9_]{0,39}$/;
export const SEND_KEY_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;

export type EmailNoticeDeps = Pick<AppContext, 'config' | 'keyring' | 'audit' | 'clock'>;

export async function sendEmailNotice(ctx: EmailNoticeDeps, scope: PracticeScope, req: EmailNoticeRequest): Promise<EmailNoticeResult> {
  const template = emailTemplate(req.templateId);
  if (!template) throw new EmailNoticeError('invalid_request', 'templateId: no such e-mail template');
  if (!template.messageTypes.includes(req.messageType)) throw new EmailNoticeError('invalid_request', `templateId: ${template.id} is not a ${req.messageType} notice`);
  if (!ORIGIN_PATTERN.test(req.origin)) throw new EmailNoticeError('invalid_request', 'origin: expected a code such as api');
  if (!SEND_KEY_PATTERN.test(req.sendKey)) throw new EmailNoticeError('invalid_request', 'sendKey: expected 1 to 100 letters, digits, dots, dashes or underscores');

  const actor = req.actor ?? `email:${req.origin}`;
  const trace = { templateId: template.id, messageType: req.messageType, origin: req.origin, sendKey: req.sendKey };
  const skip = async (reason: EmailSkipReason, extra: { matrixCell: string; matrixVersion: number; consentId?: string | null }): Promise<EmailNoticeResult> => {
    await ctx.audit({ action: AuditAction.EmailSkipped, actor, practiceId: scope.practiceId, subjectId: req.patientId, details: { ...trace, reason, ...extra } });
    return reason === 'matrix' ? { kind: 'skipped', reason, cell: extra.matrixCell } : { kind: 'skipped', reason };
  };

  const matrix = await currentMatrix(scope);
  const decision = decideSend(matrix.matrix, req.messageType, 'email', 'none');
  if (!decision.ok) return skip('matrix', { matrixCell: decision.cell, matrixVersion: matrix.version });
  const matrixTrace = { matrixCell: decision.allowed.cell, matrixVersion: matrix.version };

  const address = await emailOf(scope, ctx.keyring, req.patientId);
  if (!address) return skip('no_email', matrixTrace);
  if (await isEmailOptedOut(scope, address.index)) return skip('opted_out', matrixTrace);
  const consent = (await currentConsents(scope, [req.patientId], 'email')).get(req.patientId);
  if (consent?.state !== 'granted') return skip('no_consent', { ...matrixTrace, consentId: consent?.consentId ?? null });

  const mailer = mailerFor(ctx.config);
  if (!mailer) throw new EmailNoticeError('no_mailer', 'no SMTP relay is configured (SMTP_URL or SMTP_HOST)');
  const practice = await getPractice(scope);
  const callback = practice?.frontDeskNumber ?? practice?.fallbackNumber ?? null;
  if (!practice || !callback) throw new EmailNoticeError('no_callback_number', "the practice has no front desk or fallback number for the notice's callback number");
  const now = ctx.clock();
  const link = unsubscribeUrl(ctx.config.publicBaseUrl, await signUnsubscribeToken(ctx.keyring, { practiceId: scope.practiceId, emailIndex: address.index }, now));
  const rendered = renderNotice(template, { practiceName: practice.greetingName, callbackNumber: readableNumber(callback), portalLink: practice.patientPortalUrl, unsubscribeLink: link });
  if (!rendered.ok) {
    if (rendered.reason === 'no_portal_link') throw new EmailNoticeError('no_portal_link', 'templateId: the practice has no patientPortalUrl for this notice');
    // The practice's own name is what failed (the templates pass): say which kind, never the words.
    throw new EmailNoticeError('template_refused', `the rendered notice fails the PHI check (${[...new Set(rendered.problems.map((p) => p.kind))].join(', ')}); check the practice's greeting name`);
  }

  let messageId: string;
  try {
    ({ messageId } = await mailer.send({
      to: address.email,
      subject: rendered.subject,
      text: rendered.text,
      headers: { 'List-Unsubscribe': `<${link}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
      messageId: `<notice.${req.sendKey}@${new URL(ctx.config.publicBaseUrl).hostname}>`,
    }));
  } catch (err) {
    // The relay's message may quote the address: only its codes go on.
    const e = err as { code?: unknown; responseCode?: unknown };
    const code = typeof e.code === 'string' ? e.code.slice(0, 40) : 'unknown';
    const responseCode = typeof e.responseCode === 'number' ? e.responseCode : null;
    await ctx.audit({ action: AuditAction.EmailFailed, actor, practiceId: scope.practiceId, subjectId: req.patientId, details: { ...trace, ...matrixTrace, consentId: consent.consentId, code, responseCode } });
    throw new EmailNoticeError('relay_failed', `the mail relay did not accept the notice (${code}${responseCode ? ` ${responseCode}` : ''})`);
  }
  await ctx.audit({ action: AuditAction.EmailSent, actor, practiceId: scope.practiceId, subjectId: req.patientId, details: { ...trace, ...matrixTrace, consentId: consent.consentId, messageId } });
  return { kind: 'sent', messageId };
}
