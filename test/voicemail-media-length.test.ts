import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { receiveRecording, storageKey } from '../src/voicemail/pipeline.js';
import { mediaLengthCheck, mediaLengthProblem, wavLayout } from '../src/voicemail/media-check.js';
import { StorageNotFoundError } from '../src/adapters/storage.js';
import { startHarness, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN, type Harness } from './support/harness.js';
import { startTwilioDouble, type TwilioDouble } from './support/twilio-double.js';
import { recordingSimulatorFor } from './support/simulate.js';
import { until } from './support/until.js';
import { randomWav } from './support/wav.js';
import type { CallSimulator } from '../devtools/simulator/simulator.js';

/** Bytes of a second of 8 kHz 16-bit mono audio. */
const SECOND = 16_000;

let h: Harness;
let double: TwilioDouble;
let sim: CallSimulator;

beforeAll(async () => {
  double = await startTwilioDouble({ accountSid: TEST_ACCOUNT_SID, authToken: TEST_AUTH_TOKEN });
  h = await startHarness('vm_media_length', { TWILIO_API_BASE_URL: double.baseUrl });
  sim = recordingSimulatorFor(h, double).sim;
});
afterAll(async () => {
  await h.close();
  await double.close();
});

async function voicemailFor(recordingSid: string, reportedSeconds: number, mediaSeconds: number) {
  const result = await sim.placeCall({ from: '+12025550123', to: '+12025550100', digits: ['1', '2'], hangupAfterSteps: 2 });
  double.addRecording({ sid: recordingSid, callSid: result.callSid, bytes: randomWav(mediaSeconds * SECOND) });
  const received = await receiveRecording(h.services, {
    callSid: result.callSid,
    recordingSid,
    durationSeconds: reportedSeconds,
    urgency: 'routine',
    node: 'message',
    source: 'callback',
    verified: false,
  });
  if (!received) throw new Error('no voicemail');
  return received.voicemailId;
}

const row = (id: string) => h.services.db.selectFrom('voicemails').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

describe('a recording whose length does not match what Twilio reported', () => {
  it('is not stored: the attempt fails, the row stays received and Twilio keeps its copy', async () => {
    const sid = `RE${'a1'.repeat(16)}`;
    // Twilio said 30 s; the media holds 2 s (a cut-off download, or not that recording).
    const id = await voicemailFor(sid, 30, 2);
    const failed = await until('the failed attempt', async () => {
      const v = await row(id);
      return v.last_error !== null ? v : undefined;
    });
    expect(failed.state).toBe('received');
    expect(failed.last_error).toContain('MediaLengthMismatch');
    expect(failed.storage_key).toBeNull();
    await expect(h.services.storage.get(storageKey({ practice_id: failed.practice_id, id }))).rejects.toBeInstanceOf(StorageNotFoundError);
    expect(double.requests.some((q) => q.method === 'DELETE' && q.path.includes(sid))).toBe(false);
    expect(double.recordings.get(sid)?.deleted).toBe(false);
  });

  it('a recording as long as reported (within whole-second rounding) is stored and Twilio copy deleted', async () => {
    const sid = `RE${'b2'.repeat(16)}`;
    const id = await voicemailFor(sid, 3, 3);
    const done = await until('the stored voicemail', async () => {
      const v = await row(id);
      return v.state === 'complete' ? v : undefined;
    });
    expect(Number(done.plaintext_bytes)).toBe(44 + 3 * SECOND);
  });
});

describe('media length checks (pure)', () => {
  const wav = randomWav(5 * SECOND);
  const layout = wavLayout(wav.subarray(0, 4096));

  it('reads the WAV layout', () => {
    expect(layout).toEqual({ dataOffset: 44, byteRate: SECOND });
    expect(wavLayout(Buffer.from('not a wav file at all'))).toBeNull();
  });

  it.each([
    [{ bytes: wav.length, contentLength: wav.length, reportedSeconds: 5 }, null],
    [{ bytes: wav.length, contentLength: wav.length, reportedSeconds: 6 }, null],
    [{ bytes: wav.length, contentLength: null, reportedSeconds: null }, null],
    [{ bytes: wav.length - 10, contentLength: wav.length, reportedSeconds: 5 }, 'content_length'],
    [{ bytes: wav.length, contentLength: wav.length, reportedSeconds: 8 }, 'duration'],
    [{ bytes: wav.length, contentLength: null, reportedSeconds: 1 }, 'duration'],
  ] as const)('%j: %s', (input, problem) => {
    expect(mediaLengthProblem({ ...input, wav: layout })).toBe(problem);
  });

  it('an unreadable WAV cannot be checked against a reported duration', () => {
    expect(mediaLengthProblem({ bytes: 100, contentLength: 100, reportedSeconds: 5, wav: null })).toBe('unreadable_wav');
  });

  it('the stream check tells at the end when fewer bytes came than Content-Length promised', async () => {
    const short = mediaLengthCheck({ contentLength: wav.length, reportedSeconds: null });
    await pipeline(Readable.from([wav.subarray(0, 1000)]), short.stream, new Writable({ write: (_c, _e, cb) => cb() }));
    expect(short.problem()).toBe('content_length');
    const whole = mediaLengthCheck({ contentLength: wav.length, reportedSeconds: 5 });
    await pipeline(Readable.from([wav]), whole.stream, new Writable({ write: (_c, _e, cb) => cb() }));
    expect(whole.problem()).toBeNull();
  });
});
