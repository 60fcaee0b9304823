import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { processMaintenanceJob } from '../src/maintenance.js';
import { sealTaskField } from '../src/tasks/sealed.js';
import { DEFAULT_TEST_NOW, startHarness, type Harness } from './support/harness.js';
import { openTaskWithNumber } from './support/callback-task.js';

/**
 * Callback-task retention (issue 13, item 3): a task closed (done, unreachable, cancelled) longer
 * than the practice's retention (`voicemailRetentionDays`) has its sealed number, its notes and
 * its patient text erased by the maintenance `retention` sweep; the task row, its attempts and
 * its audit history stay. One `task.purged` audit row per practice and sweep, counts only.
 * Real PostgreSQL and Redis.
 */

const DAY = 86_400_000;
const PATIENT = '+12025550123';
const now = DEFAULT_TEST_NOW;

let h: Harness;
let practiceId: string;

beforeAll(async () => {
  h = await startHarness('task_retention', {}, { clock: () => now });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practiceId = h.services.seeded.id;
  await h.services.db.updateTable('practices').set({ voicemail_retention_days: 30 }).where('id', '=', practiceId).execute();
}, 60_000);
afterAll(async () => {
  await h?.close();
});

/** A task closed `daysAgo` (or open, with null), with a close note, an attempt with a note and a patient text. */
async function task(closedDaysAgo: number | null): Promise<string> {
  const id = await openTaskWithNumber(h, practiceId, { callback: PATIENT, reason: 'clinical', urgency: 'routine', dueAt: new Date(now.getTime() - 60 * DAY) });
  const k = h.services.keyring;
  const attemptId = randomUUID();
  await h.services.db
    .insertInto('callback_task_attempts')
    .values({ id: attemptId, task_id: id, practice_id: practiceId, at: new Date(now.getTime() - 59 * DAY), actor: 'api_key:x', outcome: 'no_answer', note_enc: await sealTaskField(k, 'attempt_note', 'left a message with the mother', attemptId, practiceId) })
    .execute();
  await h.services.db
    .insertInto('patient_texts')
    .values({ id: randomUUID(), practice_id: practiceId, message_sid: `SM${randomUUID().replace(/-/g, '')}`, from_index: 'b'.repeat(64), from_enc: Buffer.from('sealed elsewhere'), body_enc: Buffer.from('sealed body'), body_chars: 11, match: 'unknown', patient_id: null, received_at: new Date(now.getTime() - 60 * DAY), task_id: id })
    .execute();
  if (closedDaysAgo !== null) {
    await h.services.db
      .updateTable('callback_tasks')
      .set({ status: 'done', closed_at: new Date(now.getTime() - closedDaysAgo * DAY), closed_by: 'api_key:x', close_note_enc: await sealTaskField(k, 'close_note', 'refill sent', id, practiceId), callback_index: 'c'.repeat(64) })
      .where('id', '=', id)
      .execute();
  }
  return id;
}

async function sealedOf(id: string) {
  const t = await h.services.db.selectFrom('callback_tasks').select(['status', 'callback_enc', 'callback_index', 'close_note_enc']).where('id', '=', id).executeTakeFirstOrThrow();
  const attempts = await h.services.db.selectFrom('callback_task_attempts').select(['outcome', 'note_enc']).where('task_id', '=', id).execute();
  const texts = await h.services.db.selectFrom('patient_texts').select('body_enc').where('task_id', '=', id).execute();
  return {
    status: t.status,
    number: t.callback_enc !== null,
    index: t.callback_index !== null,
    closeNote: t.close_note_enc !== null,
    attempts: attempts.map((a) => ({ outcome: a.outcome, note: a.note_enc !== null })),
    texts: texts.map((x) => x.body_enc !== null),
  };
}

describe('callback-task retention', () => {
  it("erases the sealed number, notes and text of tasks closed longer than the practice's retention; keeps the rows; audits counts once", async () => {
    const old = await task(31);
    const recent = await task(10);
    const open = await task(null);
    await processMaintenanceJob(h.services, { task: 'retention' });

    expect(await sealedOf(old)).toEqual({ status: 'done', number: false, index: false, closeNote: false, attempts: [{ outcome: 'no_answer', note: false }], texts: [false] });
    expect(await sealedOf(recent)).toEqual({ status: 'done', number: true, index: true, closeNote: true, attempts: [{ outcome: 'no_answer', note: true }], texts: [true] });
    expect(await sealedOf(open)).toEqual({ status: 'open', number: true, index: false, closeNote: false, attempts: [{ outcome: 'no_answer', note: true }], texts: [true] });

    const audited = await h.services.db.selectFrom('audit_log').select(['actor', 'practice_id', 'details']).where('action', '=', 'task.purged').execute();
    expect(audited).toEqual([{ actor: 'system:retention', practice_id: practiceId, details: expect.objectContaining({ tasks: 1, attempts: 1, texts: 1, retentionDays: 30 }) }]);
    for (const secret of ['refill sent', 'mother', PATIENT, PATIENT.slice(2)]) expect(JSON.stringify(audited)).not.toContain(secret);

    // Nothing left to erase: the next sweep writes nothing.
    await processMaintenanceJob(h.services, { task: 'retention' });
    expect(await h.services.db.selectFrom('audit_log').select('action').where('action', '=', 'task.purged').execute()).toHaveLength(1);
  });

  it("a shorter retention erases sooner: the practice's setting is the rule", async () => {
    await h.services.db.updateTable('practices').set({ voicemail_retention_days: 7 }).where('id', '=', practiceId).execute();
    const closed = await task(8);
    await processMaintenanceJob(h.services, { task: 'retention' });
    expect((await sealedOf(closed)).number).toBe(false);
  });
});
