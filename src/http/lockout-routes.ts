import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import { clearLockout } from '../verification/attempts.js';
import { currentLockouts, listLockouts } from '../verification/lockout-store.js';
import { actorOf, permit, principalOf } from './api-auth.js';
import { badRequest, notFound, zodProblems } from './responses.js';
import { QueryInstantSchema } from './query-dates.js';

/** `:id` of a lockout. */
export const LockoutIdParams = z.strictObject({ id: z.uuid({ error: 'id must be a UUID' }) });

/** GET /api/lockouts: no query for the lockouts in force; `from` and `to` (both) for those that started in [from, to). */
export const LockoutListQuery = z
  .strictObject({ from: QueryInstantSchema.optional(), to: QueryInstantSchema.optional() })
  .refine((q) => (q.from === undefined) === (q.to === undefined), { error: 'from and to go together', path: ['to'] })
  .refine((q) => !q.from || !q.to || q.from < q.to, { error: 'must be after from', path: ['to'] });

/** One lockout: ids only, never the number or its blind index. */
export const LockoutSchema = z.object({
  id: z.uuid(),
  scope: z.enum(['number', 'patient', 'provider']),
  line: z.enum(['patient', 'access']),
  patientId: z.uuid().nullable(),
  providerId: z.uuid().nullable(),
  earlier: z.number().int().min(0),
  startedAt: z.iso.datetime(),
  lockedUntil: z.iso.datetime(),
  clearedAt: z.iso.datetime().nullable(),
  clearedBy: z.string().nullable(),
});
export const LockoutListResponse = z.object({ lockouts: z.array(LockoutSchema) });
export const ClearLockoutResponse = z.object({ lockout: LockoutSchema });

/** Verification lockouts of the key's practice: what is locked now, and the staff action that clears one. */
export function lockoutRouter(services: Services): express.Router {
  const router = express.Router();

  router.get('/lockouts', async (req, res) => {
    const q = LockoutListQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, zodProblems(q.error));
    const scope = await permit(services, req, res, ['admin', 'staff', 'auditor'], principalOf(res).practiceId);
    if (!scope) return;
    const { from, to } = q.data;
    const lockouts = from && to ? await listLockouts(scope, from, to) : await currentLockouts(scope, services.clock());
    res.json({ lockouts });
  });

  router.post('/lockouts/:id/clear', async (req, res) => {
    const params = LockoutIdParams.safeParse(req.params);
    if (!params.success) return badRequest(res, zodProblems(params.error));
    const principal = principalOf(res);
    const scope = await permit(services, req, res, ['admin', 'staff'], principal.practiceId, params.data.id);
    if (!scope) return;
    const cleared = await clearLockout(services, scope, { id: params.data.id, by: actorOf(res), now: services.clock() });
    switch (cleared.result) {
      case 'not_found':
        return notFound(res);
      case 'not_current':
        return void res.status(409).json({ error: 'conflict', message: cleared.lockout.clearedAt ? 'this lockout was already cleared' : 'this lockout is over' });
      case 'cleared':
        return void res.json({ lockout: cleared.lockout });
      default:
        return cleared satisfies never;
    }
  });

  return router;
}
