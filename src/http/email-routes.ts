import { randomUUID } from 'node:crypto';
import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import type { ApiRole } from '../auth/api-keys.js';
import { EmailSchema, emailIndex } from '../patients/identifiers.js';
import { patientExists } from '../patients/store.js';
import { getPractice } from '../practices/store.js';
import { recordEmailOptOut } from '../consent/email-opt-outs.js';
import { currentMatrix } from '../outreach/matrix-store.js';
import { decideSend } from '../outreach/matrix.js';
import { checkEmailTemplate, EMAIL_MESSAGE_TYPES, EMAIL_PLACEHOLDERS, EMAIL_TEMPLATES, emailTemplate, MAX_EMAIL_BODY_CHARS } from '../outreach/email-templates.js';
import { EmailNoticeError, sendEmailNotice, SEND_KEY_PATTERN } from '../outreach/email-notice.js';
import { UNSUBSCRIBE_TOKEN_PATTERN } from '../outreach/unsubscribe-token.js';
import { actorOf, permit, permitUnsubscribeToken, principalOf } from './api-auth.js';
import { badRequest, notFound, zodProblems } from './responses.js';
import { consumeLimit, limitersFor, refuseRateLimited, requestSource } from './rate-limit.js';

/**
 * Notice e-mails to patients (src/outreach/email-notice.ts): send one now, list and check the
 * templates, opt an address out; and the public unsubscribe link of every notice (`/u/<token>`,
 * its page and its one-click POST). Addresses travel in bodies only, never in a URL.
 */

const WRITE: readonly ApiRole[] = ['admin', 'staff'];
const READ: readonly ApiRole[] = ['admin', 'staff'];

export const EmailNoticeParams = z.object({ patientId: z.uuid({ message: 'expected a UUID' }) });
export const EmailNoticeBody = z.strictObject({
  messageType: z.enum(EMAIL_MESSAGE_TYPES),
  templateId: z.string().max(40).refine((id) => emailTemplate(id) !== null, { message: `expected one of ${EMAIL_TEMPLATES.map((t) => t.id).join(', ')}` }),
  /** The caller's key of this send (its Message-ID); a fresh one when left out. */
  sendKey: z.string().regex(SEND_KEY_PATTERN, { message: 'expected 1 to 100 letters, digits, dots, dashes or underscores' }).optional(),
});
export const EmailTemplateCheckBody = z.strictObject({
  body: z.string().max(MAX_EMAIL_BODY_CHARS * 4),
  /** When given, the practice's `<messageType> × email` cell is consulted too. */
  messageType: z.enum(EMAIL_MESSAGE_TYPES).optional(),
});
export const EmailOptOutBody = z.strictObject({ email: EmailSchema });
export const UnsubscribeParams = z.object({ token: z.string().regex(UNSUBSCRIBE_TOKEN_PATTERN, { message: 'expected an unsubscribe token' }) });

const ERROR_STATUS: Record<EmailNoticeError['reason'], number> = {
  invalid_request: 400,
  no_mailer: 409,
  no_callback_number: 409,
  no_portal_link: 409,
  template_refused: 409,
  relay_failed: 502,
};

export function emailRouter(services: Services): express.Router {
  const router = express.Router();

  router.post('/patients/:patientId/email-notices', async (req, res) => {
    const params = EmailNoticeParams.safeParse(req.params);
    if (!params.success) return badRequest(res, zodProblems(params.error));
    const patientId = params.data.patientId;
    const scope = await permit(services, req, res, WRITE, principalOf(res).practiceId, patientId);
    if (!scope) return;
    const body = EmailNoticeBody.safeParse(req.body);
    if (!body.success) return badRequest(res, zodProblems(body.error));
    if (!(await patientExists(scope, patientId))) return notFound(res);
    try {
      const outcome = await sendEmailNotice(services, scope, {
        patientId,
        messageType: body.data.messageType,
        templateId: body.data.templateId,
        origin: 'api',
        sendKey: body.data.sendKey ?? `api-${randomUUID()}`,
        actor: actorOf(res),
      });
      res.status(202).json({ outcome });
    } catch (err) {
      if (!(err instanceof EmailNoticeError)) throw err;
      const status = ERROR_STATUS[err.reason];
      res.status(status).json({ error: status === 400 ? 'bad_request' : err.reason, message: err.message });
    }
  });

  router.get('/email-templates', async (req, res) => {
    const scope = await permit(services, req, res, READ, principalOf(res).practiceId);
    if (!scope) return;
    res.json({ placeholders: EMAIL_PLACEHOLDERS, templates: EMAIL_TEMPLATES.map((t) => ({ id: t.id, description: t.description, body: t.body, messageTypes: t.messageTypes })) });
  });

  router.post('/email-templates/check', async (req, res) => {
    const scope = await permit(services, req, res, READ, principalOf(res).practiceId);
    if (!scope) return;
    const body = EmailTemplateCheckBody.safeParse(req.body);
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const checked = checkEmailTemplate(body.data.body);
    const problems = checked.ok ? [] : checked.problems;
    let matrix: { cell: string; allowed: boolean; version: number; message?: string } | null = null;
    if (body.data.messageType) {
      const current = await currentMatrix(scope);
      const d = decideSend(current.matrix, body.data.messageType, 'email', 'none');
      matrix = d.ok ? { cell: d.allowed.cell, allowed: true, version: current.version } : { cell: d.cell, allowed: false, version: current.version, message: d.message };
    }
    res.json({ ok: problems.length === 0 && (matrix?.allowed ?? true), problems, matrix });
  });

  router.post('/email-opt-outs', async (req, res) => {
    const scope = await permit(services, req, res, WRITE, principalOf(res).practiceId);
    if (!scope) return;
    const body = EmailOptOutBody.safeParse(req.body);
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const source = principalOf(res).role === 'staff' ? 'staff' : 'api';
    const result = await recordEmailOptOut(services, scope, { emailIndex: emailIndex(services.keyring, body.data.email), source, recordedBy: actorOf(res) });
    res.status(result === 'recorded' ? 201 : 200).json({ result });
  });

  return router;
}

// ---------------------------------------------------------------------------
// The unsubscribe link (public: the signed token is the credential)

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

function page(res: express.Response, status: number, title: string, body: string): void {
  res
    .status(status)
    .type('html')
    .send(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="referrer" content="no-referrer"><title>${escapeHtml(title)}</title></head><body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`);
}

const GONE = 'This link is not valid. To stop e-mails from the office, call the number in the e-mail.';
const EXPIRED = 'This link has expired. To stop e-mails from the office, call the number in the e-mail.';

/**
 * `GET /u/:token` shows a small page with one button; `POST /u/:token` (that button, or a mail
 * client's one-click POST of `List-Unsubscribe=One-Click`, RFC 8058) records the opt-out and
 * answers 200. The token names the practice and the address's blind index only. Unknown and
 * forged tokens answer 404, expired ones 410; neither says more. Both are limited per source
 * (RATE_LIMIT_UNSUBSCRIBE_PER_SOURCE a minute; 429 beyond, before the token is read).
 */
export function unsubscribeRouter(services: Services): express.Router {
  const router = express.Router();

  router.use('/u/:token', async (req, res, next) => {
    const verdict = await consumeLimit(limitersFor(services).unsubscribe, requestSource(req));
    if (!verdict.ok) return refuseRateLimited(services, req, res, 'unsubscribe', verdict, 'text');
    next();
  });

  router.get('/u/:token', async (req, res) => {
    const params = UnsubscribeParams.safeParse(req.params);
    if (!params.success) return page(res, 404, 'Unsubscribe', `<p>${GONE}</p>`);
    const permit = await permitUnsubscribeToken(services, params.data.token);
    if (permit === 'expired') return page(res, 410, 'Unsubscribe', `<p>${EXPIRED}</p>`);
    if (!permit) return page(res, 404, 'Unsubscribe', `<p>${GONE}</p>`);
    const practice = await getPractice(permit.scope);
    const name = escapeHtml(practice?.greetingName ?? 'the office');
    page(
      res,
      200,
      'Unsubscribe',
      `<p>Stop notice e-mails from ${name} to this address?</p><form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`,
    );
  });

  router.post('/u/:token', async (req, res) => {
    const params = UnsubscribeParams.safeParse(req.params);
    if (!params.success) return page(res, 404, 'Unsubscribe', `<p>${GONE}</p>`);
    const permit = await permitUnsubscribeToken(services, params.data.token);
    if (permit === 'expired') return page(res, 410, 'Unsubscribe', `<p>${EXPIRED}</p>`);
    if (!permit) return page(res, 404, 'Unsubscribe', `<p>${GONE}</p>`);
    await recordEmailOptOut(services, permit.scope, { emailIndex: permit.claims.emailIndex, source: 'unsubscribe_link', recordedBy: 'unsubscribe_link' });
    page(res, 200, 'Unsubscribed', '<p>You will get no more notice e-mails from the office at this address.</p>');
  });

  return router;
}
