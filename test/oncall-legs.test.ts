import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordCallEvent } from '../src/calls/records.js';
import { finishParentLeg, recordDialLegRow, type DialLegRow } from '../src/oncall/legs.js';
import { startHarness, type Harness } from './support/harness.js';

/**
 * When a leg started, against the real PostgreSQL: a parent leg from its call record's first
 * webhook, a dial leg from its child's first status callback (unless that is stamped after
 * the `<Dial action>`), and otherwise the duration back from the end.
 */

let h: Harness;
let practiceId: string;

beforeAll(async () => {
  h = await startHarness('oncall_legs');
  if (!h.services.seeded) throw new Error('no demo practice');
  practiceId = h.services.seeded.id;
});
afterAll(async () => {
  await h.close();
});

const sid = (): string => `CA${randomBytes(16).toString('hex')}`;
const T = (s: string): Date => new Date(`2026-11-26T03:${s}Z`);

async function callRecordAt(callSid: string, at: Date): Promise<void> {
  await recordCallEvent(h.services.db, { callSid, practiceId, direction: 'outbound-dial', fromIndex: null, toNumber: null, status: 'initiated', key: 'status:initiated:0', source: 'status-callback' }, at);
}

async function legRows(callSid: string): Promise<Array<{ kind: string; outcome: string; started_at: Date; ended_at: Date | null; duration_seconds: number | null }>> {
  return h.services.db.selectFrom('call_legs').select(['kind', 'outcome', 'started_at', 'ended_at', 'duration_seconds']).where('call_sid', '=', callSid).orderBy('created_at').execute();
}

describe('recordDialLegRow', () => {
  const dial = (callSid: string, over: Partial<DialLegRow>): DialLegRow => ({
    callSid,
    practiceId,
    legSid: null,
    tier: 1,
    round: 0,
    providerId: null,
    numberTried: '+12025550111',
    outcome: 'accepted',
    durationSeconds: 40,
    endedAt: T('01:00.000'),
    ...over,
  });

  it("started when the child's call record was first written", async () => {
    const [parent, child] = [sid(), sid()];
    await callRecordAt(child, T('00:05.123'));
    await recordDialLegRow(h.services.db, dial(parent, { legSid: child }));
    expect(await legRows(parent)).toEqual([expect.objectContaining({ kind: 'dial', started_at: T('00:05.123'), ended_at: T('01:00.000'), duration_seconds: 40 })]);
  });

  it('a child record stamped at the very end still counts', async () => {
    const [parent, child] = [sid(), sid()];
    await callRecordAt(child, T('01:00.000'));
    await recordDialLegRow(h.services.db, dial(parent, { legSid: child }));
    expect((await legRows(parent)).map((l) => l.started_at)).toEqual([T('01:00.000')]);
  });

  it('a child record stamped after the action, none at all, or no child SID: talk time back from the end', async () => {
    const [parent, late, missing] = [sid(), sid(), sid()];
    await callRecordAt(late, T('01:00.001'));
    await recordDialLegRow(h.services.db, dial(parent, { legSid: late }));
    await recordDialLegRow(h.services.db, dial(parent, { legSid: missing, durationSeconds: 7 }));
    await recordDialLegRow(h.services.db, dial(parent, { legSid: null, durationSeconds: null }));
    expect((await legRows(parent)).map((l) => l.started_at)).toEqual([T('00:20.000'), T('00:53.000'), T('01:00.000')]);
  });
});

describe('finishParentLeg', () => {
  it('not a final status: nothing recorded', async () => {
    const callSid = sid();
    expect(await finishParentLeg(h.services.db, { callSid, practiceId, status: 'in-progress', durationSeconds: null, at: T('01:00.000') })).toBe(false);
    expect(await legRows(callSid)).toEqual([]);
  });

  it("opens the parent leg from the call record's first webhook, or the duration back from now", async () => {
    const [recorded, unrecorded] = [sid(), sid()];
    await callRecordAt(recorded, T('00:01.250'));
    expect(await finishParentLeg(h.services.db, { callSid: recorded, practiceId, status: 'completed', durationSeconds: 30, at: T('01:00.000') })).toBe(true);
    expect(await finishParentLeg(h.services.db, { callSid: unrecorded, practiceId, status: 'completed', durationSeconds: 30, at: T('01:00.000') })).toBe(true);
    expect(await legRows(recorded)).toEqual([expect.objectContaining({ kind: 'parent', outcome: 'completed', started_at: T('00:01.250'), ended_at: T('01:00.000'), duration_seconds: 30 })]);
    expect(await legRows(unrecorded)).toEqual([expect.objectContaining({ kind: 'parent', started_at: T('00:30.000') })]);
  });

  it('closes a leg already open: its start stays', async () => {
    const callSid = sid();
    await callRecordAt(callSid, T('00:02.000'));
    await finishParentLeg(h.services.db, { callSid, practiceId, status: 'busy', durationSeconds: 0, at: T('00:10.000') });
    await finishParentLeg(h.services.db, { callSid, practiceId, status: 'completed', durationSeconds: 50, at: T('01:00.000') });
    expect(await legRows(callSid)).toEqual([expect.objectContaining({ outcome: 'completed', started_at: T('00:02.000'), ended_at: T('01:00.000'), duration_seconds: 50 })]);
  });
});
