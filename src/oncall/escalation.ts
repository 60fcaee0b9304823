import type { EscalationTier } from '../adapters/db-schema.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { whoIsOnCall } from './schedule.js';
import { getDefaultPolicy, getPolicyByName, listProviders, loadSchedule, type Provider } from './store.js';

/**
 * Resolving an escalation policy into the phones to ring for one urgent call, at the moment the
 * call reaches the chain. Pure part: `buildPlan`. I/O part: `resolvePlan`.
 */

/** One phone to ring in an escalation chain. Providers' work numbers, not PHI. */
export interface DialTarget {
  tier: number;
  providerId: string | null;
  number: string;
  ringSeconds: number;
}

/** The escalation chain for one urgent call, resolved when the call reaches it. */
export interface EscalationPlan {
  policyId: string | null;
  targets: DialTarget[];
  /** How many times the whole chain is tried (1 + the policy's repeats). */
  rounds: number;
}

export interface ProviderPhone {
  id: string;
  phone: string;
  active: boolean;
}

/**
 * Pure: tiers → targets. A tier whose schedule has nobody on call, or whose provider is inactive,
 * is skipped; so is a tier that would ring the number the tier before it just rang (the person
 * on call is often also the next tier): within a round nobody is dialled twice in a row. The
 * next round still starts from the first tier.
 */
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
    if (!provider?.active) return;
    if (targets[targets.length - 1]?.number === provider.phone) return;
    targets.push({ tier: i + 1, providerId: provider.id, number: provider.phone, ringSeconds: tier.ringSeconds });
  });
  return { policyId: policy.id, targets, rounds: policy.repeat + 1 };
}

/** The practice's providers by id (the store's rows: display name, phones, admin flag, active). */
export async function loadProviders(scope: PracticeScope): Promise<Map<string, Provider>> {
  return new Map((await listProviders(scope)).map((p) => [p.id, p]));
}

/** Who is on call now for each schedule a policy names. */
export async function onCallFor(scope: PracticeScope, tiers: EscalationTier[], now: Date): Promise<Map<string, string | null>> {
  const result = new Map<string, string | null>();
  for (const tier of tiers) {
    if (tier.target.kind !== 'schedule' || result.has(tier.target.scheduleId)) continue;
    const schedule = await loadSchedule(scope, tier.target.scheduleId);
    result.set(tier.target.scheduleId, schedule ? whoIsOnCall(schedule, now).providerId : null);
  }
  return result;
}

/**
 * The plan for a call reaching `dial_oncall`, resolved at `now` into the phones to ring: the named
 * policy's when the node names one and the practice still has it, else the default policy's (a
 * renamed or removed policy must not leave a caller without anyone to ring); the fallback line alone
 * when the practice has neither.
 */
export async function resolvePlan(scope: PracticeScope, fallbackNumber: string | null, now: Date, policyName: string | null = null): Promise<EscalationPlan> {
  const named = policyName === null ? null : await getPolicyByName(scope, policyName);
  const policy = named ?? (await getDefaultPolicy(scope));
  if (!policy) return buildPlan(null, new Map(), new Map(), fallbackNumber);
  const [providers, onCall] = await Promise.all([loadProviders(scope), onCallFor(scope, policy.tiers, now)]);
  return buildPlan(policy, providers, onCall, fallbackNumber);
}
