import { api } from '../../api/client';
import type * as Generated from '../../api/generated';

/**
 * GET /api/calls/:callSid as the API answers it (src/calls/call-export.ts CallView), and the pure
 * readings the call's page makes of it. The audit events carry ids and codes only: the keyed
 * digits of a verification are never in them, so the page cannot show them either.
 */
export interface AuditEvent {
  seq: number;
  row?: number;
  chain?: string;
  at: string;
  practiceId: string | null;
  actor: string;
  action: string;
  callSid: string | null;
  leg: string | null;
  subjectId: string | null;
  details: Record<string, unknown>;
  hash?: string;
}

export interface CallLeg {
  legSid: string | null;
  kind: 'parent' | 'dial' | 'page';
  tier: number | null;
  round: number | null;
  providerId: string | null;
  /** E.164, or `masked` for an auditor. */
  numberTried: string | null;
  outcome: string;
  durationSeconds: number | null;
  at: string;
  endedAt: string | null;
}

export type TimelineEntry =
  | { kind: 'event'; at: string; seq: number; action: string; leg: string | null; subjectId: string | null; details: Record<string, unknown> }
  | { kind: 'parent_leg' | 'dial_leg' | 'page_sms'; at: string; endedAt: string | null; seq: null; legSid: string | null; tier: number | null; round: number | null; providerId: string | null; numberTried: string | null; outcome: string; durationSeconds: number | null };

/**
 * The generated CallView with the timeline and audit rows the console reads spelled out: the
 * OpenAPI schema names only their common fields (kind, at, seq; AuditEvent without callSid, leg,
 * subjectId) and passes the rest through.
 */
export type CallView = Omit<Generated.CallView, 'timeline' | 'audit'> & { timeline: TimelineEntry[]; audit: AuditEvent[] };

export const fetchCall = (callSid: string, signal?: AbortSignal) => api<CallView>(`/api/calls/${encodeURIComponent(callSid)}`, { signal });

/** The export route: a plain link the browser downloads with the session cookie (no blob URL in the page). */
export const exportUrl = (callSid: string): string => `/api/calls/${encodeURIComponent(callSid)}/export`;

/** A call SID as the API takes it: anything else is not looked up. */
export const CALL_SID = /^CA[0-9a-f]{32}$/;

export interface VerificationStep {
  at: string;
  result: 'verified' | 'failed' | 'locked_out' | 'refused';
  /** Which try (1, 2, …) when the event says. */
  attempt: number | null;
  /** The reason code a failure gave (no_match, timeout, …): never what was keyed. */
  reason: string | null;
}

const VERIFICATION: Record<string, VerificationStep['result']> = {
  'verification.succeeded': 'verified',
  'verification.failed': 'failed',
  'verification.locked_out': 'locked_out',
  'verification.refused': 'refused',
};

/** Pure: the caller's identity checks, in order, from the call's audit events. */
export function verificationSteps(audit: readonly AuditEvent[]): VerificationStep[] {
  return audit.flatMap((e) => {
    const result = VERIFICATION[e.action];
    if (!result) return [];
    const attempt = typeof e.details.try === 'number' ? e.details.try : null;
    const reason = typeof e.details.reason === 'string' ? e.details.reason : null;
    return [{ at: e.at, result, attempt, reason }];
  });
}

export interface Listen {
  at: string;
  actor: string;
  voicemailId: string | null;
  via: string | null;
}

/** Pure: who listened to the call's recordings (each playback's start; a seek's range requests are the same listen). */
export function listens(audit: readonly AuditEvent[]): Listen[] {
  return audit
    .filter((e) => e.action === 'voicemail.playback' && e.details.phase === 'started' && (e.details.range === null || e.details.range === undefined || String(e.details.range).startsWith('0-')))
    .map((e) => ({ at: e.at, actor: e.actor, voicemailId: e.subjectId, via: typeof e.details.via === 'string' ? e.details.via : null }));
}

/** Pure: the dial legs, and which of them was accepted (the one the on-call person took). */
export function dialled(legs: readonly CallLeg[]): Array<CallLeg & { accepted: boolean }> {
  return legs.filter((l) => l.kind === 'dial').map((l) => ({ ...l, accepted: l.outcome === 'accepted' || l.outcome === 'answered' }));
}

const ACTION_WORDS: Record<string, string> = {
  'call.leg.started': 'Call answered',
  'call.leg.status': 'Call status',
  'call.transition': 'Menu step',
  'call.dial': 'Dialled',
  'call.disclosure': 'Details told to the caller',
  'call.fail_safe': 'Fail-safe answer',
  'verification.succeeded': 'Caller verified',
  'verification.failed': 'Verification failed',
  'verification.locked_out': 'Caller locked out',
  'voicemail.taken': 'Voicemail taken',
  'voicemail.stored': 'Voicemail stored',
  'voicemail.playback': 'Voicemail played',
  'voicemail.acknowledged': 'Voicemail marked heard',
  'oncall.connected': 'On-call accepted',
  'oncall.attempt_failed': 'On-call did not accept',
  'oncall.exhausted': 'Nobody on call answered',
  'page.sent': 'Page sent',
  'call.exported': 'Call exported',
};

const LEG_WORDS = { parent_leg: "Caller's leg", dial_leg: 'Dial leg', page_sms: 'Page text' } as const;

/** Pure: a timeline entry in words (the action code itself when there are no words for it yet). */
export function describeEntry(t: TimelineEntry): string {
  if (t.kind === 'event') return ACTION_WORDS[t.action] ?? t.action;
  const who = t.tier !== null ? ` (tier ${t.tier}${t.round !== null ? `, round ${t.round}` : ''})` : '';
  return `${LEG_WORDS[t.kind]}${who}: ${t.outcome}`;
}

/** Pure: the menu steps a call.transition event records (from → to), for the timeline's detail column. */
export function menuSteps(t: TimelineEntry): string | null {
  if (t.kind !== 'event' || t.action !== 'call.transition' || !Array.isArray(t.details.steps)) return null;
  const steps = t.details.steps as Array<{ from?: unknown; to?: unknown }>;
  return steps.map((s) => `${String(s.from ?? '?')} → ${String(s.to ?? '?')}`).join(', ');
}
