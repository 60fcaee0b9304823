import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import { AuditAction } from '../audit/events.js';
import { isOperator } from '../auth/api-keys.js';
import { createTwilioNumbers } from '../adapters/twilio-numbers.js';
import { connectLine, LINE_KINDS, type ConnectOutcome } from '../practices/lines.js';
import { createPracticeWithDefaults, listPracticeSummaries, PracticeCreateSchema, setPracticeSuspended } from '../practices/onboarding.js';
import { E164Schema } from '../practices/settings.js';
import { actorOf, keyPrincipalOf, permit, permitOperator, permitOperatorFor } from './api-auth.js';
import { badRequest, notFound, zodProblems } from './responses.js';

/**
 * The platform routes: the operator (a key with no practice, `keys:create --role operator`)
 * creates, lists, suspends and reactivates practices, and connects any practice's numbers at
 * Twilio; a practice's admin may connect its own. Mounted before `refuseOperatorKeys`, so these
 * are the only routes an operator key reaches.
 */

const Uuid = z.string().uuid();

export const PracticeIdParams = z.object({ practiceId: Uuid });
export const LineParams = z.object({ practiceId: Uuid, e164: E164Schema });

/**
 * `POST /api/practices/:practiceId/lines/:e164/connect`: the line's kind; a `main` line may name
 * its flow; `assign: true` (the operator only) makes a number the practice does not have yet its own.
 */
export const ConnectLineBody = z
  .strictObject({
    kind: z.enum(LINE_KINDS),
    flowId: z.string().min(1).max(60).optional(),
    assign: z.boolean().optional(),
  })
  .refine((b) => b.flowId === undefined || b.kind === 'main', { message: 'only a main line runs a flow of its choosing', path: ['flowId'] });

const WebhooksSchema = z.object({ voiceUrl: z.string(), voiceFallbackUrl: z.string(), statusCallback: z.string(), smsUrl: z.string(), smsFallbackUrl: z.string() });
export const ConnectedLineSchema = z.object({
  e164: E164Schema,
  kind: z.enum(LINE_KINDS),
  flowId: z.string(),
  change: z.enum(['created', 'updated']),
  twilioSid: z.string(),
  configured: WebhooksSchema,
  differences: z.array(z.object({ field: z.string(), expected: z.string(), actual: z.string() })),
});

export const PracticeSummarySchema = z.object({
  id: z.uuid(),
  slug: z.string(),
  name: z.string(),
  timeZone: z.string(),
  status: z.enum(['active', 'suspended']),
  suspendedAt: z.string().nullable(),
  numbers: z.number().int(),
  createdAt: z.string(),
});

const SuspensionBody = z.strictObject({}).optional();

export function platformRouter(services: Services): express.Router {
  const router = express.Router();

  router.get('/practices', async (req, res) => {
    const scope = await permitOperator(services, req, res);
    if (!scope) return;
    res.json({ practices: await listPracticeSummaries(scope.db) });
  });

  router.post('/practices', async (req, res) => {
    const scope = await permitOperator(services, req, res);
    if (!scope) return;
    const body = PracticeCreateSchema.safeParse(req.body ?? {});
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const created = await createPracticeWithDefaults(scope.db, body.data);
    if (!created.ok) {
      const message = created.reason === 'slug_taken' ? 'slug: another practice has that slug' : 'number: that number belongs to another practice';
      return void res.status(409).json({ error: 'conflict', message });
    }
    services.caches.invalidate();
    const practice = created.practice;
    await services.audit({
      action: AuditAction.AdminPracticeCreated,
      actor: actorOf(res),
      practiceId: practice.id,
      subjectId: practice.id,
      details: { slug: practice.slug, numbers: body.data.number ? 1 : 0, via: 'api' },
    });
    res.status(201).json(practice);
  });

  for (const [path, suspended] of [
    ['/practices/:practiceId/suspend', true],
    ['/practices/:practiceId/reactivate', false],
  ] as const) {
    router.post(path, async (req, res) => {
      const params = PracticeIdParams.safeParse(req.params);
      if (!params.success) return badRequest(res, 'practiceId must be a UUID');
      const { practiceId } = params.data;
      const scope = await permitOperator(services, req, res, practiceId);
      if (!scope) return;
      const body = SuspensionBody.safeParse(req.body);
      if (!body.success) return badRequest(res, zodProblems(body.error));
      const change = await setPracticeSuspended(scope.db, practiceId, suspended, services.clock());
      if (change === 'not_found') return notFound(res);
      services.caches.invalidate();
      if (change === 'changed') {
        await services.audit({
          action: suspended ? AuditAction.AdminPracticeSuspended : AuditAction.AdminPracticeReactivated,
          actor: actorOf(res),
          practiceId,
          subjectId: practiceId,
          details: { via: 'api' },
        });
      }
      res.json({ id: practiceId, status: suspended ? 'suspended' : 'active', change });
    });
  }

  router.post('/practices/:practiceId/lines/:e164/connect', async (req, res) => {
    const params = LineParams.safeParse(req.params);
    if (!params.success) return badRequest(res, zodProblems(params.error));
    const { practiceId, e164 } = params.data;
    // The operator connects any practice's lines; a practice's admin only its own. Either way the
    // work runs in that practice's scope: another practice's number is neither seen nor moved.
    const operator = isOperator(keyPrincipalOf(res));
    const scope = operator ? await permitOperatorFor(services, req, res, practiceId) : await permit(services, req, res, ['admin'], practiceId, practiceId);
    if (!scope) return;
    const body = ConnectLineBody.safeParse(req.body ?? {});
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const { kind, flowId, assign } = body.data;
    if (assign === true && !operator) return badRequest(res, 'assign: only a platform operator assigns a number to a practice');
    if (flowId !== undefined && !services.flows.has(flowId)) {
      return badRequest(res, `flowId: no flow "${flowId}"; known: ${[...services.flows.keys()].join(', ')}`);
    }
    const outcome = await connectLine(
      { scope, numbers: createTwilioNumbers(services.config), publicBaseUrl: services.config.publicBaseUrl },
      { e164, kind, ...(flowId !== undefined ? { flowId } : {}), ...(assign !== undefined ? { assign } : {}) },
    );
    if (outcome.ok) {
      services.caches.invalidate();
      const line = outcome.line;
      const actor = actorOf(res);
      if (line.change === 'created') {
        await services.audit({ action: AuditAction.AdminLineAssigned, actor, practiceId, subjectId: practiceId, details: { number: e164, via: 'api' } });
      }
      await services.audit({
        action: AuditAction.AdminLineConnected,
        actor,
        practiceId,
        subjectId: practiceId,
        details: { number: e164, kind, flowId: line.flowId, change: line.change, differences: line.differences.map((d) => d.field), via: 'api' },
      });
      return void res.status(line.change === 'created' ? 201 : 200).json(line);
    }
    refuseConnect(res, outcome);
  });

  return router;
}

function refuseConnect(res: express.Response, outcome: Exclude<ConnectOutcome, { ok: true }>): void {
  switch (outcome.reason) {
    case 'no_practice':
      return notFound(res);
    case 'taken':
      return void res.status(409).json({ error: 'conflict', message: 'that number belongs to another practice' });
    case 'not_registered':
      return void res.status(409).json({ error: 'not_registered', message: "that number is not one of the practice's: the operator assigns it with assign: true" });
    case 'not_in_account':
      return void res.status(409).json({ error: 'not_in_account', message: 'the Twilio account has no such number: buy or port it into the account first' });
    case 'twilio_not_configured':
      return void res.status(503).json({ error: 'twilio_not_configured', message: 'no Twilio account is configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN)' });
    case 'twilio_error':
      return void res.status(502).json({ error: 'twilio_error', message: outcome.error.message });
    default:
      return outcome satisfies never;
  }
}
