import { UnrecoverableError } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { DEV_TWILIO_AUTH_TOKEN, loadConfig } from '../../src/config.js';
import { TwilioRestError } from '../../src/adapters/twilio-rest.js';
import { voicemailNoticeText } from '../../src/voicemail/notify.js';
import { describeFailure, isDeadLettered, VOICEMAIL_ATTEMPTS, VOICEMAIL_BACKOFF_CAP_MS, voicemailBackoffMs } from '../../src/voicemail/pipeline.js';
import { placeholderSeconds, silentWav, wavHeader } from '../../devtools/placeholder-media.js';
import { createLogTwilioRest } from '../../devtools/twilio-log-mode.js';

describe('voicemail retry schedule', () => {
  it('doubles from 5 s, is capped at 10 min, with jitter of at most half', () => {
    expect([1, 2, 3, 4].map((n) => voicemailBackoffMs(n, 5_000, 1 - Number.EPSILON))).toEqual([4_999, 9_999, 19_999, 39_999]);
    expect(voicemailBackoffMs(1, 5_000, 0)).toBe(2_500);
    expect(voicemailBackoffMs(12, 5_000, 1 - Number.EPSILON)).toBeLessThanOrEqual(VOICEMAIL_BACKOFF_CAP_MS);
    expect(voicemailBackoffMs(60, 5_000, 0.5)).toBe(0.75 * VOICEMAIL_BACKOFF_CAP_MS);
  });

  it('rides out well over the old 8.5 minutes of outage before the dead-letter list', () => {
    let shortest = 0;
    for (let n = 1; n < VOICEMAIL_ATTEMPTS; n += 1) shortest += voicemailBackoffMs(n, 5_000, 0);
    expect(shortest).toBeGreaterThan(60 * 60_000);
    let longest = 0;
    for (let n = 1; n < VOICEMAIL_ATTEMPTS; n += 1) longest += voicemailBackoffMs(n, 5_000, 1 - Number.EPSILON);
    expect(longest).toBeLessThan(3 * 60 * 60_000);
  });
});

describe('failure codes (row, audit log, BullMQ)', () => {
  it('says what failed, whether a retry may help, and nothing else', () => {
    expect(describeFailure(new TwilioRestError({ operation: 'fetchRecordingMedia', reason: 'not_ready', status: 404, retryable: true, detail: 'x' }))).toEqual({
      code: 'twilio fetchRecordingMedia: not_ready 404',
      transient: true,
    });
    expect(describeFailure(new TwilioRestError({ operation: 'deleteRecording', reason: 'http', status: 401, retryable: false, detail: 'x' })).transient).toBe(false);
    expect(describeFailure(new UnrecoverableError('x'))).toEqual({ code: 'unrecoverable', transient: false });
    const net = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443 https://bucket/voicemail/+12025550123'), { code: 'ECONNREFUSED' });
    expect(describeFailure(net)).toEqual({ code: 'Error ECONNREFUSED', transient: true });
    const sdk = Object.assign(new Error('The caller +12025550123 ...'), { name: 'KMSInternalException' });
    expect(describeFailure(sdk)).toEqual({ code: 'KMSInternalException', transient: true });
    expect(describeFailure(Object.assign(new Error('m'), { name: 'bad name with spaces +1202' })).code).toBe('Error');
  });
});

describe('the dead-letter list', () => {
  it('holds a failed store, and a stored voicemail whose deletion or announcement ran out of attempts', () => {
    expect(isDeadLettered({ state: 'failed', dead_letter_reason: null })).toBe(true);
    expect(isDeadLettered({ state: 'stored', dead_letter_reason: 'twilio_delete_failed' })).toBe(true);
    expect(isDeadLettered({ state: 'complete', dead_letter_reason: 'notify_failed' })).toBe(true);
    for (const state of ['received', 'stored', 'complete', 'expired'] as const) expect(isDeadLettered({ state, dead_letter_reason: null })).toBe(false);
    expect(isDeadLettered({ state: 'received', dead_letter_reason: 'notify_failed' })).toBe(false);
    expect(isDeadLettered({ state: 'expired', dead_letter_reason: 'twilio_delete_failed' })).toBe(false);
  });
});

describe('notification text', () => {
  it('names the access line, or says to call it when none is set; never the patient line', () => {
    expect(voicemailNoticeText('Demo', '012345', '+12025550103')).toBe('Demo: new urgent voicemail. Ref 012345. Call 202-555-0103 to listen.');
    expect(voicemailNoticeText('Demo', '012345', null)).toBe('Demo: new urgent voicemail. Ref 012345. Call the provider access line to listen.');
    expect(voicemailNoticeText('Demo', '012345', '+442071838750')).toContain('Call +442071838750 to listen.');
  });
});

describe('log-mode placeholder audio', () => {
  it('is a silent 8 kHz 16-bit mono WAV as long as the recording, streamed in chunks', async () => {
    expect(placeholderSeconds(null)).toBe(1);
    expect(placeholderSeconds(0)).toBe(1);
    expect(placeholderSeconds(7.4)).toBe(7);
    expect(placeholderSeconds(1e9)).toBe(3_600);
    const wav = silentWav(10);
    const chunks: Buffer[] = [];
    for await (const c of wav.stream) chunks.push(c as Buffer);
    expect(chunks.length).toBeGreaterThan(2);
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(64 * 1024);
    const all = Buffer.concat(chunks);
    expect(wav.contentType).toBe('audio/wav');
    expect(all.length).toBe(wav.contentLength);
    expect(wav.contentLength).toBe(44 + 10 * 16_000);
    expect(all.subarray(0, 44).equals(wavHeader(10 * 16_000))).toBe(true);
    expect(all.subarray(0, 4).toString('latin1')).toBe('RIFF');
    expect(all.readUInt32LE(24)).toBe(8_000);
    expect(all.subarray(44).every((b) => b === 0)).toBe(true);
  });

  it('is served only by the log-mode stand-in, which exists only for a log-mode configuration', async () => {
    const logConfig = loadConfig({ NODE_ENV: 'development', TWILIO_AUTH_TOKEN: DEV_TWILIO_AUTH_TOKEN });
    const realConfig = loadConfig({ NODE_ENV: 'development', TWILIO_AUTH_TOKEN: 'a-real-token-0123456789abcdef' });
    const doubleConfig = loadConfig({ NODE_ENV: 'development', TWILIO_AUTH_TOKEN: DEV_TWILIO_AUTH_TOKEN, TWILIO_API_BASE_URL: 'http://127.0.0.1:9' });
    expect(() => createLogTwilioRest(realConfig)).toThrow(/only for log mode/);
    expect(() => createLogTwilioRest(doubleConfig)).toThrow(/only for log mode/);
    expect(() => createLogTwilioRest({ ...logConfig, env: 'production' })).toThrow(/only for log mode/);
    const media = await createLogTwilioRest(logConfig).fetchRecordingMedia(`RE${'a'.repeat(32)}`, 'wav', { durationSeconds: 4 });
    expect(media).toMatchObject({ placeholder: true, contentType: 'audio/wav', contentLength: 44 + 4 * 16_000 });
    media.stream.destroy();
  });
});
