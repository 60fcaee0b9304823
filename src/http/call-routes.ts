import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import { AuditAction } from '../audit/events.js';
import { decodeCallCursor, encodeCallCursor, listCalls, type CallCursor } from '../calls/call-list.js';
import { actorOf, permit, principalOf } from './api-auth.js';
import { numberViewFor } from '../calls/number-view.js';
import { badRequest } from './responses.js';
import { QueryInstantSchema } from './query-dates.js';

export const CALL_OUTCOMES = ['handed_to_provider', 'urgent_voicemail', 'message', 'transferred', 'abandoned_at_menu', 'fail_safe', 'completed_other'] as const;

export const CallListQuery = z.strictObject({
  from: QueryInstantSchema.optional(),
  to: QueryInstantSchema.optional(),
  outcome: z.enum(CALL_OUTCOMES).optional(),
  urgency: z.enum(['urgent', 'routine']).optional(),
  patientId: z.string().uuid().optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z
    .string()
    .max(200)
    .transform((text, ctx): CallCursor => {
      const cursor = decodeCallCursor(text);
      if (cursor) return cursor;
      ctx.issues.push({ code: 'custom', message: 'not a cursor this list gave', input: text });
      return z.NEVER;
    })
    .optional(),
});

/** Every call to the key's practice on record, with the number to call back. */
export function callRouter(services: Services): express.Router {
  const router = express.Router();

  router.get('/calls', async (req, res) => {
    const q = CallListQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, q.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; '));
    const principal = principalOf(res);
    const scope = await permit(services, req, res, ['admin', 'staff', 'provider', 'auditor'], principal.practiceId);
    if (!scope) return;
    // Staff call back: the number in full. An auditor sees only that a number is on record (never decrypted).
    const view = numberViewFor(principal.role);
    const page = await listCalls(services, scope, q.data, view);
    // Every read of the list in clear is recorded, before the answer and whatever the page holds
    // (counts only, never a number); a masked read opens nothing and has permit's api.request row.
    if (view === 'full') {
      await services.audit({
        action: AuditAction.CallListRead,
        actor: actorOf(res),
        practiceId: scope.practiceId,
        details: { calls: page.calls.length, numbersOpened: page.numbersOpened, view },
      });
    }
    res.json({ calls: page.calls, nextCursor: page.nextCursor ? encodeCallCursor(page.nextCursor) : null });
  });

  return router;
}
