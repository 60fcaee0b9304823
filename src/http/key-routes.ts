import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import { AuditAction } from '../audit/events.js';
import { API_ROLES, DEFAULT_KEY_LIFETIME, KEY_STATUSES, createApiKey, listApiKeys, parseExpiresIn, revokeApiKey } from '../auth/api-keys.js';
import { actorOf, permit } from './api-auth.js';
import { badRequest, notFound } from './responses.js';

/**
 * A practice's API keys, for its admins: create (the key is in that one answer and nowhere else:
 * not logged, not audited, only its hash stored), list (never the key or its hash) and revoke.
 * `npm run keys:create` makes them on the command line too (and the operator's key, which no
 * route makes).
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

/** `POST /api/practices/:practiceId/api-keys`: as `npm run keys:create` takes it (a practice role only; the key is for the path's practice). */
export const ApiKeyCreateBody = z.strictObject({
  role: z.enum(API_ROLES),
  label: z
    .string()
    .regex(/^[\w .-]{1,80}$/, 'expected up to 80 letters, digits, spaces, dots or dashes')
    .optional(),
  expiresIn: z
    .string()
    .max(16)
    .superRefine((text, ctx) => {
      const parsed = parseExpiresIn(text);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.message });
    })
    .optional()
    .meta({ description: `how long the key is valid: a number and h, d, w or y (at most 5y), or none; default ${DEFAULT_KEY_LIFETIME}` }),
});

/** The created key and, this once, its secret. */
export const ApiKeyCreatedSchema = z.object({ key: ApiKeySummarySchema, secret: z.string().meta({ description: 'the key itself: shown in this answer only, never again' }) });

/** A refusal of the body as `field: problem; …` (an unknown field named as the field). */
function bodyProblems(err: z.ZodError): string {
  return err.issues
    .flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys.map((k) => `${k}: unknown field`) : [`${i.path.join('.') || 'body'}: ${i.message}`]))
    .join('; ');
}

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

  router.post('/practices/:practiceId/api-keys', async (req, res) => {
    const id = Uuid.safeParse(req.params.practiceId);
    if (!id.success) return badRequest(res, 'practiceId must be a UUID');
    const scope = await permit(services, req, res, ['admin'], id.data, id.data);
    if (!scope) return;
    const body = ApiKeyCreateBody.safeParse(req.body ?? {});
    if (!body.success) return badRequest(res, bodyProblems(body.error));
    const lifetime = parseExpiresIn(body.data.expiresIn ?? DEFAULT_KEY_LIFETIME);
    if (!lifetime.ok) return badRequest(res, `expiresIn: ${lifetime.message}`);
    const now = services.clock();
    const expiresAt = lifetime.ms === null ? null : new Date(now.getTime() + lifetime.ms);
    const created = await createApiKey(scope.db, { role: body.data.role, practiceId: scope.practiceId, expiresAt, now, ...(body.data.label ? { label: body.data.label } : {}) });
    // The key's id and role only: the secret goes to the one answer below and nowhere else.
    await services.audit({
      action: AuditAction.AdminApiKeyCreated,
      actor: actorOf(res),
      practiceId: scope.practiceId,
      subjectId: created.id,
      details: { role: body.data.role, expiresAt: expiresAt?.toISOString() ?? null, via: 'api' },
    });
    const key = { id: created.id, role: body.data.role, label: body.data.label ?? null, status: 'active' as const, createdAt: now.toISOString(), expiresAt: expiresAt?.toISOString() ?? null, lastUsedAt: null, revokedAt: null };
    res.status(201).json(ApiKeyCreatedSchema.parse({ key, secret: created.key }));
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
