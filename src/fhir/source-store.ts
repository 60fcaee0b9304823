import { sql } from 'kysely';
import type { Db } from '../adapters/postgres.js';
import { decryptField, encryptField, type Keyring } from '../adapters/keyring.js';
import type { PracticeScope } from '../tenancy/scope.js';

/**
 * A practice's EHR connection (`fhir_sources`, migration 0014) and the links from FHIR resources to
 * our rows (`fhir_resource_links`). The client's private key is stored envelope-encrypted and only
 * decrypted to sign a sync's assertion; nothing here returns it to a caller of the API.
 */

export type SigningAlgorithm = 'RS384' | 'ES384';
export type FhirResourceType = 'Patient' | 'Appointment';

export interface FhirSourceInput {
  baseUrl: string;
  tokenUrl: string;
  clientId: string;
  mrnSystem: string;
  /** The private JWK as JSON text (with its `kid`). */
  privateKeyJwk: string;
  keyId: string;
  algorithm: SigningAlgorithm;
  intervalMinutes: number | null;
}

/** What the API shows of a source: never the key. */
export interface FhirSourceView {
  practiceId: string;
  baseUrl: string;
  tokenUrl: string;
  clientId: string;
  mrnSystem: string;
  keyId: string;
  algorithm: SigningAlgorithm;
  intervalMinutes: number | null;
  lastAttemptAt: string | null;
  lastSyncedAt: string | null;
  lastResult: Record<string, unknown> | null;
}

export interface FhirSourceForSync extends FhirSourceView {
  privateKeyJwk: string;
  cursors: Partial<Record<FhirResourceType, string>>;
}

const keyContext = (practiceId: string): Record<string, string> => ({ table: 'fhir_sources', field: 'private_key', practice: practiceId });

type SourceRow = {
  practice_id: string;
  base_url: string;
  token_url: string;
  client_id: string;
  mrn_system: string;
  key_id: string;
  algorithm: SigningAlgorithm;
  interval_minutes: number | null;
  last_attempt_at: Date | null;
  last_synced_at: Date | null;
  last_result: Record<string, unknown> | null;
};

function toView(r: SourceRow): FhirSourceView {
  return {
    practiceId: r.practice_id,
    baseUrl: r.base_url,
    tokenUrl: r.token_url,
    clientId: r.client_id,
    mrnSystem: r.mrn_system,
    keyId: r.key_id,
    algorithm: r.algorithm,
    intervalMinutes: r.interval_minutes,
    lastAttemptAt: r.last_attempt_at?.toISOString() ?? null,
    lastSyncedAt: r.last_synced_at?.toISOString() ?? null,
    lastResult: r.last_result,
  };
}

const VIEW_COLUMNS = ['practice_id', 'base_url', 'token_url', 'client_id', 'mrn_system', 'key_id', 'algorithm', 'interval_minutes', 'last_attempt_at', 'last_synced_at', 'last_result'] as const;

/**
 * Creates or replaces the practice's source. A changed server (base URL) starts again from the
 * beginning (its cursors are cleared); otherwise the cursors are kept.
 */
export async function putFhirSource(scope: PracticeScope, keyring: Keyring, input: FhirSourceInput, now: Date): Promise<{ change: 'created' | 'updated'; source: FhirSourceView }> {
  const enc = await encryptField(keyring, input.privateKeyJwk, keyContext(scope.practiceId));
  const values = {
    base_url: input.baseUrl,
    token_url: input.tokenUrl,
    client_id: input.clientId,
    mrn_system: input.mrnSystem,
    private_key_enc: enc,
    key_id: input.keyId,
    algorithm: input.algorithm,
    interval_minutes: input.intervalMinutes,
    updated_at: now,
  };
  const row = await scope.db
    .insertInto('fhir_sources')
    .values({ practice_id: scope.practiceId, ...values, created_at: now })
    .onConflict((oc) =>
      oc.column('practice_id').doUpdateSet({
        ...values,
        cursors: sql<string>`CASE WHEN fhir_sources.base_url = excluded.base_url THEN fhir_sources.cursors ELSE '{}'::jsonb END`,
      }),
    )
    .returning([...VIEW_COLUMNS, sql<boolean>`(xmax = 0)`.as('inserted')])
    .executeTakeFirstOrThrow();
  return { change: row.inserted ? 'created' : 'updated', source: toView(row) };
}

export async function getFhirSource(scope: PracticeScope): Promise<FhirSourceView | null> {
  const row = await scope.db.selectFrom('fhir_sources').select(VIEW_COLUMNS).where('practice_id', '=', scope.practiceId).executeTakeFirst();
  return row ? toView(row) : null;
}

/** The source with its key decrypted: only for a sync, which signs its assertion with it. */
export async function loadFhirSourceForSync(scope: PracticeScope, keyring: Keyring): Promise<FhirSourceForSync | null> {
  const row = await scope.db
    .selectFrom('fhir_sources')
    .select([...VIEW_COLUMNS, 'private_key_enc', 'cursors'])
    .where('practice_id', '=', scope.practiceId)
    .executeTakeFirst();
  if (!row) return null;
  const privateKeyJwk = await decryptField(keyring, row.private_key_enc, keyContext(scope.practiceId));
  return { ...toView(row), privateKeyJwk, cursors: row.cursors };
}

/** The practice's MRN system, when it has a source: what an NDJSON import reads MRNs by. */
export async function mrnSystemOf(scope: PracticeScope): Promise<string | null> {
  const row = await scope.db.selectFrom('fhir_sources').select('mrn_system').where('practice_id', '=', scope.practiceId).executeTakeFirst();
  return row?.mrn_system ?? null;
}

/** Sources whose schedule says a sync is due at `now` (across practices: the scheduler's sweep). */
export async function dueFhirSources(db: Db, now: Date): Promise<string[]> {
  const rows = await db
    .selectFrom('fhir_sources')
    .select('practice_id')
    .where('interval_minutes', 'is not', null)
    .where((eb) => eb.or([eb('last_attempt_at', 'is', null), eb('last_attempt_at', '<=', sql<Date>`${now}::timestamptz - make_interval(mins => interval_minutes)`)]))
    .orderBy('last_attempt_at', 'asc')
    .limit(500)
    .execute();
  return rows.map((r) => r.practice_id);
}

export async function recordFhirAttempt(scope: PracticeScope, now: Date): Promise<void> {
  await scope.db.updateTable('fhir_sources').set({ last_attempt_at: now }).where('practice_id', '=', scope.practiceId).execute();
}

/** A run's outcome: counts (or an error's reason code), and on success the cursors moved on. */
export async function recordFhirResult(
  scope: PracticeScope,
  outcome: { ok: true; at: Date; cursors: Partial<Record<FhirResourceType, string>>; result: Record<string, unknown> } | { ok: false; result: Record<string, unknown> },
): Promise<void> {
  const set = outcome.ok
    ? { last_synced_at: outcome.at, cursors: JSON.stringify(outcome.cursors), last_result: JSON.stringify(outcome.result) }
    : { last_result: JSON.stringify(outcome.result) };
  await scope.db.updateTable('fhir_sources').set(set).where('practice_id', '=', scope.practiceId).execute();
}

/** Our row ids for these resources of one type, by resource id (those linked so far). */
export async function linkedIds(db: Db, practiceId: string, type: FhirResourceType, resourceIds: readonly string[]): Promise<Map<string, string>> {
  if (resourceIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('fhir_resource_links')
    .select(['resource_id', 'local_id'])
    .where('practice_id', '=', practiceId)
    .where('resource_type', '=', type)
    .where('resource_id', 'in', [...new Set(resourceIds)])
    .execute();
  return new Map(rows.map((r) => [r.resource_id, r.local_id]));
}

/** Records (or moves) the links of resources to our rows; `db` is the import's transaction. */
export async function saveLinks(db: Db, practiceId: string, type: FhirResourceType, links: ReadonlyArray<{ resourceId: string; localId: string }>): Promise<void> {
  if (links.length === 0) return;
  await db
    .insertInto('fhir_resource_links')
    .values(links.map((l) => ({ practice_id: practiceId, resource_type: type, resource_id: l.resourceId, local_id: l.localId })))
    .onConflict((oc) => oc.columns(['practice_id', 'resource_type', 'resource_id']).doUpdateSet({ local_id: (eb) => eb.ref('excluded.local_id') }))
    .execute();
}
