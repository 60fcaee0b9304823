import type { ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import { decryptingStream } from '../adapters/envelope.js';
import { StorageNotFoundError } from '../adapters/storage.js';
import { AuditAction, type AuditEvent } from '../audit/events.js';
import { logger } from '../log/logger.js';
import type { AppContext } from '../app-context.js';
import { voicemailContext } from './pipeline.js';
import { playability, type VoicemailRow } from './playback-store.js';

/**
 * Listening to a stored voicemail: the audio is decrypted on the fly from object storage and
 * streamed, never held whole in memory; a range is served by decrypting from the start and
 * skipping to it. Every playback is audited twice: before the first byte leaves (who, which,
 * the range asked for — no audit, no audio: 503) and once it ends, with the bytes actually
 * sent. The links and reads around it are in `playback-store.ts`.
 */

export const AUDIO_CONTENT_TYPE = 'audio/wav';

// ---------------------------------------------------------------------------
// Pure decisions

export type RangeRequest =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number } // inclusive, within [0, size)
  | { kind: 'unsatisfiable' };

/**
 * What Express's `req.range(size)` answers (range-parser): undefined without a Range header, -2
 * for a malformed one, -1 when no range in it is satisfiable (or valid), else the ranges, with
 * their unit as `type`.
 */
export type ParsedRanges = undefined | -1 | -2 | (Array<{ start: number; end: number }> & { type: string });

/** The range a playback serves, given the body's size: routes pass `(size) => rangeRequest(req.range(size), size, req.get('range'))`. */
export type RangeOf = (size: number) => RangeRequest;

/** `bytes=-N`, N > 0: a suffix range, the one case range-parser gets wrong when N exceeds the body. */
const SUFFIX_RANGE = /^\s*bytes\s*=\s*-\s*0*[1-9]\d*\s*$/i;

/**
 * Pure: Express's reading of the Range header (`req.range(size)`) as what to send. No header, a
 * malformed one, another unit and several ranges: the whole body (RFC 9110 lets a server ignore
 * Range). One range: that range, clipped to the body. None satisfiable — a start past the end,
 * `bytes=-0`, an invalid `bytes=5-1` — is 416. A suffix longer than the body (`bytes=-5000` of
 * 1000 bytes) is the whole body (RFC 9110 §14.1.1); range-parser calls it unsatisfiable, so the
 * raw header is consulted for that case only.
 */
export function rangeRequest(parsed: ParsedRanges, size: number, header?: string): RangeRequest {
  if (parsed === undefined || parsed === -2) return { kind: 'full' };
  if (parsed === -1) {
    return size > 0 && header !== undefined && SUFFIX_RANGE.test(header) ? { kind: 'partial', start: 0, end: size - 1 } : { kind: 'unsatisfiable' };
  }
  const only = parsed.length === 1 ? parsed[0] : undefined;
  if (parsed.type.trim().toLowerCase() !== 'bytes' || only === undefined) return { kind: 'full' };
  return { kind: 'partial', start: only.start, end: only.end };
}

// ---------------------------------------------------------------------------
// Streaming

export interface PlaybackAudit {
  /** `api_key:<id>` or `playback_token`. */
  actor: string;
  via: 'api' | 'link';
  details?: Record<string, string | null>;
}

function drained(w: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      w.off('drain', done);
      w.off('close', done);
      resolve();
    };
    w.on('drain', done);
    w.on('close', done);
  });
}

/**
 * Streams a voicemail's plaintext (or one range of it) into `res`. A `started` audit row is
 * written before any audio is sent — if it cannot be written the answer is 503 and nothing is
 * sent — and a `completed` row with the bytes actually sent once the stream ends (finished,
 * cut short by the client, or failed). Answers 404 when the audio is gone, 409 when it is not
 * stored yet, 416 for an unsatisfiable range. `head` sends the headers only (nothing audited:
 * no audio left the service).
 */
export async function streamVoicemail(
  services: Pick<AppContext, 'storage' | 'keyring' | 'audit'>,
  row: VoicemailRow,
  res: ServerResponse,
  rangeOf: RangeOf,
  audit: PlaybackAudit,
  opts: { head?: boolean } = {},
): Promise<void> {
  const json = (status: number, body: Record<string, string>): void => {
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.end(JSON.stringify(body));
  };
  const playable = playability(row);
  if (!playable.ok) {
    if (playable.reason === 'not_stored') json(409, { error: 'not_stored', message: 'this voicemail is not stored yet; try again in a minute' });
    else json(404, { error: 'not_found', message: 'the audio of this voicemail is no longer available' });
    return;
  }
  const { size } = playable;
  const range = rangeOf(size);
  res.setHeader('Accept-Ranges', 'bytes');
  if (range.kind === 'unsatisfiable') {
    res.setHeader('Content-Range', `bytes */${size}`);
    json(416, { error: 'range_not_satisfiable', message: `the audio is ${size} bytes` });
    return;
  }
  const start = range.kind === 'partial' ? range.start : 0;
  const length = range.kind === 'partial' ? range.end - range.start + 1 : size;
  const headers: Record<string, string | number> = { 'Content-Type': AUDIO_CONTENT_TYPE, 'Content-Length': length, 'Accept-Ranges': 'bytes' };
  if (range.kind === 'partial') headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size}`;
  const status = range.kind === 'partial' ? 206 : 200;
  if (opts.head) {
    res.writeHead(status, headers);
    res.end();
    return;
  }

  let source;
  try {
    source = await services.storage.get(playable.key);
  } catch (err) {
    if (!(err instanceof StorageNotFoundError)) throw err;
    logger.error('stored voicemail missing from storage', { voicemailId: row.id });
    json(404, { error: 'not_found', message: 'the audio of this voicemail is no longer available' });
    return;
  }

  const playbackEvent = (details: Record<string, string | number | boolean | null>): AuditEvent => ({
    action: AuditAction.VoicemailPlayback,
    actor: audit.actor,
    practiceId: row.practice_id,
    callSid: row.call_sid,
    subjectId: row.id,
    details: { ...details, range: range.kind === 'partial' ? `${range.start}-${range.end}` : null, via: audit.via, ...audit.details },
  });
  try {
    await services.audit(playbackEvent({ phase: 'started', requestedBytes: length }));
  } catch (err) {
    source.destroy();
    logger.error('playback audit write failed: playback refused', { err, voicemailId: row.id });
    res.setHeader('Retry-After', '30');
    json(503, { error: 'audit_unavailable', message: 'this playback cannot be recorded right now, so it is not served; try again shortly' });
    return;
  }

  let sent = 0;
  const plain = decryptingStream(services.keyring, voicemailContext(row));
  source.on('error', (err: Error) => plain.destroy(err));
  source.pipe(plain);
  let toSkip = start;
  let remaining = length;
  let failure: unknown = null;
  const begin = (): void => {
    if (!res.headersSent) res.writeHead(status, headers);
  };
  try {
    for await (const chunk of plain as AsyncIterable<Buffer>) {
      let buf = chunk;
      if (toSkip > 0) {
        if (buf.length <= toSkip) {
          toSkip -= buf.length;
          continue;
        }
        buf = buf.subarray(toSkip);
        toSkip = 0;
      }
      if (buf.length > remaining) buf = buf.subarray(0, remaining);
      if (res.destroyed) break;
      begin();
      remaining -= buf.length;
      sent += buf.length;
      if (!res.write(buf)) await drained(res);
      if (remaining === 0 || res.destroyed) break;
    }
  } catch (err) {
    failure = err;
  } finally {
    // Stop decrypting (and reading storage) as soon as the range is out or the client is gone.
    source.destroy();
    plain.destroy();
  }
  const ok = failure === null && remaining === 0 && !res.destroyed;
  if (ok) {
    begin();
    res.end();
  }
  await services
    .audit(playbackEvent({ phase: 'completed', bytes: sent, complete: sent === length }))
    .catch((err: unknown) => logger.error('playback completion audit write failed', { err, voicemailId: row.id }));
  if (ok || res.destroyed) return;
  logger.error('voicemail playback failed', { err: failure ?? new Error('stored audio shorter than recorded'), voicemailId: row.id });
  if (!res.headersSent) {
    json(500, { error: 'internal_error', message: 'the audio could not be read; it has been logged' });
    return;
  }
  // Part of the body is out: the client must see a truncated response, not a complete one.
  res.destroy();
}
