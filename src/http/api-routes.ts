import { emailRouter } from './email-routes.js';
import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import { CallSidSchema } from '../calls/twilio-params.js';
import { readAudit } from '../audit/store.js';
import { actorOf, apiJsonBody, apiNotFound, isSessionPrincipal, keyPrincipalOf, permit, permitOperator, principalOf, refuseOperatorKeys, requireApiKey } from './api-auth.js';
import { isOperator } from '../auth/api-keys.js';
import { platformRouter } from './platform-routes.js';
import { authRouter } from './auth-routes.js';
import { userRouter } from './user-routes.js';
import { oidcSignInRouter, ssoAdminRouter } from './oidc-routes.js';
import { acknowledgePage } from '../oncall/paging.js';
import { listPages } from '../oncall/paging-store.js';
import { readPage } from '../oncall/page-detail.js';
import { numberViewFor } from '../calls/number-view.js';
import { loadCallView } from '../calls/call-export.js';
import { AuditAction } from '../audit/events.js';
import { practiceRouter } from './practice-routes.js';
import { oncallRouter } from './oncall-routes.js';
import { swapRouter } from './swap-routes.js';
import { voicemailRouter } from './voicemail-routes.js';
import { rvmRouter } from './drops-routes.js';
import { sequenceRouter } from './sequence-routes.js';
import { outreachRouter } from './outreach-routes.js';
import { patientRouter } from './patient-routes.js';
import { importRouter } from './import-routes.js';
import { lockoutRouter } from './lockout-routes.js';
import { keyRouter } from './key-routes.js';
import { flowRouter } from './flow-routes.js';
import { fhirRouter } from './fhir-routes.js';
import { callRouter } from './call-routes.js';
import { taskRouter } from './task-routes.js';
import { reportRouter } from './report-routes.js';
import { AuditQuery, auditRouter } from './audit-routes.js';
import { badRequest } from './responses.js';
import { refuseNulBytes } from './input-guard.js';


export function apiRouter(services: Services): express.Router {
  const router = express.Router();
  // Signing in (no key, no full session yet): each of its routes limits, checks and parses for itself.
  router.use(authRouter(services));
  router.use(oidcSignInRouter(services));
  // The key (or session) first: nothing of an unauthenticated request's body is read, parsed or logged.
  router.use(requireApiKey(services));
  router.use(apiJsonBody(services));
  // A NUL byte anywhere in the body, query or path: 400 naming the field, before any route runs.
  router.use(refuseNulBytes());

  router.get('/whoami', async (req, res) => {
    const key = keyPrincipalOf(res);
    const allowed = isOperator(key) ? await permitOperator(services, req, res) : await permit(services, req, res, ['admin', 'staff', 'provider', 'auditor'], null);
    if (!allowed) return;
    // A key answers with its id; a signed-in person with theirs (GET /api/session says more).
    res.json(isSessionPrincipal(key) ? { keyId: null, userId: key.userId, role: key.role, practiceId: key.practiceId } : { keyId: key.keyId, role: key.role, practiceId: key.practiceId });
  });

  // The platform routes (the operator's, and line connection), then nothing more for an operator key.
  router.use(platformRouter(services));
  router.use(refuseOperatorKeys(services));

  router.use(userRouter(services));
  router.use(ssoAdminRouter(services));
  router.use(practiceRouter(services));
  router.use(outreachRouter(services));
  router.use(oncallRouter(services));
  router.use(swapRouter(services));
  router.use(voicemailRouter(services));
  router.use(importRouter(services));
  router.use(patientRouter(services));
  router.use(emailRouter(services));
  router.use(rvmRouter(services));
  router.use(sequenceRouter(services));
  router.use(lockoutRouter(services));
  router.use(keyRouter(services));
  router.use(flowRouter(services));
  router.use(fhirRouter(services));
  router.use(callRouter(services));
  router.use(taskRouter(services));
  router.use(reportRouter(services));
  router.use(auditRouter(services));

  router.get('/calls/:callSid', async (req, res) => {
    const sid = CallSidSchema.safeParse(req.params.callSid);
    if (!sid.success) return badRequest(res, 'callSid must be CA followed by 32 hex characters');
    // The key's own practice, whatever the call: another practice's call is not found, exactly as an
    // unknown one (no lookup across practices first, so 403 against 404 tells nobody a call exists).
    const principal = principalOf(res);
    const scope = await permit(services, req, res, ['admin', 'staff', 'auditor'], principal.practiceId, sid.data);
    if (!scope) return;
    // One ordered timeline: every audited step, leg and page of the call, in the order they happened,
    // with the call log's row; numbers masked for an auditor, as in the log.
    const view = principal.role === 'auditor' ? 'masked' : 'full';
    const found = await loadCallView(services, scope, sid.data, view);
    if (!found) return void res.status(404).json({ error: 'not_found' });
    const { numbersOpened, ...call } = found;
    if (numbersOpened > 0) {
      await services.audit({ action: AuditAction.CallListRead, actor: actorOf(res), practiceId: scope.practiceId, callSid: sid.data, details: { calls: 1, numbersOpened, view } });
    }
    res.json(call);
  });

  router.get('/pages', async (req, res) => {
    const scope = await permit(services, req, res, ['admin', 'staff', 'provider', 'auditor'], principalOf(res).practiceId);
    if (!scope) return;
    const status = req.query.status === 'open' || req.query.status === 'acknowledged' ? req.query.status : undefined;
    const rows = await listPages(scope, status);
    res.json({
      pages: rows.map((pg) => ({ id: pg.id, callSid: pg.call_sid, referenceCode: pg.reference_code, status: pg.status, roundsSent: pg.rounds_sent, adminPaged: pg.admin_paged, createdAt: pg.created_at.toISOString(), acknowledgedAt: pg.acknowledged_at?.toISOString() ?? null })),
    });
  });

  router.get('/pages/:pageId', async (req, res) => {
    const id = z.string().uuid().safeParse(req.params.pageId);
    if (!id.success) return badRequest(res, 'pageId must be a UUID');
    const principal = principalOf(res);
    const scope = await permit(services, req, res, ['admin', 'staff', 'provider', 'auditor'], principal.practiceId, id.data);
    if (!scope) return;
    // The number as the task (else the inbox) shows it: in full for those who call back, masked for an auditor.
    const page = await readPage(services, scope, id.data, actorOf(res), numberViewFor(principal.role));
    if (!page) return void res.status(404).json({ error: 'not_found' });
    res.json(page);
  });

  router.post('/pages/:pageId/ack', async (req, res) => {
    const id = z.string().uuid().safeParse(req.params.pageId);
    if (!id.success) return badRequest(res, 'pageId must be a UUID');
    const principal = principalOf(res);
    const scope = await permit(services, req, res, ['admin', 'staff', 'provider'], principal.practiceId, id.data);
    if (!scope) return;
    const ack = await acknowledgePage(services, scope, { pageId: id.data, by: actorOf(res), via: 'api' });
    if (ack.result === 'not_found') return void res.status(404).json({ error: 'not_found' });
    res.json(ack);
  });

  router.get('/audit', async (req, res) => {
    const q = AuditQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, q.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    const scope = await permit(services, req, res, ['admin', 'auditor'], principalOf(res).practiceId);
    if (!scope) return;
    const { order, ...filter } = q.data;
    const rows = await readAudit(scope.db, { ...filter, newestFirst: order === 'newest', practiceId: scope.practiceId });
    res.json({ events: rows });
  });

  router.use(apiNotFound(services));
  return router;
}
