import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import { AuditAction } from '../audit/events.js';
import { readCheckpoints, checkpointSinks } from '../audit/checkpoints.js';
import { verifyChain } from '../audit/store.js';
import { buildCallExport } from '../calls/call-export.js';
import { CallSidSchema } from '../calls/twilio-params.js';
import { actorOf, permit, principalOf } from './api-auth.js';
import { badRequest, zodProblems } from './responses.js';

/** The most rows GET /api/audit/verify walks in one request; past it the answer says `truncated` (audit:verify walks all). */
export const VERIFY_MAX_ROWS = 200_000;

export const AuditVerifyQuery = z.strictObject({});

/**
 * The audit log's console routes (issue 14): the practice's chain verified on request, as
 * `npm run audit:verify --practice` does (bounded), and one call exported as a file with the
 * verification of its events. Both are audited; neither is open to staff or providers.
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
