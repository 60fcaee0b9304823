import type { AppContext } from '../app-context.js';
import type { PracticeScope } from './scope.js';

/**
 * A worker's or sweep's scope for one practice: the `ahl_system` role, which crosses practices
 * (its queries still name the practice), for jobs carrying a practice id that code holding a
 * scope gave them. It reaches nothing `ctx.db` does not already reach. Routes never take one
 * (.dependency-cruiser.cjs, `system-scopes-for-background-work`): theirs comes from the permit check
 * or, for a webhook, from the Twilio route's `scopeFor`.
 */
export function systemScope(ctx: Pick<AppContext, 'db'>, practiceId: string): PracticeScope {
  return { practiceId, db: ctx.db, role: 'system' } as PracticeScope;
}
