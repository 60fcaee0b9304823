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
  /**
   * How the last run ended: `partial` with `continuing` is a run that spent its page budget,
   * committed what it fetched, and is queued again at once to go on from where it stopped.
   */
  syncState: SyncState;
  continuing: boolean;
}

export type SyncState = 'never' | 'complete' | 'partial' | 'failed';

/** Where a run that spent its page budget stopped: the server's next link for that type. */
export interface ResumePoint {
  type: FhirResourceType;
  next: string;
}

export interface FhirSourceForSync extends FhirSourceView {
  privateKeyJwk: string;
  /** Per type, the greatest meta.lastUpdated committed: the next search asks `ge` it. */
  cursors: Partial<Record<FhirResourceType, string>>;
  resume: ResumePoint | null;
}

const keyContext = (practiceId: string): Record<string, string> => ({ table: 'fhir_sources', field: 'private_key', practice: practiceId });
const resumeContext = (practiceId: string): Record<string, string> => ({ table: 'fhir_sources', field: 'resume', practice: practiceId });

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
  continuing: boolean;
};

function stateOf(result: Record<string, unknown> | null): SyncState {
  if (!result) return 'never';
  const status = result.status;
  if (status === 'complete' || status === 'partial' || status === 'failed') return status;
  // A result recorded before runs had a status: an error code, or counts.
  return 'error' in result ? 'failed' : 'complete';
}

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
    syncState: stateOf(r.last_result),
    continuing: r.continuing,
  };
}

const VIEW_COLUMNS = ['practice_id', 'base_url', 'token_url', 'client_id', 'mrn_system', 'key_id', 'algorithm', 'interval_minutes', 'last_attempt_at', 'last_synced_at', 'last_result', 'continuing'] as const;

/**
 * Creates or replaces the practice's source. A changed server (base URL) starts again from the
 * beginning (its cursors and where a run stopped are cleared); otherwise they are kept.
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
        resume_enc: sql<Buffer | null>`CASE WHEN fhir_sources.base_url = excluded.base_url THEN fhir_sources.resume_enc END`,
        continuing: sql<boolean>`fhir_sources.continuing AND fhir_sources.base_url = excluded.base_url`,
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
    .select([...VIEW_COLUMNS, 'private_key_enc', 'cursors', 'resume_enc'])
    .where('practice_id', '=', scope.practiceId)
    .executeTakeFirst();
  if (!row) return null;
  const privateKeyJwk = await decryptField(keyring, row.private_key_enc, keyContext(scope.practiceId));
  const resume = row.resume_enc ? (JSON.parse(await decryptField(keyring, row.resume_enc, resumeContext(scope.practiceId))) as ResumePoint) : null;
  return { ...toView(row), privateKeyJwk, cursors: row.cursors, resume };
}

/** The practice's MRN system, when it has a source: what an NDJSON import reads MRNs by. */
export async function mrnSystemOf(scope: PracticeScope): Promise<string | null> {
  const row = await scope.db.selectFrom('fhir_sources').select('mrn_system').where('practice_id', '=', scope.practiceId).executeTakeFirst();
  return row?.mrn_system ?? null;
}

/** Sources whose schedule says a sync is due at `now`, and those continuing a run that spent its budget (across practices: the scheduler's sweep). */
export async function dueFhirSources(db: Db, now: Date): Promise<string[]> {
  const rows = await db
    .selectFrom('fhir_sources')
    .select('practice_id')
    .where((eb) =>
      eb.or([
        eb('continuing', '=', true),
        eb.and([
          eb('interval_minutes', 'is not', null),
          eb.or([eb('last_attempt_at', 'is', null), eb('last_attempt_at', '<=', sql<Date>`${now}::timestamptz - make_interval(mins => interval_minutes)`)]),
        ]),
      ]),
    )
    .orderBy('last_attempt_at', 'asc')
    .limit(500)
    .execute();
  return rows.map((r) => r.practice_id);
}

export async function recordFhirAttempt(scope: PracticeScope, now: Date): Promise<void> {
  await scope.db.updateTable('fhir_sources').set({ last_attempt_at: now }).where('practice_id', '=', scope.practiceId).execute();
}

/**
 * A run's outcome: counts (or an error's reason code). A committed run moves the cursors on, and
 * one that spent its budget says where it stopped (`resume`, sealed) and that it is continuing.
 * A failed run keeps the cursors and the resume point, and stops continuing: its schedule (or an
 * admin) tries again, not the next minute's sweep.
 */
export async function recordFhirResult(
  scope: PracticeScope,
  keyring: Keyring,
  outcome:
    | { ok: true; at: Date; cursors: Partial<Record<FhirResourceType, string>>; resume: ResumePoint | null; complete: boolean; result: Record<string, unknown> }
    | { ok: false; result: Record<string, unknown> },
): Promise<void> {
  if (!outcome.ok) {
    await scope.db.updateTable('fhir_sources').set({ last_result: JSON.stringify({ status: 'failed', ...outcome.result }), continuing: false }).where('practice_id', '=', scope.practiceId).execute();
    return;
  }
  const resumeEnc = outcome.resume ? await encryptField(keyring, JSON.stringify(outcome.resume), resumeContext(scope.practiceId)) : null;
  await scope.db
    .updateTable('fhir_sources')
    .set({
      last_synced_at: outcome.at,
      cursors: JSON.stringify(outcome.cursors),
      last_result: JSON.stringify({ status: outcome.complete ? 'complete' : 'partial', ...outcome.result }),
      continuing: !outcome.complete,
      resume_enc: resumeEnc,
    })
    .where('practice_id', '=', scope.practiceId)
    .execute();
}

/** What a link knows: our row, and the meta.lastUpdated of the version last applied to it. */
export interface ResourceLink {
  localId: string;
  lastUpdated: Date | null;
}

/** Our rows for these resources of one type, by resource id (those linked so far). */
export async function linkedIds(db: Db, practiceId: string, type: FhirResourceType, resourceIds: readonly string[]): Promise<Map<string, ResourceLink>> {
  if (resourceIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('fhir_resource_links')
    .select(['resource_id', 'local_id', 'last_updated'])
    .where('practice_id', '=', practiceId)
    .where('resource_type', '=', type)
    .where('resource_id', 'in', [...new Set(resourceIds)])
    .execute();
  return new Map(rows.map((r) => [r.resource_id, { localId: r.local_id, lastUpdated: r.last_updated }]));
}

/** Records (or moves) the links of resources to our rows, with the version applied; `db` is the import's transaction. */
export async function saveLinks(db: Db, practiceId: string, type: FhirResourceType, links: ReadonlyArray<{ resourceId: string; localId: string; lastUpdated: string | null }>): Promise<void> {
  if (links.length === 0) return;
  await db
    .insertInto('fhir_resource_links')
    .values(links.map((l) => ({ practice_id: practiceId, resource_type: type, resource_id: l.resourceId, local_id: l.localId, last_updated: l.lastUpdated === null ? null : new Date(l.lastUpdated) })))
    .onConflict((oc) =>
      oc.columns(['practice_id', 'resource_type', 'resource_id']).doUpdateSet({ local_id: (eb) => eb.ref('excluded.local_id'), last_updated: (eb) => eb.ref('excluded.last_updated') }),
    )
    .execute();
}
