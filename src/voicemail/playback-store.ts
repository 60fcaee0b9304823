import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../adapters/postgres.js';
import type { Selectable } from 'kysely';
import type { VoicemailsTable, VoicemailState } from '../adapters/db-schema.js';
import { AuditAction } from '../audit/events.js';
import type { AppContext } from '../app-context.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { deadLetteredWhere } from './pipeline.js';
import { sql } from 'kysely';
import type { CallMatch, CallReason, TaskStatus } from '../adapters/db-schema.js';
import { decryptField, encryptField, type Keyring } from '../adapters/keyring.js';
import { openCallerNumber } from '../calls/caller-number.js';
import { shownNumber, type NumberView } from '../calls/number-view.js';

/**
 * The playback store: single-use playback links (for Twilio's <Play> on the access line, or a
 * provider's phone; 32 random bytes, only their SHA-256 is stored), the API's voicemail reads
 * (one voicemail, the list, the dead letters, pending urgent ones) and the "heard" mark. The
 * audio itself is streamed by `stream.ts`.
 */

export type VoicemailRow = Selectable<VoicemailsTable>;

export const PLAYBACK_LINK_TTL_MS = 5 * 60_000;
export const PLAYBACK_PATH = '/playback';
/** 32 random bytes, base64url, no padding. */
export const PLAYBACK_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

// ---------------------------------------------------------------------------
// Pure decisions

export type Playability = { ok: true; key: string; size: number } | { ok: false; reason: 'not_stored' | 'gone' };

const NOT_STORED: readonly VoicemailState[] = ['received', 'failed'];

/** Pure: can this voicemail be listened to now? Not yet (still in the pipeline) differs from never again. */
export function playability(v: Pick<VoicemailRow, 'state' | 'storage_key' | 'plaintext_bytes' | 'audio_deleted_at'>): Playability {
  if (NOT_STORED.includes(v.state)) return { ok: false, reason: 'not_stored' };
  if (v.state === 'expired' || v.audio_deleted_at !== null || v.storage_key === null || v.plaintext_bytes === null) return { ok: false, reason: 'gone' };
  return { ok: true, key: v.storage_key, size: Number(v.plaintext_bytes) };
}

// ---------------------------------------------------------------------------
// Single-use playback links

export function hashPlaybackToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function playbackUrl(publicBaseUrl: string, token: string): string {
  return `${publicBaseUrl}${PLAYBACK_PATH}/${token}`;
}

/**
 * A fresh single-use token for one of the scope's voicemails, valid `PLAYBACK_LINK_TTL_MS`; only
 * its hash is stored. The row is inserted from the voicemail it names, filtered by practice, so
 * a token can never be made for another practice's voicemail (playback_tokens has no practice
 * column of its own); null when the voicemail is not the practice's.
 */
export async function issuePlaybackToken(scope: PracticeScope, voicemailId: string, issuedTo: string, now: Date): Promise<{ token: string; expiresAt: Date } | null> {
  const token = randomBytes(32).toString('base64url');
  const expiresAt = new Date(now.getTime() + PLAYBACK_LINK_TTL_MS);
  const inserted = await scope.db
    .insertInto('playback_tokens')
    .columns(['token_hash', 'voicemail_id', 'issued_to', 'expires_at', 'created_at'])
    .expression((eb) =>
      eb
        .selectFrom('voicemails')
        .select((v) => [v.val(hashPlaybackToken(token)).as('token_hash'), 'id', v.val(issuedTo).as('issued_to'), v.val(expiresAt).as('expires_at'), v.val(now).as('created_at')])
        .where('id', '=', voicemailId)
        .where('practice_id', '=', scope.practiceId),
    )
    .returning('voicemail_id')
    .executeTakeFirst();
  return inserted ? { token, expiresAt } : null;
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

/**
 * Redeems a token and loads its voicemail, if the audio can still be played. On the system role
 * (`db`): the token is the credential and the only thing that says which practice it is for, as
 * an API key is before the permit check.
 */
export async function redeemPlaybackLink(db: Db, token: string, now: Date): Promise<PlaybackLink | null> {
  const redeemed = await redeemPlaybackToken(db, token, now);
  if (!redeemed) return null;
  const row = await db.selectFrom('voicemails').selectAll().where('id', '=', redeemed.voicemailId).executeTakeFirst();
  return row && playability(row).ok ? { row, issuedTo: redeemed.issuedTo } : null;
}

// ---------------------------------------------------------------------------
// Queries shared by the API and the access line

export async function getVoicemail(scope: PracticeScope, id: string): Promise<VoicemailRow | null> {
  return (await scope.db.selectFrom('voicemails').selectAll().where('id', '=', id).where('practice_id', '=', scope.practiceId).executeTakeFirst()) ?? null;
}

export interface VoicemailFilter {
  state?: VoicemailState | undefined;
  urgency?: 'urgent' | 'routine' | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  /** Only those still to handle: their callback task open or claimed, or no task yet. */
  unhandled?: boolean | undefined;
  limit: number;
}

/** Metadata and what calling back takes: never the audio or the storage key. */
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
  acknowledgedBy: string | null;
  /** Who acknowledged, by name: a person's display name, a provider's (the access line); null for a key or one no longer known. */
  acknowledgedByName: string | null;
  /** Whether the acknowledgement left a note. */
  acknowledgedWithNote: boolean;
  /** The note, opened for those who see callers' numbers in full (number-view.ts); null for none, or for a masked view. */
  acknowledgedNote: string | null;
  /** Log mode: a generated placeholder was stored, not a real recording. */
  simulated: boolean;
  /** The caller's number from the call record (E.164, or masked for an auditor); null: withheld, or not asked for. */
  callerNumber: string | null;
  /** Why the caller called: the task's, else the call's (null: the path named none). */
  reason: CallReason | null;
  patient: { match: CallMatch; patientId: string | null };
  /** The callback task this voicemail became (null: not yet, it is created once the audio is stored). */
  task: { id: string; status: TaskStatus } | null;
}

/** How the caller's number is opened for the list: the keyring, in full or masked. */
export interface NumberOpening {
  keyring: Keyring;
  view: NumberView;
}

export async function listVoicemails(scope: PracticeScope, f: VoicemailFilter, numbers?: NumberOpening): Promise<VoicemailSummary[]> {
  let q = scope.db
    .selectFrom('voicemails as v')
    .leftJoin('calls as c', (j) => j.onRef('c.call_sid', '=', 'v.call_sid').onRef('c.practice_id', '=', 'v.practice_id'))
    .leftJoin('callback_tasks as t', (j) =>
      j.onRef('t.practice_id', '=', 'v.practice_id').on('t.source', 'in', ['voicemail', 'message']).on(sql<boolean>`t.source_id = v.id::text`),
    )
    .select([
      'v.id',
      'v.reference_code',
      'v.urgency',
      'v.state',
      'v.call_sid',
      'v.caller_verified',
      'v.patient_id',
      'v.duration_seconds',
      'v.created_at',
      'v.stored_at',
      'v.acknowledged_at',
      'v.acknowledged_by',
      'v.acknowledged_note_enc',
      'v.simulated',
      'c.from_enc',
      'c.match',
      'c.patient_id as call_patient_id',
      'c.reason as call_reason',
      't.id as task_id',
      't.status as task_status',
      't.reason as task_reason',
      't.match as task_match',
      't.patient_id as task_patient_id',
    ])
    .where('v.practice_id', '=', scope.practiceId)
    .orderBy('v.created_at', 'desc')
    .orderBy('v.id')
    .limit(f.limit);
  if (f.state) q = q.where('v.state', '=', f.state);
  if (f.urgency) q = q.where('v.urgency', '=', f.urgency);
  if (f.from) q = q.where('v.created_at', '>=', f.from);
  if (f.to) q = q.where('v.created_at', '<', f.to);
  if (f.unhandled) q = q.where((eb) => eb.or([eb('t.id', 'is', null), eb('t.status', 'in', ['open', 'claimed'])]));
  const rows = await q.execute();
  const names = await ackNames(scope, rows.map((r) => r.acknowledged_by));
  return Promise.all(
    rows.map(async (r): Promise<VoicemailSummary> => {
      const number = numbers ? await shownNumber(r.from_enc, numbers.view, (enc) => openCallerNumber(numbers.keyring, enc, r.call_sid, scope.practiceId)) : null;
      // The note follows the number's rule: opened for a full view only, never for a masked one.
      const note = numbers ? await shownNumber(r.acknowledged_note_enc, numbers.view, (enc) => openAckNote(numbers.keyring, enc, r.id, scope.practiceId)) : null;
      const verified = r.caller_verified && r.patient_id !== null;
      return {
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
        acknowledgedBy: r.acknowledged_by,
        acknowledgedByName: r.acknowledged_by ? (names.get(r.acknowledged_by) ?? null) : null,
        acknowledgedWithNote: r.acknowledged_note_enc !== null,
        acknowledgedNote: numbers?.view === 'full' ? note : null,
        simulated: r.simulated,
        callerNumber: number,
        reason: r.task_reason ?? r.call_reason ?? null,
        patient: r.task_match
          ? { match: r.task_match, patientId: r.task_patient_id ?? null }
          : verified
            ? { match: 'verified', patientId: r.patient_id }
            : { match: r.match ?? 'unknown', patientId: r.call_patient_id ?? null },
        task: r.task_id && r.task_status ? { id: r.task_id, status: r.task_status } : null,
      };
    }),
  );
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
export async function listDeadLetter(scope: PracticeScope): Promise<DeadLetterEntry[]> {
  const rows = await scope.db
    .selectFrom('voicemails')
    .select(['id', 'recording_sid', 'state', 'dead_letter_reason', 'last_error', 'attempts', 'created_at'])
    .where('practice_id', '=', scope.practiceId)
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
export async function pendingUrgentIds(scope: PracticeScope, within?: readonly string[]): Promise<string[]> {
  if (within && within.length === 0) return [];
  let q = scope.db
    .selectFrom('voicemails')
    .select('id')
    .where('practice_id', '=', scope.practiceId)
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
/** The practice's latest playable voicemail with this reference code (the code its page carries too), or null. */
export async function playableByReference(scope: PracticeScope, referenceCode: string): Promise<string | null> {
  const rows = await scope.db
    .selectFrom('voicemails')
    .select(['id', 'state', 'storage_key', 'plaintext_bytes', 'audio_deleted_at'])
    .where('practice_id', '=', scope.practiceId)
    .where('reference_code', '=', referenceCode)
    .orderBy('created_at', 'desc')
    .limit(5)
    .execute();
  return rows.find((r) => playability(r).ok)?.id ?? null;
}

const ackNoteContext = (voicemailId: string, practiceId: string): Record<string, string> => ({ table: 'voicemails', field: 'acknowledged_note', voicemail: voicemailId, practice: practiceId });

/** An acknowledgement's note, sealed (ids only in the context): what was done about the message. */
function sealAckNote(k: Keyring, note: string, voicemailId: string, practiceId: string): Promise<Buffer> {
  return encryptField(k, note, ackNoteContext(voicemailId, practiceId), 'unsigned');
}

function openAckNote(k: Keyring, sealed: Buffer, voicemailId: string, practiceId: string): Promise<string> {
  return decryptField(k, sealed, ackNoteContext(voicemailId, practiceId));
}

/**
 * The names of those who acknowledged (`user:<id>`: the member's display name; `provider:<id>`:
 * the provider's), read within the practice: someone who is not (or no longer) its member has none.
 */
export async function ackNames(scope: PracticeScope, actors: Array<string | null>): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  const ids = (prefix: string): string[] => [...new Set(actors.filter((a): a is string => a?.startsWith(prefix) ?? false).map((a) => a.slice(prefix.length)))].filter((id) => UUID.test(id));
  const users = ids('user:');
  const providers = ids('provider:');
  if (users.length > 0) {
    const r = await sql<{ user_id: string; display_name: string }>`SELECT user_id, display_name FROM ahl_practice_members() WHERE user_id = ANY(${users}::uuid[])`.execute(scope.db);
    for (const row of r.rows) names.set(`user:${row.user_id}`, row.display_name);
  }
  if (providers.length > 0) {
    const rows = await scope.db.selectFrom('providers').select(['id', 'display_name']).where('practice_id', '=', scope.practiceId).where('id', 'in', providers).execute();
    for (const row of rows) names.set(`provider:${row.id}`, row.display_name);
  }
  return names;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function acknowledgeVoicemail(
  deps: Pick<AppContext, 'audit' | 'clock' | 'keyring'>,
  scope: PracticeScope,
  input: { id: string; by: string; via: 'api' | 'access_line'; accessCallSid?: string; note?: string | undefined },
): Promise<AckResult> {
  const now = deps.clock();
  const noteEnc = input.note ? await sealAckNote(deps.keyring, input.note, input.id, scope.practiceId) : null;
  const updated = await scope.db
    .updateTable('voicemails')
    .set({ acknowledged_at: now, acknowledged_by: input.by, acknowledged_note_enc: noteEnc, updated_at: now })
    .where('id', '=', input.id)
    .where('practice_id', '=', scope.practiceId)
    .where('acknowledged_at', 'is', null)
    .returning(['id', 'call_sid'])
    .executeTakeFirst();
  if (updated) {
    await deps.audit({
      action: AuditAction.VoicemailAcknowledged,
      actor: input.by,
      practiceId: scope.practiceId,
      callSid: updated.call_sid,
      subjectId: updated.id,
      details: { via: input.via, note: noteEnc !== null, ...(input.accessCallSid ? { accessCallSid: input.accessCallSid } : {}) },
    });
    return { result: 'acknowledged', acknowledgedAt: now.toISOString(), acknowledgedBy: input.by };
  }
  const row = await getVoicemail(scope, input.id);
  if (!row?.acknowledged_at) return { result: 'not_found' };
  return { result: 'already_acknowledged', acknowledgedAt: row.acknowledged_at.toISOString(), acknowledgedBy: row.acknowledged_by };
}
