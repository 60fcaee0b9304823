import { inTransaction } from '../adapters/postgres.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { createPolicy, createProvider, hadOnCallBefore, lockPolicies, type EscalationPolicy, type PolicyInput, type Provider, type ProviderInput } from './store.js';

/**
 * A practice's first escalation policy, made when its first provider is added (issue 12, item 1).
 * Until then an urgent call rings the practice's fallback number (./escalation.ts `buildPlan`
 * with no policy); once the practice has a provider and still no policy of its own, an urgent call
 * should reach that provider, not the front desk's line, so a policy is made for it.
 *
 * What the default is, within what a policy can say (tiers of schedules or providers):
 * - tier 1: the provider just added, 25 seconds (a provider tier: a new practice has no schedule
 *   yet, and a rotation of one is the same person with more to edit);
 * - the chain tried twice (`repeat: 1`); then, as for every policy, the flow's `on_fail` (urgent
 *   voicemail) and a page to the chain every 10 minutes, three rounds, the practice's admins
 *   (providers flagged `isPracticeAdmin`) paged after the last (./paging.ts `pageRecipients`).
 * It is marked default, named "Default", audited like any policy change, and an admin replaces it
 * with `POST /api/oncall/policies` (`isDefault: true`) or edits it like any other.
 */

export const DEFAULT_POLICY_NAME = 'Default';
const DEFAULT_RING_SECONDS = 25;

/** Pure: the policy a practice starts with, around its first provider. */
export function defaultPolicyFor(provider: Pick<Provider, 'id'>): PolicyInput {
  return {
    name: DEFAULT_POLICY_NAME,
    tiers: [{ target: { kind: 'provider', providerId: provider.id }, ringSeconds: DEFAULT_RING_SECONDS }],
    repeat: 1,
    pageIntervalMinutes: 10,
    pageMaxRepeats: 3,
    isDefault: true,
  };
}

export interface ProviderAdded {
  provider: Provider;
  /** The default policy made because this was the practice's first provider and it had no policy; else null. */
  defaultPolicy: EscalationPolicy | null;
}

/**
 * Adds a provider to the scope's practice; when it is the practice's first and the practice has no
 * escalation policy, makes the default one above in the same transaction. Policy writes of the
 * practice are serialised first, so two first providers added at once make one default, not two.
 */
export async function addProvider(scope: PracticeScope, input: ProviderInput, secrets: Parameters<typeof createProvider>[2] = {}): Promise<ProviderAdded> {
  return inTransaction(scope.db, async (trx) => {
    const tx = { ...scope, db: trx } as PracticeScope;
    await lockPolicies(trx, scope.practiceId);
    const provider = await createProvider(tx, input, secrets);
    if (await hadOnCallBefore(trx, scope.practiceId, provider.id)) return { provider, defaultPolicy: null };
    const made = await createPolicy(tx, defaultPolicyFor(provider));
    if (!made.ok) throw new Error(`the default escalation policy was refused: ${made.reason}`);
    return { provider, defaultPolicy: made.value.policy };
  });
}
