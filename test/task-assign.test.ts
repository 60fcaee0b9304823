import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { createPractice } from '../src/practices/store.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { startHarness, type Harness } from './support/harness.js';
import { insertAccount } from './support/staff-session.js';
import { insertTask } from './support/two-practices.js';

/**
 * An admin gives a callback task to a person of the practice, or releases it to open
 * (POST /api/tasks/:id/assign): admin only; the assignee an active member who works callbacks;
 * audited as task.assigned / task.released with the previous and the new assignee; 409 once
 * the task is closed; another practice's task is not found.
 */

let h: Harness;
let practiceId: string;
let otherPracticeId: string;
const keys: Record<'admin' | 'staff' | 'provider' | 'auditor' | 'otherAdmin', { key: string; id: string }> = {} as never;
const people: Record<'staff' | 'provider' | 'auditor' | 'disabled' | 'stranger', string> = {} as never;

beforeAll(async () => {
  h = await startHarness('task_assign');
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practiceId = h.services.seeded.id;
  otherPracticeId = (await createPractice(h.services.db, { slug: 'other', name: 'Other Clinic', timeZone: 'America/Chicago', numbers: ['+13125550100'] })).id;
  for (const role of ['admin', 'staff', 'provider', 'auditor'] as const) keys[role] = await createApiKey(h.services.db, { role, practiceId });
  keys.otherAdmin = await createApiKey(h.services.db, { role: 'admin', practiceId: otherPracticeId });
  const member = (name: string, role: 'staff' | 'provider' | 'auditor', at = practiceId): Promise<string> =>
    insertAccount(h, { email: `${name}@example.test`, displayName: `Assign ${name}`, memberships: [{ practiceId: at, role }] });
  people.staff = await member('staff', 'staff');
  people.provider = await member('provider', 'provider');
  people.auditor = await member('auditor', 'auditor');
  people.disabled = await member('disabled', 'staff');
  await h.services.db.updateTable('memberships').set({ disabled_at: new Date() }).where('user_id', '=', people.disabled).execute();
  people.stranger = await member('stranger', 'staff', otherPracticeId);
});
afterAll(async () => {
  await h?.close();
});

function assign(taskId: string, assignee: unknown, key = keys.admin.key): Promise<ApiAnswer> {
  return callApi(h, 'POST', `/api/tasks/${taskId}/assign`, key, { assignee });
}

async function taskRow(id: string) {
  return h.services.db.selectFrom('callback_tasks').select(['status', 'assignee', 'claimed_at']).where('id', '=', id).executeTakeFirstOrThrow();
}

async function auditsOf(id: string) {
  return h.services.db.selectFrom('audit_log').select(['action', 'actor', 'details']).where('subject_id', '=', id).where('action', 'in', ['task.assigned', 'task.released']).orderBy('seq').execute();
}

describe('POST /api/tasks/:id/assign', () => {
  it('an admin reassigns a claimed task to a person, then releases it to open; each audited with the previous and new assignee', async () => {
    const id = await insertTask(h.services.db, practiceId);
    expect((await callApi(h, 'POST', `/api/tasks/${id}/claim`, keys.staff.key)).status).toBe(200);
    const given = await assign(id, `user:${people.provider}`);
    expect(given.status).toBe(200);
    expect(given.body).toMatchObject({ id, status: 'claimed', assignee: `user:${people.provider}` });
    expect(await taskRow(id)).toMatchObject({ status: 'claimed', assignee: `user:${people.provider}` });
    const released = await assign(id, null);
    expect(released.status).toBe(200);
    expect(released.body).toMatchObject({ id, status: 'open', assignee: null, claimedAt: null });
    expect(await taskRow(id)).toEqual({ status: 'open', assignee: null, claimed_at: null });
    expect(await auditsOf(id)).toEqual([
      { action: 'task.assigned', actor: `api_key:${keys.admin.id}`, details: { previous: `api_key:${keys.staff.id}`, assignee: `user:${people.provider}` } },
      { action: 'task.released', actor: `api_key:${keys.admin.id}`, details: { previous: `user:${people.provider}`, assignee: null } },
    ]);
    // An open task may be given too; the person can then work it as theirs.
    expect((await assign(id, `user:${people.staff}`)).body).toMatchObject({ status: 'claimed', assignee: `user:${people.staff}` });
  });

  it('only an admin: staff, provider and auditor are refused, and nothing changes', async () => {
    const id = await insertTask(h.services.db, practiceId);
    for (const role of ['staff', 'provider', 'auditor'] as const) expect((await assign(id, `user:${people.staff}`, keys[role].key)).status).toBe(403);
    expect(await taskRow(id)).toMatchObject({ status: 'open', assignee: null });
    expect(await auditsOf(id)).toEqual([]);
  });

  it('the assignee must be an active member of the practice who works callbacks: 400 naming the field otherwise', async () => {
    const id = await insertTask(h.services.db, practiceId);
    const refused: unknown[] = [
      `user:${people.stranger}`, // another practice's
      `user:${people.disabled}`, // membership disabled
      `user:${people.auditor}`, // an auditor does not work callbacks
      'user:00000000-0000-4000-8000-000000000000', // nobody
      `api_key:${keys.staff.id}`, // a key is no person
      'bob',
      42,
    ];
    for (const assignee of refused) {
      const r = await assign(id, assignee);
      expect(r.status, String(assignee)).toBe(400);
      expect(String(r.body.message)).toMatch(/^assignee/);
    }
    const missing = await callApi(h, 'POST', `/api/tasks/${id}/assign`, keys.admin.key, {});
    expect(missing.status).toBe(400);
    expect(String(missing.body.message)).toContain('assignee');
    expect(await taskRow(id)).toMatchObject({ status: 'open', assignee: null });
    expect(await auditsOf(id)).toEqual([]);
  });

  it('a closed task answers 409 and stays as it was', async () => {
    const id = await insertTask(h.services.db, practiceId);
    expect((await callApi(h, 'POST', `/api/tasks/${id}/close`, keys.staff.key, { outcome: 'done' })).status).toBe(200);
    for (const assignee of [`user:${people.staff}`, null]) {
      const r = await assign(id, assignee);
      expect(r.status).toBe(409);
      expect(r.body).toMatchObject({ status: 'done' });
    }
    expect((await taskRow(id)).status).toBe('done');
    expect(await auditsOf(id)).toEqual([]);
  });

  it("another practice's admin finds no such task", async () => {
    const id = await insertTask(h.services.db, practiceId);
    expect((await assign(id, null, keys.otherAdmin.key)).status).toBe(404);
    expect((await assign(id, `user:${people.stranger}`, keys.otherAdmin.key)).status).toBe(404);
    expect(await taskRow(id)).toMatchObject({ status: 'open', assignee: null });
  });
});
