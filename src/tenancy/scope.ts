import type { Db } from '../adapters/postgres.js';

declare const minted: unique symbol;

/**
 * The practice a piece of work acts for, and the database handle that can reach only that
 * practice's rows. Request-path store functions take one instead of a bare practice id, so a
 * query cannot forget its practice: for a request, `db` runs in the `ahl_tenant` role, where
 * PostgreSQL's row-level security refuses any other practice's rows whatever the query says.
 *
 * Only src/tenancy/mint.ts makes one (the layer rule `scope-minted-by-auth` in
 * .dependency-cruiser.cjs names who may import it): the API's permit check and the Twilio
 * webhook's number lookup for requests, and `systemScope` for workers and sweeps.
 */
/** Mints a request's scope for the practice a webhook found by the number called (the Twilio routes pass it down). */
export type ScopeFor = (practiceId: string) => PracticeScope;

export interface PracticeScope {
  readonly practiceId: string;
  readonly db: Db;
  /** `tenant`: row-level security holds this scope to its practice; `system`: a worker's, filtered by the queries alone. */
  readonly role: 'tenant' | 'system';
  readonly [minted]: true;
}

declare const platformMinted: unique symbol;

/**
 * The platform operator's handle: the `ahl_system` pool, which crosses practices, for the few
 * platform routes (create, list, suspend, reactivate practices; connect their lines). Minted
 * only by `platformScope` (./mint.ts), which the API's `permitOperator` calls once an operator
 * key has been checked; it names no practice, so no practice-data store function takes one.
 */
export interface PlatformScope {
  readonly db: Db;
  readonly [platformMinted]: true;
}
