import type { Db } from '../adapters/postgres.js';
import type { EscalationTier } from '../adapters/db-schema.js';
import type { DialTarget, EscalationPlan } from '../calls/engine.js';
import { whoIsOnCall } from './schedule.js';
import { loadSchedule } from './store.js';

/**
 * Resolving an escalation policy into the phones to ring for one urgent call, at the moment the
 * call reaches the chain. Pure part: `buildPlan`. I/O part: `resolvePlan`.
 */

export interface ProviderPhone {
  id: string;
  phone: string;
  active: boolean;
}

/** Pure: tiers → targets. A tier whose schedule has nobody on call, or whose provider is inactive, is skipped. */
export function buildPlan(
  policy: { id: string; tiers: EscalationTier[]; repeat: number } | null,
  providers: ReadonlyMap<string, ProviderPhone>,
  onCall: ReadonlyMap<string, string | null>,
  fallbackNumber: string | null,
): EscalationPlan {
  if (!policy) {
    // No policy configured yet: the practice's fallback line is the whole chain.
    return { policyId: null, targets: fallbackNumber ? [{ tier: 1, providerId: null, number: fallbackNumber, ringSeconds: 25 }] : [], rounds: 1 };
  }
  const targets: DialTarget[] = [];
  policy.tiers.forEach((tier, i) => {
    const providerId = tier.target.kind === 'provider' ? tier.target.providerId : (onCall.get(tier.target.scheduleId) ?? null);
    const provider = providerId ? providers.get(providerId) : undefined;
    if (provider?.active) targets.push({ tier: i + 1, providerId: provider.id, number: provider.phone, ringSeconds: tier.ringSeconds });
  });
  return { policyId: policy.id, targets, rounds: policy.repeat + 1 };
}

export async function loadDefaultPolicy(db: Db, practiceId: string): Promise<{ id: string; tiers: EscalationTier[]; repeat: number; pageIntervalSeconds: number; pageMaxRepeats: number } | null> {
  const row = await db
    .selectFrom('escalation_policies')
    .select(['id', 'tiers', 'repeat', 'page_interval_seconds', 'page_max_repeats'])
    .where('practice_id', '=', practiceId)
    .where('is_default', '=', true)
    .executeTakeFirst();
  return row ? { id: row.id, tiers: row.tiers, repeat: row.repeat, pageIntervalSeconds: row.page_interval_seconds, pageMaxRepeats: row.page_max_repeats } : null;
}

export async function loadProviders(db: Db, practiceId: string): Promise<Map<string, ProviderPhone & { smsPhone: string | null; isPracticeAdmin: boolean; displayName: string }>> {
  const rows = await db
    .selectFrom('providers')
    .select(['id', 'phone', 'sms_phone', 'active', 'is_practice_admin', 'display_name'])
    .where('practice_id', '=', practiceId)
    .execute();
  return new Map(rows.map((r) => [r.id, { id: r.id, phone: r.phone, smsPhone: r.sms_phone, active: r.active, isPracticeAdmin: r.is_practice_admin, displayName: r.display_name }]));
}

/** Who is on call now for each schedule a policy names. */
export async function onCallFor(db: Db, practiceId: string, tiers: EscalationTier[], now: Date): Promise<Map<string, string | null>> {
  const result = new Map<string, string | null>();
  for (const tier of tiers) {
    if (tier.target.kind !== 'schedule' || result.has(tier.target.scheduleId)) continue;
    const schedule = await loadSchedule(db, practiceId, tier.target.scheduleId);
    result.set(tier.target.scheduleId, schedule ? whoIsOnCall(schedule, now).providerId : null);
  }
  return result;
}

export async function resolvePlan(db: Db, practiceId: string, fallbackNumber: string | null, now: Date): Promise<EscalationPlan> {
  const policy = await loadDefaultPolicy(db, practiceId);
  if (!policy) return buildPlan(null, new Map(), new Map(), fallbackNumber);
  const [providers, onCall] = await Promise.all([loadProviders(db, practiceId), onCallFor(db, practiceId, policy.tiers, now)]);
  return buildPlan(policy, providers, onCall, fallbackNumber);
}
