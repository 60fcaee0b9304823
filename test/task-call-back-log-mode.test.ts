import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSessionForVerifiedIdentity } from '../src/auth/accounts.js';
import { DEV_TWILIO_AUTH_TOKEN } from '../src/config.js';
import { sealTaskField } from '../src/tasks/sealed.js';
import type { LogTwilioRest } from '../devtools/twilio-log-mode.js';
import { asOwner, DEFAULT_TEST_NOW, startHarness, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';

/**
 * Log mode (no Twilio account): a call back is logged by the stand-in, not placed, and the task
 * records the attempt as `logged` at once (no callback will ever come).
 */

const ORIGIN = new URL(TEST_PUBLIC_BASE_URL).origin;
let h: Harness;
let practiceId: string;
let userId: string;
let session: { cookie: string; csrf: string };

beforeAll(async () => {
  h = await startHarness('task_call_back_log', { TWILIO_AUTH_TOKEN: DEV_TWILIO_AUTH_TOKEN });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practiceId = h.services.seeded.id;
  userId = randomUUID();
  await asOwner(
    h.services.db,
    h.services.db.insertInto('users').values({ id: userId, email: 'lee@demo.example', display_name: 'Lee Staff' }),
    h.services.db.insertInto('memberships').values({ user_id: userId, practice_id: practiceId, role: 'staff', disabled_at: null }),
  );
  const started = await startSessionForVerifiedIdentity(h.services, { userId, practiceId, method: 'test' });
  if (!started) throw new Error('no session');
  session = { cookie: started.id, csrf: started.record.csrf };
});
afterAll(async () => {
  await h?.close();
});

async function api(method: string, path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(h.baseUrl + path, { method, headers: { cookie: `__Host-ahl_session=${session.cookie}`, origin: ORIGIN, 'x-csrf-token': session.csrf, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('calling back in log mode', () => {
  it('logs the call instead of placing it and records the attempt as logged', async () => {
    expect(h.services.twilio.kind).toBe('log');
    const id = randomUUID();
    const callbackEnc = await sealTaskField(h.services.keyring, 'callback', '+12025550123', id, practiceId);
    await asOwner(
      h.services.db,
      h.services.db.insertInto('callback_tasks').values({ id, practice_id: practiceId, source: 'voicemail', source_id: randomUUID(), call_sid: null, reason: 'refill', urgency: 'routine', callback_enc: callbackEnc, callback_index: null, patient_id: null, match: 'unknown', due_at: DEFAULT_TEST_NOW }),
    );
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
