import { readFile } from 'node:fs/promises';
import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import { AuditAction } from '../audit/events.js';
import { checkFlowText } from '../calls/flow-loader.js';
import { missingReferences } from '../calls/flow-references.js';
import { listPolicies } from '../oncall/store.js';
import { FLOW_ID } from '../calls/flow-fields.js';
import { activateLineFlow, getFlowVersion, listLineFlows, listPracticeFlows, previousLineFlow, saveFlowVersion, type LineFlow } from '../calls/flow-store.js';
import { invalidatePracticeCache } from '../calls/voice-service.js';
import { deleteContact, listContacts, putContact } from '../practices/contacts-store.js';
import { E164Schema } from '../practices/settings.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { actorOf, permit } from './api-auth.js';
import { badRequest, notFound, zodProblems } from './responses.js';

/**
 * A practice's own phone trees and contacts, for its admins: upload a flow (YAML or JSON,
 * checked exactly as the built-in flows are), list and read its versions, run a version on a
 * line, roll a line back; and the contacts a flow may transfer to. The built-in flows are
 * templates: `GET /api/flows/{flowId}/source` gives the text to copy.
 */

const READERS = ['admin', 'staff', 'provider', 'auditor'] as const;
const Uuid = z.uuid();
const FlowIdSchema = z.string().regex(FLOW_ID, { error: 'must be a flow id (a-z, 0-9, _ -)' });
const VersionSchema = z.coerce.number().int().min(1).max(1_000_000);
const ContactKeySchema = z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, { error: 'must be a contact key (a-z, 0-9, _; starting with a letter; at most 40 characters)' });

/** `POST /api/practices/:practiceId/flows` */
export const FlowUploadBody = z.strictObject({
  format: z.enum(['yaml', 'json']),
  source: z.string().min(1).max(262_144),
});

/** `PUT /api/practices/:practiceId/lines/:e164/flow`: a built-in flow (no version) or a version of the practice's own. */
export const LineFlowBody = z.strictObject({
  flowId: FlowIdSchema,
  version: z.number().int().min(1).nullable().optional(),
});

/** `PUT /api/practices/:practiceId/contacts/:key` */
export const ContactBody = z.strictObject({
  label: z.string().trim().min(1).max(80),
  number: E164Schema,
});


const lineJson = (l: LineFlow): { e164: string; flowId: string; version: number | null; builtIn: boolean } => ({ ...l, builtIn: l.version === null });

export function flowRouter(services: Services): express.Router {
  const router = express.Router();

  /** The practice id of the path (400 when it is not one), then the permit check's scope. */
  async function scopeOf(req: express.Request, res: express.Response, roles: readonly (typeof READERS)[number][]): Promise<PracticeScope | null> {
    const id = Uuid.safeParse(req.params.practiceId);
    if (!id.success) {
      badRequest(res, 'practiceId must be a UUID');
      return null;
    }
    return permit(services, req, res, roles, id.data, id.data);
  }

  /** Whether a line may run `flowId`/`version`: a built-in flow by id, or a stored version. */
  async function flowExists(scope: PracticeScope, flowId: string, version: number | null): Promise<boolean> {
    if (version === null) return services.flows.has(flowId);
    return (await getFlowVersion(scope, flowId, version)) !== null;
  }

  async function activate(scope: PracticeScope, res: express.Response, e164: string, target: { flowId: string; version: number | null }, change: 'activated' | 'rolled_back'): Promise<void> {
    const result = await activateLineFlow(scope, { e164, ...target, by: actorOf(res) });
    if (!result.ok) return notFound(res);
    invalidatePracticeCache(services);
    await services.audit({
      action: AuditAction.AdminLineFlowActivated,
      actor: actorOf(res),
      practiceId: scope.practiceId,
      subjectId: scope.practiceId,
      details: { number: e164, change, flowId: target.flowId, version: target.version, previous: { flowId: result.previous.flowId, version: result.previous.version } },
    });
    res.json(lineJson({ e164, ...target }));
  }

  router.get('/flows/:flowId/source', async (req, res) => {
    if (!(await permit(services, req, res, READERS, null))) return;
    const flow = services.flows.get(String(req.params.flowId));
    if (!flow) return notFound(res);
    res.type('text/yaml').send(await readFile(flow.file, 'utf8'));
  });

  router.get('/practices/:practiceId/flows', async (req, res) => {
    const scope = await scopeOf(req, res, READERS);
    if (!scope) return;
    res.json({
      builtIn: [...services.flows.values()].map((f) => ({ flowId: f.id, description: f.description })),
      own: await listPracticeFlows(scope),
      lines: (await listLineFlows(scope)).map(lineJson),
    });
  });

  router.post('/practices/:practiceId/flows', async (req, res) => {
    const scope = await scopeOf(req, res, ['admin']);
    if (!scope) return;
    const body = FlowUploadBody.safeParse(req.body ?? {});
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const report = await checkFlowText(body.data.source, body.data.format, 'upload', { audioDir: services.config.audioDir });
    const problems = [...report.problems];
    if (report.flow && problems.length === 0) {
      const [contacts, policies] = await Promise.all([listContacts(scope), listPolicies(scope)]);
      problems.push(...missingReferences(report.flow, 'upload', { contacts: new Set(contacts.map((c) => c.key)), policies: new Set(policies.map((p) => p.name)) }));
    }
    if (!report.flow || problems.length > 0) {
      const n = problems.length;
      return void res.status(400).json({ error: 'invalid_flow', message: `the flow was refused (${n} problem${n === 1 ? '' : 's'})`, problems });
    }
    const saved = await saveFlowVersion(scope, { flowId: report.flow.id, format: body.data.format, source: body.data.source, description: report.flow.description, by: actorOf(res) });
    await services.audit({
      action: AuditAction.AdminFlowUploaded,
      actor: actorOf(res),
      practiceId: scope.practiceId,
      subjectId: scope.practiceId,
      details: { flowId: saved.flowId, version: saved.version, format: saved.format, nodes: Object.keys(report.flow.nodes).length },
    });
    res.status(201).json({ flowId: saved.flowId, version: saved.version, description: saved.description, createdAt: saved.createdAt.toISOString() });
  });

  router.get('/practices/:practiceId/flows/:flowId/versions/:version', async (req, res) => {
    const flowId = FlowIdSchema.safeParse(req.params.flowId);
    const version = VersionSchema.safeParse(req.params.version);
    if (!flowId.success) return badRequest(res, `flowId: ${flowId.error.issues[0]?.message ?? 'invalid'}`);
    if (!version.success) return badRequest(res, 'version must be a whole number from 1');
    const scope = await scopeOf(req, res, READERS);
    if (!scope) return;
    const found = await getFlowVersion(scope, flowId.data, version.data);
    if (!found) return notFound(res);
    res.json({ ...found, createdAt: found.createdAt.toISOString() });
  });

  router.put('/practices/:practiceId/lines/:e164/flow', async (req, res) => {
    const number = E164Schema.safeParse(req.params.e164);
    if (!number.success) return badRequest(res, 'the number must be E.164, such as +12025550100 (URL-encode the +)');
    const scope = await scopeOf(req, res, ['admin']);
    if (!scope) return;
    const body = LineFlowBody.safeParse(req.body ?? {});
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const target = { flowId: body.data.flowId, version: body.data.version ?? null };
    if (!(await flowExists(scope, target.flowId, target.version))) {
      return badRequest(res, target.version === null ? `flowId: no built-in flow "${target.flowId}"` : `version: the practice has no flow "${target.flowId}" version ${target.version}`);
    }
    await activate(scope, res, number.data, target, 'activated');
  });

  router.post('/practices/:practiceId/lines/:e164/flow/rollback', async (req, res) => {
    const number = E164Schema.safeParse(req.params.e164);
    if (!number.success) return badRequest(res, 'the number must be E.164, such as +12025550100 (URL-encode the +)');
    const scope = await scopeOf(req, res, ['admin']);
    if (!scope) return;
    const previous = await previousLineFlow(scope, number.data);
    if (!previous) return void res.status(409).json({ error: 'conflict', message: 'this line has no earlier flow to roll back to' });
    await activate(scope, res, number.data, previous, 'rolled_back');
  });

  router.get('/practices/:practiceId/contacts', async (req, res) => {
    const scope = await scopeOf(req, res, READERS);
    if (!scope) return;
    res.json({ contacts: (await listContacts(scope)).map((c) => ({ ...c, updatedAt: c.updatedAt.toISOString() })) });
  });

  router.put('/practices/:practiceId/contacts/:key', async (req, res) => {
    const key = ContactKeySchema.safeParse(req.params.key);
    if (!key.success) return badRequest(res, `key: ${key.error.issues[0]?.message ?? 'invalid'}`);
    const scope = await scopeOf(req, res, ['admin']);
    if (!scope) return;
    const body = ContactBody.safeParse(req.body ?? {});
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const { contact, created } = await putContact(scope, { key: key.data, ...body.data }, services.clock());
    invalidatePracticeCache(services);
    await services.audit({
      action: AuditAction.AdminContactChanged,
      actor: actorOf(res),
      practiceId: scope.practiceId,
      subjectId: scope.practiceId,
      details: { key: contact.key, change: created ? 'created' : 'updated' },
    });
    res.status(created ? 201 : 200).json({ ...contact, updatedAt: contact.updatedAt.toISOString() });
  });

  router.delete('/practices/:practiceId/contacts/:key', async (req, res) => {
    const key = ContactKeySchema.safeParse(req.params.key);
    if (!key.success) return badRequest(res, `key: ${key.error.issues[0]?.message ?? 'invalid'}`);
    const scope = await scopeOf(req, res, ['admin']);
    if (!scope) return;
    if (!(await deleteContact(scope, key.data))) return notFound(res);
    invalidatePracticeCache(services);
    await services.audit({ action: AuditAction.AdminContactChanged, actor: actorOf(res), practiceId: scope.practiceId, subjectId: scope.practiceId, details: { key: key.data, change: 'deleted' } });
    res.status(204).end();
  });

  return router;
}
