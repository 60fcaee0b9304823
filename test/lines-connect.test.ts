import { systemScope } from '../src/tenancy/system-scope.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { createPractice, getPractice, type Practice } from '../src/practices/store.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';

let double: TwilioDouble;
let h: Harness;
let demo: Practice;
let other: Practice;
let operator: string;
let demoAdmin: string;
let otherAdmin: string;

beforeAll(async () => {
  double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  h = await startHarness('lines_connect', { TWILIO_API_BASE_URL: double.baseUrl });
  if (!h.services.seeded) throw new Error('no demo practice');
  demo = h.services.seeded;
  other = await createPractice(h.services.db, { slug: 'other', name: 'Other Clinic', timeZone: 'America/Chicago', numbers: ['+13125550100'] });
  operator = (await createApiKey(h.services.db, { role: 'operator', practiceId: null })).key;
  demoAdmin = (await createApiKey(h.services.db, { role: 'admin', practiceId: demo.id })).key;
  otherAdmin = (await createApiKey(h.services.db, { role: 'admin', practiceId: other.id })).key;
});
afterAll(async () => {
  await h?.close();
  await double?.close();
});

async function connect(practiceId: string, e164: string, key: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${h.baseUrl}/api/practices/${practiceId}/lines/${encodeURIComponent(e164)}/connect`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The webhook updates the double received for one number sid. */
function updatesOf(sid: string): URLSearchParams[] {
  return double.requests.filter((r) => r.method === 'POST' && r.path.endsWith(`/IncomingPhoneNumbers/${sid}.json`)).map((r) => r.form);
}

const url = (path: string): string => `${TEST_PUBLIC_BASE_URL}${path}`;

describe('connecting a line configures the number at Twilio', () => {
  it('a main line: the voice URL, fallback, status callback and SMS URL, all POST; read back equal; recorded and audited', async () => {
    const sid = double.addIncomingNumber('+12025550160');
    const res = await connect(demo.id, '+12025550160', operator, { kind: 'main', assign: true });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ e164: '+12025550160', kind: 'main', flowId: 'after-hours', change: 'created', twilioSid: sid, differences: [] });
    const [update, ...more] = updatesOf(sid);
    expect(more).toEqual([]);
    expect(Object.fromEntries(update ?? [])).toEqual({
      VoiceUrl: url('/twilio/voice/incoming'),
      VoiceMethod: 'POST',
      VoiceFallbackUrl: url('/twilio/voice/fallback'),
      VoiceFallbackMethod: 'POST',
      StatusCallback: url('/twilio/voice/status'),
      StatusCallbackMethod: 'POST',
      SmsUrl: url('/twilio/sms/incoming'),
      SmsMethod: 'POST',
      // Requested when the SMS URL answers 5xx (a text not stored): the patient is told.
      SmsFallbackUrl: url('/twilio/sms/fallback'),
      SmsFallbackMethod: 'POST',
    });
    // Read back: a GET by the number after the update.
    const reads = double.requests.filter((r) => r.method === 'GET' && r.path.endsWith('/IncomingPhoneNumbers.json') && r.query.get('PhoneNumber') === '+12025550160');
    expect(reads).toHaveLength(2);
    expect(double.incomingNumbers.get(sid)).toMatchObject({ voiceUrl: url('/twilio/voice/incoming'), smsUrl: url('/twilio/sms/incoming') });
    const row = await h.services.db.selectFrom('practice_numbers').select(['practice_id', 'flow_id']).where('e164', '=', '+12025550160').executeTakeFirstOrThrow();
    expect(row).toEqual({ practice_id: demo.id, flow_id: 'after-hours' });
    const audit = await h.services.db.selectFrom('audit_log').select(['practice_id', 'details']).where('action', '=', 'admin.line_connected').execute();
    expect(audit).toEqual([{ practice_id: demo.id, details: { number: '+12025550160', kind: 'main', flowId: 'after-hours', change: 'created', differences: [], via: 'api' } }]);
    const assigned = await h.services.db.selectFrom('audit_log').select(['practice_id', 'details']).where('action', '=', 'admin.line_assigned').execute();
    expect(assigned).toEqual([{ practice_id: demo.id, details: { number: '+12025550160', via: 'api' } }]);
  });

  it("the kind decides the voice URL and the flow: an access line answers at /twilio/voice/access, a drop callback line runs the drop-callback flow; a practice's admin connects its own", async () => {
    const accessSid = double.addIncomingNumber('+12025550162');
    const dropSid = double.addIncomingNumber('+12025550163');
    // The operator assigns the numbers; the practice's admin connects them as its own lines.
    for (const n of ['+12025550162', '+12025550163']) expect((await connect(demo.id, n, operator, { kind: 'main', assign: true })).status).toBe(201);
    const access = await connect(demo.id, '+12025550162', demoAdmin, { kind: 'access' });
    expect(access.status).toBe(200);
    expect(Object.fromEntries(updatesOf(accessSid)[1] ?? [])).toMatchObject({ VoiceUrl: url('/twilio/voice/access'), SmsUrl: url('/twilio/sms/incoming') });
    expect((await getPractice(systemScope(h.services, demo.id)))?.accessNumber).toBe('+12025550162');

    const drop = await connect(demo.id, '+12025550163', demoAdmin, { kind: 'drop_callback' });
    expect(drop.body).toMatchObject({ kind: 'drop_callback', flowId: 'drop-callback', differences: [] });
    expect(Object.fromEntries(updatesOf(dropSid)[1] ?? [])).toMatchObject({ VoiceUrl: url('/twilio/voice/incoming') });

    // The access line becomes a main line again: no longer the practice's access number, and it runs a flow.
    const back = await connect(demo.id, '+12025550162', demoAdmin, { kind: 'main', flowId: 'after-hours' });
    expect(back).toMatchObject({ status: 200, body: { kind: 'main', change: 'updated' } });
    expect(Object.fromEntries(updatesOf(accessSid)[2] ?? [])).toMatchObject({ VoiceUrl: url('/twilio/voice/incoming') });
    expect((await getPractice(systemScope(h.services, demo.id)))?.accessNumber).toBeNull();
  });

  it("reports what Twilio reads back differently", async () => {
    const sid = double.addIncomingNumber('+12025550164', { sticky: new Set(['SmsUrl']), smsUrl: 'https://old-answering-service.example/sms' });
    const res = await connect(demo.id, '+12025550164', operator, { kind: 'main', assign: true });
    expect(res.status).toBe(201);
    expect(res.body.differences).toEqual([{ field: 'smsUrl', expected: url('/twilio/sms/incoming'), actual: 'https://old-answering-service.example/sms' }]);
    expect(updatesOf(sid)).toHaveLength(1);
  });

  it('refuses: another practice\'s number (409), a number not in the account (409, nothing written), another practice\'s admin (403), bad input (400 naming the field)', async () => {
    double.addIncomingNumber('+13125550100');
    expect(await connect(demo.id, '+13125550100', operator, { kind: 'main', assign: true })).toEqual({ status: 409, body: { error: 'conflict', message: 'that number belongs to another practice' } });
    const missing = await connect(demo.id, '+12025550169', operator, { kind: 'main', assign: true });
    expect(missing).toMatchObject({ status: 409, body: { error: 'not_in_account' } });
    expect(await h.services.db.selectFrom('practice_numbers').select('e164').where('e164', '=', '+12025550169').executeTakeFirst()).toBeUndefined();
    expect((await connect(demo.id, '+12025550160', otherAdmin, { kind: 'main' })).status).toBe(403);

    const flowOnAccess = await connect(demo.id, '+12025550160', operator, { kind: 'access', flowId: 'after-hours' });
    expect(flowOnAccess).toEqual({ status: 400, body: { error: 'bad_request', message: 'flowId: only a main line runs a flow of its choosing' } });
    expect((await connect(demo.id, '+12025550160', operator, { kind: 'fax' })).body.message).toMatch(/^kind: /);
    expect((await connect(demo.id, '+12025550160', operator, { kind: 'main', flowId: 'no-such-flow' })).body.message).toMatch(/^flowId: no flow "no-such-flow"/);
    expect((await connect(demo.id, '12025550160', operator, { kind: 'main' })).body.message).toMatch(/^e164: /);
  });

  it('answers 502 without a number or Twilio\'s text when Twilio fails', async () => {
    double.addIncomingNumber('+12025550165');
    double.failNext(1, 500);
    const res = await connect(demo.id, '+12025550165', operator, { kind: 'main', assign: true });
    expect(res).toEqual({ status: 502, body: { error: 'twilio_error', message: 'twilio findIncomingNumber: HTTP 500 (Twilio error 20500)' } });
  });
});

describe('a number is connected only to the practice it is registered to', () => {
  const owner = async (e164: string): Promise<string | undefined> => (await h.services.db.selectFrom('practice_numbers').select('practice_id').where('e164', '=', e164).executeTakeFirst())?.practice_id;

  it('an unregistered number in the account is not claimed without the operator\'s assign: 409, nothing written, Twilio untouched', async () => {
    const sid = double.addIncomingNumber('+12025550166');
    for (const key of [operator, demoAdmin]) {
      expect(await connect(demo.id, '+12025550166', key, { kind: 'main' })).toEqual({
        status: 409,
        body: { error: 'not_registered', message: "that number is not one of the practice's: the operator assigns it with assign: true" },
      });
    }
    expect(await owner('+12025550166')).toBeUndefined();
    expect(updatesOf(sid)).toEqual([]);
    expect(double.requests.filter((r) => r.query.get('PhoneNumber') === '+12025550166')).toEqual([]);
    // A practice's admin may not assign one either.
    const byAdmin = await connect(demo.id, '+12025550166', demoAdmin, { kind: 'main', assign: true });
    expect(byAdmin).toEqual({ status: 400, body: { error: 'bad_request', message: 'assign: only a platform operator assigns a number to a practice' } });
    expect(await owner('+12025550166')).toBeUndefined();
  });

  it("another practice's number is never moved: 409 whoever asks, with or without assign, and it stays theirs", async () => {
    const sid = [...double.incomingNumbers].find(([, n]) => n.phoneNumber === '+13125550100')?.[0] ?? double.addIncomingNumber('+13125550100');
    expect((await connect(demo.id, '+13125550100', operator, { kind: 'access', assign: true })).status).toBe(409);
    // To the practice's admin it is just not one of theirs: nothing says another practice has it.
    expect(await connect(demo.id, '+13125550100', demoAdmin, { kind: 'main' })).toMatchObject({ status: 409, body: { error: 'not_registered' } });
    expect(await owner('+13125550100')).toBe(other.id);
    expect((await getPractice(systemScope(h.services, demo.id)))?.accessNumber).not.toBe('+13125550100');
    expect(updatesOf(sid)).toEqual([]);
    // Its own practice's admin connects it: it is registered there.
    expect(await connect(other.id, '+13125550100', otherAdmin, { kind: 'main' })).toMatchObject({ status: 200, body: { change: 'updated' } });
  });
});

describe('command line: practice:create, numbers:connect, numbers:check, keys:create --role operator, audit:export by slug', () => {
  const run = promisify(execFile);
  type Ran = { code: number; stdout: string; stderr: string };
  const cli = (script: string, args: string[]): Promise<Ran> =>
    run(process.execPath, ['--import', 'tsx', `scripts/${script}.ts`, ...args], {
      env: {
        ...process.env,
        DATABASE_SCHEMA: h.schema,
        DATA_DIR: h.config.dataDir,
        PUBLIC_BASE_URL: TEST_PUBLIC_BASE_URL,
        TWILIO_ACCOUNT_SID: TEST_ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: TEST_AUTH_TOKEN,
        TWILIO_API_BASE_URL: double.baseUrl,
      },
    }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
    );

  // Each step starts a CLI process (Node and tsx): on a machine busy with the rest of the suite a
  // start can take many seconds, so this walk of eleven gets a wider guard than the default minute.
  it('a practice moves in: created, its number connected, checked, its drift reported', { timeout: 240_000 }, async () => {
    const created = await cli('practice-create', ['--name', 'Lakeside Clinic', '--slug', 'lakeside', '--time-zone', 'America/Denver', '--number', '+17205550170']);
    expect(created.code).toBe(0);
    expect(created.stdout).toContain('Created practice Lakeside Clinic (lakeside)');
    const lakeside = await h.services.db.selectFrom('practices').select(['id', 'time_zone']).where('slug', '=', 'lakeside').executeTakeFirstOrThrow();
    expect(lakeside.time_zone).toBe('America/Denver');
    const again = await cli('practice-create', ['--name', 'Lakeside Clinic', '--slug', 'lakeside', '--time-zone', 'Mars/Olympus']);
    expect(again).toMatchObject({ code: 2, stderr: expect.stringContaining('--time-zone: expected an IANA time zone') as unknown });

    const notYet = await cli('numbers-check', ['--practice', 'lakeside']);
    expect(notYet.code).toBe(1);
    expect(notYet.stdout).toMatch(/^NOT IN ACCOUNT\s+\+17205550170 main/m);

    const sid = double.addIncomingNumber('+17205550170');
    const connected = await cli('numbers-connect', ['--practice', 'lakeside', '--number', '+17205550170', '--kind', 'main']);
    expect(connected.code).toBe(0);
    expect(connected.stdout).toContain(`Connected +17205550170 as the main line of Lakeside Clinic (flow after-hours), Twilio ${sid}.`);
    expect(double.incomingNumbers.get(sid)).toMatchObject({ voiceUrl: url('/twilio/voice/incoming'), voiceFallbackUrl: url('/twilio/voice/fallback'), statusCallback: url('/twilio/voice/status'), smsUrl: url('/twilio/sms/incoming') });
    const audited = await h.services.db.selectFrom('audit_log').select(['actor', 'details']).where('action', '=', 'admin.line_connected').where('practice_id', '=', lakeside.id).execute();
    expect(audited).toEqual([{ actor: 'cli:numbers-connect', details: { number: '+17205550170', kind: 'main', flowId: 'after-hours', change: 'updated', differences: [], via: 'cli' } }]);

    const clean = await cli('numbers-check', ['--practice', lakeside.id]);
    expect(clean).toMatchObject({ code: 0 });
    expect(clean.stdout).toMatch(/^OK\s+\+17205550170 main/m);

    // Someone changes the number in Twilio's console.
    const held = double.incomingNumbers.get(sid);
    if (held) held.voiceUrl = 'https://old-answering-service.example/voice';
    const drift = await cli('numbers-check', ['--practice', 'lakeside']);
    expect(drift.code).toBe(1);
    expect(drift.stdout).toMatch(/^DRIFT\s+\+17205550170 main/m);
    expect(drift.stdout).toContain(`voiceUrl             expected ${url('/twilio/voice/incoming')}, Twilio has https://old-answering-service.example/voice`);

    const refused = await cli('numbers-connect', ['--practice', 'lakeside', '--number', '+17205550170', '--kind', 'access', '--flow', 'after-hours']);
    expect(refused).toMatchObject({ code: 2, stderr: expect.stringContaining('--flow: only a main line') as unknown });

    const exported = await cli('audit-export', ['--practice', 'lakeside']);
    const actions = exported.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { action: string }).action);
    expect(actions).toEqual(['admin.practice_created', 'admin.line_connected']);
  });

  it('keys:create makes an operator key (no practice) that reaches the platform routes', async () => {
    const made = await cli('keys-create', ['--role', 'operator', '--label', 'platform ops']);
    expect(made.code).toBe(0);
    expect(made.stdout).toContain('for the platform (no practice)');
    const key = /^(ahl_[A-Za-z0-9_-]{43})$/m.exec(made.stdout)?.[1] ?? '';
    const res = await fetch(`${h.baseUrl}/api/practices`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    const withPractice = await cli('keys-create', ['--role', 'operator', '--practice', 'demo']);
    expect(withPractice).toMatchObject({ code: 2, stderr: expect.stringContaining('--practice: an operator key belongs to no practice') as unknown });
    const bySlug = await cli('keys-create', ['--role', 'staff', '--practice', 'lakeside']);
    expect(bySlug.stdout).toContain('for Lakeside Clinic');
  });
});
