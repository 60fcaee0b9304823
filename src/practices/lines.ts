import type { Db } from '../adapters/postgres.js';
import type { IncomingNumber, NumberWebhooks, TwilioNumbers } from '../adapters/twilio-numbers.js';
import { TwilioRestError } from '../adapters/twilio-rest.js';
import { DROP_CALLBACK_FLOW } from '../drops/campaigns.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { assignLine, lineFlow, listLines, type StoredLine } from './lines-store.js';

/**
 * A practice's numbers are lines of a kind, and the kind decides which of our webhooks Twilio
 * calls for it:
 * - `main`: callers; runs the number's call flow (voice URL /twilio/voice/incoming);
 * - `access`: the provider access line (voice URL /twilio/voice/access), the number voicemail
 *   notices and pages name and send from;
 * - `drop_callback`: the number drops name for call-backs and opt-outs; runs the drop-callback
 *   flow (voice URL /twilio/voice/incoming).
 * Every kind gets Twilio's voice fallback URL (the fail-safe answer), the call status callback
 * and the messaging webhook (page acknowledgements and STOP).
 *
 * `connectLine` records the line and configures the number at Twilio, then reads it back and
 * reports any difference; `checkLines` reports the drift of lines already connected.
 */

export const LINE_KINDS = ['main', 'access', 'drop_callback'] as const;
export type LineKind = (typeof LINE_KINDS)[number];

/** The flow a `main` line runs when it is new and none is named. */
export const DEFAULT_MAIN_FLOW = 'after-hours';

/** Pure: the webhooks a line of this kind must have, all under PUBLIC_BASE_URL. */
export function lineWebhooks(kind: LineKind, publicBaseUrl: string): NumberWebhooks {
  const base = publicBaseUrl.replace(/\/+$/, '');
  return {
    voiceUrl: `${base}${kind === 'access' ? '/twilio/voice/access' : '/twilio/voice/incoming'}`,
    voiceFallbackUrl: `${base}/twilio/voice/fallback`,
    statusCallback: `${base}/twilio/voice/status`,
    smsUrl: `${base}/twilio/sms/incoming`,
    smsFallbackUrl: `${base}/twilio/sms/fallback`,
  };
}

/** Pure: a stored line's kind (./lines-store.ts: the kind is what the number does). */
export function lineKindOf(line: Pick<StoredLine, 'flowId' | 'isAccess'>): LineKind {
  if (line.isAccess) return 'access';
  return line.flowId === DROP_CALLBACK_FLOW ? 'drop_callback' : 'main';
}

/**
 * Pure: the flow a line of this kind runs. A `main` line keeps its flow (or takes the one named,
 * or the after-hours flow when new); a drop callback line runs the drop-callback flow; an access
 * line keeps whatever flow it had (it is answered by /twilio/voice/access, not a flow).
 */
export function flowForKind(kind: LineKind, current: string | null, named: string | undefined): string {
  switch (kind) {
    case 'drop_callback':
      return DROP_CALLBACK_FLOW;
    case 'main':
      return named ?? (current !== null && current !== DROP_CALLBACK_FLOW ? current : DEFAULT_MAIN_FLOW);
    case 'access':
      return current ?? DEFAULT_MAIN_FLOW;
    default:
      return kind satisfies never;
  }
}

export interface WebhookDifference {
  field: keyof NumberWebhooks | 'voiceMethod' | 'voiceFallbackMethod' | 'statusCallbackMethod' | 'smsMethod' | 'smsFallbackMethod';
  expected: string;
  actual: string;
}

/** Pure: where Twilio's configuration of a number differs from what its line needs (methods included: we take POST only). */
export function webhookDifferences(expected: NumberWebhooks, actual: IncomingNumber): WebhookDifference[] {
  const pairs: WebhookDifference[] = [
    { field: 'voiceUrl', expected: expected.voiceUrl, actual: actual.voiceUrl },
    { field: 'voiceMethod', expected: 'POST', actual: actual.voiceMethod.toUpperCase() },
    { field: 'voiceFallbackUrl', expected: expected.voiceFallbackUrl, actual: actual.voiceFallbackUrl },
    { field: 'voiceFallbackMethod', expected: 'POST', actual: actual.voiceFallbackMethod.toUpperCase() },
    { field: 'statusCallback', expected: expected.statusCallback, actual: actual.statusCallback },
    { field: 'statusCallbackMethod', expected: 'POST', actual: actual.statusCallbackMethod.toUpperCase() },
    { field: 'smsUrl', expected: expected.smsUrl, actual: actual.smsUrl },
    { field: 'smsMethod', expected: 'POST', actual: actual.smsMethod.toUpperCase() },
    { field: 'smsFallbackUrl', expected: expected.smsFallbackUrl, actual: actual.smsFallbackUrl },
    { field: 'smsFallbackMethod', expected: 'POST', actual: actual.smsFallbackMethod.toUpperCase() },
  ];
  return pairs.filter((p) => p.expected !== p.actual);
}

interface TwilioDeps {
  /** null: no Twilio account configured (log mode). */
  numbers: TwilioNumbers | null;
  publicBaseUrl: string;
}

/** Connecting acts for one practice: its scope (the request's, or a CLI's), never the whole database. */
export interface ConnectDeps extends TwilioDeps {
  scope: PracticeScope;
}

/** Checking crosses practices (`numbers:check` without `--practice`): the platform's handle. */
export interface CheckDeps extends TwilioDeps {
  db: Db;
}

export interface ConnectInput {
  e164: string;
  kind: LineKind;
  flowId?: string;
  /**
   * The number is not yet the practice's and the operator makes it so in this request. Without it
   * only a number already registered to the practice is connected: nothing is claimed by accident.
   */
  assign?: boolean;
}

export interface ConnectedLine {
  e164: string;
  kind: LineKind;
  flowId: string;
  /** `created`: the number was assigned to the practice by this request (`assign`); `updated`: it was already the practice's. */
  change: 'created' | 'updated';
  twilioSid: string;
  configured: NumberWebhooks;
  /** What Twilio reported after the update, where it differs from what was sent: empty when all is well. */
  differences: WebhookDifference[];
}

export type ConnectOutcome =
  | { ok: true; line: ConnectedLine }
  | { ok: false; reason: 'no_practice' | 'taken' | 'not_registered' | 'not_in_account' | 'twilio_not_configured' }
  | { ok: false; reason: 'twilio_error'; error: TwilioRestError };

/**
 * Connects a number as a line of the scope's practice. The number must be the practice's already,
 * or be assigned to it now (`assign`, the operator's explicit word): checked first, so Twilio is
 * not asked about a number the practice may not touch. Then Twilio must have it in the account
 * (so nothing is recorded for a number we cannot configure), then the line is recorded (a number
 * of another practice is `taken`, never moved), then Twilio is told its webhooks and read back. A
 * Twilio failure after the line was recorded is reported; running the command again finishes the
 * job (and `numbers:check` shows the drift).
 */
export async function connectLine(deps: ConnectDeps, input: ConnectInput): Promise<ConnectOutcome> {
  if (deps.numbers === null) return { ok: false, reason: 'twilio_not_configured' };
  const numbers = deps.numbers;
  const current = await lineFlow(deps.scope, input.e164);
  const assign = current === null;
  if (assign && input.assign !== true) return { ok: false, reason: 'not_registered' };
  const twilio = await askTwilio(() => numbers.find(input.e164));
  if (!twilio.ok) return twilio.outcome;
  if (twilio.value === null) return { ok: false, reason: 'not_in_account' };
  const flowId = flowForKind(input.kind, current, input.flowId);
  const assigned = await assignLine(deps.scope, { e164: input.e164, flowId, access: input.kind === 'access', claim: assign });
  if (assigned.result !== 'created' && assigned.result !== 'updated') return { ok: false, reason: assigned.result };
  const configured = lineWebhooks(input.kind, deps.publicBaseUrl);
  const sid = twilio.value.sid;
  const updated = await askTwilio(() => numbers.update(sid, configured));
  if (!updated.ok) return updated.outcome;
  // Read back what Twilio now holds, not only what it answered the update with.
  const readBack = await askTwilio(() => numbers.find(input.e164));
  if (!readBack.ok) return readBack.outcome;
  const differences = readBack.value === null ? [{ field: 'voiceUrl' as const, expected: configured.voiceUrl, actual: '(number gone from the account)' }] : webhookDifferences(configured, readBack.value);
  return { ok: true, line: { e164: input.e164, kind: input.kind, flowId, change: assigned.result, twilioSid: sid, configured, differences } };
}

export interface LineCheck {
  practiceId: string;
  e164: string;
  kind: LineKind;
  state: 'ok' | 'drift' | 'not_in_account';
  differences: WebhookDifference[];
}

/** Every line (of one practice, or all) compared with Twilio's configuration of its number. */
export async function checkLines(deps: CheckDeps, practiceId?: string): Promise<{ ok: true; lines: LineCheck[] } | { ok: false; reason: 'twilio_not_configured' } | { ok: false; reason: 'twilio_error'; error: TwilioRestError }> {
  if (deps.numbers === null) return { ok: false, reason: 'twilio_not_configured' };
  const numbers = deps.numbers;
  const lines: LineCheck[] = [];
  for (const stored of await listLines(deps.db, practiceId)) {
    const kind = lineKindOf(stored);
    const found = await askTwilio(() => numbers.find(stored.e164));
    if (!found.ok) return found.outcome;
    if (found.value === null) {
      lines.push({ practiceId: stored.practiceId, e164: stored.e164, kind, state: 'not_in_account', differences: [] });
      continue;
    }
    const differences = webhookDifferences(lineWebhooks(kind, deps.publicBaseUrl), found.value);
    lines.push({ practiceId: stored.practiceId, e164: stored.e164, kind, state: differences.length === 0 ? 'ok' : 'drift', differences });
  }
  return { ok: true, lines };
}

type Asked<T> = { ok: true; value: T } | { ok: false; outcome: { ok: false; reason: 'twilio_error'; error: TwilioRestError } };

/** A Twilio call whose failure becomes a domain outcome (the error carries no number and no Twilio text). */
async function askTwilio<T>(call: () => Promise<T>): Promise<Asked<T>> {
  try {
    return { ok: true, value: await call() };
  } catch (err) {
    if (err instanceof TwilioRestError) return { ok: false, outcome: { ok: false, reason: 'twilio_error', error: err } };
    throw err;
  }
}
