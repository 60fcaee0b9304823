import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createApiKey } from '../src/auth/api-keys.js';
import { createPatient } from '../src/patients/store.js';
import { DEMO } from '../src/practices/seed.js';
import type { Practice } from '../src/practices/store.js';
import { acquireSlot, reserveSlot } from '../src/drops/rate-limit.js';
import { OPT_OUT_KEY } from '../src/drops/templates.js';
import { heard } from '../devtools/simulator/simulator.js';
import { callApi, type ApiAnswer } from './support/api-request.js';
import { until } from './support/until.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, type Harness } from './support/harness.js';
import { simulatorFor } from './support/simulate.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { postTwilio } from './support/twilio-request.js';

/**
 * Voicemail drops placed through Twilio (outbound call, answering-machine detection that waits
 * for the end of the greeting), the drop callback line's keypad opt-out, and the shared
 * outbound-call rate limit.
 */

// Tuesday 2026-12-01, 10:00 in New York.
let now = new Date('2026-12-01T15:00:00Z');
let h: Harness;
let twilioApi: TwilioDouble;
let practice: Practice;
let admin: string;
let audioDir: string;
const PHONES = { machine: '+12025550161', human: '+12025550162', caller: '+12025550163' };
const ids: Record<string, string> = {};

function api(method: string, path: string, body?: unknown): Promise<ApiAnswer> {
  return callApi(h, method, path, admin, body);
}

beforeAll(async () => {
  twilioApi = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  audioDir = await mkdtemp(path.join(os.tmpdir(), 'ahl-audio-'));
  h = await startHarness('rvm-twilio', { TWILIO_API_BASE_URL: twilioApi.baseUrl, AUDIO_DIR: audioDir }, { clock: () => now });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  practice = h.services.seeded;
  admin = (await createApiKey(h.services.db, { role: 'admin', practiceId: practice.id })).key;
  for (const [name, phone] of Object.entries(PHONES)) {
    const id = await createPatient(h.services.db, h.services.keyring, { practiceId: practice.id, phone, firstName: `Sky${name}`, dateOfBirth: '1990-01-02' });
    ids[name] = id;
    const res = await api('POST', `/api/patients/${id}/consents`, { channel: 'rvm', action: 'granted', source: 'web_form', disclosureVersion: DEMO.rvmDisclosure.version, evidenceRef: `form-${name}` });
    expect(res.status).toBe(201);
  }
  expect((await api('POST', '/api/vendor-baas', { vendor: 'twilio', signedAt: '2026-09-01', documentRef: 'twilio-baa' })).status).toBe(201);
});

afterAll(async () => {
  await h.close();
  await twilioApi.close();
  await rm(audioDir, { recursive: true, force: true });
});

function dropIdFromUrl(url: string): string {
  return new URL(url).searchParams.get('d') ?? '';
}

describe('Twilio voicemail drops', () => {
  let calls: Array<{ to: string; url: string; sid: string }> = [];

  it('says that Twilio drops ring the phone, then places outbound calls that wait for the end of the greeting', async () => {
    const created = await api('POST', '/api/campaigns', {
      name: 'Recall by phone',
      templateId: 'recall',
      provider: 'twilio',
      humanAnswer: 'hangup',
      patientIds: [ids.machine, ids.human],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect((created.body.notices as string[]).join(' ')).toMatch(/phone rings/);
    const start = await api('POST', `/api/campaigns/${String(created.body.id)}/start`);
    expect(start.body).toMatchObject({ state: 'running', queued: 2 });
    expect((start.body.notices as string[]).join(' ')).toMatch(/phone rings/);

    // Placed, and the Call SIDs Twilio answered with stored as the drops' provider references.
    await until('two calls', async () => (await h.services.db.selectFrom('drops').select('provider_ref').where('provider_ref', 'is not', null).execute()).length === 2);
    const requests = twilioApi.requests.filter((r) => r.path.endsWith('/Calls.json'));
    calls = requests.map((r) => ({ to: r.form.get('To') ?? '', url: r.form.get('Url') ?? '', sid: '' }));
    for (const r of requests) {
      expect(r.authorized).toBe(true);
      expect(r.form.get('From')).toBe(DEMO.dropCallbackNumber);
      expect(r.form.get('MachineDetection')).toBe('DetectMessageEnd');
      expect(r.form.get('Url')).toMatch(/^https:\/\/ahl\.example\.test:8443\/twilio\/rvm\/answer\?d=[0-9a-f-]{36}$/);
      expect(r.form.get('StatusCallback')).toMatch(/\/twilio\/rvm\/status\?d=[0-9a-f-]{36}$/);
    }
    expect(calls.map((c) => c.to).sort()).toEqual([PHONES.machine, PHONES.human].sort());
    // The Call SIDs Twilio answered with are the drops' provider references.
    const rows = await h.services.db.selectFrom('drops').select(['id', 'provider_ref', 'status']).execute();
    for (const c of calls) {
      const row = rows.find((r) => r.id === dropIdFromUrl(c.url));
      expect(row?.status).toBe('sent');
      expect(row?.provider_ref).toMatch(/^CA[0-9a-f]{32}$/);
      c.sid = row?.provider_ref ?? '';
    }
  });

  it('a machine gets the message after the beep; a person gets a polite hang-up (as configured); a forged call gets nothing', async () => {
    const machine = calls.find((c) => c.to === PHONES.machine);
    const human = calls.find((c) => c.to === PHONES.human);
    if (!machine || !human) throw new Error('calls missing');
    const path = (c: { url: string }): string => new URL(c.url).pathname + new URL(c.url).search;

    const forged = await postTwilio(h, path(machine), { CallSid: `CA${'9'.repeat(32)}`, AccountSid: TEST_ACCOUNT_SID, AnsweredBy: 'machine_end_beep', CallStatus: 'in-progress' });
    expect(forged.body).not.toContain('<Say');

    const left = await postTwilio(h, path(machine), { CallSid: machine.sid, AccountSid: TEST_ACCOUNT_SID, AnsweredBy: 'machine_end_beep', CallStatus: 'in-progress' });
    expect(left.status).toBe(200);
    expect(left.body).toContain('<Say');
    expect(left.body).toContain('Demo Family Medicine');
    expect(left.body).toContain(`press ${OPT_OUT_KEY}`);
    expect(left.body).not.toContain('Sky');

    const person = await postTwilio(h, path(human), { CallSid: human.sid, AccountSid: TEST_ACCOUNT_SID, AnsweredBy: 'human', CallStatus: 'in-progress' });
    expect(person.body).toContain('Sorry to have disturbed you');
    expect(person.body).not.toContain('Demo Family Medicine');

    const statusPath = (c: { url: string }): string => path(c).replace('/answer', '/status');
    await postTwilio(h, statusPath(machine), { CallSid: machine.sid, AccountSid: TEST_ACCOUNT_SID, CallStatus: 'completed', CallDuration: '31' });
    await postTwilio(h, statusPath(human), { CallSid: human.sid, AccountSid: TEST_ACCOUNT_SID, CallStatus: 'completed', CallDuration: '4' });
    const rows = await h.services.db.selectFrom('drops').select(['id', 'status', 'reason', 'answered_by']).execute();
    expect(rows.find((r) => r.id === dropIdFromUrl(machine.url))).toMatchObject({ status: 'delivered', reason: 'message_played', answered_by: 'machine_end_beep' });
    expect(rows.find((r) => r.id === dropIdFromUrl(human.url))).toMatchObject({ status: 'failed', reason: 'human_answered', answered_by: 'human' });
    const campaign = await h.services.db.selectFrom('campaigns').select('state').executeTakeFirstOrThrow();
    expect(campaign.state).toBe('completed');
  });
});

describe('the drop callback line', () => {
  it(`pressing ${OPT_OUT_KEY} puts the caller's number on the opt-out list; the next campaign skips it`, async () => {
    const sim = simulatorFor(h, () => now);
    const result = await sim.placeCall({ from: PHONES.caller, to: DEMO.dropCallbackNumber, digits: [OPT_OUT_KEY, '9'] });
    const text = heard(result);
    expect(text).toContain('If this is a medical emergency, hang up and dial 911.');
    expect(text).toContain('will not receive automated voicemail messages');
    const audit = await h.services.db.selectFrom('audit_log').select(['action', 'details']).where('action', '=', 'consent.opt_out').execute();
    expect(audit).toContainEqual({ action: 'consent.opt_out', details: expect.objectContaining({ source: 'keypad', result: 'recorded', patients: 1, consentsRevoked: 1 }) });

    const next = await api('POST', '/api/campaigns', { name: 'After opt-out', templateId: 'callback-request', provider: 'twilio', patientIds: [ids.caller] });
    const dry = await api('POST', `/api/campaigns/${String(next.body.id)}/dry-run`);
    expect(dry.body).toMatchObject({ eligibleNow: 0, excluded: { opted_out: 1 } });
    const consents = await api('GET', `/api/patients/${ids.caller}/consents`);
    expect(consents.body.current).toMatchObject({ rvm: 'revoked' });
  });

  it('a caller without caller ID is told how to opt out instead', async () => {
    const sim = simulatorFor(h, () => now);
    const result = await sim.placeCall({ from: 'anonymous', to: DEMO.dropCallbackNumber, digits: [OPT_OUT_KEY, '9'] });
    expect(heard(result)).toContain('call us from the phone that received the message');
  });
});

describe('outbound call rate', () => {
  it('one call per second per account, shared through Redis: each caller gets the next free slot', async () => {
    const redis = new Redis('redis://127.0.0.1:6379', { keyPrefix: `${h.keyPrefix}rate-test:` });
    try {
      const t = 1_000_000;
      const at = (): number => t;
      // With a fixed clock, the waits are the reserved offsets: 0, 1 s, 2 s (not slept here: the first is 0).
      const slots = [await reserveSlot(redis, 'acct', 1, t, t), await reserveSlot(redis, 'acct', 1, t, t), await reserveSlot(redis, 'acct', 1, t, t)];
      expect(slots).toEqual([t, t + 1000, t + 2000]);
      // A campaign deferral asks for a slot no earlier than a later time.
      expect(await reserveSlot(redis, 'acct', 1, t + 10_000, t)).toBe(t + 10_000);
      expect(await acquireSlot(redis, 'other', 1, at)).toBe(0);
    } finally {
      redis.disconnect();
    }
  });
});

describe('pre-rendered recordings', () => {
  it('npm run audio:render writes a recording and its transcript; a campaign may use it only while the transcript is its message', async () => {
    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'scripts/render-audio.ts', '--practice', 'demo', '--template', 'callback-request', '--out', 'callback-demo.wav'], {
      cwd: path.resolve(import.meta.dirname, '..'),
      env: {
        ...process.env,
        NODE_ENV: 'test',
        DATABASE_SCHEMA: h.schema,
        AUDIO_DIR: audioDir,
        DATA_DIR: h.config.dataDir,
        TWILIO_ACCOUNT_SID: TEST_ACCOUNT_SID,
        TWILIO_AUTH_TOKEN: TEST_AUTH_TOKEN,
        // A stand-in text-to-speech engine: the "recording" is the text itself.
        AUDIO_TTS_COMMAND: 'cat > {out}',
      },
    });
    expect(stdout).toContain('callback-demo.wav');
    const transcript = await readFile(path.join(audioDir, 'callback-demo.wav.txt'), 'utf8');
    expect(transcript).toContain('Demo Family Medicine');
    expect(await readFile(path.join(audioDir, 'callback-demo.wav'), 'utf8')).toBe(transcript.trim());

    const body = { name: 'Recorded', templateId: 'callback-request', provider: 'twilio', patientIds: [ids.human], audioFile: 'callback-demo.wav' };
    const wrongTemplate = await api('POST', '/api/campaigns', { ...body, templateId: 'recall' });
    expect(wrongTemplate.status).toBe(400);
    expect(wrongTemplate.body.message).toMatch(/transcript/);
    const missing = await api('POST', '/api/campaigns', { ...body, audioFile: 'nope.wav' });
    expect(missing.status).toBe(400);

    now = new Date('2026-12-03T15:00:00Z');
    const created = await api('POST', '/api/campaigns', body);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const callsBefore = twilioApi.requests.filter((r) => r.path.endsWith('/Calls.json')).length;
    expect((await api('POST', `/api/campaigns/${String(created.body.id)}/start`)).status).toBe(200);
    await until('the call', async () => twilioApi.requests.filter((r) => r.path.endsWith('/Calls.json') && r.status === 201).length > callsBefore);
    const call = twilioApi.requests.filter((r) => r.path.endsWith('/Calls.json')).at(-1);
    const url = new URL(call?.form.get('Url') ?? '');
    const drop = await until('its provider reference', async () =>
      h.services.db.selectFrom('drops').select(['provider_ref']).where('id', '=', url.searchParams.get('d') ?? '').where('provider_ref', 'is not', null).executeTakeFirst(),
    );
    const answer = await postTwilio(h, url.pathname + url.search, { CallSid: drop.provider_ref ?? '', AccountSid: TEST_ACCOUNT_SID, AnsweredBy: 'machine_end_silence', CallStatus: 'in-progress' });
    expect(answer.body).toContain('<Play>https://ahl.example.test:8443/audio/callback-demo.wav</Play>');
    expect(answer.body).not.toContain('<Say');

    // Someone changes the recording's transcript: the next drop of that campaign is not sent with it.
    await writeFile(path.join(audioDir, 'callback-demo.wav.txt'), 'Something else entirely.');
    const again = await api('POST', '/api/campaigns', body);
    expect(again.status).toBe(400);
  });
});
