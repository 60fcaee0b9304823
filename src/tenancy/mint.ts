import type { AppContext } from '../app-context.js';
import type { PlatformScope, PracticeScope } from './scope.js';

/**
 * Where a `PracticeScope` is made. Importing this module is reserved (.dependency-cruiser.cjs,
 * `scope-minted-by-auth`) to the code that has established which practice is acting: the API's
 * permit check (src/http/api-auth.ts), the webhook routes (by the number that was called),
 * worker start-up, and the CLIs. Workers and sweeps take `systemScope` (./system-scope.ts) instead.
 */

/** A request's scope: `ahl_tenant` connections naming the practice, held to it by row-level security. */
export function tenantScope(ctx: Pick<AppContext, 'tenants'>, practiceId: string): PracticeScope {
  return { practiceId, db: ctx.tenants.forPractice(practiceId), role: 'tenant' } as PracticeScope;
}

/** The operator's scope (src/http/api-auth.ts `permitOperator`): the `ahl_system` pool, for work across practices. */
export function platformScope(ctx: Pick<AppContext, 'db'>): PlatformScope {
  return { db: ctx.db } as PlatformScope;
}
