import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import { AuditAction } from '../audit/events.js';
import { API_ROLES, KEY_STATUSES, listApiKeys, revokeApiKey } from '../auth/api-keys.js';
import { actorOf, permit } from './api-auth.js';
import { badRequest, notFound } from './responses.js';

/**
 * A practice's API keys, for its admins: list (never the key or its hash) and revoke. Keys are
 * created on the command line only (`npm run keys:create`), where the key is shown once.
 */

const Uuid = z.string().uuid();

/** One key as the API shows it (exported for the OpenAPI document). */
export const ApiKeySummarySchema = z.object({
  id: z.string().uuid(),
  role: z.enum(API_ROLES),
  label: z.string().nullable(),
  status: z.enum(KEY_STATUSES),
  createdAt: z.string().datetime(),
  expiresAt: z.string().datetime().nullable(),
  lastUsedAt: z.string().datetime().nullable(),
  revokedAt: z.string().datetime().nullable(),
});

/** `GET /api/practices/:practiceId/api-keys` */
export const ApiKeyListResponseSchema = z.object({ keys: z.array(ApiKeySummarySchema) });

/** `POST /api/practices/:practiceId/api-keys/:keyId/revoke` (no body) */
export const ApiKeyRevokeResponseSchema = z.object({ result: z.enum(['revoked', 'already_revoked']), key: ApiKeySummarySchema });

export const ApiKeyPathParamsSchema = z.object({ practiceId: Uuid, keyId: Uuid });

export function keyRouter(services: Services): express.Router {
  const router = express.Router();

  router.get('/practices/:practiceId/api-keys', async (req, res) => {
    const id = Uuid.safeParse(req.params.practiceId);
    if (!id.success) return badRequest(res, 'practiceId must be a UUID');
    const scope = await permit(services, req, res, ['admin'], id.data, id.data);
    if (!scope) return;
    const keys = await listApiKeys(scope, services.clock());
    res.json(ApiKeyListResponseSchema.parse({ keys }));
  });

  router.post('/practices/:practiceId/api-keys/:keyId/revoke', async (req, res) => {
    const params = ApiKeyPathParamsSchema.safeParse(req.params);
    if (!params.success) return badRequest(res, params.error.issues.map((i) => `${i.path.join('.')} must be a UUID`).join('; '));
    const { practiceId, keyId } = params.data;
    const scope = await permit(services, req, res, ['admin'], practiceId, keyId);
    if (!scope) return;
    const revoked = await revokeApiKey(scope, { keyId, now: services.clock() });
    if (revoked.result === 'not_found') return notFound(res);
    if (revoked.result === 'revoked') {
      await services.audit({
        action: AuditAction.AdminApiKeyRevoked,
        actor: actorOf(res),
        practiceId,
        subjectId: keyId,
        details: { role: revoked.key.role, via: 'api' },
      });
    }
    res.json(ApiKeyRevokeResponseSchema.parse({ result: revoked.result, key: revoked.key }));
  });

  return router;
}
