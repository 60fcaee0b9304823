import { describe, expect, it } from 'vitest';
import { checkHeaders } from '../../src/adapters/mailer.js';
import { checkEmailTemplate, EMAIL_TEMPLATES, emailTemplate, noticeSubject, readableNumber, renderNotice } from '../../src/outreach/email-templates.js';
import { signUnsubscribeToken, UNSUBSCRIBE_TOKEN_DAYS, verifyUnsubscribeToken } from '../../src/outreach/unsubscribe-token.js';
import type { Keyring } from '../../src/adapters/keyring.js';

/** The notice e-mails' pure parts: the templates, their rendering, the unsubscribe token, the mailer's header check. */

const VALUES = { practiceName: 'Lakeside Family Practice', callbackNumber: readableNumber('+12025550101'), portalLink: 'https://portal.example.org/inbox', unsubscribeLink: 'https://ahl.example.org/u/abc.def.ghi' };
const callOffice = emailTemplate('call_office');
const portal = emailTemplate('portal_message');
if (!callOffice || !portal) throw new Error('built-in templates missing');

describe('templates', () => {
  it('every built-in template passes the check', () => {
    for (const t of EMAIL_TEMPLATES) expect(checkEmailTemplate(t.body), t.id).toEqual({ ok: true });
  });

  it('no template may be sent as a page to staff', () => {
    for (const t of EMAIL_TEMPLATES) expect(t.messageTypes).not.toContain('staff_page');
  });

  it('refuses appointment placeholders, clinical words, dates and a missing callback number', () => {
    const r = checkEmailTemplate('Your {appointment_time} visit on 04/15/2027 about your mammogram, {practice_name}.');
    expect(r.ok).toBe(false);
    const kinds = r.ok ? [] : r.problems.map((p) => p.kind);
    expect(kinds).toEqual(expect.arrayContaining(['missing_placeholder', 'unknown_placeholder', 'date', 'clinical_term']));
  });
});

describe('rendering', () => {
  it('a fixed subject naming the practice only; the body ends with the unsubscribe line', () => {
    const r = renderNotice(callOffice, VALUES);
    expect(r).toEqual({
      ok: true,
      subject: 'A message from Lakeside Family Practice',
      text: 'Hello,\n\nLakeside Family Practice asks you to call the office at 202-555-0101 when you can.\n\nThis e-mail is a notice only; please do not reply to it.\n\n--\nTo stop e-mails from Lakeside Family Practice: https://ahl.example.org/u/abc.def.ghi\n',
    });
    expect(noticeSubject('Lakeside\r\nBcc: x@example.org')).toBe('A message from Lakeside Bcc: x@example.org');
  });

  it('the portal notice needs a portal link', () => {
    expect(renderNotice(portal, { ...VALUES, portalLink: null })).toMatchObject({ ok: false, reason: 'no_portal_link' });
    expect(renderNotice(portal, VALUES)).toMatchObject({ ok: true, text: expect.stringContaining('at the patient portal: https://portal.example.org/inbox') });
  });

  it('is checked again with its values: a practice name the PHI check refuses is refused', () => {
    expect(renderNotice(callOffice, { ...VALUES, practiceName: 'Dr. Lee Oncology' })).toMatchObject({ ok: false, reason: 'phi' });
    expect(renderNotice(callOffice, { ...VALUES, callbackNumber: '202-555-0199 or 301-555-0188' })).toMatchObject({ ok: false, reason: 'phi' });
  });
});

describe('the unsubscribe token', () => {
  const keyring = { indexKey: Buffer.alloc(32, 7) } as Keyring;
  const other = { indexKey: Buffer.alloc(32, 8) } as Keyring;
  const claims = { practiceId: '11111111-2222-4333-8444-555555555555', emailIndex: 'a'.repeat(64) };
  const now = new Date('2026-12-03T12:00:00Z');

  it('round-trips ids within its lifetime; expired after it; forged with another key: null', async () => {
    const token = await signUnsubscribeToken(keyring, claims, now);
    expect(await verifyUnsubscribeToken(keyring, token, new Date(now.getTime() + (UNSUBSCRIBE_TOKEN_DAYS - 1) * 86_400_000))).toEqual(claims);
    expect(await verifyUnsubscribeToken(keyring, token, new Date(now.getTime() + (UNSUBSCRIBE_TOKEN_DAYS + 1) * 86_400_000))).toBe('expired');
    expect(await verifyUnsubscribeToken(other, token, now)).toBeNull();
    expect(await verifyUnsubscribeToken(keyring, `${token}x`, now)).toBeNull();
  });
});

describe("the mailer's headers", () => {
  it('takes the list headers; refuses reserved names and values that would break the message', () => {
    expect(() => checkHeaders({ 'List-Unsubscribe': '<https://ahl.example.org/u/t>', 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' })).not.toThrow();
    expect(() => checkHeaders({ Bcc: 'x@example.org' })).toThrow(/may not be set/);
    expect(() => checkHeaders({ 'X-Note': 'a\r\nBcc: x@example.org' })).toThrow(/one line/);
    expect(() => checkHeaders({ 'Bad Name': 'x' })).toThrow(/may not be set/);
  });
});
