import type { PracticeScope } from '../tenancy/scope.js';
import type { FhirResourceType } from './source-store.js';

/**
 * Every FHIR import run of a practice (`fhir_runs`, migration 0018): server syncs and NDJSON
 * files in one list, so an admin sees both where they look (GET /api/fhir/runs). A run holds its
 * counts and a reason code, never a resource, a value or a server's words.
 */

export type FhirRunKind = 'sync' | 'ndjson';
export type FhirRunStatus = 'complete' | 'partial' | 'failed' | 'dry_run' | 'refused';

export interface FhirRunInput {
  kind: FhirRunKind;
  trigger: 'api' | 'schedule';
  /** An NDJSON file's type; a sync covers both (null). */
  resourceType: FhirResourceType | null;
  status: FhirRunStatus;
  /** A reason code (`token_refused`, `bad_line`): short, lower-case, never free text. */
  reason: string | null;
  /** Counts: per type for a sync (`{ patients: {...}, appointments: {...} }`), flat for a file. */
  counts: Record<string, unknown>;
  startedAt: Date;
  finishedAt: Date;
}

export interface FhirRunView extends Omit<FhirRunInput, 'startedAt' | 'finishedAt'> {
  id: string;
  startedAt: string;
  finishedAt: string;
}

/** The runs listed at most. */
export const MAX_RUNS_LISTED = 200;

export async function recordFhirRun(scope: PracticeScope, run: FhirRunInput): Promise<string> {
  const row = await scope.db
    .insertInto('fhir_runs')
    .values({
      practice_id: scope.practiceId,
      kind: run.kind,
      trigger: run.trigger,
      resource_type: run.resourceType,
      status: run.status,
      reason: run.reason,
      counts: JSON.stringify(run.counts),
      started_at: run.startedAt,
      finished_at: run.finishedAt,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** The practice's latest runs, the last recorded first. */
export async function listFhirRuns(scope: PracticeScope, limit: number): Promise<FhirRunView[]> {
  const rows = await scope.db
    .selectFrom('fhir_runs')
    .select(['id', 'kind', 'trigger', 'resource_type', 'status', 'reason', 'counts', 'started_at', 'finished_at'])
    .where('practice_id', '=', scope.practiceId)
    .orderBy('seq', 'desc')
    .limit(Math.min(Math.max(1, limit), MAX_RUNS_LISTED))
    .execute();
  return rows.map((r) => ({
    id: r.id,
    kind: r.kind,
    trigger: r.trigger,
    resourceType: r.resource_type,
    status: r.status,
    reason: r.reason,
    counts: r.counts,
    startedAt: r.started_at.toISOString(),
    finishedAt: r.finished_at.toISOString(),
  }));
}
