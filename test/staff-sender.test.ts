import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogs } from '../src/log/logger.js';
import { notifyStaff, practiceSender } from '../src/notify/staff-sender.js';
import { systemScope } from '../src/tenancy/system-scope.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, type Harness } from './support/harness.js';
import { TEST_IDENTITIES } from './support/simulate.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';

/**
 * The one staff-notification sender (src/notify/staff-sender.ts) that paging, the overdue alerts
 * and the morning report go through: from the practice's number, each contact by their channel,
 * a failed send logged by ids only (Twilio's error echoes the number it failed for: the double
 * does too) while the others still go. Real PostgreSQL and Redis; Twilio is the loopback double.
 */

const FIRST = '+12025550171';
const SECOND = '+12025550172';

let h: Harness;
let double: TwilioDouble;
let practiceId: string;

beforeAll(async () => {
  double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  h = await startHarness('staff_sender', { TWILIO_API_BASE_URL: double.baseUrl });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practiceId = h.services.seeded.id;
});
afterAll(async () => {
  await h?.close();
  await double?.close();
});

const smsSent = (): Array<{ to: string | null; from: string | null; body: string | null }> =>
  double.requests.filter((q) => q.method === 'POST' && q.path.endsWith('/Messages.json') && q.status < 300).map((q) => ({ to: q.form.get('To'), from: q.form.get('From'), body: q.form.get('Body') }));

describe('the staff-notification sender', () => {
  it("sends from the practice's number; a failed recipient is logged by key, never by number, and the others still get it", async () => {
    const { practice, from } = await practiceSender(systemScope(h.services, practiceId));
    expect(practice?.id).toBe(practiceId);
    expect(from).toBeDefined();
    const before = smsSent().length;
    double.failNext(1, 400);
    const logs = captureLogs();
    let result;
    try {
      result = await notifyStaff(
        h.services,
        { what: 'test notice', scope: systemScope(h.services, practiceId), from, subject: 'unused for SMS', text: 'Demo Family Medicine: 2 routine callbacks are overdue.' },
        [
          { key: 'provider:first', channel: 'sms', to: FIRST },
          { key: 'provider:second', channel: 'sms', to: SECOND },
          // No SMTP in the harness: an e-mail contact is not tried.
          { key: 'user:mail', channel: 'email', to: 'admin@example.test' },
        ],
      );
    } finally {
      logs.restore();
    }
    expect(result.tried.map((c) => c.key)).toEqual(['provider:first', 'provider:second']);
    expect(result.reached).toEqual(['provider:second']);
    expect(result.channels).toEqual(['sms']);
    expect(result.failure).not.toBeNull();
    expect(smsSent().slice(before)).toEqual([{ to: SECOND, from, body: 'Demo Family Medicine: 2 routine callbacks are overdue.' }]);
    const lines = logs.lines();
    expect(lines.some((l) => l.includes('test notice: an SMS failed') && l.includes(practiceId))).toBe(true);
    for (const secret of [FIRST, FIRST.slice(2), SECOND, SECOND.slice(2), 'admin@example.test', ...TEST_IDENTITIES]) expect(lines.join('\n'), secret).not.toContain(secret);
  });

  it('without a sender number no SMS is tried, and nothing is reached', async () => {
    const before = double.requests.length;
    const result = await notifyStaff(h.services, { what: 'test notice', scope: systemScope(h.services, practiceId), from: undefined, subject: 's', text: 't' }, [{ key: 'provider:first', channel: 'sms', to: FIRST }]);
    expect(result).toEqual({ tried: [], reached: [], channels: [], failure: null, refused: [], matrix: { version: 0, cells: [] } });
    expect(double.requests.length).toBe(before);
  });
});
