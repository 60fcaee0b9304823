import { Readable } from 'node:stream';
import type { RecordingMedia } from '../src/adapters/twilio-rest.js';

/**
 * Log mode (no Twilio account configured: `npm start` with the development defaults) has no
 * recording to fetch. So that a new user still sees the whole pipeline work, the stand-in
 * (./twilio-log-mode.ts) serves a generated placeholder — silence as long as the recording —
 * which the pipeline stores through the real encrypt → store → verify path and marks
 * `simulated` (row, list and audit). Also the WAV header tests and benches build audio with.
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
