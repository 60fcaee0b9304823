import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createApiKey, type ApiRole } from '../src/auth/api-keys.js';
import { DEMO } from '../src/practices/seed.js';
import type { Practice } from '../src/practices/store.js';
import { startHarness, type Harness } from './support/harness.js';
import { inboundParams, postTwilio } from './support/twilio-request.js';

/**
 * The console's audit routes (issue 14): one call exported as a file with the verification of
 * its events, the practice's chain verified on request, and the audit search by action and actor.
 */
let h: Harness;
let demo: Practice;
const keys: Partial<Record<ApiRole, string>> = {};

beforeAll(async () => {
  h = await startHarness('call_export');
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  demo = h.services.seeded;
  for (const role of ['admin', 'staff', 'auditor'] as ApiRole[]) keys[role] = (await createApiKey(h.services.db, { role, practiceId: demo.id })).key;
});
afterAll(async () => {
  await h.close();
});

async function get(path: string, role: ApiRole): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(h.baseUrl + path, { headers: { authorization: `Bearer ${keys[role] ?? ''}` } });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

/** The table is append-only (a trigger refuses changes): only the owner, with triggers off, can tamper. */
async function asSuperuser(statement: ReturnType<typeof sql>): Promise<void> {
  await h.services.db.connection().execute(async (conn) => {
    await sql`SET ROLE NONE`.execute(conn);
    await sql`SET session_replication_role = replica`.execute(conn);
    await statement.execute(conn);
    await sql`SET session_replication_role = origin`.execute(conn);
    await sql`RESET ROLE`.execute(conn);
  });
}

async function placeCall(): Promise<string> {
  const params = inboundParams();
  expect((await postTwilio(h, '/twilio/voice/incoming', params)).status).toBe(200);
  return String(params.CallSid);
}

describe('GET /api/calls/:callSid/export', () => {
  it('is one attachment with the record, timeline and audit events, the stretch verified, and is audited as an export', async () => {
    const callSid = await placeCall();
    const res = await get(`/api/calls/${callSid}/export`, 'auditor');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="call-${callSid}.json"`);
    expect(res.body).toMatchObject({ kind: 'after-hours-line.call-export', callSid, practiceId: demo.id, view: 'masked', verification: { ok: true, chain: demo.id } });
    const call = res.body.call as { audit: Array<{ seq: number; action: string }>; summary: { callerNumber: string | null } | null; timeline: unknown[] };
    expect(call.audit.map((e) => e.action)[0]).toBe('call.leg.started');
    expect(call.timeline.length).toBeGreaterThan(0);
    // An auditor's file opens no number.
    expect(call.summary?.callerNumber).toBe('masked');
    expect(JSON.stringify(res.body)).not.toContain(inboundParams().From);
    const seqs = call.audit.map((e) => e.seq);
    expect(res.body.verification).toMatchObject({ from: Math.min(...seqs), to: Math.max(...seqs) });
    const audited = await h.services.db.selectFrom('audit_log').select(['actor', 'details', 'call_sid']).where('action', '=', 'call.exported').where('call_sid', '=', callSid).execute();
    expect(audited).toHaveLength(1);
    expect(audited[0]?.details).toMatchObject({ view: 'masked', events: call.audit.length, verified: true, numbersOpened: 0 });
  });

  it("says so when a row of the call's stretch was changed after the fact", async () => {
    const callSid = await placeCall();
    const first = await get(`/api/calls/${callSid}/export`, 'admin');
    const seq = (first.body.call as { audit: Array<{ seq: number; chain: string }> }).audit[0]?.seq;
    expect(first.body.verification).toMatchObject({ ok: true });
    const tamper = (actor: string) => asSuperuser(sql`UPDATE audit_log SET actor = ${actor} WHERE chain_id = ${demo.id} AND chain_seq = ${String(seq)}::bigint`);
    const original = await h.services.db.selectFrom('audit_log').select('actor').where('chain_id', '=', demo.id).where('chain_seq', '=', String(seq)).executeTakeFirstOrThrow();
    await tamper('someone:else');
    try {
      const again = await get(`/api/calls/${callSid}/export`, 'admin');
      expect(again.body.verification).toMatchObject({ ok: false, problem: { seq, reason: 'hash does not match the row contents' } });
      const verify = await get('/api/audit/verify', 'auditor');
      expect(verify.body).toMatchObject({ ok: false, chain: demo.id, problem: { seq } });
    } finally {
      await tamper(original.actor);
    }
  });

  it("holds the caller's number only as the number-view rule says (in full for an admin, masked for an auditor), and no patient identity in its name or headers", async () => {
    // The demo patient's own phone: the call is matched to Avery Example.
    const callSid = await placeCall();
    const caller = inboundParams().From ?? '';
    const patient = DEMO.patient;
    const identities = [patient.firstName, patient.lastName, patient.dateOfBirth, caller, caller.slice(2), caller.slice(-4)];
    for (const role of ['admin', 'auditor'] as const) {
      const res = await get(`/api/calls/${callSid}/export`, role);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-disposition')).toBe(`attachment; filename="call-${callSid}.json"`);
      const headers = [...res.headers.entries()].map(([name, value]) => `${name}: ${value}`).join('\n');
      for (const identity of identities) expect(headers, `${role}: a header holds ${identity}`).not.toContain(identity);
      const file = JSON.stringify(res.body);
      for (const identity of [patient.firstName, patient.lastName, patient.dateOfBirth]) expect(file, `${role}: the file holds ${identity}`).not.toContain(identity);
      const summary = (res.body.call as { summary: { callerNumber: string | null; patient: { match: string } } | null }).summary;
      expect(summary?.patient.match).toBe('number');
      if (role === 'admin') {
        expect(res.body.view).toBe('full');
        expect(summary?.callerNumber).toBe(caller);
      } else {
        expect(res.body.view).toBe('masked');
        expect(summary?.callerNumber).toBe('masked');
        for (const digits of [caller, caller.slice(2)]) expect(file, 'an auditor\'s file holds the number').not.toContain(digits);
      }
    }
  });

  it('is for admins and auditors; a call nobody made is 404', async () => {
    const callSid = await placeCall();
    expect((await get(`/api/calls/${callSid}/export`, 'staff')).status).toBe(403);
    expect((await get(`/api/calls/CA${'0'.repeat(32)}/export`, 'admin')).status).toBe(404);
  });
});

describe('GET /api/audit/verify', () => {
  it("verifies the practice's chain, and the check itself is audited", async () => {
    await placeCall();
    const res = await get('/api/audit/verify', 'admin');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true, chain: demo.id, truncated: false });
    expect(res.body.rows as number).toBeGreaterThan(0);
    const row = await h.services.db.selectFrom('audit_log').select(['details']).where('action', '=', 'audit.verified').orderBy('seq', 'desc').executeTakeFirstOrThrow();
    expect(row.details).toMatchObject({ ok: true, rows: res.body.rows, truncated: false });
    expect((await get('/api/audit/verify', 'staff')).status).toBe(403);
  });
});

describe('GET /api/audit search', () => {
  it('filters by action (or a prefix ending in a dot) and actor, newest first on request', async () => {
    const callSid = await placeCall();
    const exact = await get(`/api/audit?callSid=${callSid}&action=call.leg.started`, 'auditor');
    expect((exact.body.events as Array<{ action: string }>).map((e) => e.action)).toEqual(['call.leg.started']);
    const prefix = await get(`/api/audit?callSid=${callSid}&action=call.`, 'auditor');
    const actions = (prefix.body.events as Array<{ action: string }>).map((e) => e.action);
    expect(actions.length).toBeGreaterThan(1);
    expect(actions.every((a) => a.startsWith('call.'))).toBe(true);
    // `_` is a literal, not LIKE's any-character.
    expect(((await get(`/api/audit?callSid=${callSid}&action=call_`, 'auditor')).body.events as unknown[]).length).toBe(0);
    const newest = await get(`/api/audit?callSid=${callSid}&order=newest`, 'auditor');
    const seqs = (newest.body.events as Array<{ seq: number }>).map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    const byActor = await get('/api/audit?actor=system:nobody', 'auditor');
    expect(byActor.body.events).toEqual([]);
  });
});
