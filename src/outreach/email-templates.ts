import { checkPhi, type PhiProblem } from '../drops/phi-check.js';
import { MESSAGE_TYPES, type MessageType } from './matrix.js';

/**
 * The notice e-mails to patients (issue 15, item 3): notification only, "please call the office"
 * or "a message is waiting at your portal", never anything about the patient. Every e-mail cell
 * of the communication matrix allows detail `none` at most, so no template may carry a day, a
 * time or a place: the only placeholders are the practice's name, its callback number and its
 * portal link. The subject is fixed and names the practice only. Pure.
 *
 * Every rendered body ends with the unsubscribe line (the link is the service's, never a
 * template's), and is checked again by the PHI check with the values filled in (a practice name
 * such as "Dr. Lee's Clinic" would be refused there).
 */

export const EMAIL_PLACEHOLDERS = ['practice_name', 'callback_number', 'portal_link'] as const;
export type EmailPlaceholder = (typeof EMAIL_PLACEHOLDERS)[number];

/** The message types a notice may be sent as: any but a page to staff (pages never go by e-mail). */
export type EmailMessageType = Exclude<MessageType, 'staff_page'>;
export const EMAIL_MESSAGE_TYPES = MESSAGE_TYPES.filter((t): t is EmailMessageType => t !== 'staff_page');

export interface EmailTemplate {
  id: string;
  description: string;
  /** Plain text with {placeholders}. */
  body: string;
  /** The matrix rows this notice may be sent as (its words fit each). */
  messageTypes: readonly EmailMessageType[];
}

/** Upper bounds: a notice is short. */
export const MAX_EMAIL_BODY_CHARS = 600;
export const MAX_SUBJECT_PRACTICE_CHARS = 80;

/** Placeholders every notice must contain: who it is from and how to reach them. */
export const REQUIRED_EMAIL_PLACEHOLDERS = ['practice_name', 'callback_number'] as const satisfies readonly EmailPlaceholder[];

/** The built-in notices (`GET /api/email-templates`). */
export const EMAIL_TEMPLATES: readonly EmailTemplate[] = [
  {
    id: 'call_office',
    description: 'Please call the office',
    body: 'Hello,\n\n{practice_name} asks you to call the office at {callback_number} when you can.\n\nThis e-mail is a notice only; please do not reply to it.',
    messageTypes: EMAIL_MESSAGE_TYPES,
  },
  {
    id: 'portal_message',
    description: 'A message is waiting at your portal',
    body: 'Hello,\n\n{practice_name} has left a message for you at the patient portal: {portal_link}\n\nIf you cannot sign in, call the office at {callback_number}.\n\nThis e-mail is a notice only; please do not reply to it.',
    messageTypes: ['results_ready', 'callback_request', 'billing_callback', 'appointment_reminder', 'appointment_confirmation', 'recall'],
  },
];

export function emailTemplate(id: string): EmailTemplate | null {
  return EMAIL_TEMPLATES.find((t) => t.id === id) ?? null;
}

/** Pure: a callback number as a person reads it: `202-555-0101` for a US number (one digit run the PHI check knows as the allowed number), else as stored. */
export function readableNumber(e164: string): string {
  const m = /^\+1(\d{3})(\d{3})(\d{4})$/.exec(e164);
  return m ? `${m[1]}-${m[2]}-${m[3]}` : e164;
}

/** Pure: the fixed subject: the practice's name only. */
export function noticeSubject(practiceName: string): string {
  const name = practiceName.replace(/[\r\n\t]+/g, ' ').trim().slice(0, MAX_SUBJECT_PRACTICE_CHARS);
  return `A message from ${name}`;
}

export type EmailTemplateProblem = PhiProblem | { kind: 'empty' | 'too_long' | 'missing_placeholder'; term: string };

const placeholdersIn = (text: string): string[] => [...text.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1] ?? '');

/**
 * Pure: whether a notice body may be sent: not empty, short, the required placeholders, only the
 * e-mail placeholders, and nothing the PHI check refuses.
 */
export function checkEmailTemplate(body: string): { ok: true } | { ok: false; problems: EmailTemplateProblem[] } {
  const problems: EmailTemplateProblem[] = [];
  if (body.trim() === '') problems.push({ kind: 'empty', term: '' });
  if (body.length > MAX_EMAIL_BODY_CHARS) problems.push({ kind: 'too_long', term: `${body.length} characters (at most ${MAX_EMAIL_BODY_CHARS})` });
  const present = new Set(placeholdersIn(body));
  for (const p of REQUIRED_EMAIL_PLACEHOLDERS) if (!present.has(p)) problems.push({ kind: 'missing_placeholder', term: `{${p}}` });
  const phi = checkPhi(body, { placeholders: EMAIL_PLACEHOLDERS });
  if (!phi.ok) problems.push(...phi.problems);
  return problems.length ? { ok: false, problems } : { ok: true };
}

export interface NoticeValues {
  practiceName: string;
  callbackNumber: string;
  /** The practice's portal; null when it has none (a template that links to it cannot be sent). */
  portalLink: string | null;
  /** The `/u/<token>` link of this recipient. */
  unsubscribeLink: string;
}

export type RenderedNotice = { ok: true; subject: string; text: string } | { ok: false; reason: 'no_portal_link' | 'phi'; problems: EmailTemplateProblem[] };

/** A link as the PHI check sees it: a word, since a URL's digits and paths are not the message's words. */
const LINK_STAND_IN = 'link';

/**
 * Pure: the notice for one recipient. The rendered words (links stood in for) are checked again
 * with the callback number allowed; the body ends with the unsubscribe line.
 */
export function renderNotice(template: EmailTemplate, v: NoticeValues): RenderedNotice {
  const uses = new Set(placeholdersIn(template.body));
  if (uses.has('portal_link') && !v.portalLink) return { ok: false, reason: 'no_portal_link', problems: [{ kind: 'missing_placeholder', term: '{portal_link}' }] };
  const fill = (portal: string, unsubscribe: string): string =>
    `${template.body
      .replaceAll('{practice_name}', v.practiceName)
      .replaceAll('{callback_number}', v.callbackNumber)
      .replaceAll('{portal_link}', portal)}\n\n--\nTo stop e-mails from ${v.practiceName}: ${unsubscribe}\n`;
  const check = checkPhi(fill(LINK_STAND_IN, LINK_STAND_IN), { placeholders: [], allowedNumbers: [v.callbackNumber] });
  const subject = noticeSubject(v.practiceName);
  const subjectCheck = checkPhi(subject, { placeholders: [] });
  if (!check.ok || !subjectCheck.ok) return { ok: false, reason: 'phi', problems: [...(check.ok ? [] : check.problems), ...(subjectCheck.ok ? [] : subjectCheck.problems)] };
  return { ok: true, subject, text: fill(v.portalLink ?? '', v.unsubscribeLink) };
}
