import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import { getCall } from '../calls/records.js';
import { readAudit } from '../audit/store.js';
import { permit, principalOf, requireApiKey } from './api-auth.js';
import { practiceRouter } from './practice-routes.js';

const CallSid = z.string().regex(/^CA[0-9a-f]{32}$/);
const AuditQuery = z.object({
  from: z.coerce.date().optional(),
  to: z.coerce.date().optional(),
  callSid: CallSid.optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(1000),
});

function badRequest(res: express.Response, message: string): void {
  res.status(400).json({ error: 'bad_request', message });
}

export function apiRouter(services: Services): express.Router {
  const router = express.Router();
  router.use(express.json({ limit: '256kb' }));
  router.use(requireApiKey(services));

  router.get('/whoami', async (req, res) => {
    if (!(await permit(services, req, res, ['admin', 'staff', 'provider', 'auditor'], null))) return;
    const p = principalOf(res);
    res.json({ keyId: p.keyId, role: p.role, practiceId: p.practiceId });
  });

  router.use(practiceRouter(services));

  router.get('/calls/:callSid', async (req, res) => {
    const sid = CallSid.safeParse(req.params.callSid);
    if (!sid.success) return badRequest(res, 'callSid must be CA followed by 32 hex characters');
    const call = await getCall(services.db, sid.data);
    // Unknown calls and calls with no practice are checked against the key's own practice.
    const owner = call?.practiceId ?? principalOf(res).practiceId;
    if (!(await permit(services, req, res, ['admin', 'staff', 'auditor'], owner, sid.data))) return;
    if (!call) return void res.status(404).json({ error: 'not_found' });
    const events = await readAudit(services.db, { callSid: sid.data, practiceId: owner });
    res.json({ call, audit: events });
  });

  router.get('/audit', async (req, res) => {
    const q = AuditQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, q.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    const practiceId = principalOf(res).practiceId;
    if (!(await permit(services, req, res, ['admin', 'auditor'], practiceId))) return;
    const rows = await readAudit(services.db, { ...q.data, practiceId });
    res.json({ events: rows });
  });

  router.use((_req, res) => {
    res.status(404).json({ error: 'not_found' });
  });
  return router;
}
