import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import { AuditAction } from '../audit/events.js';
import { readCheckpoints, checkpointSinks } from '../audit/checkpoints.js';
import { csvHeader, iterateAudit, toCsvLine, toJsonLine, verifyChain } from '../audit/store.js';
import { buildCallExport } from '../calls/call-export.js';
import { CallSidSchema } from '../calls/twilio-params.js';
import { actorOf, permit, principalOf } from './api-auth.js';
import { QueryInstantSchema } from './query-dates.js';
import { badRequest, zodProblems } from './responses.js';

/** The most rows GET /api/audit/verify walks in one request; past it the answer says `truncated` (audit:verify walks all). */
export const VERIFY_MAX_ROWS = 200_000;

export const AuditVerifyQuery = z.strictObject({});

/** `GET /api/audit`: the Audit page's search (codes, ids and dates only). */
export const AuditQuery = z.object({
  from: QueryInstantSchema.optional(),
  to: QueryInstantSchema.optional(),
  callSid: CallSidSchema.optional(),
  action: z
    .string()
    .max(64)
    .regex(/^[a-z_]+(\.[a-z_]+)*\.?$/, 'an action code (call.dial), or a prefix ending in a dot (user.)')
    .optional()
    .meta({ description: 'one action, or every action under a prefix ending in a dot' }),
  actor: z
    .string()
    .max(100)
    .regex(/^[a-z_]+:[A-Za-z0-9_.-]+$/, 'an actor as the log names it (user:<id>, api_key:<id>, system:reports)')
    .optional(),
  order: z.enum(['oldest', 'newest']).default('oldest'),
  limit: z.coerce.number().int().min(1).max(5000).default(1000),
});

/** The filters of the search, as `GET /api/audit/export` takes them (every row, so no order or limit). */
const EXPORT_FILTERS = ['action', 'actor', 'callSid', 'from', 'to'] as const;

/** `GET /api/audit/export`: the search's filters and the file's format. */
export const AuditExportQuery = AuditQuery.pick({ from: true, to: true, callSid: true, action: true, actor: true }).extend({
  format: z.enum(['csv', 'ndjson']).default('csv').meta({ description: 'csv (formula-like cells prefixed with a quote) or ndjson (one event a line)' }),
});

const EXPORT_TYPES = { csv: 'text/csv; charset=utf-8', ndjson: 'application/x-ndjson; charset=utf-8' } as const;

/** Waits until the answer's buffer drains or the client goes away; false when it went away. */
function drained(res: express.Response): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve(!res.destroyed);
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * The audit log's console routes (issue 14): the practice's chain verified on request, as
 * `npm run audit:verify --practice` does (bounded), one call exported as a file with the
 * verification of its events, and the whole of a search exported (CSV or NDJSON, streamed). All
 * are audited; none is open to staff or providers.
 */
export function auditRouter(services: Services): express.Router {
  const router = express.Router();

  router.get('/audit/verify', async (req, res) => {
    const q = AuditVerifyQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, zodProblems(q.error));
    const scope = await permit(services, req, res, ['admin', 'auditor'], principalOf(res).practiceId);
    if (!scope) return;
    // The checkpoints audit:verify reads (a file, S3): a chain cut short at its tail is caught too.
    const checkpoints = await readCheckpoints(checkpointSinks(services.config));
    const result = await verifyChain(scope.db, { chains: [scope.practiceId], checkpoints, maxRows: VERIFY_MAX_ROWS });
    const chain = result.chains[0] ?? { chain: scope.practiceId, ok: true, rows: 0 };
    const verifiedAt = services.clock().toISOString();
    await services.audit({
      action: AuditAction.AuditVerified,
      actor: actorOf(res),
      practiceId: scope.practiceId,
      details: { ok: chain.ok, rows: chain.rows, truncated: chain.truncated === true, problemSeq: chain.problem?.seq ?? null },
    });
    res.json({ ...chain, truncated: chain.truncated === true, checkpoints: checkpoints.filter((c) => c.chain === scope.practiceId).length, verifiedAt });
  });

  router.get('/audit/export', async (req, res) => {
    const q = AuditExportQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, zodProblems(q.error));
    const scope = await permit(services, req, res, ['admin', 'auditor'], principalOf(res).practiceId);
    if (!scope) return;
    const { format, ...filter } = q.data;
    const filters = EXPORT_FILTERS.filter((f) => filter[f] !== undefined);
    // Recorded before a row leaves (the filters' names only): an export that cannot be audited is not served.
    await services.audit({ action: AuditAction.AuditExported, actor: actorOf(res), practiceId: scope.practiceId, details: { format, filters } });
    const stamp = services.clock().toISOString().replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z');
    res.setHeader('Content-Type', EXPORT_TYPES[format]);
    res.setHeader('Content-Disposition', `attachment; filename="audit-${stamp}.${format}"`);
    res.setHeader('Cache-Control', 'no-store');
    if (format === 'csv') res.write(`${csvHeader()}\n`);
    for await (const rec of iterateAudit(scope.db, { ...filter, practiceId: scope.practiceId })) {
      // Backpressure: wait for the socket to drain before reading on; stop when the client has gone.
      if (!res.write(`${format === 'csv' ? toCsvLine(rec) : toJsonLine(rec)}\n`) && !(await drained(res))) return;
    }
    res.end();
  });

  router.get('/calls/:callSid/export', async (req, res) => {
    const sid = CallSidSchema.safeParse(req.params.callSid);
    if (!sid.success) return badRequest(res, 'callSid must be CA followed by 32 hex characters');
    const principal = principalOf(res);
    // As GET /api/calls/:callSid: another practice's call is not found, exactly as an unknown one.
    const scope = await permit(services, req, res, ['admin', 'auditor'], principal.practiceId, sid.data);
    if (!scope) return;
    const view = principal.role === 'auditor' ? 'masked' : 'full';
    const actor = actorOf(res);
    const exported = await buildCallExport(services, scope, sid.data, view, { actor, now: services.clock() });
    if (!exported) return void res.status(404).json({ error: 'not_found' });
    // Recorded before the file leaves (counts only): an export that cannot be audited is not served.
    await services.audit({
      action: AuditAction.CallExported,
      actor,
      practiceId: scope.practiceId,
      callSid: sid.data,
      details: { events: exported.file.call.audit.length, view, numbersOpened: exported.numbersOpened, verified: exported.file.verification?.ok ?? null },
    });
    res.setHeader('Content-Disposition', `attachment; filename="call-${sid.data}.json"`);
    res.json(exported.file);
  });

  return router;
}
