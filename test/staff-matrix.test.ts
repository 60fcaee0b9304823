import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogs } from '../src/log/logger.js';
import { notifyStaff, practiceSender } from '../src/notify/staff-sender.js';
import { DEFAULT_MATRIX, type CommunicationMatrix } from '../src/outreach/matrix.js';
import { sweepOverdueTasks } from '../src/tasks/overdue.js';
import { systemScope } from '../src/tenancy/system-scope.js';
import { callApi } from './support/api-request.js';
import { openTaskWithNumber } from './support/callback-task.js';
import { asOwner, DEFAULT_TEST_NOW, type Harness } from './support/harness.js';
import { startNoticeHarness, type NoticeHarness } from './support/notice-harness.js';
import type { SmtpCapture } from './support/smtp-capture.js';
import { insertAccount } from './support/staff-session.js';
import type { TwilioDouble } from './support/twilio-double.js';

/**
 * Staff messages under the communication matrix (issue 15, item 1: "every outbound path consults
 * it: … pages and notifications"): the staff sender asks `staff_page × sms` and `staff_page ×
 * email` for each contact; a refused cell means that contact is not sent on that channel, logged
 * by ids and audited with the cell's name; e-mail to staff is open by default (no PHI: counts and a
 * link), SMS is locked open. Real PostgreSQL, Redis and smtp-server; Twilio is the loopback double.
 */

const now = DEFAULT_TEST_NOW;
const MAIL = 'matrix.admin@example.org';
const PHONE = '+12025550171';

let t: NoticeHarness | undefined;
let h: Harness;
let double: TwilioDouble;
let smtp: SmtpCapture;
let practiceId: string;
let adminKey: string;

beforeAll(async () => {
  t = await startNoticeHarness('staff_matrix', () => now);
  ({ h, double, smtp, practiceId, adminKey } = t);
}, 60_000);
afterAll(async () => {
  await t?.close();
});

const smsCount = (): number => double.requests.filter((q) => q.method === 'POST' && q.path.endsWith('/Messages.json') && q.status < 300).length;

async function setStaffEmail(allowed: boolean): Promise<number> {
  const matrix: CommunicationMatrix = { ...DEFAULT_MATRIX, staff_page: { ...DEFAULT_MATRIX.staff_page, email: { allowed, detail: 'none' } } };
  const res = await callApi(h, 'PUT', `/api/practices/${practiceId}/communication-matrix`, adminKey, matrix);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return Number(res.body.version);
}

describe('staff messages and the communication matrix', () => {
  it('e-mail to staff is open by default: a notice goes by e-mail and SMS, naming the cells and version', async () => {
    expect(DEFAULT_MATRIX.staff_page.email).toEqual({ allowed: true, detail: 'none' });
    const scope = systemScope(h.services, practiceId);
    const { from } = await practiceSender(scope);
    const mails = smtp.mails.length;
    const result = await notifyStaff(h.services, { what: 'test notice', scope, from, subject: 'Demo: 1 routine callback is overdue', text: 'Demo: 1 routine callback is overdue.' }, [
      { key: 'user:mail', channel: 'email', to: MAIL },
      { key: 'provider:sms', channel: 'sms', to: PHONE },
    ]);
    expect(result.reached).toEqual(['user:mail', 'provider:sms']);
    expect(result.refused).toEqual([]);
    expect(result.matrix).toEqual({ version: 0, cells: ['staff_page × email', 'staff_page × sms'] });
    expect(smtp.mails.slice(mails)).toHaveLength(1);
  });

  it('a practice that closes staff_page × email: e-mail contacts are skipped (logged by ids), SMS still goes; the overdue alert audits the refusal by cell', async () => {
    const version = await setStaffEmail(false);
    const scope = systemScope(h.services, practiceId);
    const { from } = await practiceSender(scope);
    const mails = smtp.mails.length;
    const sms = smsCount();
    const logs = captureLogs();
    let result;
    try {
      result = await notifyStaff(h.services, { what: 'test notice', scope, from, subject: 's', text: 'Demo: a notice.' }, [
        { key: 'user:mail', channel: 'email', to: MAIL },
        { key: 'provider:sms', channel: 'sms', to: PHONE },
      ]);
    } finally {
      logs.restore();
    }
    expect(result.tried.map((c) => c.key)).toEqual(['provider:sms']);
    expect(result.reached).toEqual(['provider:sms']);
    expect(result.refused).toEqual([{ key: 'user:mail', cell: 'staff_page × email' }]);
    expect(result.matrix).toEqual({ version, cells: ['staff_page × sms'] });
    expect(smtp.mails.length).toBe(mails);
    expect(smsCount()).toBe(sms + 1);
    const lines = logs.lines().join('\n');
    expect(lines).toContain('refused by the communication matrix');
    expect(lines).toContain('user:mail');
    expect(lines).not.toContain(MAIL);

    // The overdue sweep: the admin account (no phone: e-mail) is refused, the provider admin gets the SMS.
    await asOwner(h.services.db, h.services.db.updateTable('callback_tasks').set({ alerted_at: new Date(0) }).where('alerted_at', 'is', null));
    const userId = await insertAccount(h, { email: MAIL, displayName: 'Matrix Admin', memberships: [{ practiceId, role: 'admin' }] });
    const task = await openTaskWithNumber(h, practiceId, { callback: '+12025550123', reason: 'refill', urgency: 'routine', dueAt: new Date(now.getTime() - 60_000) });
    expect(await sweepOverdueTasks(h.services)).toEqual({ alerted: 1, practices: 1 });
    expect(smtp.mails.length).toBe(mails);
    const audited = await h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'task.overdue_alerted').where('subject_id', '=', task).executeTakeFirstOrThrow();
    expect(audited.details).toMatchObject({ refused: [{ key: `user:${userId}`, cell: 'staff_page × email' }], matrixCells: ['staff_page × sms'], matrixVersion: version, channels: ['sms'] });
  });

  it('staff_page × sms cannot be closed: pages and SMS notices always go', async () => {
    const matrix: CommunicationMatrix = { ...DEFAULT_MATRIX, staff_page: { ...DEFAULT_MATRIX.staff_page, sms: { allowed: false, detail: 'none' } } };
    const res = await callApi(h, 'PUT', `/api/practices/${practiceId}/communication-matrix`, adminKey, matrix);
    expect(res.status).toBe(400);
    expect(String(res.body.message)).toContain('staff_page × sms cannot be closed');
  });
});
