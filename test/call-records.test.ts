import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callRecorder, getCall, practiceOfCall, recordCallEvent, type CallEvent } from '../src/calls/records.js';
import { startHarness, type Harness } from './support/harness.js';
import { randomSid } from './support/twilio-request.js';

/** The group-committing call-record writer answers exactly as one recordCallEvent per webhook would. */

let h: Harness;
const now = new Date('2026-11-26T03:00:00Z');

beforeAll(async () => {
  h = await startHarness('call_records');
});
afterAll(async () => {
  await h.close();
});

function event(callSid: string, key: string, status = 'in-progress'): CallEvent {
  return { callSid, practiceId: null, direction: 'inbound', fromIndex: null, toNumber: null, status, key, source: key };
}

describe('callRecorder', () => {
  it('many webhooks at once: each new key is recorded once, a repeated key is reported as not new', async () => {
    const record = callRecorder(h.services.db);
    const calls = Array.from({ length: 8 }, () => randomSid('CA'));
    // Every call: its incoming webhook twice (a Twilio retry) and its first flow step, all at once.
    const sent = calls.flatMap((sid) => [event(sid, 'incoming'), event(sid, 'incoming'), event(sid, 'flow:1', 'ringing')]);
    const results = await Promise.all(sent.map((e) => record(e, now)));
    for (let i = 0; i < calls.length; i += 1) {
      const [first, retry, step] = results.slice(3 * i, 3 * i + 3);
      expect([first, retry, step]).toEqual([true, false, true]);
    }
    for (const sid of calls) {
      const row = await getCall(h.services.db, sid);
      expect(row?.statusHistory.map((e) => e.key)).toEqual(['incoming', 'flow:1']);
      expect(row?.status).toBe('ringing');
    }
  });

  it('agrees with recordCallEvent on a key recorded earlier', async () => {
    const sid = randomSid('CA');
    expect(await recordCallEvent(h.services.db, event(sid, 'incoming'), now)).toBe(true);
    const record = callRecorder(h.services.db);
    expect(await Promise.all([record(event(sid, 'incoming'), now), record(event(sid, 'flow:1'), now)])).toEqual([false, true]);
    expect(await recordCallEvent(h.services.db, event(sid, 'flow:1'), now)).toBe(false);
  });
});

describe('a batch that fails', () => {
  it('is written whole or not at all, so each event retried on its own is reported new rightly', async () => {
    const record = callRecorder(h.services.db);
    const sid = randomSid('CA');
    const other = randomSid('CA');
    // Two events of one call in one batch (two statements): the second names a practice that
    // does not exist, so its statement fails after the first one's.
    // The first event keeps the writer busy, so the next three queue up as one batch.
    const results = await Promise.allSettled([
      record(event(randomSid('CA'), 'incoming'), now),
      record(event(sid, 'incoming'), now),
      record(event(other, 'incoming'), now),
      record({ ...event(sid, 'flow:1'), practiceId: '00000000-0000-4000-8000-000000000000' }, now),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    expect(results.slice(0, 3).map((r) => (r.status === 'fulfilled' ? r.value : null))).toEqual([true, true, true]);
    expect((await getCall(h.services.db, sid))?.statusHistory.map((e) => e.key)).toEqual(['incoming']);
    expect((await getCall(h.services.db, other))?.statusHistory.map((e) => e.key)).toEqual(['incoming']);
  });
});

describe('the parent leg', () => {
  it('is opened in the same statement as the first event that asks for it, once, even when the webhook is retried', async () => {
    const db = h.services.db;
    const practice = await db.selectFrom('practices').select('id').executeTakeFirstOrThrow();
    const record = callRecorder(db);
    const opened = new Date('2026-11-26T03:00:01.250Z');
    const calls = Array.from({ length: 5 }, () => randomSid('CA'));
    const first = (sid: string): CallEvent => ({ ...event(sid, 'incoming'), practiceId: practice.id, openParentLegAt: opened });
    // Each call's first webhook twice at once (a retry), and an unrelated call without a leg.
    const plain = randomSid('CA');
    await Promise.all([...calls.flatMap((sid) => [record(first(sid), now), record(first(sid), now)]), record(event(plain, 'incoming'), now)]);
    const legs = await db
      .selectFrom('call_legs')
      .select(['call_sid', 'leg_sid', 'practice_id', 'kind', 'outcome', 'started_at'])
      .where('call_sid', 'in', [...calls, plain])
      .execute();
    expect(legs).toHaveLength(calls.length);
    for (const sid of calls) {
      expect(legs.filter((l) => l.call_sid === sid)).toEqual([
        { call_sid: sid, leg_sid: sid, practice_id: practice.id, kind: 'parent', outcome: 'in-progress', started_at: opened },
      ]);
    }
  });
});

describe('practiceOfCall', () => {
  it('is null for an unknown call, then the first practice the call was recorded with', async () => {
    const db = h.services.db;
    const sid = randomSid('CA');
    const practice = await db.selectFrom('practices').select('id').executeTakeFirstOrThrow();
    expect(await practiceOfCall(db, sid)).toBeNull();
    expect(await recordCallEvent(db, event(sid, 'incoming'), now)).toBe(true);
    expect(await practiceOfCall(db, sid)).toBeNull();
    expect(await recordCallEvent(db, { ...event(sid, 'flow:1'), practiceId: practice.id }, now)).toBe(true);
    expect(await practiceOfCall(db, sid)).toBe(practice.id);
    // A later event that knows no practice (a status callback) does not take it away.
    expect(await recordCallEvent(db, event(sid, 'status:completed:1', 'completed'), now)).toBe(true);
    expect(await practiceOfCall(db, sid)).toBe(practice.id);
    expect((await getCall(db, sid))?.statusHistory.map((e) => e.key)).toEqual(['incoming', 'flow:1', 'status:completed:1']);
  });
});
