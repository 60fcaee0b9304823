import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { createPractice, type Practice } from '../src/practices/store.js';
import { heard } from '../devtools/simulator/simulator.js';
import type { TranscriptEntry } from '../devtools/simulator/transcript.js';
import { startHarness, type Harness } from './support/harness.js';
import { inboundParams, postTwilio } from './support/twilio-request.js';
import { simulatorFor } from './support/simulate.js';

/**
 * A practice's own phone tree (issue 12, item 3): upload (YAML or JSON, the same checks as the
 * built-in flows), versions, activation per line, roll-back, contacts as transfer targets, an
 * option routed to a named escalation policy; every change audited.
 */

let h: Harness;
let demo: Practice;
let other: Practice;
let admin: string;
let staff: string;
let otherAdmin: string;
const LINE = '+12025550100';
const NURSE_LINE = '+12025550177';
// Wednesday 2026-11-25 22:00 in New York: closed on the default hours.
const now = new Date('2026-11-26T03:00:00Z');

/** A small practice flow: its own greeting, 1 → the nurse line (a contact), 2 → Dr Reyes's policy. */
function riverside(greeting: string, opts: { contact?: string; policy?: string } = {}): string {
  return `id: riverside
description: Riverside after hours
start: greeting
nodes:
  greeting:
    kind: say
    prompt:
      text:
        en: "${greeting} You have reached {practice_name}."
    next: menu
  menu:
    kind: menu
    prompt:
      text:
        en: "For the nurse line, press 1. For patients of Doctor Reyes, press 2."
    options:
      "1": nurse
      "2": reyes
    timeout_seconds: 5
    retries: 2
    invalid:
      text:
        en: "That is not a choice."
    on_exhausted: goodbye
  nurse:
    kind: transfer
    to: contact
    contact: ${opts.contact ?? 'nurse_line'}
    prompt:
      text:
        en: "Connecting you to the nurse line."
    timeout_seconds: 20
    on_fail: reyes
    next: goodbye
  reyes:
    kind: dial_oncall
    urgency: urgent
    policy: ${opts.policy ?? 'Dr Reyes'}
    prompt:
      text:
        en: "Connecting you to Doctor Reyes's on-call provider."
    on_fail: goodbye
    next: goodbye
  goodbye:
    kind: hangup
    prompt:
      text:
        en: "Goodbye."
`;
}

beforeAll(async () => {
  h = await startHarness('practice_flows', {}, { clock: () => now });
  if (!h.services.seeded) throw new Error('no demo practice');
  demo = h.services.seeded;
  other = await createPractice(h.services.db, { slug: 'other-flows', name: 'Other Clinic', timeZone: 'America/Chicago', numbers: ['+13125550100'] });
  admin = (await createApiKey(h.services.db, { role: 'admin', practiceId: demo.id })).key;
  staff = (await createApiKey(h.services.db, { role: 'staff', practiceId: demo.id })).key;
  otherAdmin = (await createApiKey(h.services.db, { role: 'admin', practiceId: other.id })).key;
  line = `/api/practices/${demo.id}/lines/${encodeURIComponent(LINE)}/flow`;
});
afterAll(async () => {
  await h.close();
});

async function send(method: string, path: string, key: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown>; text: string }> {
  const res = await fetch(h.baseUrl + path, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    parsed = {};
  }
  return { status: res.status, body: parsed, text };
}

async function auditActions(action: string): Promise<Array<Record<string, unknown>>> {
  const rows = await h.services.db.selectFrom('audit_log').select(['details']).where('action', '=', action).where('practice_id', '=', demo.id).orderBy('seq').execute();
  return rows.map((r) => r.details as Record<string, unknown>);
}

const dials = (t: TranscriptEntry[]): string[][] => t.flatMap((e) => (e.kind === 'dial' ? [e.numbers] : []));
let line = '';

describe("a practice's own phone tree", () => {
  it('the built-in flows are templates: their text can be read and uploaded as the practice’s own', async () => {
    const template = await send('GET', '/api/flows/after-hours/source', staff);
    expect(template.status).toBe(200);
    expect(template.text).toContain('id: after-hours');
    const copy = template.text.replace('id: after-hours', 'id: copied-template');
    const up = await send('POST', `/api/practices/${demo.id}/flows`, admin, { format: 'yaml', source: copy });
    expect(up.status).toBe(201);
    expect(up.body).toMatchObject({ flowId: 'copied-template', version: 1 });
  });

  it('refuses a flow naming a contact or a policy the practice does not have, naming the node', async () => {
    const res = await send('POST', `/api/practices/${demo.id}/flows`, admin, { format: 'yaml', source: riverside('Hello.') });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_flow');
    const problems = res.body.problems as Array<{ file: string; node?: string; message: string }>;
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ file: 'upload', node: 'nurse', message: expect.stringContaining('no contact "nurse_line"') }),
        expect.objectContaining({ file: 'upload', node: 'reyes', message: expect.stringContaining('no escalation policy named "Dr Reyes"') }),
      ]),
    );
  });

  it('refuses what the built-in flows are refused for: a disclosure before verification, with file, node and reason', async () => {
    const source = `id: leaky
description: Discloses without verifying
start: tell
nodes:
  tell:
    kind: disclose
    prompt:
      text:
        en: "Your next appointment is"
    none:
      text:
        en: "No appointment."
    next: bye
  bye:
    kind: hangup
    prompt:
      text:
        en: "Bye."
`;
    const res = await send('POST', `/api/practices/${demo.id}/flows`, admin, { format: 'yaml', source });
    expect(res.status).toBe(400);
    const problems = res.body.problems as Array<{ file: string; node?: string; message: string }>;
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.every((p) => p.file === 'upload')).toBe(true);
    // Either the schema (field names) or the graph rule refuses it; both name the node.
    expect(problems.some((p) => p.node === 'tell')).toBe(true);
  });

  it('a 400 naming the field for a malformed body, and staff may not upload', async () => {
    const bad = await send('POST', `/api/practices/${demo.id}/flows`, admin, { format: 'xml', source: 'x' });
    expect(bad.status).toBe(400);
    expect(String(bad.body.message)).toContain('format');
    const json = await send('POST', `/api/practices/${demo.id}/flows`, admin, { format: 'json', source: '{"id": ' });
    expect(json.status).toBe(400);
    expect(json.body.error).toBe('invalid_flow');
    const forbidden = await send('POST', `/api/practices/${demo.id}/flows`, staff, { format: 'yaml', source: riverside('Hi.') });
    expect(forbidden.status).toBe(403);
  });

  it('stores versions, runs one on a line, transfers to a contact and rings a named policy; rolls back', async () => {
    // The contact and the named policy the flow refers to.
    expect((await send('PUT', `/api/practices/${demo.id}/contacts/nurse_line`, admin, { label: 'Nurse line', number: NURSE_LINE })).status).toBe(201);
    const providers = (await send('GET', `/api/oncall/providers?practiceId=${demo.id}`, admin)).body.providers as Array<{ id: string; displayName: string }>;
    const reyes = providers.find((p) => p.displayName === 'Dr. Riley Backup');
    if (!reyes) throw new Error('demo provider missing');
    const policy = await send('POST', `/api/oncall/policies?practiceId=${demo.id}`, admin, { name: 'Dr Reyes', tiers: [{ target: { kind: 'provider', providerId: reyes.id }, ringSeconds: 15 }] });
    expect(policy.status).toBe(201);

    const v1 = await send('POST', `/api/practices/${demo.id}/flows`, admin, { format: 'yaml', source: riverside('Welcome to Riverside.') });
    expect(v1.status).toBe(201);
    expect(v1.body).toMatchObject({ flowId: 'riverside', version: 1 });
    const asJson = JSON.stringify({
      id: 'riverside',
      description: 'Riverside after hours, second version',
      start: 'greeting',
      nodes: { greeting: { kind: 'say', prompt: { text: { en: 'Riverside, version two. {practice_name}.' } }, next: 'bye' }, bye: { kind: 'hangup', prompt: { text: { en: 'Bye.' } } } },
    });
    const v2 = await send('POST', `/api/practices/${demo.id}/flows`, admin, { format: 'json', source: asJson });
    expect(v2.body).toMatchObject({ flowId: 'riverside', version: 2 });
    const read = await send('GET', `/api/practices/${demo.id}/flows/riverside/versions/1`, staff);
    expect(read.body).toMatchObject({ flowId: 'riverside', version: 1, format: 'yaml' });
    expect(String(read.body.source)).toContain('Welcome to Riverside.');

    // Uploading changed nothing a caller hears.
    const sim = simulatorFor(h, () => now);
    const before = await sim.placeCall({ from: '+12025550142', to: LINE, hangupAfterSteps: 1 });
    expect(heard(before)).not.toContain('Welcome to Riverside.');

    expect((await send('PUT', line, admin, { flowId: 'riverside', version: 1 })).body).toMatchObject({ flowId: 'riverside', version: 1, builtIn: false });
    const toNurse = await sim.placeCall({ from: '+12025550142', to: LINE, digits: ['1'], dialOutcomes: [{ status: 'completed' }] });
    expect(heard(toNurse)).toContain('Welcome to Riverside. You have reached Demo Family Medicine.');
    expect(dials(toNurse.transcript)).toEqual([[NURSE_LINE]]);

    // Nobody at the nurse line: on to Dr Reyes's policy, which rings the backup doctor only.
    const toReyes = await sim.placeCall({ from: '+12025550142', to: LINE, digits: ['1'], dialOutcomes: [{ status: 'no-answer' }, { status: 'completed', whisperDigits: '1' }] });
    expect(dials(toReyes.transcript)).toEqual([[NURSE_LINE], ['+12025550112']]);

    expect((await send('PUT', line, admin, { flowId: 'riverside', version: 2 })).status).toBe(200);
    expect(heard(await sim.placeCall({ from: '+12025550142', to: LINE, hangupAfterSteps: 1 }))).toContain('Riverside, version two.');

    const back = await send('POST', `${line}/rollback`, admin);
    expect(back.body).toMatchObject({ flowId: 'riverside', version: 1 });
    expect(heard(await sim.placeCall({ from: '+12025550142', to: LINE, hangupAfterSteps: 1 }))).toContain('Welcome to Riverside.');
    expect((await send('POST', `${line}/rollback`, admin)).body).toMatchObject({ flowId: 'riverside', version: 2 });

    const listed = await send('GET', `/api/practices/${demo.id}/flows`, staff);
    expect(listed.body.lines).toEqual(expect.arrayContaining([{ e164: LINE, flowId: 'riverside', version: 2, builtIn: false }]));
    expect((listed.body.own as Array<{ flowId: string; versions: unknown[] }>).find((f) => f.flowId === 'riverside')?.versions).toHaveLength(2);

    // Back to the built-in flow.
    expect((await send('PUT', line, admin, { flowId: 'after-hours' })).body).toMatchObject({ flowId: 'after-hours', version: null, builtIn: true });
    expect(heard(await sim.placeCall({ from: '+12025550142', to: LINE, hangupAfterSteps: 2 }))).toContain('For an urgent clinical question');

    const activations = await auditActions('admin.line_flow_activated');
    expect(activations.map((d) => [d.change, d.flowId, d.version])).toEqual([
      ['activated', 'riverside', 1],
      ['activated', 'riverside', 2],
      ['rolled_back', 'riverside', 1],
      ['rolled_back', 'riverside', 2],
      ['activated', 'after-hours', null],
    ]);
    expect((await auditActions('admin.flow_uploaded')).map((d) => [d.flowId, d.version])).toEqual(
      expect.arrayContaining([
        ['riverside', 1],
        ['riverside', 2],
      ]),
    );
    expect((await auditActions('admin.contact_changed')).map((d) => d.change)).toEqual(['created']);
  });

  it('a call keeps the flow version it started with while the line moves on', async () => {
    expect((await send('PUT', line, admin, { flowId: 'riverside', version: 1 })).status).toBe(200);
    const params = inboundParams({ To: LINE, From: '+12025550142' });
    const first = await postTwilio(h, '/twilio/voice/incoming', params);
    expect(first.body).toContain('Welcome to Riverside.');
    const action = /<Gather[^>]*action="([^"]+)"/.exec(first.body)?.[1]?.replaceAll('&amp;', '&');
    if (!action) throw new Error('no menu');
    // The line moves to the built-in flow while this caller is at the riverside menu.
    expect((await send('PUT', line, admin, { flowId: 'after-hours' })).status).toBe(200);
    const next = await postTwilio(h, action, { ...params, CallStatus: 'in-progress', Digits: '1' });
    expect(next.body).toContain(`<Number>${NURSE_LINE}</Number>`);
  });

  it("a contact removed since the upload: the transfer fails over along on_fail; another practice's admin reaches none of it", async () => {
    expect((await send('PUT', line, admin, { flowId: 'riverside', version: 1 })).status).toBe(200);
    expect((await send('DELETE', `/api/practices/${demo.id}/contacts/nurse_line`, admin)).status).toBe(204);
    const sim = simulatorFor(h, () => now);
    const call = await sim.placeCall({ from: '+12025550142', to: LINE, digits: ['1'], dialOutcomes: [{ status: 'completed', whisperDigits: '1' }] });
    expect(dials(call.transcript)).toEqual([['+12025550112']]);

    for (const [method, path] of [
      ['GET', `/api/practices/${demo.id}/flows`],
      ['GET', `/api/practices/${demo.id}/flows/riverside/versions/1`],
      ['PUT', line],
      ['POST', `${line}/rollback`],
      ['GET', `/api/practices/${demo.id}/contacts`],
      ['PUT', `/api/practices/${demo.id}/contacts/x`],
    ] as const) {
      const res = await send(method, path, otherAdmin, method === 'PUT' ? { flowId: 'after-hours', label: 'x', number: NURSE_LINE } : undefined);
      expect([400, 403]).toContain(res.status);
      expect(res.text).not.toContain('Riverside');
    }
    expect((await send('PUT', line, admin, { flowId: 'after-hours' })).status).toBe(200);
  });
});
