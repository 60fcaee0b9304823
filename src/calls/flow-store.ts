import { sql } from 'kysely';
import type { Db } from '../adapters/postgres.js';
import type { PracticeScope } from '../tenancy/scope.js';
import type { FlowFormat } from './flow-loader.js';

/**
 * A practice's own phone trees (table practice_flows) and which flow each of its lines runs
 * (practice_numbers.flow_id / flow_version, with every activation kept in
 * line_flow_activations). Versions are never changed once written: an upload is a new version,
 * a roll-back activates an earlier one.
 */

export interface FlowVersionSummary {
  version: number;
  description: string;
  createdAt: Date;
  createdBy: string;
}

export interface PracticeFlowSummary {
  flowId: string;
  versions: FlowVersionSummary[];
}

export interface FlowVersion extends FlowVersionSummary {
  flowId: string;
  format: FlowFormat;
  source: string;
}

/** Which flow a line runs: a built-in flow (`version` null) or a version of the practice's own. */
export interface LineFlow {
  e164: string;
  flowId: string;
  version: number | null;
}

/** Stores an upload as the flow's next version (1 for a new flow id). */
export async function saveFlowVersion(
  scope: PracticeScope,
  input: { flowId: string; format: FlowFormat; source: string; description: string; by: string },
): Promise<FlowVersion> {
  return scope.db.transaction().execute(async (trx) => {
    // One upload of a flow at a time per practice: the next version number is read and used under the lock.
    await sql`SELECT pg_advisory_xact_lock(hashtext(${`practice_flow:${scope.practiceId}:${input.flowId}`}))`.execute(trx);
    const last = await trx
      .selectFrom('practice_flows')
      .select(sql<number>`coalesce(max(version), 0)`.as('v'))
      .where('practice_id', '=', scope.practiceId)
      .where('flow_id', '=', input.flowId)
      .executeTakeFirstOrThrow();
    const row = await trx
      .insertInto('practice_flows')
      .values({
        practice_id: scope.practiceId,
        flow_id: input.flowId,
        version: Number(last.v) + 1,
        format: input.format,
        source: input.source,
        description: input.description,
        created_by: input.by,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toVersion(row);
  });
}

function toVersion(row: { flow_id: string; version: number; format: FlowFormat; source: string; description: string; created_at: Date; created_by: string }): FlowVersion {
  return {
    flowId: row.flow_id,
    version: row.version,
    format: row.format,
    source: row.source,
    description: row.description,
    createdAt: row.created_at,
    createdBy: row.created_by,
  };
}

export async function listPracticeFlows(scope: PracticeScope): Promise<PracticeFlowSummary[]> {
  const rows = await scope.db
    .selectFrom('practice_flows')
    .select(['flow_id', 'version', 'description', 'created_at', 'created_by'])
    .where('practice_id', '=', scope.practiceId)
    .orderBy('flow_id')
    .orderBy('version', 'desc')
    .execute();
  const byFlow = new Map<string, FlowVersionSummary[]>();
  for (const r of rows) {
    const versions = byFlow.get(r.flow_id) ?? [];
    versions.push({ version: r.version, description: r.description, createdAt: r.created_at, createdBy: r.created_by });
    byFlow.set(r.flow_id, versions);
  }
  return [...byFlow].map(([flowId, versions]) => ({ flowId, versions }));
}

export async function getFlowVersion(scope: PracticeScope, flowId: string, version: number): Promise<FlowVersion | null> {
  const row = await scope.db
    .selectFrom('practice_flows')
    .selectAll()
    .where('practice_id', '=', scope.practiceId)
    .where('flow_id', '=', flowId)
    .where('version', '=', version)
    .executeTakeFirst();
  return row ? toVersion(row) : null;
}

export async function listLineFlows(scope: PracticeScope): Promise<LineFlow[]> {
  const rows = await scope.db
    .selectFrom('practice_numbers')
    .select(['e164', 'flow_id', 'flow_version'])
    .where('practice_id', '=', scope.practiceId)
    .orderBy('e164')
    .execute();
  return rows.map((r) => ({ e164: r.e164, flowId: r.flow_id, version: r.flow_version }));
}

/**
 * Points a line at a flow and records the activation. `not_found`: the number is not one of the
 * practice's lines. The caller has checked that the flow exists.
 */
export async function activateLineFlow(
  scope: PracticeScope,
  input: { e164: string; flowId: string; version: number | null; by: string },
): Promise<{ ok: true; previous: LineFlow } | { ok: false; reason: 'not_found' }> {
  return scope.db.transaction().execute(async (trx) => {
    const current = await trx
      .selectFrom('practice_numbers')
      .select(['flow_id', 'flow_version'])
      .where('practice_id', '=', scope.practiceId)
      .where('e164', '=', input.e164)
      .forUpdate()
      .executeTakeFirst();
    if (!current) return { ok: false as const, reason: 'not_found' as const };
    await trx
      .updateTable('practice_numbers')
      .set({ flow_id: input.flowId, flow_version: input.version })
      .where('practice_id', '=', scope.practiceId)
      .where('e164', '=', input.e164)
      .execute();
    await trx
      .insertInto('line_flow_activations')
      .values({ practice_id: scope.practiceId, e164: input.e164, flow_id: input.flowId, flow_version: input.version, activated_by: input.by })
      .execute();
    return { ok: true as const, previous: { e164: input.e164, flowId: current.flow_id, version: current.flow_version } };
  });
}

/**
 * What the line ran before its current flow: the activation before the latest, or (for a line
 * activated once) what it ran before that, which the first activation recorded as `previous`
 * in the audit trail only. Null: nothing to roll back to.
 */
export async function previousLineFlow(scope: PracticeScope, e164: string): Promise<LineFlow | null> {
  const rows = await scope.db
    .selectFrom('line_flow_activations')
    .select(['flow_id', 'flow_version'])
    .where('practice_id', '=', scope.practiceId)
    .where('e164', '=', e164)
    .orderBy('id', 'desc')
    .limit(2)
    .execute();
  const before = rows[1];
  return before ? { e164, flowId: before.flow_id, version: before.flow_version } : null;
}

/**
 * The text of a practice's flow version, for the call path (which found the practice by the
 * number called). Versions never change, so the caller may cache what this returns.
 */
export async function flowSourceForCall(db: Db, practiceId: string, flowId: string, version: number): Promise<{ format: FlowFormat; source: string } | null> {
  const row = await db
    .selectFrom('practice_flows')
    .select(['format', 'source'])
    .where('practice_id', '=', practiceId)
    .where('flow_id', '=', flowId)
    .where('version', '=', version)
    .executeTakeFirst();
  return row ?? null;
}
