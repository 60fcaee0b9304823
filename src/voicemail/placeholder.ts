import { Readable } from 'node:stream';
import { twilioRestMode, type RecordingMedia } from '../adapters/twilio-rest.js';
import type { Services } from '../services.js';

/**
 * Log mode (no Twilio account configured: `npm start` with the development defaults) has no
 * recording to fetch. So that a new user still sees the whole pipeline work, the pipeline then
 * stores a generated placeholder — silence as long as the recording — through the real
 * encrypt → store → verify path, and marks the voicemail `simulated` (row, list and audit).
 * Never with a real Twilio account: both the adapter and the configuration must say log mode.
 */

const PLACEHOLDER_SAMPLE_RATE = 8_000; // Twilio records 8 kHz mono
const BYTES_PER_SAMPLE = 2;
const HEADER_BYTES = 44;
const CHUNK_BYTES = 64 * 1024;
const PLACEHOLDER_MAX_SECONDS = 3_600;

/** Pure: the seconds of silence for a recording of `durationSeconds` (unknown or odd values: 1 s). */
export function placeholderSeconds(durationSeconds: number | null): number {
  if (durationSeconds === null || !Number.isFinite(durationSeconds) || durationSeconds < 1) return 1;
  return Math.min(Math.round(durationSeconds), PLACEHOLDER_MAX_SECONDS);
}

/** Pure: the 44-byte header of a PCM WAV (8 kHz, 16-bit, mono) with `dataBytes` of samples. */
export function wavHeader(dataBytes: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVEfmt ', 8, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(PLACEHOLDER_SAMPLE_RATE, 24);
  h.writeUInt32LE(PLACEHOLDER_SAMPLE_RATE * BYTES_PER_SAMPLE, 28);
  h.writeUInt16LE(BYTES_PER_SAMPLE, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** A silent WAV of `seconds` as recording media, streamed in 64 KiB chunks (never built whole). */
export function silentWav(seconds: number): RecordingMedia {
  const dataBytes = seconds * PLACEHOLDER_SAMPLE_RATE * BYTES_PER_SAMPLE;
  function* chunks(): Generator<Buffer> {
    yield wavHeader(dataBytes);
    for (let left = dataBytes; left > 0; left -= CHUNK_BYTES) yield Buffer.alloc(Math.min(CHUNK_BYTES, left));
  }
  return { stream: Readable.from(chunks()), contentType: 'audio/wav', contentLength: HEADER_BYTES + dataBytes };
}

/** Whether the pipeline stores placeholders: only in log mode, by the adapter and the configuration both. */
export function usesPlaceholderMedia(services: Pick<Services, 'twilio' | 'config'>): boolean {
  return services.twilio.kind === 'log' && twilioRestMode(services.config) === 'log';
}
