import { Transform, type TransformCallback } from 'node:stream';

/**
 * A recording's media must be as long as Twilio said: the bytes received must match the
 * response's Content-Length, and the audio's length (from the WAV header's byte rate) must be
 * within MEDIA_DURATION_TOLERANCE_S of the callback's RecordingDuration. A download cut short
 * or the wrong file is never kept (its ciphertext is deleted before the row could point at it);
 * the attempt fails (and is retried) and Twilio keeps its copy.
 */

/** Twilio reports whole seconds; anything further off than this is not the same recording. */
export const MEDIA_DURATION_TOLERANCE_S = 2;
/** Bytes kept from the start of the media to find the WAV header's fmt and data chunks. */
const HEAD_BYTES = 4096;

export type MediaLengthProblem = 'content_length' | 'duration' | 'unreadable_wav';

export class MediaLengthMismatch extends Error {
  override readonly name = 'MediaLengthMismatch';
  constructor(readonly problem: MediaLengthProblem) {
    super(`recording media length does not match what Twilio reported (${problem})`);
  }
}

/** Pure: where a WAV's samples start and how many bytes make a second, or null when it is not a readable WAV. */
export function wavLayout(head: Buffer): { dataOffset: number; byteRate: number } | null {
  if (head.length < 12 || head.toString('ascii', 0, 4) !== 'RIFF' || head.toString('ascii', 8, 12) !== 'WAVE') return null;
  let byteRate = 0;
  let pos = 12;
  while (pos + 8 <= head.length) {
    const id = head.toString('ascii', pos, pos + 4);
    const size = head.readUInt32LE(pos + 4);
    if (id === 'fmt ') {
      if (pos + 16 > head.length) return null;
      byteRate = head.readUInt32LE(pos + 16);
    } else if (id === 'data') {
      return byteRate > 0 ? { dataOffset: pos + 8, byteRate } : null;
    }
    pos += 8 + size + (size % 2);
  }
  return null;
}

/** Pure: what does not match, or null when the media is as long as reported. */
export function mediaLengthProblem(input: {
  bytes: number;
  contentLength: number | null;
  /** Twilio's RecordingDuration; null (or negative) when it did not say. */
  reportedSeconds: number | null;
  wav: { dataOffset: number; byteRate: number } | null;
}): MediaLengthProblem | null {
  if (input.contentLength !== null && input.bytes !== input.contentLength) return 'content_length';
  if (input.reportedSeconds === null || input.reportedSeconds < 0) return null;
  if (input.wav === null) return 'unreadable_wav';
  const seconds = Math.max(0, input.bytes - input.wav.dataOffset) / input.wav.byteRate;
  return Math.abs(seconds - input.reportedSeconds) > MEDIA_DURATION_TOLERANCE_S ? 'duration' : null;
}

/**
 * Passes the media through unchanged and tells, once it has ended, whether its length matched.
 * It does not fail the stream itself: destroying the Encryption SDK's stream mid-message makes
 * the SDK throw outside any handler (its internal pipeline has no callback), so the caller lets
 * the encryption finish and then throws away what was written.
 */
export function mediaLengthCheck(expected: { contentLength: number | null; reportedSeconds: number | null }): {
  stream: Transform;
  /** Null while the media has not ended, or when it matched. */
  problem(): MediaLengthProblem | null;
} {
  let bytes = 0;
  const head: Buffer[] = [];
  let headBytes = 0;
  let problem: MediaLengthProblem | null = null;
  const stream = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
      bytes += chunk.length;
      if (headBytes < HEAD_BYTES) {
        const part = chunk.subarray(0, HEAD_BYTES - headBytes);
        head.push(part);
        headBytes += part.length;
      }
      callback(null, chunk);
    },
    flush(callback: TransformCallback): void {
      problem = mediaLengthProblem({ bytes, ...expected, wav: wavLayout(Buffer.concat(head)) });
      callback();
    },
  });
  return { stream, problem: () => problem };
}
