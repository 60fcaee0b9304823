import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import { actorOf, permit } from './api-auth.js';
import { badRequest, zodProblems } from './responses.js';
import { LOCKED_OPEN, MatrixSchema } from '../outreach/matrix.js';
import { currentMatrix, saveMatrix, type CurrentMatrix } from '../outreach/matrix-store.js';

/** The communication matrix of a practice (src/outreach/matrix.ts): read by admins, staff and auditors, changed by admins. */

const Uuid = z.string().uuid();

/** The matrix as both routes answer it, with the cells no practice may close and why (the console shows them locked). */
function answer(m: CurrentMatrix): Record<string, unknown> {
  const locked = LOCKED_OPEN.map(({ type, channel, why }) => ({ type, channel, why }));
  return { version: m.version, isDefault: m.isDefault, updatedAt: m.updatedAt, updatedBy: m.updatedBy, matrix: m.matrix, locked };
}

export function outreachRouter(services: Services): express.Router {
  const router = express.Router();

  router.get('/practices/:practiceId/communication-matrix', async (req, res) => {
    const id = Uuid.safeParse(req.params.practiceId);
    if (!id.success) return badRequest(res, 'practiceId must be a UUID');
    const scope = await permit(services, req, res, ['admin', 'staff', 'auditor'], id.data, id.data);
    if (!scope) return;
    res.json(answer(await currentMatrix(scope)));
  });

  router.put('/practices/:practiceId/communication-matrix', async (req, res) => {
    const id = Uuid.safeParse(req.params.practiceId);
    if (!id.success) return badRequest(res, 'practiceId must be a UUID');
    const scope = await permit(services, req, res, ['admin'], id.data, id.data);
    if (!scope) return;
    const body = MatrixSchema.safeParse(req.body);
    if (!body.success) return badRequest(res, zodProblems(body.error));
    res.json(answer(await saveMatrix(scope, services.audit, body.data, actorOf(res))));
  });

  return router;
}
