import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../src/auth/api-keys.js';
import { verifyChain } from '../src/audit/store.js';
import { formatTranscript } from '../devtools/simulator/simulator.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, type Harness } from './support/harness.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { recordingSimulatorFor } from './support/simulate.js';
import { until } from './support/until.js';

/**
 * The "done means", end to end: a simulated call leaves a voicemail; the pipeline
 * stores it encrypted and verified, then Twilio's copy is deleted; it is listed and played
 * (with a Range) by a provider; and every step is in the audit log, in order.
 */

const PATIENT = '+12025550123';
const PRACTICE = '+12025550100';

describe('a voicemail from call to playback', () => {
  let h: Harness;
  let double: TwilioDouble;

  beforeAll(async () => {
    double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
    h = await startHarness('vm_e2e', { TWILIO_API_BASE_URL: double.baseUrl });
  });
  afterAll(async () => {
    await h?.close();
    await double?.close();
  });

  it('is recorded, stored encrypted, deleted at Twilio, listed, played with a range, and audited at every step', async () => {
    const { sim, media } = recordingSimulatorFor(h, double);
    // English, then "prescription refill": the office message box.
    const call = await sim.placeCall({ from: PATIENT, to: PRACTICE, digits: ['1', '2'], recordings: [{ durationSeconds: 4, digits: '#' }] });
    expect(call.errors, formatTranscript(call)).toEqual([]);
    const recordingSid = call.requests.find((q) => q.params.RecordingStatus === 'completed')?.params.RecordingSid ?? '';
    const plaintext = media.get(recordingSid);
    if (!plaintext) throw new Error('no recording was made');

    // Stored encrypted and verified; Twilio's copy deleted only after that.
    const v = await until('the voicemail complete and announced', async () => {
      const row = await h.services.db.selectFrom('voicemails').selectAll().where('recording_sid', '=', recordingSid).executeTakeFirst();
      return row?.state === 'complete' && row.notified_at ? row : undefined;
    });
    const object = await readFile(path.join(h.config.dataDir, 'recordings', v.storage_key ?? ''));
    expect(object.subarray(0, 4).toString('latin1')).not.toBe('RIFF');
    expect(object.includes(plaintext.subarray(44, 108))).toBe(false);
    expect(Number(v.plaintext_bytes)).toBe(plaintext.length);
    const fetched = double.requests.findIndex((q) => q.method === 'GET' && q.path.endsWith(`/Recordings/${recordingSid}.wav`));
    const deleted = double.requests.findIndex((q) => q.method === 'DELETE' && q.path.endsWith(`/Recordings/${recordingSid}.json`));
    expect(fetched).toBeGreaterThanOrEqual(0);
    expect(deleted).toBeGreaterThan(fetched);
    expect(double.recordings.get(recordingSid)?.deleted).toBe(true);

    // Listed for a provider, metadata only.
    const key = (await createApiKey(h.services.db, { role: 'provider', practiceId: v.practice_id })).key;
    const auth = { authorization: `Bearer ${key}` };
    const list = await fetch(`${h.baseUrl}/api/voicemails?urgency=routine`, { headers: auth });
    expect(list.status).toBe(200);
    const item = ((await list.json()) as { voicemails: Array<Record<string, unknown>> }).voicemails.find((x) => x.id === v.id);
    expect(item).toMatchObject({ referenceCode: v.reference_code, state: 'complete', urgency: 'routine', callSid: call.callSid, simulated: false });
    expect(JSON.stringify(item)).not.toContain('voicemail/');

    // Played with a Range: the decrypted bytes of exactly that range.
    const audio = await fetch(`${h.baseUrl}/api/voicemails/${v.id}/audio`, { headers: { ...auth, range: 'bytes=100-1099' } });
    expect(audio.status).toBe(206);
    expect(audio.headers.get('content-range')).toBe(`bytes 100-1099/${plaintext.length}`);
    expect(Buffer.from(await audio.arrayBuffer()).equals(plaintext.subarray(100, 1100))).toBe(true);

    // Every step in the audit log, in order, and the chain intact.
    const trail = await until('the playback completed audit', async () => {
      const rows = await h.services.db
        .selectFrom('audit_log')
        .select(['action', 'actor', 'subject_id', 'details'])
        .where((eb) => eb.or([eb('call_sid', '=', call.callSid), eb('subject_id', '=', v.id)]))
        .orderBy('seq')
        .execute();
      return rows.some((r) => r.action === 'voicemail.playback' && (r.details as { phase?: string }).phase === 'completed') ? rows : undefined;
    });
    const actions = trail.map((r) => (r.action === 'voicemail.playback' ? `${r.action}:${(r.details as { phase: string }).phase}` : r.action));
    const order = [
      'voicemail.recording_status',
      'voicemail.received',
      'voicemail.stored',
      'voicemail.twilio_deleted',
      'voicemail.playback:started',
      'voicemail.playback:completed',
    ];
    for (const action of [...order, 'voicemail.taken', 'voicemail.notified']) expect(actions, action).toContain(action);
    const positions = order.map((a) => actions.indexOf(a));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    expect(actions.indexOf('voicemail.notified')).toBeGreaterThan(actions.indexOf('voicemail.stored'));
    const started = trail.find((r) => r.action === 'voicemail.playback' && (r.details as { phase: string }).phase === 'started');
    expect(started).toMatchObject({ actor: expect.stringMatching(/^api_key:/), subject_id: v.id, details: { range: '100-1099', requestedBytes: 1000, via: 'api' } });
    const completed = trail.find((r) => r.action === 'voicemail.playback' && (r.details as { phase: string }).phase === 'completed');
    expect(completed?.details).toMatchObject({ bytes: 1000, complete: true });
    expect((await verifyChain(h.services.db)).ok).toBe(true);
  });
});
