import type { AppContext } from '../app-context.js';
import { TIMED_OUT, withDeadline } from '../adapters/deadline.js';
import { decryptField, encryptField, type Keyring } from '../adapters/keyring.js';
import { retryBriefly } from '../adapters/retry-briefly.js';
import { AuditAction } from '../audit/events.js';
import { logger } from '../log/logger.js';
import { phoneIndex } from '../patients/store.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { openCallerNumber } from './caller-number.js';
import { holdCallbackNumber, loadCall } from './state-store.js';
import type { VoiceWebhook } from './twilio-params.js';
import type { CallbackEntry, CallState, SealedNumber } from './turn.js';

/**
 * The number to call back, as the caller confirmed it on the call (the callback_number node,
 * ./nodes/callback-number.ts). A keyed number is sealed by the edge the moment it arrives, with
 * the table, the call and the practice in the encryption context (ids only), and travels sealed:
 * in the call state and replay list in Redis, then into `calls.callback_number_enc`. It is
 * opened on the call only to be read back to the caller who keyed it.
 */

function callbackContext(callSid: string, practiceId: string): Record<string, string> {
  return { table: 'calls', field: 'callback_number', call: callSid, practice: practiceId };
}

/** Whether ten keyed digits are a dialable US (NANP) number: area code and exchange 2-9xx, neither an N11 service code. */
export function isUsNumber(digits: string): boolean {
  const m = /^([2-9]\d\d)([2-9]\d\d)\d{4}$/.exec(digits);
  if (!m) return false;
  const [, area = '', exchange = ''] = m;
  return !area.endsWith('11') && !exchange.endsWith('11');
}

/**
 * The caller's keyed entry (Twilio's Digits) judged: ten digits of a US number (a leading 1 or a
 * trailing # is forgiven), or null. Never logged: the caller's answer is only ever sealed.
 */
export function keyedUsNumber(raw: string): string | null {
  const digits = raw.replace(/#$/, '');
  const ten = digits.length === 11 && digits.startsWith('1') ? digits.slice(1) : digits;
  return isUsNumber(ten) ? ten : null;
}

/** A callback number (E.164), sealed for the call state and the call record, with its blind index. */
export async function sealCallbackNumber(k: Keyring, e164: string, callSid: string, practiceId: string): Promise<SealedNumber> {
  const sealed = await encryptField(k, e164, callbackContext(callSid, practiceId), 'unsigned');
  return { sealed: sealed.toString('base64'), index: phoneIndex(k, e164) };
}

export function openCallbackNumber(k: Keyring, sealed: Buffer, callSid: string, practiceId: string): Promise<string> {
  return decryptField(k, sealed, callbackContext(callSid, practiceId));
}

/** The ten digits of a sealed keyed number, for its read-back. */
export async function openKeyedDigits(k: Keyring, sealed: string, callSid: string, practiceId: string): Promise<string> {
  const e164 = await openCallbackNumber(k, Buffer.from(sealed, 'base64'), callSid, practiceId);
  return e164.replace(/^\+1/, '');
}

/** Keeps the confirmed number on the call's record (the practice's scope: its row only). */
export async function storeCallbackNumber(scope: PracticeScope, callSid: string, number: SealedNumber, source: 'caller' | 'keyed'): Promise<void> {
  await scope.db
    .updateTable('calls')
    .set({ callback_number_enc: Buffer.from(number.sealed, 'base64'), callback_number_index: number.index, callback_source: source })
    .where('call_sid', '=', callSid)
    .where('practice_id', '=', scope.practiceId)
    .execute();
}

/**
 * The number to call a caller back at: the one they confirmed on the call (`confirmed`), else
 * the number they called from, else null (a withheld number and nothing keyed). For the
 * callback tasks and the call list; the practice's scope holds the read to its own calls.
 */
export async function callbackNumberFor(scope: PracticeScope, keyring: Keyring, callSid: string): Promise<{ number: string; confirmed: boolean } | null> {
  const row = await scope.db
    .selectFrom('calls')
    .select(['callback_number_enc', 'from_enc'])
    .where('call_sid', '=', callSid)
    .where('practice_id', '=', scope.practiceId)
    .executeTakeFirst();
  if (!row) return null;
  if (row.callback_number_enc) return { number: await openCallbackNumber(keyring, row.callback_number_enc, callSid, scope.practiceId), confirmed: true };
  if (row.from_enc) return { number: await openCallerNumber(keyring, row.from_enc, callSid, scope.practiceId), confirmed: false };
  return null;
}

/** How long sealing a number (a KMS request) may take on the call: past this, the caller goes on without it being kept. */
const CALLBACK_SEAL_WAIT_MS = 3_000;

/**
 * A callback_number node's answer. While it asks for a number, the keyed digits are judged and
 * sealed here, at once: the engine, the call state and the replay list in Redis only ever see
 * the sealed number (opened again only for the read-back). Otherwise one key, or silence.
 */
export async function callbackEntry(deps: Pick<AppContext, 'keyring'>, state: CallState, nodeId: string, webhook: VoiceWebhook): Promise<CallbackEntry> {
  const raw = webhook.Digits ?? '';
  const keyed = /^[0-9*#]*$/.test(raw) ? raw : '';
  if (keyed === '') return { kind: 'timeout' };
  const progress = state.callback?.node === nodeId ? state.callback : null;
  if (progress?.phase !== 'key') return { kind: 'key', digit: keyed };
  const ten = keyedUsNumber(keyed);
  if (ten === null) return { kind: 'invalid' };
  try {
    const sealed = await withDeadline(sealCallbackNumber(deps.keyring, `+1${ten}`, webhook.CallSid, state.practiceId), CALLBACK_SEAL_WAIT_MS, { unref: true });
    if (sealed !== TIMED_OUT) return { kind: 'number', number: sealed };
    logger.warn('keyed callback number not sealed in time; asked again', { waitedMs: CALLBACK_SEAL_WAIT_MS });
  } catch (err) {
    logger.warn('keyed callback number not sealed; asked again', { err });
  }
  // Never kept unsealed: the caller is asked again (and, tries used up, goes on to the message).
  return { kind: 'timeout' };
}

/** Tries a confirmed keyed number gets at PostgreSQL on the call (100 ms, then 200 ms apart): brief, the caller waits. */
const KEEP_ATTEMPTS = 3;
const KEEP_FIRST_DELAY_MS = 100;

/**
 * The confirmed callback number onto the call record: the keyed one as sealed, or the caller's
 * own sealed now. A keyed number exists nowhere else, so it is never dropped: tried again
 * briefly, then (PostgreSQL still refusing) held sealed in the call's state in Redis, for the
 * call's next webhook (`landHeldCallbackNumber`) or its task to land; if even that fails, the
 * loss is logged as an error (never the number). The caller's own number costs at worst the
 * record its confirmation (from_enc still stands). Never the caller their call.
 */
export async function keepCallbackNumber(
  deps: Pick<AppContext, 'keyring' | 'redis' | 'audit'>,
  scope: PracticeScope,
  callSid: string,
  keyed: SealedNumber | null,
  from: string | null,
): Promise<void> {
  if (keyed) return keepKeyedNumber(deps, scope, callSid, keyed);
  try {
    if (!from) return;
    const sealed = await withDeadline(sealCallbackNumber(deps.keyring, from, callSid, scope.practiceId), CALLBACK_SEAL_WAIT_MS, { unref: true });
    if (sealed === TIMED_OUT) logger.warn('callback number not sealed in time; the caller number stands', { waitedMs: CALLBACK_SEAL_WAIT_MS });
    else await storeCallbackNumber(scope, callSid, sealed, 'caller');
  } catch (err) {
    logger.warn('callback number not kept; the caller number stands', { err });
  }
}

async function keepKeyedNumber(deps: Pick<AppContext, 'redis' | 'audit'>, scope: PracticeScope, callSid: string, keyed: SealedNumber): Promise<void> {
  try {
    await retryBriefly(() => storeCallbackNumber(scope, callSid, keyed, 'keyed'), { attempts: KEEP_ATTEMPTS, firstDelayMs: KEEP_FIRST_DELAY_MS });
    return;
  } catch (err) {
    logger.warn('keyed callback number not written to the call record; holding it (sealed) in the call state', { err, attempts: KEEP_ATTEMPTS });
  }
  try {
    await holdCallbackNumber(deps.redis, callSid, keyed);
  } catch (err) {
    logger.error('keyed callback number neither written nor held: the task will carry the calling number, unconfirmed', { err });
    // Never silently: the loss goes on the call's audit trail (its timeline) once PostgreSQL answers.
    void markNumberLost(deps, scope, callSid);
  }
}

/** How long the loss of a keyed number keeps trying to reach the audit log: 7 tries over about a minute. */
const LOST_MARK_ATTEMPTS = 7;
const LOST_MARK_FIRST_DELAY_MS = 500;

/** `call.callback_number_lost` on the call (no number), retried in the background while PostgreSQL is away. */
async function markNumberLost(deps: Pick<AppContext, 'audit'>, scope: PracticeScope, callSid: string): Promise<void> {
  try {
    await retryBriefly(
      () => deps.audit({ action: AuditAction.CallCallbackNumberLost, actor: 'system', practiceId: scope.practiceId, callSid, leg: 'parent', details: { source: 'keyed' } }),
      { attempts: LOST_MARK_ATTEMPTS, firstDelayMs: LOST_MARK_FIRST_DELAY_MS },
    );
  } catch (err) {
    logger.error('the loss of a keyed callback number could not be audited', { err });
  }
}

/**
 * A number held in the call state (`keepCallbackNumber`) onto the call record, one try: true
 * when it landed (the state may let it go), false when PostgreSQL still refuses it.
 */
export async function landHeldCallbackNumber(scope: PracticeScope, callSid: string, held: SealedNumber): Promise<boolean> {
  try {
    await storeCallbackNumber(scope, callSid, held, 'keyed');
    return true;
  } catch (err) {
    logger.warn('held callback number still not written to the call record; kept in the call state', { err });
    return false;
  }
}

/**
 * The number held in a call's state in Redis (PostgreSQL refused it when it was confirmed),
 * opened, and landed on the call record on the way; null when nothing is held (or the state is gone).
 */
export async function heldCallbackNumberFor(deps: Pick<AppContext, 'keyring' | 'redis'>, scope: PracticeScope, callSid: string): Promise<string | null> {
  const held = (await loadCall(deps.redis, callSid))?.state.heldCallbackNumber ?? null;
  if (!held) return null;
  await landHeldCallbackNumber(scope, callSid, held);
  return openCallbackNumber(deps.keyring, Buffer.from(held.sealed, 'base64'), callSid, scope.practiceId);
}
