import type { AppContext } from '../app-context.js';
import { AuditAction } from '../audit/events.js';
import { failSafe } from './fail-safe.js';

/**
 * The fail-safe answered for a known practice, as every voice path answers it (the flows' webhook,
 * ./voice-service.ts, and the provider access line, src/voicemail/access-line.ts): audited as
 * `call.fail_safe` with its reason on the parent leg, counted by reason, and with whatever the
 * caller's path also writes for it (the call record) at the same time; then the emergency
 * disclaimer and the practice's fallback line (./fail-safe.ts). One function, so a suspended
 * practice (or any other reason) sounds and is recorded the same on every line.
 */
export interface FailSafeAt {
  practiceId: string;
  callSid: string;
  fallbackNumber: string | null;
}

export async function answerFailSafe(
  deps: Pick<AppContext, 'audit' | 'metrics'>,
  at: FailSafeAt,
  reason: string,
  details: Record<string, unknown> = {},
  alongside: () => Promise<unknown> = () => Promise.resolve(),
): Promise<string> {
  await Promise.all([
    deps.audit({ action: AuditAction.CallFailSafe, actor: 'system', practiceId: at.practiceId, callSid: at.callSid, leg: 'parent', details: { reason, ...details } }),
    alongside(),
  ]);
  deps.metrics.countFailSafe(reason);
  return failSafe(at.fallbackNumber);
}

/** Why a suspended practice's call gets the fail-safe: its callers are never dropped. */
export const PRACTICE_SUSPENDED = 'practice_suspended';
