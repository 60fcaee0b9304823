import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { AuditAction, type AuditEvent } from '../src/audit/events.js';
import { appendAuditMany } from '../src/audit/store.js';
import { createPractice, type Practice } from '../src/practices/store.js';
import { startHarness, type Harness } from './support/harness.js';

/**
 * GET /api/audit/export: the whole of the Audit page's current search (every row, not the page
 * shown) as CSV or NDJSON, streamed as a download; for admins and auditors of the practice,
 * audited as an export with the filters' names; spreadsheet formulas neutralised.
 */

let h: Harness;
let demo: Practice;
let other: Practice;
const keys: Record<'admin' | 'auditor' | 'staff', { id: string; key: string }> = {} as never;
/** More than a page of the store's iterator (1000) and than the page's search (200). */
const MANY = 1203;

beforeAll(async () => {
  h = await startHarness('audit_search_export');
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  demo = h.services.seeded;
  other = await createPractice(h.services.db, { slug: 'other', name: 'Other Clinic', timeZone: 'America/Chicago', numbers: ['+13125550112'] });
  for (const role of ['admin', 'auditor', 'staff'] as const) keys[role] = await createApiKey(h.services.db, { role, practiceId: demo.id });
  const rows: AuditEvent[] = Array.from({ length: MANY }, (_, i) => ({ action: AuditAction.AdminMatrixUpdated, actor: 'user:exporter', practiceId: demo.id, subjectId: demo.id, details: { version: i + 1 } }));
  // Cells a spreadsheet would run as formulas, and one with a quote and a comma.
  rows.push({ action: AuditAction.AdminMatrixUpdated, actor: '=HYPERLINK("http://evil.example","x")', practiceId: demo.id, subjectId: '+1', details: { version: 0 } });
  rows.push({ action: AuditAction.AdminMatrixUpdated, actor: '@SUM(A1)', practiceId: demo.id, subjectId: '-2', details: { version: -1 } });
  await appendAuditMany(h.services.db, rows);
  // The same action in another practice: never in demo's export.
  await appendAuditMany(h.services.db, [{ action: AuditAction.AdminMatrixUpdated, actor: 'user:elsewhere', practiceId: other.id, subjectId: other.id, details: { version: 9 } }]);
});
afterAll(async () => {
  await h.close();
});

async function get(path: string, key: string): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(h.baseUrl + path, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** A CSV line split into its cells (quoted cells with doubled quotes; no line breaks inside cells here). */
function cells(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let j = i + 1;
      let cell = '';
      for (;;) {
        if (line[j] === '"' && line[j + 1] === '"') {
          cell += '"';
          j += 2;
        } else if (line[j] === '"') break;
        else {
          cell += line[j] ?? '';
          j += 1;
        }
      }
      out.push(cell);
      i = j + 2;
    } else {
      const end = line.indexOf(',', i);
      out.push(line.slice(i, end === -1 ? line.length : end));
      i = end === -1 ? line.length + 1 : end + 1;
    }
  }
  return out;
}

describe('GET /api/audit/export', () => {
  it('streams every row of the search as CSV (more than a page), oldest first, as a download that is never cached, and audits the export', async () => {
    const res = await get(`/api/audit/export?action=${AuditAction.AdminMatrixUpdated}&actor=user:exporter&format=csv`, keys.auditor.key);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="audit-[0-9TZ-]+\.csv"$/);
    expect(res.headers.get('cache-control')).toContain('no-store');
    const lines = res.text.trimEnd().split('\n');
    expect(lines[0]).toBe('seq,at,practiceId,actor,action,callSid,leg,subjectId,details,prevHash,hash,chain,hashVersion');
    const body = lines.slice(1).map(cells);
    expect(body).toHaveLength(MANY);
    expect(body.every((c) => c[3] === 'user:exporter' && c[4] === AuditAction.AdminMatrixUpdated && c[2] === demo.id)).toBe(true);
    const versions = body.map((c) => (JSON.parse(c[8] ?? '{}') as { version: number }).version);
    expect(versions).toEqual(Array.from({ length: MANY }, (_, i) => i + 1));

    const audited = await h.services.db.selectFrom('audit_log').select(['actor', 'practice_id', 'details']).where('action', '=', 'audit.exported').orderBy('seq', 'desc').executeTakeFirstOrThrow();
    expect(audited).toEqual({ actor: `api_key:${keys.auditor.id}`, practice_id: demo.id, details: { format: 'csv', filters: ['action', 'actor'] } });
  });

  it('prefixes cells a spreadsheet would run as formulas (= + - @) with a quote', async () => {
    const res = await get(`/api/audit/export?action=${AuditAction.AdminMatrixUpdated}`, keys.admin.key);
    expect(res.status).toBe(200);
    const rows = res.text.trimEnd().split('\n').slice(1).map(cells);
    // Demo's rows only: the other practice's row of the same action is not there.
    expect(rows.some((c) => c[3] === 'user:elsewhere')).toBe(false);
    const hyperlink = rows.find((c) => (c[3] ?? '').includes('HYPERLINK'));
    expect(hyperlink?.[3]).toBe(`'=HYPERLINK("http://evil.example","x")`);
    expect(hyperlink?.[7]).toBe("'+1");
    const sum = rows.find((c) => (c[3] ?? '').includes('SUM'));
    expect(sum?.[3]).toBe("'@SUM(A1)");
    expect(sum?.[7]).toBe("'-2");
    for (const c of rows) for (const cell of c) expect(cell).not.toMatch(/^[=+\-@]/);
  });

  it('as NDJSON: one event a line, the filters of the search (a date range, an action family) applied', async () => {
    const res = await get(`/api/audit/export?action=admin.&format=ndjson&from=2000-01-01`, keys.admin.key);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(res.headers.get('content-disposition')).toMatch(/\.ndjson"$/);
    const events = res.text.trimEnd().split('\n').map((l) => JSON.parse(l) as { action: string; practiceId: string });
    expect(events.length).toBeGreaterThanOrEqual(MANY + 2);
    expect(events.every((e) => e.action.startsWith('admin.') && e.practiceId === demo.id)).toBe(true);
    const none = await get(`/api/audit/export?action=admin.&format=ndjson&to=2000-01-01`, keys.admin.key);
    expect(none.text).toBe('');
    const audited = await h.services.db.selectFrom('audit_log').select(['details']).where('action', '=', 'audit.exported').orderBy('seq', 'desc').executeTakeFirstOrThrow();
    expect(audited.details).toEqual({ format: 'ndjson', filters: ['action', 'to'] });
  });

  it('is for admins and auditors: staff are refused; a bad filter is a 400 naming it, and nothing is audited for either', async () => {
    const count = async (): Promise<number> => (await h.services.db.selectFrom('audit_log').select('seq').where('action', '=', 'audit.exported').execute()).length;
    const before = await count();
    expect((await get('/api/audit/export', keys.staff.key)).status).toBe(403);
    const bad = await get('/api/audit/export?format=xlsx', keys.admin.key);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text)).toMatchObject({ message: expect.stringMatching(/^format: /) as unknown });
    const badActor = await get('/api/audit/export?actor=Dana%20Smith', keys.admin.key);
    expect(badActor.status).toBe(400);
    expect(JSON.parse(badActor.text)).toMatchObject({ message: expect.stringMatching(/^actor: /) as unknown });
    expect(await count()).toBe(before);
  });
});
