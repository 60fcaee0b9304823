import type { Holidays } from '../practices/settings.js';
import { checkDropAt, dropLimitsFor, mayDropAt } from './calling-rules.js';
import type { SkipReason } from './types.js';

/**
 * Who may get a drop, and when. Pure: the facts about each recipient are loaded in bulk by the
 * caller (consent, opt-out, recent drops across every campaign, zone and state).
 * Permanent reasons exclude a recipient; time reasons (hours, holidays, caps) only defer.
 */

export interface RecipientFacts {
  patientId: string;
  hasPhone: boolean;
  consent: 'granted' | 'revoked' | 'none';
  /** The latest consent entry of the channel (the grant a drop goes out under, named in its audit event). */
  consentId: string | null;
  optedOut: boolean;
  timeZone: string;
  usState: string | null;
  /**
   * This patient's messages to the phone, newest last: every ringless-voicemail drop and every SMS
   * (the caps across channels count them together).
   */
  recentDrops: Date[];
  /** This patient's SMS alone (the SMS channel's own cap). Empty for a drop's facts. */
  recentSms: Date[];
}

/** What a recipient is decided for: a ringless-voicemail drop or an SMS. */
export type SendChannel = 'rvm' | 'sms';

/**
 * Frequency caps. Across channels (a drop and an SMS count together): the healthcare exemption's
 * 1 a recipient-local day and 3 in any 7 days (calling-rules.ts DAILY_CAP, WEEKLY_CAP), and the
 * state's rolling-24-hour limit. Per channel: SMS at most SMS_WEEKLY_CAP in any 7 days; drops
 * have no stricter limit of their own than the shared one.
 */
export const SMS_WEEKLY_CAP = 2;

export type Decision = { kind: 'send'; at: Date } | { kind: 'defer'; reason: SkipReason; until: Date } | { kind: 'exclude'; reason: SkipReason };

export const PERMANENT_REASONS: ReadonlySet<SkipReason> = new Set([
  'no_consent',
  'consent_revoked',
  'opted_out',
  'no_phone',
  'unknown_patient',
  'duplicate',
  // The template speaks the recipient's own appointment and there is none to speak of (src/outreach/personal.ts).
  'no_appointment',
  'no_location',
  'location_refused',
]);

export function decide(f: RecipientFacts, now: Date, holidays: Holidays, practiceTimeZone: string, channel: SendChannel = 'rvm'): Decision {
  if (f.optedOut) return { kind: 'exclude', reason: 'opted_out' };
  if (f.consent === 'revoked') return { kind: 'exclude', reason: 'consent_revoked' };
  if (f.consent !== 'granted') return { kind: 'exclude', reason: 'no_consent' };
  if (!f.hasPhone) return { kind: 'exclude', reason: 'no_phone' };
  const verdict = mayDropAt({ now, timeZone: f.timeZone, practiceTimeZone, usState: f.usState, holidays, recentDrops: f.recentDrops });
  if (verdict.ok && channel === 'sms' && f.recentSms.length > 0) {
    // The SMS channel's own cap, on its own sends (the shared caps passed above).
    const limits = { ...dropLimitsFor(f.usState), weeklyCap: SMS_WEEKLY_CAP };
    const own = checkDropAt({ now, timeZone: f.timeZone, practiceTimeZone, holidays, recentDrops: f.recentSms }, limits);
    if (!own.ok) return { kind: 'defer', reason: own.reason === 'weekly_cap' ? 'sms_weekly_cap' : own.reason, until: own.retryAt ?? new Date(now.getTime() + 3_600_000) };
  }
  if (verdict.ok) return { kind: 'send', at: now };
  // Without a known time to retry, look again in an hour (the worker re-checks at send time anyway).
  return { kind: 'defer', reason: verdict.reason, until: verdict.retryAt ?? new Date(now.getTime() + 3_600_000) };
}

/**
 * `decide` for many recipients at once. Past the permanent checks, a recipient's verdict depends
 * only on their zone, state and recent sends (the times of their drops and SMS), so it is computed
 * once per distinct (zone, state, recent sends): the same answer as `decide` for each, at a
 * fraction of the cost for a large campaign (most recipients have no recent send; those who do
 * often share the same few).
 */
export function decideMany(facts: readonly RecipientFacts[], now: Date, holidays: Holidays, practiceTimeZone: string, channel: SendChannel = 'rvm'): Decision[] {
  const shared = new Map<string, Decision>();
  const times = (list: readonly Date[]): string => list.map((t) => t.getTime()).join(',');
  return facts.map((f) => {
    if (f.optedOut || f.consent !== 'granted' || !f.hasPhone) return decide(f, now, holidays, practiceTimeZone, channel);
    const key = `${f.timeZone}|${f.usState ?? ''}|${times(f.recentDrops)}|${times(f.recentSms)}`;
    let d = shared.get(key);
    if (!d) {
      d = decide(f, now, holidays, practiceTimeZone, channel);
      shared.set(key, d);
    }
    return d;
  });
}

export interface DryRunReport {
  recipients: number;
  eligibleNow: number;
  deferred: Partial<Record<SkipReason, number>>;
  excluded: Partial<Record<SkipReason, number>>;
}

export function summarise(decisions: Decision[]): DryRunReport {
  const report: DryRunReport = { recipients: decisions.length, eligibleNow: 0, deferred: {}, excluded: {} };
  for (const d of decisions) {
    if (d.kind === 'send') report.eligibleNow += 1;
    else if (d.kind === 'defer') report.deferred[d.reason] = (report.deferred[d.reason] ?? 0) + 1;
    else report.excluded[d.reason] = (report.excluded[d.reason] ?? 0) + 1;
  }
  return report;
}

/**
 * Assigns send times: each recipient no earlier than allowed, the whole campaign no faster than
 * `ratePerMinute`. Returns times in the order of `earliest`.
 */
export function assignSendTimes(earliest: Date[], ratePerMinute: number): Date[] {
  const gap = 60_000 / ratePerMinute;
  const order = earliest.map((t, i) => ({ t: t.getTime(), i })).sort((a, b) => a.t - b.t || a.i - b.i);
  const out: Date[] = new Array<Date>(earliest.length);
  let last = -Infinity;
  for (const { t, i } of order) {
    const at = Math.max(t, last + gap);
    out[i] = new Date(at);
    last = at;
  }
  return out;
}
