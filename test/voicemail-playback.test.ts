import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import express from 'express';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encryptingStream } from '../src/adapters/envelope.js';
import { blindIndex } from '../src/adapters/keyring.js';
import { createApiKey, type ApiRole } from '../src/auth/api-keys.js';
import { PHONE_INDEX } from '../src/patients/store.js';
import { createPractice, type Practice } from '../src/practices/store.js';
import { heard, formatTranscript, type CallResult } from '../devtools/simulator/simulator.js';
import { storageKey, voicemailContext, voicemailJobId } from '../src/voicemail/pipeline.js';
import { playability } from '../src/voicemail/playback-store.js';
import { rangeRequest, type RangeRequest } from '../src/voicemail/stream.js';
import { decideAccess, initialAccessState, MAX_PIN_TRIES, providerPinHash, ProviderPinSchema } from '../src/voicemail/access-line.js';
import type { AuditEvent } from '../src/audit/events.js';
import { DEFAULT_TEST_NOW, startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, TEST_PUBLIC_BASE_URL, type Harness } from './support/harness.js';
import { simulatorFor } from './support/simulate.js';
import { randomTwilioSid, startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { randomWav } from './support/wav.js';
import { consoleCall, staffSessionFor } from './support/staff-session.js';

/**
 * Listening to voicemails: the API (metadata, streamed decryption with ranges, roles, practice
 * scoping, audit with byte counts, acknowledgement, dead letters), single-use playback links,
 * and the provider access line through the call simulator.
 */

const PRACTICE_NUMBER = '+12025550100';
const PROVIDER_PHONE = '+12025550111'; // Dr. Morgan Primary in the demo seed
const PROVIDER_PIN = '7391';
const STRANGER = '+12025550177';
const ACCESS = '/twilio/voice/access';

let now = DEFAULT_TEST_NOW;
let h: Harness;
let twilioDouble: TwilioDouble;
let demo: Practice;
let other: Practice;
let providerId: string;
const keys: Record<string, string> = {};

interface Stored {
  id: string;
  callSid: string;
  referenceCode: string;
  plaintext: Buffer;
}

let createdSeq = 0;
async function insertVoicemail(practiceId: string, init: { urgency?: 'urgent' | 'routine'; state?: 'received' | 'failed'; lastError?: string } = {}): Promise<{ id: string; callSid: string; recordingSid: string; referenceCode: string }> {
  const callSid = randomTwilioSid('CA');
  const recordingSid = randomTwilioSid('RE');
  const referenceCode = String(randomInt(100_000, 1_000_000));
  createdSeq += 1;
  const row = await h.services.db
    .insertInto('voicemails')
    .values({
      practice_id: practiceId,
      call_sid: callSid,
      recording_sid: recordingSid,
      reference_code: referenceCode,
      urgency: init.urgency ?? 'urgent',
      duration_seconds: 12,
      state: init.state ?? 'received',
      last_error: init.lastError ?? null,
      attempts: init.state === 'failed' ? 5 : 0,
      created_at: new Date(DEFAULT_TEST_NOW.getTime() - 3_600_000 + createdSeq * 1000),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id: row.id, callSid, recordingSid, referenceCode };
}

/** A voicemail as the pipeline leaves it: encrypted in storage under its context, state complete (or stored: Twilio's copy not deleted yet). */
async function storedVoicemail(practiceId: string, bytes: number, urgency: 'urgent' | 'routine' = 'urgent', state: 'complete' | 'stored' = 'complete'): Promise<Stored> {
  const v = await insertVoicemail(practiceId, { urgency });
  const plaintext = randomWav(bytes - 44);
  const row = { id: v.id, practice_id: practiceId, recording_sid: v.recordingSid };
  const enc = encryptingStream(h.services.keyring, voicemailContext(row));
  const key = storageKey(row);
  // Odd-sized chunks, so frames and chunks never line up.
  const chunks: Buffer[] = [];
  for (let i = 0; i < plaintext.length; i += 7_777) chunks.push(plaintext.subarray(i, i + 7_777));
  const [stored] = await Promise.all([h.services.storage.put(key, enc.stream), pipeline(Readable.from(chunks), enc.stream)]);
  await h.services.db
    .updateTable('voicemails')
    .set({
      state,
      storage_key: key,
      content_type: 'audio/x-wav',
      plaintext_bytes: enc.plaintextBytes(),
      plaintext_sha256: enc.plaintextDigest(),
      ciphertext_bytes: stored.bytes,
      stored_at: now,
    })
    .where('id', '=', v.id)
    .execute();
  return { id: v.id, callSid: v.callSid, referenceCode: v.referenceCode, plaintext };
}

async function api(method: string, path: string, key: string | undefined, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(h.baseUrl + path, { method, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers } });
}

async function bytesOf(res: Response): Promise<Buffer> {
  return Buffer.from(await res.arrayBuffer());
}

async function audits(action: string, subjectId: string): Promise<Array<{ actor: string; details: Record<string, unknown>; call_sid: string | null; practice_id: string | null }>> {
  return h.services.db
    .selectFrom('audit_log')
    .select(['actor', 'details', 'call_sid', 'practice_id'])
    .where('action', '=', action)
    .where('subject_id', '=', subjectId)
    .orderBy('seq')
    .execute();
}

/** The completion row of a playback is written once the stream has ended: wait for it. */
async function playbackAudits(id: string, count: number, phase: 'started' | 'completed' = 'completed'): Promise<Array<{ actor: string; details: Record<string, unknown> }>> {
  const of = async (): Promise<Array<{ actor: string; details: Record<string, unknown> }>> => (await audits('voicemail.playback', id)).filter((r) => r.details.phase === phase);
  for (let i = 0; i < 50; i += 1) {
    const rows = await of();
    if (rows.length >= count) return rows;
    await new Promise((r) => setTimeout(r, 50));
  }
  return of();
}

let main: Stored;
const SIZE = 200_000; // a little over three 64 KiB frames

beforeAll(async () => {
  twilioDouble = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  h = await startHarness('voicemail-playback', { TWILIO_API_BASE_URL: twilioDouble.baseUrl }, { clock: () => now });
  if (!h.services.seeded) throw new Error('demo practice was not seeded');
  demo = h.services.seeded;
  other = await createPractice(h.services.db, { slug: 'other', name: 'Other Clinic', timeZone: 'America/Chicago', numbers: ['+13125550100'] });
  for (const role of ['admin', 'staff', 'provider', 'auditor'] as ApiRole[]) {
    keys[role] = (await createApiKey(h.services.db, { role, practiceId: demo.id })).key;
  }
  keys.otherAdmin = (await createApiKey(h.services.db, { role: 'admin', practiceId: other.id })).key;
  const provider = await h.services.db.selectFrom('providers').select('id').where('practice_id', '=', demo.id).where('phone', '=', PROVIDER_PHONE).executeTakeFirstOrThrow();
  providerId = provider.id;
  // As the providers API stores it: the access line's own keyed hash.
  await h.services.db.updateTable('providers').set({ pin_hash: providerPinHash(h.services.keyring, providerId, PROVIDER_PIN) }).where('id', '=', providerId).execute();
  main = await storedVoicemail(demo.id, SIZE);
});
afterAll(async () => {
  await h?.close();
  await twilioDouble?.close();
});

/** What a route does: Express's own `req.range(size)` on a request carrying `header`, then rangeRequest. */
function parseRange(header: string | undefined, size: number): RangeRequest {
  const req = Object.assign(Object.create(express.request) as express.Request, { headers: header === undefined ? {} : { range: header } });
  return rangeRequest(req.range(size), size, req.get('range'));
}

describe('range parsing (Express req.range, then pure)', () => {
  it.each([
    [undefined, { kind: 'full' }],
    ['bytes=0-99', { kind: 'partial', start: 0, end: 99 }],
    ['bytes=100-', { kind: 'partial', start: 100, end: 999 }],
    ['bytes=-100', { kind: 'partial', start: 900, end: 999 }],
    ['bytes=-5000', { kind: 'partial', start: 0, end: 999 }],
    ['bytes=900-5000', { kind: 'partial', start: 900, end: 999 }],
    ['bytes=1000-', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    // An invalid range-spec: RFC 9110 lets a server ignore or reject it; range-parser rejects it.
    ['bytes=5-1', { kind: 'unsatisfiable' }],
    ['bytes=0-1,5-6', { kind: 'full' }],
    ['items=0-1', { kind: 'full' }],
    ['bytes=-', { kind: 'full' }],
    ['bytes=0-99, 5', { kind: 'full' }],
    [' bytes = 0-99', { kind: 'partial', start: 0, end: 99 }],
    ['bytes=-0005000', { kind: 'partial', start: 0, end: 999 }],
  ])('%s', (header, expected) => {
    expect(parseRange(header, 1000)).toEqual(expected);
  });

  it('nothing is satisfiable in an empty body', () => {
    expect(parseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=-1', 0)).toEqual({ kind: 'unsatisfiable' });
  });

  it('playability: not stored yet differs from gone', () => {
    const base = { storage_key: 'k', plaintext_bytes: '10', audio_deleted_at: null };
    expect(playability({ ...base, state: 'received' })).toEqual({ ok: false, reason: 'not_stored' });
    expect(playability({ ...base, state: 'failed' })).toEqual({ ok: false, reason: 'not_stored' });
    expect(playability({ ...base, state: 'expired' })).toEqual({ ok: false, reason: 'gone' });
    expect(playability({ ...base, state: 'complete' })).toEqual({ ok: true, key: 'k', size: 10 });
  });
});

describe('provider PINs (pure)', () => {
  it('the providers API hashes with the access line: 4–8 digits, keyed, salted by the provider', () => {
    const k = h.services.keyring;
    const hash = providerPinHash(k, providerId, PROVIDER_PIN);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).not.toContain(PROVIDER_PIN);
    expect(providerPinHash(k, providerId, PROVIDER_PIN)).toBe(hash);
    expect(providerPinHash(k, randomUUID(), PROVIDER_PIN)).not.toBe(hash);
    for (const bad of ['123', '123456789', '12a4', ' 1234', '']) {
      expect(() => providerPinHash(k, providerId, bad)).toThrow(RangeError);
      expect(ProviderPinSchema.safeParse(bad).success).toBe(false);
    }
    expect(ProviderPinSchema.safeParse('00001234').success).toBe(true);
    const refused = ProviderPinSchema.safeParse('98x7');
    expect(JSON.stringify(refused.error?.issues)).not.toContain('98x7');
  });
});

describe('access-line decisions (pure)', () => {
  it('says nothing about voicemails until the PIN matches, and stops after 3 tries', () => {
    let state = initialAccessState('p');
    for (let i = 1; i <= MAX_PIN_TRIES; i += 1) {
      const d = decideAccess(state, { kind: 'pin', outcome: { kind: 'no_match', reason: 'wrong_pin', lockedNow: false } });
      expect(d.speech.kind).toBe(i < MAX_PIN_TRIES ? 'ask_pin' : 'refused');
      expect(d.events[0]?.action).toBe('access.refused');
      state = d.state;
    }
    expect(state.phase).toBe('done');
    expect(decideAccess(state, { kind: 'pin', outcome: { kind: 'match', providerId: 'x', urgent: ['a'] } }).speech.kind).toBe('goodbye');
  });

  it('1 acknowledges and moves on, skipping messages acknowledged elsewhere; 2 repeats; 9 ends', () => {
    const verified = decideAccess(initialAccessState('p'), { kind: 'pin', outcome: { kind: 'match', providerId: 'x', urgent: ['a', 'b', 'c'] } });
    expect(verified.speech).toEqual({ kind: 'message', voicemailId: 'a', number: 1, intro: 3, acked: false });
    const again = decideAccess(verified.state, { kind: 'key', digits: '2', pending: ['a', 'b', 'c'] });
    expect(again.speech).toMatchObject({ kind: 'message', voicemailId: 'a', number: 1, intro: null });
    expect(again.effects).toEqual([]);
    const next = decideAccess(again.state, { kind: 'key', digits: '1', pending: ['a', 'c'] });
    expect(next.effects).toEqual([{ kind: 'ack', voicemailId: 'a' }]);
    expect(next.speech).toMatchObject({ kind: 'message', voicemailId: 'c', number: 2, acked: true });
    expect(decideAccess(next.state, { kind: 'key', digits: '1', pending: ['c'] }).speech).toEqual({ kind: 'none_left', acked: true });
    expect(decideAccess(next.state, { kind: 'key', digits: '9', pending: ['c'] }).speech).toEqual({ kind: 'goodbye' });
    expect(decideAccess(next.state, { kind: 'key', digits: '7', pending: ['c'] }).speech).toMatchObject({ kind: 'menu_again', reason: 'invalid_key' });
  });
});

describe('GET /api/voicemails', () => {
  it('lists metadata and what calling back takes (issue 13, item 9), for every role; never the audio or the storage key', async () => {
    for (const role of ['admin', 'staff', 'provider', 'auditor']) {
      const res = await api('GET', '/api/voicemails', keys[role]);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { voicemails: Array<Record<string, unknown>> };
      const item = body.voicemails.find((v) => v.id === main.id);
      expect(item).toBeDefined();
      expect(Object.keys(item ?? {}).sort()).toEqual(
        ['acknowledgedAt', 'acknowledgedBy', 'acknowledgedByName', 'acknowledgedNote', 'acknowledgedWithNote', 'callSid', 'callerNumber', 'callerVerified', 'createdAt', 'durationSeconds', 'id', 'patient', 'reason', 'referenceCode', 'simulated', 'state', 'storedAt', 'task', 'urgency'].sort(),
      );
      expect(item).toMatchObject({ referenceCode: main.referenceCode, urgency: 'urgent', state: 'complete', callSid: main.callSid, callerVerified: false, durationSeconds: 12, acknowledgedAt: null, simulated: false });
    }
  });

  it('filters, and refuses bad filters without echoing them', async () => {
    const routine = await api('GET', '/api/voicemails?urgency=routine&state=complete', keys.staff);
    expect(((await routine.json()) as { voicemails: Array<{ id: string }> }).voicemails.some((v) => v.id === main.id)).toBe(false);
    const bad = await api('GET', '/api/voicemails?state=%2B12025550123', keys.staff);
    expect(bad.status).toBe(400);
    expect(await bad.text()).not.toContain('12025550123');
  });

  it("another practice's key sees none of them", async () => {
    const res = await api('GET', '/api/voicemails', keys.otherAdmin);
    expect(((await res.json()) as { voicemails: unknown[] }).voicemails).toEqual([]);
  });
});

describe('GET /api/voicemails/:id/audio', () => {
  it('streams the whole decrypted file', async () => {
    const res = await api('GET', `/api/voicemails/${main.id}/audio`, keys.provider);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/wav');
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('content-length')).toBe(String(SIZE));
    const body = await bytesOf(res);
    expect(body.equals(main.plaintext)).toBe(true);
  });

  it.each([
    ['bytes=0-99', 0, 99],
    ['bytes=65000-70000', 65_000, 70_000], // across a frame boundary
    ['bytes=-500', SIZE - 500, SIZE - 1],
    ['bytes=150000-', 150_000, SIZE - 1],
  ])('serves %s as 206', async (range, start, end) => {
    const res = await api('GET', `/api/voicemails/${main.id}/audio`, keys.staff, { range });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${SIZE}`);
    expect(res.headers.get('content-length')).toBe(String(end - start + 1));
    const body = await bytesOf(res);
    expect(body.equals(main.plaintext.subarray(start, end + 1))).toBe(true);
  });

  it('416 with the size when the range is unsatisfiable', async () => {
    const res = await api('GET', `/api/voicemails/${main.id}/audio`, keys.staff, { range: `bytes=${SIZE}-` });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe(`bytes */${SIZE}`);
  });

  it('every playback is audited with the bytes actually sent and the range', async () => {
    const rows = await playbackAudits(main.id, 5);
    expect(rows.map((r) => [r.details.bytes, r.details.range, r.details.via])).toEqual([
      [SIZE, null, 'api'],
      [100, '0-99', 'api'],
      [5001, '65000-70000', 'api'],
      [500, `${SIZE - 500}-${SIZE - 1}`, 'api'],
      [SIZE - 150_000, `150000-${SIZE - 1}`, 'api'],
    ]);
    expect(rows.every((r) => /^api_key:[0-9a-f-]{36}$/.test(r.actor))).toBe(true);
    // Each one was announced before its first byte: who, which, the range asked for.
    const started = await playbackAudits(main.id, 5, 'started');
    expect(started.map((r) => [r.details.requestedBytes, r.details.range, r.details.via])).toEqual([
      [SIZE, null, 'api'],
      [100, '0-99', 'api'],
      [5001, '65000-70000', 'api'],
      [500, `${SIZE - 500}-${SIZE - 1}`, 'api'],
      [SIZE - 150_000, `150000-${SIZE - 1}`, 'api'],
    ]);
    expect(started.map((r) => r.actor)).toEqual(rows.map((r) => r.actor));
    // Started and completed alternate: the start of each playback is in the log before its end.
    const phases = (await audits('voicemail.playback', main.id)).slice(0, 10).map((r) => r.details.phase);
    expect(phases).toEqual(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? 'started' : 'completed')));
  });

  it('the start of a playback is audited before any audio leaves; if it cannot be, 503 and nothing is sent', async () => {
    const v = await storedVoicemail(demo.id, 100_000, 'routine');
    const realAudit = h.services.audit;
    let startedCommittedAt = 0;
    // A slow audit write: the response must not begin before the start row is committed.
    h.services.audit = async (event: AuditEvent | AuditEvent[]) => {
      const e = Array.isArray(event) ? event[0] : event;
      if (e?.action === 'voicemail.playback' && e.details?.phase === 'started') {
        await new Promise((r) => setTimeout(r, 300));
        await realAudit(event);
        startedCommittedAt = Date.now();
        return;
      }
      return realAudit(event);
    };
    try {
      const ok = await api('GET', `/api/voicemails/${v.id}/audio`, keys.staff, { range: 'bytes=10-19' });
      const headersAt = Date.now();
      expect(startedCommittedAt).toBeGreaterThan(0);
      expect(headersAt).toBeGreaterThanOrEqual(startedCommittedAt);
      expect(ok.status).toBe(206);
      expect((await bytesOf(ok)).equals(v.plaintext.subarray(10, 20))).toBe(true);

      h.services.audit = async (event: AuditEvent | AuditEvent[]) => {
        const e = Array.isArray(event) ? event[0] : event;
        if (e?.action === 'voicemail.playback') throw new Error('database unavailable');
        return realAudit(event);
      };
      const refused = await api('GET', `/api/voicemails/${v.id}/audio`, keys.staff);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('content-type')).toMatch(/^application\/json/);
      expect(refused.headers.get('retry-after')).toBe('30');
      const body = await bytesOf(refused);
      expect(body.length).toBeLessThan(300);
      expect(body.includes(v.plaintext.subarray(0, 44))).toBe(false);
      expect(JSON.parse(body.toString())).toMatchObject({ error: 'audit_unavailable' });
    } finally {
      h.services.audit = realAudit;
    }
    const rows = await audits('voicemail.playback', v.id);
    expect(rows.map((r) => r.details.phase)).toEqual(['started', 'completed']);
    expect(rows[0]?.details).toMatchObject({ requestedBytes: 10, range: '10-19' });
    expect(rows[1]?.details).toMatchObject({ bytes: 10, complete: true });
  });

  it('a client that goes away is audited with what it got, not the whole file', async () => {
    const big = await storedVoicemail(demo.id, 3_000_000, 'routine');
    const res = await api('GET', `/api/voicemails/${big.id}/audio`, keys.staff);
    expect(res.status).toBe(200);
    const reader = res.body?.getReader();
    await reader?.read();
    await reader?.cancel();
    let row: { details: Record<string, unknown> } | undefined;
    for (let i = 0; i < 100 && !row; i += 1) {
      row = (await audits('voicemail.playback', big.id)).find((r) => r.details.phase === 'completed');
      if (!row) await new Promise((r) => setTimeout(r, 50));
    }
    expect(row?.details).toMatchObject({ via: 'api', complete: false });
    expect(row?.details.bytes).toBeLessThan(3_000_000);
  });

  it('an auditor may not listen: 403, audited', async () => {
    const res = await api('GET', `/api/voicemails/${main.id}/audio`, keys.auditor);
    expect(res.status).toBe(403);
    const forbidden = await audits('api.forbidden', main.id);
    expect(forbidden.at(-1)?.details).toMatchObject({ reason: 'role', role: 'auditor' });
  });

  it("another practice's voicemail is 404", async () => {
    expect((await api('GET', `/api/voicemails/${main.id}/audio`, keys.otherAdmin)).status).toBe(404);
    expect((await api('GET', `/api/voicemails/${randomUUID()}/audio`, keys.admin)).status).toBe(404);
  });

  it('409 while not stored yet, 404 once expired', async () => {
    const pending = await insertVoicemail(demo.id, { urgency: 'routine' });
    const res = await api('GET', `/api/voicemails/${pending.id}/audio`, keys.admin);
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ error: 'not_stored' });
    const gone = await storedVoicemail(demo.id, 1000, 'routine');
    await h.services.db.updateTable('voicemails').set({ state: 'expired', audio_deleted_at: now }).where('id', '=', gone.id).execute();
    expect((await api('GET', `/api/voicemails/${gone.id}/audio`, keys.admin)).status).toBe(404);
  });
});

describe('playback links', () => {
  async function link(id: string, key = keys.provider): Promise<{ status: number; url: string; expiresAt: string }> {
    const res = await api('POST', `/api/voicemails/${id}/playback-link`, key);
    const body = (await res.json()) as { url: string; expiresAt: string };
    return { status: res.status, ...body };
  }
  const local = (url: string): string => h.baseUrl + url.slice(TEST_PUBLIC_BASE_URL.length);

  it('a link plays once, then 404; only its hash is stored', async () => {
    const l = await link(main.id);
    expect(l.status).toBe(201);
    expect(l.url).toMatch(new RegExp(`^${TEST_PUBLIC_BASE_URL.replace(/[.]/g, '\\.')}/playback/[A-Za-z0-9_-]{43}$`));
    expect(new Date(l.expiresAt).getTime()).toBe(now.getTime() + 5 * 60_000);
    const token = l.url.split('/').at(-1) ?? '';
    const rows = await h.services.db.selectFrom('playback_tokens').selectAll().where('voicemail_id', '=', main.id).execute();
    expect(JSON.stringify(rows)).not.toContain(token);
    expect(rows.some((r) => r.token_hash === createHash('sha256').update(token).digest('hex'))).toBe(true);

    const first = await fetch(local(l.url));
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('audio/wav');
    expect((await bytesOf(first)).equals(main.plaintext)).toBe(true);
    const second = await fetch(local(l.url));
    expect(second.status).toBe(404);
    const played = (await playbackAudits(main.id, 6)).filter((r) => r.details.via === 'link');
    expect(played.at(-1)).toMatchObject({ actor: 'playback_token', details: { bytes: SIZE, range: null, via: 'link' } });
    expect(String(played.at(-1)?.details.issuedTo)).toMatch(/^api_key:/);
  });

  it('expires after 5 minutes; unknown tokens get the same 404', async () => {
    const l = await link(main.id);
    now = new Date(now.getTime() + 5 * 60_000 + 1000);
    try {
      const res = await fetch(local(l.url));
      expect(res.status).toBe(404);
      const unknown = await fetch(`${h.baseUrl}/playback/${randomBytes(32).toString('base64url')}`);
      expect(unknown.status).toBe(404);
      expect(await unknown.text()).toBe(await (await fetch(`${h.baseUrl}/playback/nonsense`)).text());
    } finally {
      now = DEFAULT_TEST_NOW;
    }
  });

  it('HEAD is refused and does not use the link up', async () => {
    const l = await link(main.id);
    const head = await fetch(local(l.url), { method: 'HEAD' });
    expect(head.status).toBe(405);
    expect((await fetch(local(l.url))).status).toBe(200);
  });

  it('an auditor may not make one', async () => {
    expect((await link(main.id, keys.auditor)).status).toBe(403);
  });
});

describe('acknowledgement and dead letters', () => {
  it('ack sets acknowledged_at/by once, audited', async () => {
    const v = await storedVoicemail(demo.id, 2000, 'routine');
    const res = await api('POST', `/api/voicemails/${v.id}/ack`, keys.staff);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ result: 'acknowledged' });
    const again = await api('POST', `/api/voicemails/${v.id}/ack`, keys.provider);
    expect(await again.json()).toMatchObject({ result: 'already_acknowledged' });
    const row = await h.services.db.selectFrom('voicemails').select(['acknowledged_at', 'acknowledged_by']).where('id', '=', v.id).executeTakeFirstOrThrow();
    expect(row.acknowledged_by).toMatch(/^api_key:/);
    expect(row.acknowledged_at).not.toBeNull();
    expect(await audits('voicemail.acknowledged', v.id)).toHaveLength(1);
    expect((await api('POST', `/api/voicemails/${v.id}/ack`, keys.auditor)).status).toBe(403);
    expect((await api('POST', `/api/voicemails/${v.id}/ack`, keys.otherAdmin)).status).toBe(404);
  });

  it('the note left on acknowledgement comes back with who left it (by name) and when: opened for staff, never for an auditor', async () => {
    const NOTE = 'Called back, advised fluids and rest';
    const v = await storedVoicemail(demo.id, 2000, 'routine');
    const person = await staffSessionFor(h, demo.id, { email: `ack-${randomUUID()}@example.test`, displayName: 'Dana Ackley' });
    const ack = await consoleCall(h, 'POST', `/api/voicemails/${v.id}/ack`, { cookie: person.cookie, csrf: person.csrf, body: { note: NOTE } });
    expect(ack.status).toBe(200);
    // Sealed in the row, not in clear.
    const row = await h.services.db.selectFrom('voicemails').select(['acknowledged_note_enc']).where('id', '=', v.id).executeTakeFirstOrThrow();
    expect(row.acknowledged_note_enc?.toString('latin1')).not.toContain(NOTE);
    const listed = async (key: string | undefined): Promise<Record<string, unknown> | undefined> => {
      const body = (await (await api('GET', '/api/voicemails?limit=500', key)).json()) as { voicemails: Array<Record<string, unknown>> };
      return body.voicemails.find((x) => x.id === v.id);
    };
    for (const role of ['admin', 'staff', 'provider']) {
      expect(await listed(keys[role])).toMatchObject({
        acknowledgedAt: expect.any(String),
        acknowledgedBy: `user:${person.userId}`,
        acknowledgedByName: 'Dana Ackley',
        acknowledgedWithNote: true,
        acknowledgedNote: NOTE,
      });
    }
    // An auditor's numbers are masked: so is the note (never opened), though who and when stand.
    expect(await listed(keys.auditor)).toMatchObject({ acknowledgedByName: 'Dana Ackley', acknowledgedWithNote: true, acknowledgedNote: null });
    // The note's opening is audited with the list read, counts only.
    const reads = await h.services.db.selectFrom('audit_log').select('details').where('action', '=', 'voicemail.list_read').orderBy('seq', 'desc').limit(1).execute();
    expect(reads[0]?.details).toMatchObject({ notesOpened: expect.any(Number) });
    expect(JSON.stringify(reads[0]?.details)).not.toContain(NOTE);
    // An acknowledgement without a note: none, and none to hide.
    const plain = await storedVoicemail(demo.id, 2000, 'routine');
    expect((await api('POST', `/api/voicemails/${plain.id}/ack`, keys.staff)).status).toBe(200);
    const p = ((await (await api('GET', '/api/voicemails?limit=500', keys.staff)).json()) as { voicemails: Array<Record<string, unknown>> }).voicemails.find((x) => x.id === plain.id);
    expect(p).toMatchObject({ acknowledgedWithNote: false, acknowledgedNote: null, acknowledgedByName: null });
  });

  it('admins see failed voicemails and requeue them onto the pipeline', async () => {
    const failed = await insertVoicemail(demo.id, { urgency: 'routine', state: 'failed', lastError: 'twilio fetch: timeout' });
    expect((await api('GET', '/api/voicemails/dead-letter', keys.staff)).status).toBe(403);
    const list = (await (await api('GET', '/api/voicemails/dead-letter', keys.admin)).json()) as { voicemails: Array<Record<string, unknown>> };
    expect(list.voicemails).toContainEqual({
      id: failed.id,
      recordingSid: failed.recordingSid,
      reason: 'store_failed',
      state: 'failed',
      lastError: 'twilio fetch: timeout',
      attempts: 5,
      createdAt: expect.any(String),
    });
    expect((await api('POST', `/api/voicemails/${failed.id}/retry`, keys.staff)).status).toBe(403);
    const retry = await api('POST', `/api/voicemails/${failed.id}/retry`, keys.admin);
    expect(retry.status).toBe(202);
    expect(await retry.json()).toEqual({ id: failed.id, state: 'received' });
    expect(await audits('voicemail.requeued', failed.id)).toEqual([
      {
        actor: expect.stringMatching(/^api_key:/),
        call_sid: failed.callSid,
        practice_id: demo.id,
        details: { previousError: 'twilio fetch: timeout', attempts: 5, previousState: 'failed', reason: 'store_failed' },
      },
    ]);
    const job = await h.services.queues.voicemail.getJob(voicemailJobId(failed.recordingSid));
    expect(job?.data).toEqual({ voicemailId: failed.id });
    const dead = (await (await api('GET', '/api/voicemails/dead-letter', keys.admin)).json()) as { voicemails: Array<{ id: string }> };
    // Off the list until the pipeline gives up on it again.
    if ((await h.services.db.selectFrom('voicemails').select('state').where('id', '=', failed.id).executeTakeFirstOrThrow()).state === 'received') {
      expect(dead.voicemails.some((v) => v.id === failed.id)).toBe(false);
    }
    const notDead = await api('POST', `/api/voicemails/${main.id}/retry`, keys.admin);
    expect(notDead.status).toBe(409);
    expect(await notDead.json()).toEqual({ error: 'conflict', message: 'only a dead-lettered voicemail can be retried; this one is complete' });
    expect(await audits('voicemail.requeued', main.id)).toEqual([]);
    const elsewhere = await api('POST', `/api/voicemails/${failed.id}/retry`, keys.otherAdmin);
    expect(elsewhere.status).toBe(404);
    expect(await elsewhere.json()).toEqual({ error: 'not_found' });
    expect(await audits('voicemail.requeued', failed.id)).toHaveLength(1);
  });

  it("admins requeue a stored voicemail whose Twilio deletion ran out of attempts: it keeps its state, the sweep's budget is reset", async () => {
    const v = await storedVoicemail(demo.id, 1000, 'routine', 'stored');
    await h.services.db.updateTable('voicemails').set({ dead_letter_reason: 'twilio_delete_failed', last_error: 'delete: twilio deleteRecording: http 503', requeues: 7 }).where('id', '=', v.id).execute();
    const retry = await api('POST', `/api/voicemails/${v.id}/retry`, keys.admin);
    expect(retry.status).toBe(202);
    expect(await retry.json()).toEqual({ id: v.id, state: 'stored' });
    expect((await h.services.db.selectFrom('voicemails').select('requeues').where('id', '=', v.id).executeTakeFirstOrThrow()).requeues).toBe(0);
    expect(await audits('voicemail.requeued', v.id)).toMatchObject([
      { actor: expect.stringMatching(/^api_key:/), details: { previousState: 'stored', reason: 'twilio_delete_failed', previousError: 'delete: twilio deleteRecording: http 503' } },
    ]);
    const recordingSid = (await h.services.db.selectFrom('voicemails').select('recording_sid').where('id', '=', v.id).executeTakeFirstOrThrow()).recording_sid;
    expect((await h.services.queues.voicemail.getJob(voicemailJobId(recordingSid)))?.data).toEqual({ voicemailId: v.id });
  });
});

describe('the provider access line', () => {
  let urgent: Stored;

  beforeAll(async () => {
    // Exactly one urgent voicemail waiting.
    await h.services.db.updateTable('voicemails').set({ acknowledged_at: now, acknowledged_by: 'test' }).where('acknowledged_at', 'is', null).execute();
    urgent = await storedVoicemail(demo.id, 50_000, 'urgent');
  });

  function call(from: string, digits: Array<string | null>): Promise<CallResult> {
    return simulatorFor(h, () => now).placeCall({ from, to: PRACTICE_NUMBER, incomingPath: ACCESS, digits });
  }

  /** What the caller heard before their first key press. */
  function heardBeforePin(result: CallResult): string {
    const firstPress = result.transcript.findIndex((e) => e.kind === 'press' || e.kind === 'silence');
    return heard({ transcript: result.transcript.slice(0, firstPress === -1 ? undefined : firstPress) });
  }

  function assertSaysNothingAboutVoicemails(result: CallResult): void {
    const all = heard(result);
    expect(all.toLowerCase()).not.toContain('voicemail');
    expect(all.replace(/\s/g, '')).not.toContain(urgent.referenceCode);
    expect(result.transcript.some((e) => e.kind === 'play')).toBe(false);
  }

  it('a stranger with the right PIN hears nothing about voicemails', async () => {
    const result = await call(STRANGER, [`${PROVIDER_PIN}#`, `${PROVIDER_PIN}#`, `${PROVIDER_PIN}#`]);
    expect(result.errors, formatTranscript(result)).toEqual([]);
    assertSaysNothingAboutVoicemails(result);
    expect(heard(result)).toContain('That PIN was not accepted. Goodbye.');
    const refused = await h.services.db.selectFrom('audit_log').select('details').where('call_sid', '=', result.callSid).where('action', '=', 'access.refused').execute();
    expect(refused.map((r) => r.details)).toMatchObject([{ reason: 'not_provider', attempt: 1 }, { reason: 'not_provider', attempt: 2 }, { reason: 'not_provider', attempt: 3, final: true }]);
  });

  it('the provider with a wrong PIN hears nothing about voicemails; failures count toward the lockout', async () => {
    const result = await call(PROVIDER_PHONE, ['0000#', '1111#', '2222#']);
    expect(result.errors, formatTranscript(result)).toEqual([]);
    assertSaysNothingAboutVoicemails(result);
    const index = blindIndex(h.services.keyring.indexKey, PHONE_INDEX, PROVIDER_PHONE);
    expect(await h.services.redis.zcard(`verify-fail:access:${demo.id}:${index}`)).toBe(3);
  });

  it('the provider with the right PIN hears the urgent voicemail, plays it and acknowledges it with 1', async () => {
    const result = await call(PROVIDER_PHONE, [`${PROVIDER_PIN}#`, '1']);
    expect(result.errors, formatTranscript(result)).toEqual([]);
    const before = heardBeforePin(result);
    expect(before).toContain('Please enter your PIN');
    expect(before.toLowerCase()).not.toContain('voicemail');
    expect(before.replace(/\s/g, '')).not.toContain(urgent.referenceCode);

    const text = heard(result);
    expect(text).toContain('You have 1 new urgent voicemail.');
    expect(text).toContain(`Message 1, reference ${urgent.referenceCode.split('').join(' ')}.`);
    expect(text).toContain('Press 1 to mark it heard and hear the next, 2 to hear it again, 9 to end.');
    // Nothing left: the menu without messages (a page may still be acknowledged), then goodbye on silence.
    expect(text).toContain('Marked as heard. There are no more new urgent voicemails. To acknowledge a page, press 3. To end the call, press 9. Goodbye.');
    const plays = result.transcript.filter((e): e is Extract<typeof e, { kind: 'play' }> => e.kind === 'play');
    expect(plays).toHaveLength(1);
    const url = plays[0]?.url ?? '';
    expect(url.startsWith(`${TEST_PUBLIC_BASE_URL}/playback/`)).toBe(true);

    const row = await h.services.db.selectFrom('voicemails').select(['acknowledged_at', 'acknowledged_by']).where('id', '=', urgent.id).executeTakeFirstOrThrow();
    expect(row.acknowledged_by).toBe(`provider:${providerId}`);
    expect(await audits('voicemail.acknowledged', urgent.id)).toMatchObject([{ actor: `provider:${providerId}`, details: { via: 'access_line', accessCallSid: result.callSid } }]);
    const verified = await h.services.db.selectFrom('audit_log').select(['actor', 'subject_id']).where('call_sid', '=', result.callSid).where('action', '=', 'access.verified').execute();
    expect(verified).toEqual([{ actor: `provider:${providerId}`, subject_id: providerId }]);
    // A success clears the failures of the number.
    const index = blindIndex(h.services.keyring.indexKey, PHONE_INDEX, PROVIDER_PHONE);
    expect(await h.services.redis.zcard(`verify-fail:access:${demo.id}:${index}`)).toBe(0);

    // The link Twilio's <Play> fetches: the audio, once, audited as issued to the provider.
    const audio = await fetch(h.baseUrl + url.slice(TEST_PUBLIC_BASE_URL.length));
    expect(audio.status).toBe(200);
    expect((await bytesOf(audio)).equals(urgent.plaintext)).toBe(true);
    expect((await fetch(h.baseUrl + url.slice(TEST_PUBLIC_BASE_URL.length))).status).toBe(404);
    const played = await playbackAudits(urgent.id, 1);
    expect((await playbackAudits(urgent.id, 1, 'started'))[0]).toMatchObject({ actor: 'playback_token', details: { via: 'link', requestedBytes: 50_000, issuedTo: `provider:${providerId}` } });
    expect(played[0]).toMatchObject({ actor: 'playback_token', details: { via: 'link', bytes: 50_000, issuedTo: `provider:${providerId}` } });

    // Nothing left: the next call hears so, with no audio.
    const later = await call(PROVIDER_PHONE, [`${PROVIDER_PIN}#`]);
    expect(heard(later)).toContain('You have no new urgent voicemails. To acknowledge a page, press 3. To end the call, press 9. Goodbye.');
    expect(later.transcript.some((e) => e.kind === 'play')).toBe(false);
  });

  it('a voicemail stored while Twilio still holds its copy is offered too', async () => {
    const v = await storedVoicemail(demo.id, 8_000, 'urgent', 'stored');
    const result = await call(PROVIDER_PHONE, [`${PROVIDER_PIN}#`, '1']);
    expect(result.errors, formatTranscript(result)).toEqual([]);
    expect(heard(result)).toContain(`Message 1, reference ${v.referenceCode.split('').join(' ')}.`);
    expect(result.transcript.filter((e) => e.kind === 'play')).toHaveLength(1);
    const row = await h.services.db.selectFrom('voicemails').select('acknowledged_by').where('id', '=', v.id).executeTakeFirstOrThrow();
    expect(row.acknowledged_by).toBe(`provider:${providerId}`);
  });

  it('2 plays it again with a fresh link; 9 ends without acknowledging', async () => {
    const v = await storedVoicemail(demo.id, 10_000, 'urgent');
    const result = await call(PROVIDER_PHONE, [`${PROVIDER_PIN}#`, '2', '9']);
    expect(result.errors, formatTranscript(result)).toEqual([]);
    const plays = result.transcript.filter((e): e is Extract<typeof e, { kind: 'play' }> => e.kind === 'play').map((e) => e.url);
    expect(plays).toHaveLength(2);
    expect(new Set(plays).size).toBe(2);
    expect(heard(result)).toMatch(/Goodbye\.$/);
    const row = await h.services.db.selectFrom('voicemails').select('acknowledged_at').where('id', '=', v.id).executeTakeFirstOrThrow();
    expect(row.acknowledged_at).toBeNull();
    await h.services.db.updateTable('voicemails').set({ acknowledged_at: now, acknowledged_by: 'test' }).where('id', '=', v.id).execute();
  });

  it('five failures from the number lock it out, across calls (counted apart from the patient line)', async () => {
    await storedVoicemail(demo.id, 1000, 'urgent');
    const first = await call(PROVIDER_PHONE, ['0000#', '1111#', '2222#']);
    expect(heard(first)).toContain('That PIN was not accepted. Goodbye.');
    const second = await call(PROVIDER_PHONE, ['3333#', '4444#']);
    expect(heard(second)).toContain('Too many attempts');
    const third = await call(PROVIDER_PHONE, [`${PROVIDER_PIN}#`]);
    expect(heard(third)).toContain('Too many attempts');
    for (const r of [first, second, third]) assertSaysNothingAboutVoicemails(r);
    const index = blindIndex(h.services.keyring.indexKey, PHONE_INDEX, PROVIDER_PHONE);
    expect(await h.services.redis.get(`verify-lock:access:${demo.id}:${index}`)).not.toBeNull();
  });
});
