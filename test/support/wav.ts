import { randomBytes } from 'node:crypto';
import { wavHeader } from '../../devtools/placeholder-media.js';

/** A WAV (8 kHz, 16-bit, mono: what Twilio records) of `dataBytes` random sample bytes after the 44-byte header. */
export function randomWav(dataBytes: number): Buffer {
  return Buffer.concat([wavHeader(dataBytes), randomBytes(dataBytes)]);
}
