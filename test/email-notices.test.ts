import { Readable } from 'node:stream';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { captureLogs } from '../src/log/logger.js';
import { createPractice, type Practice } from '../src/practices/store.js';
import { importPatients } from '../src/patients/patient-import.js';
import { readPatient } from '../src/patients/records.js';
import { emailIndex } from '../src/patients/identifiers.js';
import { sendEmailNotice } from '../src/outreach/email-notice.js';
import { signUnsubscribeToken, UNSUBSCRIBE_TOKEN_DAYS } from '../src/outreach/unsubscribe-token.js';
import { systemScope } from '../src/tenancy/system-scope.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { startHarness, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { startSmtpCapture, type SmtpCapture } from './support/smtp-capture.js';

/**
 * Notice e-mails to patients (issue 15, item 3) through the API, sent to the real smtp-server on
 * loopback: the address on the patient (API, CSV import), consent required, the opt-out by the
 * one-click unsubscribe link and by staff, the List-Unsubscribe headers, the matrix's
 * `recall × email` cell refusing by name, and nothing of a patient in a notice's subject or body,
 * in the logs or in the audit log.
 */

let h: Harness;
let smtp: SmtpCapture;
let practice: Practice;
let admin: string;
let staff: string;
let auditor: string;
let logs: ReturnType<typeof captureLogs>;

const FRONT_DESK = '+12025550101';
const PORTAL = 'https://portal.example.org/inbox';
// Test identities: each is searched for in what was sent, logged and audited. Names are long enough
// never to turn up by chance inside a signed unsubscribe token's base64 (a three-letter "Uma" once did).
const ROWAN = { firstName: 'Rowan', lastName: 'Achterberg', dateOfBirth: '1962-03-17', mrn: 'MRN-EM-1', phone: '+12025550181', email: 'Rowan.Achterberg@Example.ORG' };
const SASHA = { firstName: 'Sasha', lastName: 'Vollmer', dateOfBirth: '1988-11-02', mrn: 'MRN-EM-2', phone: '+12025550182', email: 'sasha.vollmer@example.net' };
const TEMPE = { firstName: 'Tempe', lastName: 'Oyelaran', dateOfBirth: '1995-06-21', mrn: 'MRN-EM-3', phone: '+12025550183' };
const UMA = { firstName: 'Umabelline', lastName: 'Kristiansen', dateOfBirth: '1971-08-09', mrn: 'MRN-EM-4', phone: '+12025550184', email: 'uma.k@example.com' };
const IMPORTED = { firstName: 'Ines', lastName: 'Castellanos', dateOfBirth: '1969-12-30', mrn: 'MRN-EM-5', phone: '+12025550185', email: 'ines.castellanos@example.org' };
const PEOPLE = [ROWAN, SASHA, TEMPE, UMA, IMPORTED];
/** Every identifying string of the test patients, in the forms it may appear. */
const PHI = PEOPLE.flatMap((p): string[] => [p.firstName, p.lastName, p.dateOfBirth, p.phone, p.phone.slice(2), p.mrn, ...('email' in p && typeof p.email === 'string' ? [p.email, p.email.toLowerCase()] : [])]);
const ids: Record<string, string> = {};

function api(method: string, path: string, body?: unknown, key = admin): Promise<ApiAnswer> {
  return callApi(h, method, path, key, body);
}

/** A captured message: its headers (unfolded) and its body. */
function parseMail(raw: string): { headers: Map<string, string>; subject: string; body: string } {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  const headers = new Map<string, string>();
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return { headers, subject: headers.get('subject') ?? '', body: raw.slice(split + 4) };
}

async function notice(patientId: string, body: Record<string, unknown> = { messageType: 'callback_request', templateId: 'call_office' }, key = staff): Promise<ApiAnswer> {
  return api('POST', `/api/patients/${patientId}/email-notices`, body, key);
}

async function grantEmail(patientId: string): Promise<void> {
  const r = await api('POST', `/api/patients/${patientId}/consents`, { channel: 'email', action: 'granted', source: 'paper_form', disclosureVersion: 'email-2026-12', evidenceRef: 'scan-email-0001' });
  expect(r.status).toBe(201);
}

async function auditRows(action: string, subjectId?: string): Promise<Array<{ details: Record<string, unknown>; actor: string }>> {
  let q = h.services.db.selectFrom('audit_log').select(['details', 'actor']).where('action', '=', action).where('practice_id', '=', practice.id);
  if (subjectId) q = q.where('subject_id', '=', subjectId);
  return q.orderBy('seq').execute();
}

/** The unsubscribe link of a captured notice, pointed at the test server. */
function localLink(link: string): string {
  expect(link.startsWith(`${TEST_PUBLIC_BASE_URL}/u/`)).toBe(true);
  return h.baseUrl + link.slice(TEST_PUBLIC_BASE_URL.length);
}

beforeAll(async () => {
  smtp = await startSmtpCapture();
  h = await startHarness('email_notices', smtp.env);
  logs = captureLogs();
  practice = await createPractice(h.services.db, { slug: 'email-notices', name: 'Lakeside Family Practice', timeZone: 'America/New_York', numbers: ['+12025550911'], frontDeskNumber: FRONT_DESK, patientPortalUrl: PORTAL });
  admin = (await createApiKey(h.services.db, { role: 'admin', practiceId: practice.id })).key;
  staff = (await createApiKey(h.services.db, { role: 'staff', practiceId: practice.id })).key;
  auditor = (await createApiKey(h.services.db, { role: 'auditor', practiceId: practice.id })).key;
  const disclosure = await api('POST', '/api/consent-disclosures', { version: 'email-2026-12', channel: 'email', text: 'We may e-mail you notices asking you to call us or to look at the portal.' });
  expect(disclosure.status).toBe(201);
  for (const [key, p] of Object.entries({ rowan: ROWAN, sasha: SASHA, tempe: TEMPE, uma: UMA })) {
    const r = await api('POST', '/api/patients', { firstName: p.firstName, lastName: p.lastName, dateOfBirth: p.dateOfBirth, mrn: p.mrn, phone: p.phone, ...('email' in p ? { email: p.email } : {}) });
    expect(r.status).toBe(201);
    ids[key] = String(r.body.id);
  }
});
afterAll(async () => {
  logs?.restore();
  await h?.close();
  await smtp?.close();
});

describe("a patient's e-mail address", () => {
  it('is kept sealed and blind-indexed, shown lower-cased in the detail, changed and cleared by PATCH', async () => {
    const detail = await api('GET', `/api/patients/${ids.rowan}`);
    expect(detail.body.email).toBe(ROWAN.email.toLowerCase());
    const row = await h.services.db.selectFrom('patients').select(['email_enc', 'email_index']).where('id', '=', ids.rowan ?? '').executeTakeFirstOrThrow();
    expect(row.email_enc?.toString('latin1')).not.toContain(ROWAN.email.toLowerCase());
    expect(row.email_index).toBe(emailIndex(h.services.keyring, ROWAN.email));
    expect((await api('GET', `/api/patients/${ids.tempe}`)).body.email).toBeNull();

    const cleared = await api('PATCH', `/api/patients/${ids.tempe}`, { email: 'tempe.o@example.org' });
    expect(cleared.status).toBe(200);
    expect(cleared.body.email).toBe('tempe.o@example.org');
    const none = await api('PATCH', `/api/patients/${ids.tempe}`, { email: null });
    expect(none.body.email).toBeNull();
    const after = await h.services.db.selectFrom('patients').select(['email_enc', 'email_index']).where('id', '=', ids.tempe ?? '').executeTakeFirstOrThrow();
    expect(after).toEqual({ email_enc: null, email_index: null });
  });

  it('is validated: one address, never echoed back', async () => {
    for (const bad of ['not-an-address', 'a@b.example, c@d.example', 'Name <a@b.example>', `${'x'.repeat(250)}@example.org`]) {
      const r = await api('POST', '/api/patients', { dateOfBirth: '1990-01-01', phone: '+12025550189', email: bad });
      expect(r.status, bad).toBe(400);
      expect(String(r.body.message)).toMatch(/^email: /);
      expect(String(r.body.message)).not.toContain(bad);
    }
  });

  it('comes from the CSV import (an email column)', async () => {
    const scope = systemScope(h.services, practice.id);
    const csv = `mrn,first_name,last_name,date_of_birth,phone,email\n${IMPORTED.mrn},${IMPORTED.firstName},${IMPORTED.lastName},${IMPORTED.dateOfBirth},${IMPORTED.phone},${IMPORTED.email}\n`;
    const report = await importPatients(scope, h.services.keyring, Readable.from([csv]), { dryRun: false });
    expect(report).toMatchObject({ created: 1, invalid: 0 });
    const row = await h.services.db.selectFrom('patients').select('id').where('practice_id', '=', practice.id).where('email_index', '=', emailIndex(h.services.keyring, IMPORTED.email)).executeTakeFirstOrThrow();
    expect((await readPatient(scope, h.services.keyring, row.id))?.email).toBe(IMPORTED.email);

    const bad = await importPatients(scope, h.services.keyring, Readable.from([`mrn,date_of_birth,phone,email\nMRN-EM-9,1990-01-01,+12025550189,nope\n`]), { dryRun: true });
    expect(bad.invalid).toBe(1);
    expect(bad.entries[0]).toMatchObject({ row: 2, field: 'email' });
    expect(JSON.stringify(bad)).not.toContain('nope');
  });
});

describe('sending a notice', () => {
  it('with a current e-mail grant: sent through the relay, with List-Unsubscribe, its one-click header and the link in the body', async () => {
    await grantEmail(ids.rowan ?? '');
    const before = smtp.mails.length;
    const r = await notice(ids.rowan ?? '');
    expect(r.status).toBe(202);
    expect(r.body.outcome).toMatchObject({ kind: 'sent', messageId: expect.stringMatching(/^<notice\.api-[0-9a-f-]+@ahl\.example\.test>$/) });
    expect(smtp.mails.length).toBe(before + 1);
    const mail = parseMail(smtp.mails.at(-1) ?? '');
    expect(mail.headers.get('to')).toBe(ROWAN.email.toLowerCase());
    expect(mail.subject).toBe('A message from Lakeside Family Practice');
    const listUnsubscribe = mail.headers.get('list-unsubscribe') ?? '';
    expect(listUnsubscribe).toMatch(/^<https:\/\/ahl\.example\.test:8443\/u\/[A-Za-z0-9_.-]+>$/);
    expect(mail.headers.get('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
    const link = listUnsubscribe.slice(1, -1);
    expect(mail.body).toContain(link);
    expect(mail.body).toContain('Lakeside Family Practice asks you to call the office at 202-555-0101');

    const [sent] = await auditRows('email.sent', ids.rowan);
    const consents = await api('GET', `/api/patients/${ids.rowan}/consents`);
    const grant = (consents.body.history as Array<{ id: string; channel: string }>).find((c) => c.channel === 'email');
    expect(sent?.details).toMatchObject({ consentId: grant?.id, matrixCell: 'callback_request × email', matrixVersion: 0, templateId: 'call_office', messageType: 'callback_request', origin: 'api' });
    expect(sent?.actor).toMatch(/^api_key:/);
  });

  it('the portal notice links to the practice portal', async () => {
    const r = await notice(ids.rowan ?? '', { messageType: 'results_ready', templateId: 'portal_message', sendKey: 'portal-test-1' });
    expect(r.body.outcome).toEqual({ kind: 'sent', messageId: '<notice.portal-test-1@ahl.example.test>' });
    const mail = parseMail(smtp.mails.at(-1) ?? '');
    expect(mail.body).toContain(`at the patient portal: ${PORTAL}`);
    expect(mail.subject).toBe('A message from Lakeside Family Practice');
  });

  it('without a grant (or after a revocation): skipped no_consent, nothing sent, audited', async () => {
    const before = smtp.mails.length;
    const r = await notice(ids.sasha ?? '');
    expect(r.status).toBe(202);
    expect(r.body.outcome).toEqual({ kind: 'skipped', reason: 'no_consent' });
    await grantEmail(ids.sasha ?? '');
    const revoke = await api('POST', `/api/patients/${ids.sasha}/consents`, { channel: 'email', action: 'revoked', source: 'verbal' });
    expect(revoke.status).toBe(201);
    expect((await notice(ids.sasha ?? '')).body.outcome).toEqual({ kind: 'skipped', reason: 'no_consent' });
    expect(smtp.mails.length).toBe(before);
    const skipped = await auditRows('email.skipped', ids.sasha);
    expect(skipped.map((s) => s.details.reason)).toEqual(['no_consent', 'no_consent']);
    expect(skipped[1]?.details).toMatchObject({ matrixCell: 'callback_request × email', matrixVersion: 0, consentId: expect.any(String) });
  });

  it('without an address: skipped no_email', async () => {
    await grantEmail(ids.tempe ?? '');
    expect((await notice(ids.tempe ?? '')).body.outcome).toEqual({ kind: 'skipped', reason: 'no_email' });
  });

  it('refuses a bad request naming the field, and a patient of no one: 404', async () => {
    const r = await notice(ids.rowan ?? '', { messageType: 'staff_page', templateId: 'call_office' });
    expect(r.status).toBe(400);
    expect(String(r.body.message)).toMatch(/^messageType: /);
    const t = await notice(ids.rowan ?? '', { messageType: 'recall', templateId: 'nope' });
    expect(String(t.body.message)).toMatch(/^templateId: /);
    const office = await notice(ids.rowan ?? '', { messageType: 'office_closure', templateId: 'portal_message' });
    expect(office.status).toBe(400);
    expect(String(office.body.message)).toMatch(/^templateId: portal_message is not a office_closure notice/);
    expect((await notice('00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await notice(ids.rowan ?? '', undefined, auditor)).status).toBe(403);
  });
});

describe("the practice's portal link", () => {
  it('is an https setting; without one the portal notice answers 409 and sends nothing', async () => {
    const path = `/api/practices/${practice.id}`;
    for (const bad of ['http://portal.example.org/', 'https://user:pw@portal.example.org/', 'https://portal.example.org/#x', 'portal.example.org']) {
      const r = await api('PATCH', path, { patientPortalUrl: bad });
      expect(r.status, bad).toBe(400);
      expect(String(r.body.message)).toMatch(/^patientPortalUrl: /);
    }
    expect((await api('PATCH', path, { patientPortalUrl: null })).body.patientPortalUrl).toBeNull();
    const before = smtp.mails.length;
    const r = await notice(ids.rowan ?? '', { messageType: 'results_ready', templateId: 'portal_message' });
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ error: 'no_portal_link' });
    expect(smtp.mails.length).toBe(before);
    expect((await api('PATCH', path, { patientPortalUrl: PORTAL })).body.patientPortalUrl).toBe(PORTAL);
  });
});

describe('the unsubscribe link', () => {
  let link = '';

  it('GET shows a confirm page; the one-click POST records the opt-out and answers 200; the next send is skipped opted_out', async () => {
    await grantEmail(ids.uma ?? '');
    expect((await notice(ids.uma ?? '')).body.outcome).toMatchObject({ kind: 'sent' });
    link = (parseMail(smtp.mails.at(-1) ?? '').headers.get('list-unsubscribe') ?? '').slice(1, -1);
    const page = await fetch(localLink(link));
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<form method="post">');
    expect(html).toContain('Lakeside Family Practice');
    expect(await h.services.db.selectFrom('email_opt_outs').selectAll().execute()).toEqual([]);

    const post = await fetch(localLink(link), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
    expect(post.status).toBe(200);
    const rows = await h.services.db.selectFrom('email_opt_outs').select(['practice_id', 'email_index', 'source']).execute();
    expect(rows).toEqual([{ practice_id: practice.id, email_index: emailIndex(h.services.keyring, UMA.email), source: 'unsubscribe_link' }]);
    // Twice is harmless.
    expect((await fetch(localLink(link), { method: 'POST', body: 'List-Unsubscribe=One-Click' })).status).toBe(200);

    const before = smtp.mails.length;
    expect((await notice(ids.uma ?? '')).body.outcome).toEqual({ kind: 'skipped', reason: 'opted_out' });
    expect(smtp.mails.length).toBe(before);
    // The grant was revoked too, so the history shows it.
    const consents = await api('GET', `/api/patients/${ids.uma}/consents`);
    expect((consents.body.current as Record<string, string>).email).toBe('revoked');
    const optOuts = await auditRows('consent.email_opt_out');
    expect(optOuts.map((o) => o.details)).toEqual([
      { source: 'unsubscribe_link', result: 'recorded', patients: 1, consentsRevoked: 1 },
      { source: 'unsubscribe_link', result: 'already', patients: 1, consentsRevoked: 0 },
    ]);
  });

  it('an opted-out address stays opted out whatever consent says later', async () => {
    await grantEmail(ids.uma ?? '');
    expect((await notice(ids.uma ?? '')).body.outcome).toEqual({ kind: 'skipped', reason: 'opted_out' });
  });

  it('a forged, altered or expired token records nothing', async () => {
    const count = async (): Promise<number> => (await h.services.db.selectFrom('email_opt_outs').selectAll().execute()).length;
    const before = await count();
    const [head, payload, signature] = link.slice(link.lastIndexOf('/') + 1).split('.');
    const altered = `${h.baseUrl}/u/${head}.${payload}.${(signature ?? '').slice(0, -4)}AAAA`;
    expect((await fetch(altered, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${h.baseUrl}/u/not-a-token`, { method: 'POST' })).status).toBe(404);
    const old = new Date(h.services.clock().getTime() - (UNSUBSCRIBE_TOKEN_DAYS + 1) * 86_400_000);
    const expired = await signUnsubscribeToken(h.services.keyring, { practiceId: practice.id, emailIndex: emailIndex(h.services.keyring, SASHA.email) }, old);
    expect((await fetch(`${h.baseUrl}/u/${expired}`, { method: 'POST' })).status).toBe(410);
    const fresh = await signUnsubscribeToken(h.services.keyring, { practiceId: practice.id, emailIndex: emailIndex(h.services.keyring, SASHA.email) }, new Date(h.services.clock().getTime() - 30 * 86_400_000));
    expect(await count()).toBe(before);
    // A month-old link still works.
    expect((await fetch(`${h.baseUrl}/u/${fresh}`, { method: 'POST' })).status).toBe(200);
    expect(await count()).toBe(before + 1);
  });

  it('the token carries ids only', () => {
    const token = link.slice(link.lastIndexOf('/') + 1);
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    expect(Object.keys(payload).sort()).toEqual(['a', 'aud', 'exp', 'iat', 'iss', 'p']);
    expect(payload.p).toBe(practice.id);
    expect(JSON.stringify(payload)).not.toMatch(/@/);
  });
});

describe('staff opt-out', () => {
  it('POST /api/email-opt-outs records the address (201, then 200 already); the patient is skipped opted_out', async () => {
    await grantEmail(ids.rowan ?? '');
    const first = await api('POST', '/api/email-opt-outs', { email: ` ${ROWAN.email.toUpperCase()} ` }, staff);
    expect(first).toEqual({ status: 201, body: { result: 'recorded' } });
    expect(await api('POST', '/api/email-opt-outs', { email: ROWAN.email }, staff)).toEqual({ status: 200, body: { result: 'already' } });
    expect((await notice(ids.rowan ?? '')).body.outcome).toEqual({ kind: 'skipped', reason: 'opted_out' });
    const bad = await api('POST', '/api/email-opt-outs', { email: 'nope' }, staff);
    expect(bad.status).toBe(400);
    expect(String(bad.body.message)).toMatch(/^email: /);
  });
});

describe('the communication matrix', () => {
  it('closing recall × email refuses a recall notice with the cell named, in the answer and the audit log', async () => {
    const matrix = await api('GET', `/api/practices/${practice.id}/communication-matrix`);
    const cells = structuredClone(matrix.body.matrix) as Record<string, Record<string, { allowed: boolean; detail: string }>>;
    cells.recall = { ...cells.recall, email: { allowed: false, detail: 'none' } };
    expect((await api('PUT', `/api/practices/${practice.id}/communication-matrix`, cells)).status).toBe(200);
    // A patient who would otherwise be sent it.
    const p = await api('POST', '/api/patients', { firstName: 'Vale', lastName: 'Matrixson', dateOfBirth: '1983-02-14', phone: '+12025550186', email: 'vale.m@example.org' });
    ids.vale = String(p.body.id);
    await grantEmail(ids.vale);
    const before = smtp.mails.length;
    const r = await notice(ids.vale, { messageType: 'recall', templateId: 'call_office' });
    expect(r.body.outcome).toEqual({ kind: 'skipped', reason: 'matrix', cell: 'recall × email' });
    expect(smtp.mails.length).toBe(before);
    const [audit] = await auditRows('email.skipped', ids.vale);
    expect(audit?.details).toMatchObject({ reason: 'matrix', matrixCell: 'recall × email', matrixVersion: 1 });
    // Another row of the matrix still sends.
    expect((await notice(ids.vale, { messageType: 'callback_request', templateId: 'call_office' })).body.outcome).toMatchObject({ kind: 'sent' });
    const [sent] = await auditRows('email.sent', ids.vale);
    expect(sent?.details).toMatchObject({ matrixCell: 'callback_request × email', matrixVersion: 1 });

    const check = await api('POST', '/api/email-templates/check', { body: 'Hello from {practice_name}, call {callback_number}.', messageType: 'recall' }, staff);
    expect(check.body).toMatchObject({ ok: false, problems: [], matrix: { cell: 'recall × email', allowed: false, version: 1 } });
  });
});

describe('templates', () => {
  it('GET lists the built-in notices; every one passes the check', async () => {
    const r = await api('GET', '/api/email-templates', undefined, staff);
    expect(r.status).toBe(200);
    const templates = r.body.templates as Array<{ id: string; body: string }>;
    expect(templates.map((t) => t.id)).toEqual(['call_office', 'portal_message']);
    expect(r.body.placeholders).toEqual(['practice_name', 'callback_number', 'portal_link']);
    for (const t of templates) expect((await api('POST', '/api/email-templates/check', { body: t.body }, staff)).body).toMatchObject({ ok: true, problems: [] });
  });

  it('the check refuses PHI, unknown placeholders and a missing callback number, naming each', async () => {
    const r = await api('POST', '/api/email-templates/check', { body: 'Dear {first_name}, your biopsy results from {appointment_day} are ready at {practice_name}.' }, staff);
    expect(r.body.ok).toBe(false);
    const kinds = (r.body.problems as Array<{ kind: string; term: string }>).map((p) => `${p.kind}:${p.term}`);
    expect(kinds).toEqual(expect.arrayContaining(['missing_placeholder:{callback_number}', 'unknown_placeholder:{first_name}', 'unknown_placeholder:{appointment_day}', 'clinical_term:biopsy']));
  });
});

describe('a relay that refuses', () => {
  it('is a 502-style error and an email.failed row naming its code; the address (which the refusal quotes) is in neither, nor in the logs', async () => {
    // A relay that refuses every recipient, quoting the address back as relays do.
    const refusing = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onRcptTo(address, _session, done) {
        const err = new Error(`mailbox ${address.address} unavailable`) as Error & { responseCode: number };
        err.responseCode = 550;
        done(err);
      },
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    try {
      const port = (refusing.server.address() as { port: number }).port;
      const config = { ...h.config, smtp: { url: `smtp://127.0.0.1:${port}`, from: 'after-hours@example.org', requireTls: false } };
      const p = await api('POST', '/api/patients', { firstName: 'Xanthorpe', lastName: 'Refusedale', dateOfBirth: '1977-07-07', phone: '+12025550188', email: 'xan.r@example.org' });
      const id = String(p.body.id);
      await grantEmail(id);
      const err = await sendEmailNotice({ ...h.services, config }, systemScope(h.services, practice.id), { patientId: id, messageType: 'callback_request', templateId: 'call_office', origin: 'api', sendKey: 'refused-1' }).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'EmailNoticeError', reason: 'relay_failed' });
      expect(String((err as Error).message)).not.toContain('xan.r@example.org');
      const [failed] = await auditRows('email.failed', id);
      expect(failed?.details).toMatchObject({ code: 'EENVELOPE', responseCode: 550, sendKey: 'refused-1', matrixCell: 'callback_request × email' });
      expect(JSON.stringify(failed)).not.toContain('xan.r@example.org');
      expect(await auditRows('email.sent', id)).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => refusing.close(() => resolve()));
    }
  });
});

describe('no PHI', () => {
  it('in any notice subject or body, the logs, or the audit log', async () => {
    expect(smtp.mails.length).toBeGreaterThan(2);
    const sent = smtp.mails.map(parseMail).map((m) => `${m.subject}\n${m.body}`).join('\n');
    const logged = logs.lines().join('\n');
    const audit = JSON.stringify(await h.services.db.selectFrom('audit_log').select(['actor', 'subject_id', 'details']).execute());
    for (const secret of [...PHI, 'vale.m@example.org', 'Matrixson', '1983-02-14', 'xan.r@example.org', 'Refusedale']) {
      expect(sent, secret).not.toContain(secret);
      expect(logged, secret).not.toContain(secret);
      expect(audit, secret).not.toContain(secret);
    }
    expect(audit).not.toMatch(/[A-Za-z0-9._%+-]+@example\.(org|net|com)/);
  });
});

describe('sendEmailNotice (for later callers)', () => {
  it('takes the origin and send key it is given, and audits them', async () => {
    const p = await api('POST', '/api/patients', { firstName: 'Wren', lastName: 'Callerby', dateOfBirth: '1990-05-05', phone: '+12025550187', email: 'wren.c@example.org' });
    const id = String(p.body.id);
    await grantEmail(id);
    const scope = systemScope(h.services, practice.id);
    const out = await sendEmailNotice(h.services, scope, { patientId: id, messageType: 'appointment_reminder', templateId: 'call_office', origin: 'sequence', sendKey: 'seq-1.step-2.recipient-3' });
    expect(out).toEqual({ kind: 'sent', messageId: '<notice.seq-1.step-2.recipient-3@ahl.example.test>' });
    const [row] = await auditRows('email.sent', id);
    expect(row).toMatchObject({ actor: 'email:sequence', details: { origin: 'sequence', sendKey: 'seq-1.step-2.recipient-3', matrixCell: 'appointment_reminder × email' } });
    await expect(sendEmailNotice(h.services, scope, { patientId: id, messageType: 'recall', templateId: 'call_office', origin: 'Bad Origin', sendKey: 'k' })).rejects.toThrow(/origin/);
  });
});
