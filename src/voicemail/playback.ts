import { createHash, randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import type { Db } from '../adapters/postgres.js';
import type { Selectable } from 'kysely';
import type { VoicemailsTable, VoicemailState } from '../adapters/db-schema.js';
import { decryptingStream } from '../adapters/envelope.js';
import { StorageNotFoundError } from '../adapters/storage.js';
import { AuditAction, type AuditEvent } from '../audit/events.js';
import { logger } from '../log/logger.js';
import type { Services } from '../services.js';
import { deadLetteredWhere, voicemailContext } from './pipeline.js';

/**
 * Listening to a stored voicemail: the audio is decrypted on the fly from object storage and
 * streamed, never held whole in memory; a range is served by decrypting from the start and
 * skipping to it. Every playback is audited twice: before the first byte leaves (who, which,
 * the range asked for — no audit, no audio: 503) and once it ends, with the bytes actually
 * sent. Single-use playback
 * links (for Twilio's <Play> on the access line, or a provider's phone) are 32 random bytes;
 * only their SHA-256 is stored.
 */

export type VoicemailRow = Selectable<VoicemailsTable>;

export const PLAYBACK_LINK_TTL_MS = 5 * 60_000;
export const PLAYBACK_PATH = '/playback';
/** 32 random bytes, base64url, no padding. */
export const PLAYBACK_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;
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

export type Playability = { ok: true; key: string; size: number } | { ok: false; reason: 'not_stored' | 'gone' };

const NOT_STORED: readonly VoicemailState[] = ['received', 'failed'];

/** Pure: can this voicemail be listened to now? Not yet (still in the pipeline) differs from never again. */
export function playability(v: Pick<VoicemailRow, 'state' | 'storage_key' | 'plaintext_bytes' | 'audio_deleted_at'>): Playability {
  if (NOT_STORED.includes(v.state)) return { ok: false, reason: 'not_stored' };
  if (v.state === 'expired' || v.audio_deleted_at !== null || v.storage_key === null || v.plaintext_bytes === null) return { ok: false, reason: 'gone' };
  return { ok: true, key: v.storage_key, size: Number(v.plaintext_bytes) };
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
  services: Services,
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

// ---------------------------------------------------------------------------
// Single-use playback links

export function hashPlaybackToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function playbackUrl(publicBaseUrl: string, token: string): string {
  return `${publicBaseUrl}${PLAYBACK_PATH}/${token}`;
}

/** A fresh single-use token for one voicemail, valid `PLAYBACK_LINK_TTL_MS`; only its hash is stored. */
export async function issuePlaybackToken(db: Db, voicemailId: string, issuedTo: string, now: Date): Promise<{ token: string; expiresAt: Date }> {
  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(now.getTime() + PLAYBACK_LINK_TTL_MS);
  await db
    .insertInto('playback_tokens')
    .values({ token_hash: hashPlaybackToken(token), voicemail_id: voicemailId, issued_to: issuedTo, expires_at: expiresAt, created_at: now })
    .execute();
  return { token, expiresAt };
}

/**
 * Uses a token up, atomically: of two concurrent requests only one gets the voicemail. Unknown,
 * used and expired tokens all answer null.
 */
export async function redeemPlaybackToken(db: Db, token: string, now: Date): Promise<{ voicemailId: string; issuedTo: string } | null> {
  if (!PLAYBACK_TOKEN_PATTERN.test(token)) return null;
  const row = await db
    .updateTable('playback_tokens')
    .set({ used_at: now })
    .where('token_hash', '=', hashPlaybackToken(token))
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returning(['voicemail_id', 'issued_to'])
    .executeTakeFirst();
  return row ? { voicemailId: row.voicemail_id, issuedTo: row.issued_to } : null;
}

export interface PlaybackLink {
  row: VoicemailRow;
  issuedTo: string;
}

/** Redeems a token and loads its voicemail, if the audio can still be played. */
export async function redeemPlaybackLink(db: Db, token: string, now: Date): Promise<PlaybackLink | null> {
  const redeemed = await redeemPlaybackToken(db, token, now);
  if (!redeemed) return null;
  const row = await db.selectFrom('voicemails').selectAll().where('id', '=', redeemed.voicemailId).executeTakeFirst();
  return row && playability(row).ok ? { row, issuedTo: redeemed.issuedTo } : null;
}

// ---------------------------------------------------------------------------
// Queries shared by the API and the access line

export async function getVoicemail(db: Db, practiceId: string, id: string): Promise<VoicemailRow | null> {
  return (await db.selectFrom('voicemails').selectAll().where('id', '=', id).where('practice_id', '=', practiceId).executeTakeFirst()) ?? null;
}

export interface VoicemailFilter {
  state?: VoicemailState | undefined;
  urgency?: 'urgent' | 'routine' | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  limit: number;
}

/** Metadata only: never the audio, the patient or the storage key. */
export interface VoicemailSummary {
  id: string;
  referenceCode: string;
  urgency: 'urgent' | 'routine';
  state: VoicemailState;
  callSid: string;
  callerVerified: boolean;
  durationSeconds: number | null;
  createdAt: string;
  storedAt: string | null;
  acknowledgedAt: string | null;
  /** Log mode: a generated placeholder was stored, not a real recording. */
  simulated: boolean;
}

export async function listVoicemails(db: Db, practiceId: string, f: VoicemailFilter): Promise<VoicemailSummary[]> {
  let q = db
    .selectFrom('voicemails')
    .select(['id', 'reference_code', 'urgency', 'state', 'call_sid', 'caller_verified', 'duration_seconds', 'created_at', 'stored_at', 'acknowledged_at', 'simulated'])
    .where('practice_id', '=', practiceId)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .limit(f.limit);
  if (f.state) q = q.where('state', '=', f.state);
  if (f.urgency) q = q.where('urgency', '=', f.urgency);
  if (f.from) q = q.where('created_at', '>=', f.from);
  if (f.to) q = q.where('created_at', '<', f.to);
  const rows = await q.execute();
  return rows.map((r) => ({
    id: r.id,
    referenceCode: r.reference_code,
    urgency: r.urgency,
    state: r.state,
    callSid: r.call_sid,
    callerVerified: r.caller_verified,
    durationSeconds: r.duration_seconds,
    createdAt: r.created_at.toISOString(),
    storedAt: r.stored_at?.toISOString() ?? null,
    acknowledgedAt: r.acknowledged_at?.toISOString() ?? null,
    simulated: r.simulated,
  }));
}

export type DeadLetterReason = 'store_failed' | 'twilio_delete_failed' | 'notify_failed';

export interface DeadLetterEntry {
  id: string;
  recordingSid: string;
  /** `store_failed`: no stored copy (Twilio keeps its own); otherwise stored and playable, a later step failed. */
  reason: DeadLetterReason;
  state: VoicemailState;
  lastError: string | null;
  attempts: number;
  createdAt: string;
}

/** Voicemails whose job ran out of attempts: never stored, or stored with Twilio's copy or the announcement outstanding. */
export async function listDeadLetter(db: Db, practiceId: string): Promise<DeadLetterEntry[]> {
  const rows = await db
    .selectFrom('voicemails')
    .select(['id', 'recording_sid', 'state', 'dead_letter_reason', 'last_error', 'attempts', 'created_at'])
    .where('practice_id', '=', practiceId)
    .where(deadLetteredWhere)
    .orderBy('created_at')
    .limit(500)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    recordingSid: r.recording_sid,
    reason: r.state === 'failed' ? 'store_failed' : (r.dead_letter_reason ?? 'store_failed'),
    state: r.state,
    lastError: r.last_error,
    attempts: r.attempts,
    createdAt: r.created_at.toISOString(),
  }));
}

/** Urgent voicemails nobody has acknowledged yet, ready to hear, oldest first (ids only). */
export async function pendingUrgentIds(db: Db, practiceId: string, within?: readonly string[]): Promise<string[]> {
  if (within && within.length === 0) return [];
  let q = db
    .selectFrom('voicemails')
    .select('id')
    .where('practice_id', '=', practiceId)
    .where('urgency', '=', 'urgent')
    // Stored and verified is enough: Twilio's copy may still be waiting to be deleted.
    .where('state', 'in', ['stored', 'complete'])
    .where('acknowledged_at', 'is', null)
    .orderBy('created_at')
    .orderBy('id')
    .limit(50);
  if (within) q = q.where('id', 'in', [...within]);
  return (await q.execute()).map((r) => r.id);
}

export type AckResult =
  | { result: 'acknowledged'; acknowledgedAt: string; acknowledgedBy: string }
  | { result: 'already_acknowledged'; acknowledgedAt: string; acknowledgedBy: string | null }
  | { result: 'not_found' };

/** Marks a voicemail heard/handled, once; the first acknowledgement stands and is audited. */
export async function acknowledgeVoicemail(
  services: Services,
  input: { practiceId: string; id: string; by: string; via: 'api' | 'access_line'; accessCallSid?: string },
): Promise<AckResult> {
  const now = services.clock();
  const updated = await services.db
    .updateTable('voicemails')
    .set({ acknowledged_at: now, acknowledged_by: input.by, updated_at: now })
    .where('id', '=', input.id)
    .where('practice_id', '=', input.practiceId)
    .where('acknowledged_at', 'is', null)
    .returning(['id', 'call_sid'])
    .executeTakeFirst();
  if (updated) {
    await services.audit({
      action: AuditAction.VoicemailAcknowledged,
      actor: input.by,
      practiceId: input.practiceId,
      callSid: updated.call_sid,
      subjectId: updated.id,
      details: { via: input.via, ...(input.accessCallSid ? { accessCallSid: input.accessCallSid } : {}) },
    });
    return { result: 'acknowledged', acknowledgedAt: now.toISOString(), acknowledgedBy: input.by };
  }
  const row = await getVoicemail(services.db, input.practiceId, input.id);
  if (!row?.acknowledged_at) return { result: 'not_found' };
  return { result: 'already_acknowledged', acknowledgedAt: row.acknowledged_at.toISOString(), acknowledgedBy: row.acknowledged_by };
}
