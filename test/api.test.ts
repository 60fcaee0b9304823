import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { captureLogs } from '../src/log/logger.js';
import { createApiKey, type ApiRole } from '../src/auth/api-keys.js';
import { createPractice, type Practice } from '../src/practices/store.js';
import { randomBytes, randomInt } from 'node:crypto';
import { sql } from 'kysely';
import { loadCallTimeline } from '../src/calls/timeline.js';
import { tenantScope } from '../src/tenancy/mint.js';
import { systemScope } from '../src/tenancy/system-scope.js';
import { asOwner, startHarness, type Harness } from './support/harness.js';
import { inboundParams, postTwilio } from './support/twilio-request.js';

let h: Harness;
let demo: Practice;
let other: Practice;
const keys: Record<string, string> = {};

beforeAll(async () => {
  h = await startHarness('api');
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  demo = h.services.seeded;
  other = await createPractice(h.services.db, { slug: 'other', name: 'Other Clinic', timeZone: 'America/Chicago', numbers: ['+13125550100'] });
  for (const role of ['admin', 'staff', 'provider', 'auditor'] as ApiRole[]) {
    keys[role] = (await createApiKey(h.services.db, { role, practiceId: demo.id })).key;
  }
  keys.otherAdmin = (await createApiKey(h.services.db, { role: 'admin', practiceId: other.id })).key;
});
afterAll(async () => {
  await h.close();
});

async function get(path: string, key?: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(h.baseUrl + path, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function lastAudit(): Promise<{ action: string; actor: string; details: Record<string, unknown> }> {
  return h.services.db
    .selectFrom('audit_log')
    .select(['action', 'actor', 'details'])
    // Callback tasks are queued and their `task.created` rows land whenever the worker gets to them.
    .where('action', 'not like', 'task.%')
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirstOrThrow();
}

describe('API keys', () => {
  it('are stored only as a SHA-256 hash', async () => {
    const rows = await h.services.db.selectFrom('api_keys').select('key_hash').execute();
    const flat = JSON.stringify(rows);
    for (const key of Object.values(keys)) expect(flat).not.toContain(key);
    expect(rows.every((r) => /^[0-9a-f]{64}$/.test(r.key_hash))).toBe(true);
  });

  it('401 without a key, with a malformed key and with an unknown key, each audited', async () => {
    for (const [key, reason] of [
      [undefined, 'missing_key'],
      ['nonsense', 'invalid_key'],
      [`ahl_${'A'.repeat(43)}`, 'invalid_key'],
    ] as const) {
      const res = await get('/api/whoami', key);
      expect(res.status).toBe(401);
      expect(await lastAudit()).toMatchObject({ action: 'api.auth_rejected', details: { reason } });
    }
  });

  it('a revoked key is refused', async () => {
    const { id, key } = await createApiKey(h.services.db, { role: 'admin', practiceId: demo.id });
    expect((await get('/api/whoami', key)).status).toBe(200);
    await h.services.db.updateTable('api_keys').set({ revoked_at: new Date() }).where('id', '=', id).execute();
    expect((await get('/api/whoami', key)).status).toBe(401);
  });

  it('every allowed call is audited with the key as actor', async () => {
    const res = await get(`/api/practices/${demo.id}`, keys.staff);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'Demo Family Medicine', numbers: [{ e164: '+12025550100', flowId: 'after-hours' }, { e164: '+12025550102', flowId: 'drop-callback' }, { e164: '+12025550103', flowId: 'after-hours' }], timeZone: 'America/New_York' });
    // The console's "open right now": Wednesday 22:00 in New York, closed; Thursday is Thanksgiving, so it opens Friday 08:00.
    expect(res.body.hoursNow).toEqual({ status: 'closed', nextOpening: '2026-11-27T13:00:00.000Z' });
    const audit = await lastAudit();
    expect(audit.action).toBe('api.request');
    expect(audit.actor).toMatch(/^api_key:[0-9a-f-]{36}$/);
  });
});

describe('roles and practices', () => {
  it("a practice's key never reads another practice's data (403, audited)", async () => {
    const res = await get(`/api/practices/${other.id}`, keys.admin);
    expect(res.status).toBe(403);
    expect(JSON.stringify(res.body)).not.toContain('Other Clinic');
    expect(await lastAudit()).toMatchObject({ action: 'api.forbidden', details: { reason: 'practice' } });
    expect((await get(`/api/practices/${demo.id}`, keys.otherAdmin)).status).toBe(403);
  });

  it('a role that does not fit gets 403', async () => {
    expect((await get('/api/audit', keys.staff)).status).toBe(403);
    expect(await lastAudit()).toMatchObject({ action: 'api.forbidden', details: { reason: 'role' } });
    expect((await get('/api/audit', keys.provider)).status).toBe(403);
    expect((await get('/api/audit', keys.auditor)).status).toBe(200);
  });

  it('call records are visible to their practice only', async () => {
    const params = inboundParams();
    expect((await postTwilio(h, '/twilio/voice/incoming', params)).status).toBe(200);
    const mine = await get(`/api/calls/${params.CallSid}`, keys.staff);
    expect(mine.status).toBe(200);
    expect(mine.body.call).toMatchObject({ callSid: params.CallSid, practiceId: demo.id, status: 'ringing' });
    const actions = (mine.body.audit as Array<{ action: string }>).map((a) => a.action);
    expect(actions[0]).toBe('call.leg.started');
    expect(actions.slice(1).every((a) => a === 'call.transition')).toBe(true);
    // Another practice's call answers exactly as a call that never was: no 403 against 404 to tell them apart.
    const theirs = await get(`/api/calls/${params.CallSid}`, keys.otherAdmin);
    const unknown = await get(`/api/calls/CA${'0'.repeat(32)}`, keys.otherAdmin);
    expect(theirs).toEqual({ status: 404, body: { error: 'not_found' } });
    expect(unknown).toEqual(theirs);
    expect((await get(`/api/calls/${params.CallSid}`, keys.provider)).status).toBe(403);
  });

  it("the audit endpoint returns only the key's practice", async () => {
    const res = await get('/api/audit', keys.otherAdmin);
    expect(res.status).toBe(200);
    const events = res.body.events as Array<{ practiceId: string | null }>;
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.practiceId === other.id)).toBe(true);
  });

  it('bad parameters get 400 with a clear message', async () => {
    const res = await get('/api/practices/not-a-uuid', keys.admin);
    expect(res.status).toBe(400);
    expect(res.body.message).toBe('practiceId must be a UUID');
    expect((await get('/api/audit?from=yesterday', keys.admin)).status).toBe(400);
  });
});

describe("the call, page and audit routes run as the key's practice, under row-level security", () => {
  const randomSid = (): string => `CA${randomBytes(16).toString('hex')}`;
  /** A page of the practice for a call (as paging opens one), written directly. */
  async function insertPage(practiceId: string, callSid: string): Promise<string> {
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    const row = await h.services.db.insertInto('pages').values({ practice_id: practiceId, call_sid: callSid, reference_code: code }).returning('id').executeTakeFirstOrThrow();
    return row.id;
  }
  const TABLES = ['call_legs', 'pages'];
  const grant = (verb: 'GRANT' | 'REVOKE') =>
    TABLES.map((t) => sql`${sql.raw(verb)} SELECT, INSERT, UPDATE, DELETE ON ${sql.id(t)} ${sql.raw(verb === 'GRANT' ? 'TO' : 'FROM')} ahl_system`);

  it('with the system role shut out of call legs and pages, the timeline, page list and acknowledgement still answer', async () => {
    const callSid = randomSid();
    expect((await postTwilio(h, '/twilio/voice/incoming', inboundParams({ CallSid: callSid }))).status).toBe(200);
    const mine = await insertPage(demo.id, callSid);
    const theirs = await insertPage(other.id, randomSid());
    await asOwner(h.services.db, ...grant('REVOKE'));
    try {
      await expect(h.services.db.selectFrom('pages').select('id').execute()).rejects.toThrow(/permission denied/);
      const call = await get(`/api/calls/${callSid}`, keys.staff);
      expect(call.status).toBe(200);
      expect(call.body.pages).toEqual([expect.objectContaining({ id: mine, status: 'open' })]);
      const pages = await get('/api/pages', keys.staff);
      expect(pages.status).toBe(200);
      const ids = (pages.body.pages as Array<{ id: string }>).map((pg) => pg.id);
      expect(ids).toContain(mine);
      expect(ids).not.toContain(theirs);
      const ack = await fetch(`${h.baseUrl}/api/pages/${mine}/ack`, { method: 'POST', headers: { authorization: `Bearer ${keys.staff}` } });
      expect(ack.status).toBe(200);
      expect(await ack.json()).toMatchObject({ result: 'acknowledged', pageId: mine });
      // Another practice's page is not found by this practice's key.
      const foreign = await fetch(`${h.baseUrl}/api/pages/${theirs}/ack`, { method: 'POST', headers: { authorization: `Bearer ${keys.staff}` } });
      expect(foreign.status).toBe(404);
    } finally {
      await asOwner(h.services.db, ...grant('GRANT'));
    }
    const theirsNow = await h.services.db.selectFrom('pages').select('status').where('id', '=', theirs).executeTakeFirstOrThrow();
    expect(theirsNow.status).toBe('open');
  });

  it("a call's timeline is read for its own practice only: the call itself is not found for another", async () => {
    const callSid = randomSid();
    expect((await postTwilio(h, '/twilio/voice/incoming', inboundParams({ CallSid: callSid }))).status).toBe(200);
    expect((await loadCallTimeline(tenantScope(h.services, demo.id), callSid))?.call).toMatchObject({ callSid, practiceId: demo.id });
    expect(await loadCallTimeline(tenantScope(h.services, other.id), callSid)).toBeNull();
    // The query names the practice too: even the system role, which crosses practices, finds no call of another.
    expect(await loadCallTimeline(systemScope(h.services, other.id), callSid)).toBeNull();
  });
});

describe('npm run keys:create', () => {
  it('prints a key once, stores its hash, and the key works for its role and practice', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const { stdout } = await promisify(execFile)('npx', ['tsx', 'scripts/keys-create.ts', '--role', 'auditor', '--practice', 'demo', '--label', 'ci auditor'], {
      env: { ...process.env, DATABASE_SCHEMA: h.schema, DATA_DIR: h.config.dataDir },
    });
    const key = /^(ahl_[A-Za-z0-9_-]{43})$/m.exec(stdout)?.[1];
    expect(key).toBeDefined();
    const who = await get('/api/whoami', key);
    expect(who).toMatchObject({ status: 200, body: { role: 'auditor', practiceId: demo.id } });
    const created = await h.services.db.selectFrom('audit_log').selectAll().where('action', '=', 'admin.api_key_created').executeTakeFirstOrThrow();
    expect(created.details).toEqual({ role: 'auditor', expiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown });
    const bad = await promisify(execFile)('npx', ['tsx', 'scripts/keys-create.ts', '--role', 'root', '--practice', 'demo'], {
      env: { ...process.env, DATABASE_SCHEMA: h.schema },
    }).catch((e: { stderr: string }) => e);
    expect(bad.stderr).toContain('--role: expected one of admin, staff, provider, auditor');
  });
});

describe('every /api call is audited, and nothing of the request is kept', () => {
  async function send(method: string, path: string, opts: { key?: string; body?: string } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
    const headers: Record<string, string> = {};
    if (opts.key) headers.authorization = `Bearer ${opts.key}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(h.baseUrl + path, { method, headers, ...(opts.body !== undefined ? { body: opts.body } : {}) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  /** Runs `fn` while capturing the logs; returns them once the request log line of the last request is in. */
  async function logsOf(fn: () => Promise<void>): Promise<string> {
    const logs = captureLogs();
    try {
      await fn();
      return await vi.waitFor(() => {
        const text = logs.lines().join('\n');
        expect(text).toContain('"message":"request"');
        return text;
      });
    } finally {
      logs.restore();
    }
  }

  it('an unauthenticated request: 401, and the path in the audit row and the log is redacted', async () => {
    const text = await logsOf(async () => {
      expect((await get('/api/patients/2025550123')).status).toBe(401);
    });
    expect(await lastAudit()).toMatchObject({ action: 'api.auth_rejected', details: { route: '/patients/:segment', reason: 'missing_key' } });
    expect(text).not.toContain('2025550123');
    expect(text).toContain('/api/patients/:segment');
  });

  it('the key is checked before the body is parsed: bad JSON without a key is 401', async () => {
    const res = await send('POST', '/api/patients', { body: '{"firstName": "Avery", oops' });
    expect(res.status).toBe(401);
    expect(await lastAudit()).toMatchObject({ action: 'api.auth_rejected', details: { reason: 'missing_key' } });
  });

  it('bad JSON with a key: 400, audited, and neither the log nor the audit row quotes the body', async () => {
    let res: { status: number; body: Record<string, unknown> } | undefined;
    const text = await logsOf(async () => {
      res = await send('POST', '/api/patients', { key: keys.admin, body: '{"firstName": "Avery", oops' });
    });
    expect(res?.status).toBe(400);
    expect(JSON.stringify(res?.body)).not.toContain('Avery');
    const audit = await lastAudit();
    expect(audit).toMatchObject({ action: 'api.request', details: { method: 'POST', route: '/patients', status: 400, reason: 'unreadable_body' } });
    expect(audit.actor).toMatch(/^api_key:/);
    expect(JSON.stringify(audit)).not.toContain('Avery');
    expect(text).toContain('entity.parse.failed');
    expect(text).not.toContain('Avery');
  });

  it('an unknown path with a valid key: 404, audited, the path redacted', async () => {
    const res = await get('/api/nope/+12025550123/1980-04-15', keys.staff);
    expect(res.status).toBe(404);
    const audit = await lastAudit();
    expect(audit).toMatchObject({ action: 'api.request', details: { route: '/:segment/:segment/:segment', status: 404, reason: 'not_found' } });
    expect(JSON.stringify(audit)).not.toMatch(/2025550123|1980/);
  });

  it('a 400 answered before the permission check is audited too', async () => {
    const before = await h.services.db.selectFrom('audit_log').select('seq').orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow();
    expect((await get('/api/practices/not-a-uuid', keys.auditor)).status).toBe(400);
    const row = await vi.waitFor(async () => {
      const r = await h.services.db.selectFrom('audit_log').select(['action', 'actor', 'details']).where('seq', '>', before.seq).executeTakeFirstOrThrow();
      return r;
    });
    expect(row).toMatchObject({ action: 'api.request', details: { method: 'GET', route: '/practices/:practiceId', status: 400, role: 'auditor' } });
  });

  it('a number in the URL (PUT /api/practices/:id/numbers/:e164) is logged as the route pattern', async () => {
    const path = `/api/practices/${demo.id}/numbers/${encodeURIComponent('+12025550155')}`;
    try {
      const text = await logsOf(async () => {
        const res = await fetch(h.baseUrl + path, {
          method: 'PUT',
          headers: { authorization: `Bearer ${keys.admin}`, 'content-type': 'application/json' },
          body: JSON.stringify({ flowId: 'after-hours' }),
        });
        expect(res.status).toBe(201);
      });
      expect(text).toContain('"route":"/api/practices/:practiceId/numbers/:e164"');
      expect(text).not.toContain('2025550155');
    } finally {
      await fetch(h.baseUrl + path, { method: 'DELETE', headers: { authorization: `Bearer ${keys.admin}` } });
    }
  });
});
