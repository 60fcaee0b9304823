import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_TWILIO_AUTH_TOKEN } from '../src/config.js';
import type { LogTwilioRest } from '../devtools/twilio-log-mode.js';
import { openTaskWithNumber } from './support/callback-task.js';
import { DEFAULT_TEST_NOW, startHarness, type Harness } from './support/harness.js';
import { consoleCall, staffSessionFor } from './support/staff-session.js';

/**
 * Log mode (no Twilio account): a call back is logged by the stand-in, not placed, and the task
 * records the attempt as `logged` at once (no callback will ever come).
 */

let h: Harness;
let practiceId: string;
let userId: string;
let session: { cookie: string; csrf: string };

beforeAll(async () => {
  h = await startHarness('task_call_back_log', { TWILIO_AUTH_TOKEN: DEV_TWILIO_AUTH_TOKEN });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practiceId = h.services.seeded.id;
  const staff = await staffSessionFor(h, practiceId, { email: 'lee@demo.example', displayName: 'Lee Staff' });
  userId = staff.userId;
  session = { cookie: staff.cookie, csrf: staff.csrf };
});
afterAll(async () => {
  await h?.close();
});

async function api(method: string, path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const answer = await consoleCall(h, method, path, { body, ...session });
  return { status: answer.status, body: answer.body };
}

describe('calling back in log mode', () => {
  it('logs the call instead of placing it and records the attempt as logged', async () => {
    expect(h.services.twilio.kind).toBe('log');
    const id = await openTaskWithNumber(h, practiceId, { callback: '+12025550123', reason: 'refill', urgency: 'routine', dueAt: DEFAULT_TEST_NOW });
    expect((await api('PUT', '/api/me/phone', { phone: '+12025550178' })).status).toBe(200);
    const placed = await api('POST', `/api/tasks/${id}/call`, {});
    expect(placed).toMatchObject({ status: 201, body: { state: 'logged' } });
    const outbox = (h.services.twilio as LogTwilioRest).outbox.filter((e) => e.type === 'call');
    expect(outbox).toHaveLength(1);
    expect(outbox[0]).toMatchObject({ to: '+12025550178', from: '+12025550100' });
    const attempts = await h.services.db.selectFrom('callback_task_attempts').select(['actor', 'outcome']).where('task_id', '=', id).execute();
    expect(attempts).toEqual([{ actor: `user:${userId}`, outcome: 'logged' }]);
    const row = await h.services.db.selectFrom('task_calls').select(['state', 'outcome']).where('id', '=', placed.body.callId as string).executeTakeFirstOrThrow();
    expect(row).toEqual({ state: 'logged', outcome: 'logged' });
  });
});
