// Over 400 lines because it is the whole on-call admin API (providers, schedules, overrides, policies, feeds): many thin routes, each parse, permit, one store call, render; split it by resource when it grows again.
import { randomUUID } from 'node:crypto';
import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import type { AppContext } from '../app-context.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { AuditAction, type DetailValue } from '../audit/events.js';
import { addProvider } from '../oncall/default-policy.js';
import type { ApiRole } from '../auth/api-keys.js';
import { getPractice } from '../practices/store.js';
import { renderIcs } from '../oncall/ics.js';
import { FEED_TOKEN_PATTERN, feedTokenHash, feedWindow, ICS_FEED_DAYS, newFeedToken, providerFeedEvents } from '../oncall/feed.js';
import { providerPinHash, ProviderPinSchema } from '../voicemail/access-line.js';
import type { Provider } from '../oncall/store.js';
import { OverrideInputSchema } from '../oncall/schedule-schema.js';
import { resolveOverlaps, shifts, whoIsOnCall } from '../oncall/schedule.js';
import {
  createOverride,
  createPolicy,
  createSchedule,
  deleteOverride,
  getPolicy,
  getProvider,
  getSchedule,
  listOverrides,
  listPolicies,
  listProviders,
  listSchedules,
  loadSchedules,
  nonEmpty,
  PolicyInputSchema,
  PolicyPatchSchema,
  ProviderInputSchema,
  ScheduleInputSchema,
  SchedulePatchSchema,
  setFeedTokenHash,
  updatePolicy,
  updateProvider,
  updateSchedule,
  type EscalationPolicy,
  type OverrideRecord,
  type StoreResult,
} from '../oncall/store.js';
import { actorOf, permit, permitFeedToken, principalOf } from './api-auth.js';
import { badRequest, notFound } from './responses.js';
import { consumeLimit, countRefusal, limitSpent, limitersFor, refuseRateLimited, requestSource } from './rate-limit.js';

/**
 * On-call administration under /api/oncall: providers, schedules and overrides, escalation
 * policies, who is on call now, the shift timeline and a per-provider ICS feed. Everything is the
 * key's own practice; admins write, every role reads. Writes are audited with ids and field names.
 */

const READERS: readonly ApiRole[] = ['admin', 'staff', 'provider', 'auditor'];
const WRITERS: readonly ApiRole[] = ['admin'];
const MS_PER_DAY = 86_400_000;
export const MAX_SHIFTS_QUERY_DAYS = 62;
/** Where calendar apps fetch a provider's feed with its token (no API key): mounted outside /api. */
export const FEED_PATH = '/feeds/oncall.ics';

/** A provider as the API shows it, with its PIN (`pin`: 4–8 digits; null on a patch clears it). Never echoed. */
export const ProviderCreateBody = ProviderInputSchema.extend({ pin: ProviderPinSchema.optional() });
export const ProviderPatchBody = ProviderInputSchema.extend({ pin: ProviderPinSchema.nullable() }).partial().refine(nonEmpty, { message: 'nothing to change' });

const Uuid = z.uuid();
const ISO_MESSAGE = 'expected an ISO 8601 date-time with offset, such as 2026-11-01T12:00:00Z';
const IsoInstant = z.iso.datetime({ offset: true, error: ISO_MESSAGE }).transform((s) => new Date(s));

export const PracticeQuery = z.object({ practiceId: z.uuid({ error: 'expected a practice id (uuid)' }).optional() });
export const NowQuery = PracticeQuery.extend({ scheduleId: z.uuid({ error: 'expected a schedule id (uuid)' }).optional() });
export const ShiftsQuery = NowQuery.extend({
  from: z.string({ error: `required: ${ISO_MESSAGE}` }).pipe(IsoInstant),
  to: z.string({ error: `required: ${ISO_MESSAGE}` }).pipe(IsoInstant),
}).superRefine((q, ctx) => {
  // Zod runs this even when from or to already failed (they are then still strings): compare only dates.
  if (!(q.from instanceof Date) || !(q.to instanceof Date)) return;
  const span = q.to.getTime() - q.from.getTime();
  if (span <= 0) ctx.addIssue({ code: 'custom', message: 'must be after from', path: ['to'] });
  else if (span > MAX_SHIFTS_QUERY_DAYS * MS_PER_DAY) ctx.addIssue({ code: 'custom', message: `at most ${MAX_SHIFTS_QUERY_DAYS} days after from`, path: ['to'] });
});

/**
 * `path: message` for each issue. Messages that already start with their field's name (the
 * schedule schemas write them so) are not prefixed twice.
 */
export function problems(err: z.ZodError): string {
  return err.issues
    .map((i) => {
      const path = i.path.map(String).join('.');
      const last = i.path.length > 0 ? String(i.path[i.path.length - 1]) : '';
      const message = last && i.message.startsWith(`${last}: `) ? i.message.slice(last.length + 2) : i.message;
      return path ? `${path}: ${message}` : message;
    })
    .join('; ');
}

/** Sends 404 or 400 for a failed store write; returns the value otherwise. */
function settle<T>(res: express.Response, result: StoreResult<T>): T | undefined {
  if (result.ok) return result.value;
  if (result.reason === 'not_found') notFound(res);
  else badRequest(res, result.message);
  return undefined;
}

function renderPolicy(p: EscalationPolicy): Record<string, unknown> {
  const { pageIntervalSeconds, ...rest } = p;
  return { ...rest, pageIntervalMinutes: pageIntervalSeconds / 60 };
}

/** Keys of a parsed body, sorted: what an audit row says changed (never the values). */
function fieldsOf(body: object): string[] {
  return Object.keys(body).sort();
}

/** The provider's feed as iCalendar text, with how many events it holds; null if the practice is gone. `scope` is the provider's practice. */
async function renderProviderFeed(services: Pick<AppContext, 'clock'>, scope: PracticeScope, provider: Provider): Promise<{ ics: string; events: number } | null> {
  const practice = await getPractice(scope);
  if (!practice) return null;
  const now = services.clock();
  const schedules = await loadSchedules(scope, { window: feedWindow(now) });
  const events = providerFeedEvents({ schedules, providerId: provider.id, practiceName: practice.name, now });
  return { ics: renderIcs({ calendarName: `On call: ${practice.name}`, events, now }), events: events.length };
}

function sendIcs(res: express.Response, ics: string): void {
  res.status(200).type('text/calendar; charset=utf-8').setHeader('Content-Disposition', 'inline; filename="shifts.ics"');
  res.send(ics);
}

/**
 * The token feed for calendar apps: `GET /feeds/oncall.ics?token=…`, no API key. The token (a
 * provider's, issued through the API) is the credential; an unknown or revoked one is a 404,
 * audited. Mount it outside /api (whose routes all require an API key).
 */
export function oncallFeedRouter(services: Services): express.Router {
  const router = express.Router();
  router.get(FEED_PATH, async (req, res) => {
    // A source that spent its budget of failed credentials (API keys and feed tokens alike): 429 before any lookup.
    const source = requestSource(req);
    const spent = await limitSpent(limitersFor(services).authFailures, source);
    if (!spent.ok) return refuseRateLimited(services, req, res, 'authFailures', spent, 'json');
    const token = typeof req.query.token === 'string' && FEED_TOKEN_PATTERN.test(req.query.token) ? req.query.token : null;
    const feed = token ? await permitFeedToken(services, token) : null;
    if (!feed) {
      const reason = token ? 'invalid_feed_token' : 'missing_feed_token';
      await consumeLimit(limitersFor(services).authFailures, source);
      // Counted per source; a row each only while the source's minute has in-full budget.
      await countRefusal(services, {
        source,
        kind: `${AuditAction.ApiAuthRejected}:${reason}`,
        event: { action: AuditAction.ApiAuthRejected, actor: 'unauthenticated', details: { method: req.method, route: FEED_PATH, reason } },
      });
      return notFound(res);
    }
    const { provider, scope } = feed;
    const body = await renderProviderFeed(services, scope, provider);
    if (body === null) return notFound(res);
    await services.audit({ action: AuditAction.OncallFeedRead, actor: `feed_token:${provider.id}`, practiceId: scope.practiceId, subjectId: provider.id, details: { events: body.events, days: ICS_FEED_DAYS } });
    sendIcs(res, body.ics);
  });
  return router;
}

/**
 * The audit row of a new override (the admin route's, and an accepted swap's, with `extra` naming
 * the swap): the overrides it now shadows (latest-created wins), which it returns.
 */
export async function auditOverrideCreated(
  services: Pick<AppContext, 'audit'>,
  actor: string,
  scope: PracticeScope,
  created: OverrideRecord,
  extra: Record<string, DetailValue> = {},
): Promise<string[]> {
  const overlapping = (await listOverrides(scope, created.scheduleId, { from: created.start, to: created.end })) ?? [];
  const shadows = resolveOverlaps(overlapping)
    .shadowed.filter((s) => s.by === created.id)
    .map((s) => s.id);
  await services.audit({
    action: AuditAction.AdminOverrideChanged,
    actor,
    practiceId: scope.practiceId,
    subjectId: created.id,
    details: { change: 'created', scheduleId: created.scheduleId, providerId: created.providerId, shadows, ...extra },
  });
  return shadows;
}

/**
 * The practice a request acts on: the key's own, or `?practiceId=` when given (then checked by
 * `permit`, which answers 403 for another practice). Sends 400 for a malformed one.
 */
export function practiceOf(req: express.Request, res: express.Response): string | undefined {
  const q = PracticeQuery.safeParse({ practiceId: req.query.practiceId });
  if (!q.success) return void badRequest(res, problems(q.error));
  return q.data.practiceId ?? principalOf(res).practiceId;
}

/** Parses `:param` as a uuid, or sends 400 naming it. */
export function idParam(req: express.Request, res: express.Response, name: string): string | undefined {
  const id = Uuid.safeParse(req.params[name]);
  if (!id.success) return void badRequest(res, `${name} must be a UUID`);
  return id.data;
}

export function oncallRouter(services: Services): express.Router {
  const router = express.Router();

  async function audit(
    res: express.Response,
    action: (typeof AuditAction)[keyof typeof AuditAction],
    scope: PracticeScope,
    subjectId: string,
    details: Record<string, DetailValue>,
  ): Promise<void> {
    await services.audit({ action, actor: actorOf(res), practiceId: scope.practiceId, subjectId, details });
  }

  // -------------------------------------------------------------------------
  // Providers
  // -------------------------------------------------------------------------

  router.get('/oncall/providers', async (req, res) => {
    const practiceId = practiceOf(req, res);
    const scope = practiceId && (await permit(services, req, res, READERS, practiceId));
    if (!scope) return;
    res.json({ providers: await listProviders(scope) });
  });

  router.post('/oncall/providers', async (req, res) => {
    const practiceId = practiceOf(req, res);
    const scope = practiceId && (await permit(services, req, res, WRITERS, practiceId));
    if (!scope) return;
    const body = ProviderCreateBody.safeParse(req.body ?? {});
    if (!body.success) return badRequest(res, problems(body.error));
    const { pin, ...input } = body.data;
    const id = randomUUID();
    // The practice's first provider, with no policy yet, comes with a default policy ringing them.
    const { provider, defaultPolicy } = await addProvider(scope, input, { id, ...(pin !== undefined ? { pinHash: providerPinHash(services.keyring, id, pin) } : {}) });
    await audit(res, AuditAction.AdminProviderChanged, scope, provider.id, { change: 'created', fields: fieldsOf(body.data) });
    if (defaultPolicy) {
      await audit(res, AuditAction.AdminPolicyChanged, scope, defaultPolicy.id, { change: 'created_default', fields: [], isDefault: true, clearedDefaultIds: [], providerId: provider.id });
    }
    res.status(201).json(provider);
  });

  router.get('/oncall/providers/:id', async (req, res) => {
    const practiceId = practiceOf(req, res);
    const id = practiceId && idParam(req, res, 'id');
    const scope = practiceId && id && (await permit(services, req, res, READERS, practiceId, id));
    if (!scope) return;
    const provider = await getProvider(scope, id);
    if (!provider) return notFound(res);
    res.json(provider);
  });

  router.patch('/oncall/providers/:id', async (req, res) => {
    const practiceId = practiceOf(req, res);
    const id = practiceId && idParam(req, res, 'id');
    const scope = practiceId && id && (await permit(services, req, res, WRITERS, practiceId, id));
    if (!scope) return;
    const patch = ProviderPatchBody.safeParse(req.body ?? {});
    if (!patch.success) return badRequest(res, problems(patch.error));
    const { pin, ...changes } = patch.data;
    const pinHash = pin === undefined ? undefined : pin === null ? null : providerPinHash(services.keyring, id, pin);
    const provider = await updateProvider(scope, id, changes, pinHash !== undefined ? { pinHash } : {});
    if (!provider) return notFound(res);
    await audit(res, AuditAction.AdminProviderChanged, scope, id, { change: 'updated', fields: fieldsOf(patch.data) });
    res.json(provider);
  });

  /**
   * The provider's shifts on every schedule for the next ICS_FEED_DAYS, as an iCalendar feed.
   * Events say only the practice and the schedule: no PHI, no phone numbers. Calendar apps,
   * which cannot send an API key, use the token feed (FEED_PATH) instead.
   */
  router.get('/oncall/providers/:id/shifts.ics', async (req, res) => {
    const practiceId = practiceOf(req, res);
    const id = practiceId && idParam(req, res, 'id');
    const scope = practiceId && id && (await permit(services, req, res, READERS, practiceId, id));
    if (!scope) return;
    const provider = await getProvider(scope, id);
    if (!provider) return notFound(res);
    const body = await renderProviderFeed(services, scope, provider);
    if (body === null) return notFound(res);
    await audit(res, AuditAction.OncallFeedRead, scope, provider.id, { events: body.events, days: ICS_FEED_DAYS });
    sendIcs(res, body.ics);
  });

  /**
   * Issues the provider's calendar-feed token, replacing (so revoking) any earlier one. The token
   * is in this answer only; the service keeps its keyed hash.
   */
  router.post('/oncall/providers/:id/feed-token', async (req, res) => {
    const practiceId = practiceOf(req, res);
    const id = practiceId && idParam(req, res, 'id');
    const scope = practiceId && id && (await permit(services, req, res, WRITERS, practiceId, id));
    if (!scope) return;
    const token = newFeedToken();
    const at = services.clock();
    if (!(await setFeedTokenHash(scope, id, feedTokenHash(services.keyring, token), at))) return notFound(res);
    await audit(res, AuditAction.AdminProviderChanged, scope, id, { change: 'feed_token_issued', fields: ['feedToken'] });
    res.status(201).json({ token, url: `${services.config.publicBaseUrl}${FEED_PATH}?token=${token}`, issuedAt: at });
  });

  router.delete('/oncall/providers/:id/feed-token', async (req, res) => {
    const practiceId = practiceOf(req, res);
    const id = practiceId && idParam(req, res, 'id');
    const scope = practiceId && id && (await permit(services, req, res, WRITERS, practiceId, id));
    if (!scope) return;
    if (!(await setFeedTokenHash(scope, id, null, services.clock()))) return notFound(res);
    await audit(res, AuditAction.AdminProviderChanged, scope, id, { change: 'feed_token_revoked', fields: ['feedToken'] });
    res.status(204).end();
  });

  // -------------------------------------------------------------------------
  // Schedules and overrides
  // -------------------------------------------------------------------------

  router.get('/oncall/schedules', async (req, res) => {
    const practiceId = practiceOf(req, res);
    const scope = practiceId && (await permit(services, req, res, READERS, practiceId));
    if (!scope) return;
    res.json({ schedules: await listSchedules(scope) });
  });

  router.post('/oncall/schedules', async (req, res) => {
    const practiceId = practiceOf(req, res);
    const scope = practiceId && (await permit(services, req, res, WRITERS, practiceId));
    if (!scope) return;
    const body = ScheduleInputSchema.safeParse(req.body ?? {});
    if (!body.success) return badRequest(res, problems(body.error));
    const schedule = settle(res, await createSchedule(scope, body.data));
    if (!schedule) return;
    await audit(res, AuditAction.AdminScheduleChanged, scope, schedule.id, { change: 'created', fields: fieldsOf(body.data) });
    res.status(201).json(schedule);
  });

  /** The schedule with its current and future overrides. */
  router.get('/oncall/schedules/:id', async (req, res) => {
    const practiceId = practiceOf(req, res);
    const id = practiceId && idParam(req, res, 'id');
    const scope = practiceId && id && (await permit(services, req, res, READERS, practiceId, id));
    if (!scope) return;
    const schedule = await getSchedule(scope, id);
    if (!schedule) return notFound(res);
    const now = services.clock();
    const overrides = (await listOverrides(scope, id, { from: now, to: new Date(8.64e15) })) ?? [];
    res.json({ ...schedule, overrides });
  });

  router.patch('/oncall/schedules/:id', async (req, res) => {
    const practiceId = practiceOf(req, res);
    const id = practiceId && idParam(req, res, 'id');
    const scope = practiceId && id && (await permit(services, req, res, WRITERS, practiceId, id));
    if (!scope) return;
    const patch = SchedulePatchSchema.safeParse(req.body ?? {});
    if (!patch.success) return badRequest(res, problems(patch.error));
    const schedule = settle(res, await updateSchedule(scope, id, patch.data));
    if (!schedule) return;
    await audit(res, AuditAction.AdminScheduleChanged, scope, id, { change: 'updated', fields: fieldsOf(patch.data) });
    res.json(schedule);
  });

  /**
   * Adds an override. Where it overlaps existing overrides the latest-created wins, so the answer
   * names the overrides this one now shadows.
   */
  router.post('/oncall/schedules/:id/overrides', async (req, res) => {
    const practiceId = practiceOf(req, res);
    const id = practiceId && idParam(req, res, 'id');
    const scope = practiceId && id && (await permit(services, req, res, WRITERS, practiceId, id));
    if (!scope) return;
    const body = OverrideInputSchema.safeParse(req.body ?? {});
    if (!body.success) return badRequest(res, problems(body.error));
    const created = settle(res, await createOverride(scope, id, body.data));
    if (!created) return;
    const shadows = await auditOverrideCreated(services, actorOf(res), scope, created);
    res.status(201).json({
      override: created,
      ...(shadows.length > 0
        ? {
            resolution: {
              rule: 'latest-created wins',
              shadows,
              message: `this override overlaps ${shadows.length} existing override${shadows.length === 1 ? '' : 's'}; the latest-created wins, so it takes precedence where they overlap`,
            },
          }
        : {}),
    });
  });

  router.delete('/oncall/schedules/:id/overrides/:overrideId', async (req, res) => {
    const practiceId = practiceOf(req, res);
    const id = practiceId && idParam(req, res, 'id');
    const overrideId = id && idParam(req, res, 'overrideId');
    const scope = practiceId && id && overrideId && (await permit(services, req, res, WRITERS, practiceId, overrideId));
    if (!scope) return;
    if (!(await deleteOverride(scope, id, overrideId))) return notFound(res);
    await audit(res, AuditAction.AdminOverrideChanged, scope, overrideId, { change: 'deleted', scheduleId: id });
    res.status(204).end();
  });

  // -------------------------------------------------------------------------
  // Escalation policies
  // -------------------------------------------------------------------------

  router.get('/oncall/policies', async (req, res) => {
    const practiceId = practiceOf(req, res);
    const scope = practiceId && (await permit(services, req, res, READERS, practiceId));
    if (!scope) return;
    res.json({ policies: (await listPolicies(scope)).map(renderPolicy) });
  });

  router.post('/oncall/policies', async (req, res) => {
    const practiceId = practiceOf(req, res);
    const scope = practiceId && (await permit(services, req, res, WRITERS, practiceId));
    if (!scope) return;
    const body = PolicyInputSchema.safeParse(req.body ?? {});
    if (!body.success) return badRequest(res, problems(body.error));
    const written = settle(res, await createPolicy(scope, body.data));
    if (!written) return;
    await audit(res, AuditAction.AdminPolicyChanged, scope, written.policy.id, {
      change: 'created',
      fields: fieldsOf(body.data),
      isDefault: written.policy.isDefault,
      clearedDefaultIds: written.clearedDefaultIds,
    });
    res.status(201).json(renderPolicy(written.policy));
  });

  router.get('/oncall/policies/:id', async (req, res) => {
    const practiceId = practiceOf(req, res);
    const id = practiceId && idParam(req, res, 'id');
    const scope = practiceId && id && (await permit(services, req, res, READERS, practiceId, id));
    if (!scope) return;
    const policy = await getPolicy(scope, id);
    if (!policy) return notFound(res);
    res.json(renderPolicy(policy));
  });

  router.patch('/oncall/policies/:id', async (req, res) => {
    const practiceId = practiceOf(req, res);
    const id = practiceId && idParam(req, res, 'id');
    const scope = practiceId && id && (await permit(services, req, res, WRITERS, practiceId, id));
    if (!scope) return;
    const patch = PolicyPatchSchema.safeParse(req.body ?? {});
    if (!patch.success) return badRequest(res, problems(patch.error));
    const written = settle(res, await updatePolicy(scope, id, patch.data));
    if (!written) return;
    await audit(res, AuditAction.AdminPolicyChanged, scope, id, {
      change: 'updated',
      fields: fieldsOf(patch.data),
      isDefault: written.policy.isDefault,
      clearedDefaultIds: written.clearedDefaultIds,
    });
    res.json(renderPolicy(written.policy));
  });

  // -------------------------------------------------------------------------
  // Who is on call, and when
  // -------------------------------------------------------------------------

  /** For each schedule (or the one asked for): who is on call at the service's clock. */
  router.get('/oncall/now', async (req, res) => {
    const q = NowQuery.safeParse({ practiceId: req.query.practiceId, scheduleId: req.query.scheduleId });
    if (!q.success) return badRequest(res, problems(q.error));
    const practiceId = q.data.practiceId ?? principalOf(res).practiceId;
    const scope = await permit(services, req, res, READERS, practiceId, q.data.scheduleId ?? null);
    if (!scope) return;
    const at = services.clock();
    const [schedules, providers] = await Promise.all([
      loadSchedules(scope, { ...(q.data.scheduleId ? { ids: [q.data.scheduleId] } : {}), window: { from: at, to: new Date(at.getTime() + 1) } }),
      listProviders(scope),
    ]);
    if (q.data.scheduleId && schedules.length === 0) return notFound(res);
    const names = new Map(providers.map((p) => [p.id, p.displayName]));
    const onCall = schedules.map((schedule) => {
      const who = whoIsOnCall(schedule, at);
      const base = { scheduleId: schedule.id, name: schedule.name };
      switch (who.layer) {
        case 'none':
          return { ...base, providerId: null, providerName: null, layer: who.layer, shiftStart: null, shiftEnd: null };
        case 'rotation':
          return { ...base, providerId: who.providerId, providerName: names.get(who.providerId) ?? null, layer: who.layer, shiftStart: who.shiftStart, shiftEnd: who.shiftEnd };
        case 'override':
          return {
            ...base,
            providerId: who.providerId,
            providerName: names.get(who.providerId) ?? null,
            layer: who.layer,
            overrideId: who.overrideId,
            shiftStart: who.shiftStart,
            shiftEnd: who.shiftEnd,
          };
        default:
          return who satisfies never;
      }
    });
    res.json({ at, onCall });
  });

  /** The effective timeline (rotation with overrides cut in) of each schedule in [from, to). */
  router.get('/oncall/shifts', async (req, res) => {
    const q = ShiftsQuery.safeParse({ practiceId: req.query.practiceId, scheduleId: req.query.scheduleId, from: req.query.from, to: req.query.to });
    if (!q.success) return badRequest(res, problems(q.error));
    const { from, to, scheduleId } = q.data;
    const practiceId = q.data.practiceId ?? principalOf(res).practiceId;
    const scope = await permit(services, req, res, READERS, practiceId, scheduleId ?? null);
    if (!scope) return;
    const [schedules, providers] = await Promise.all([
      loadSchedules(scope, { ...(scheduleId ? { ids: [scheduleId] } : {}), window: { from, to } }),
      listProviders(scope),
    ]);
    if (scheduleId && schedules.length === 0) return notFound(res);
    const names = new Map(providers.map((p) => [p.id, p.displayName]));
    const timeline = schedules.flatMap((schedule) =>
      shifts(schedule, from, to).map((s) => ({
        scheduleId: schedule.id,
        scheduleName: schedule.name,
        providerId: s.providerId,
        providerName: names.get(s.providerId) ?? null,
        layer: s.layer,
        ...(s.layer === 'override' ? { overrideId: s.sourceId } : {}),
        start: s.start,
        end: s.end,
      })),
    );
    res.json({ from, to, shifts: timeline });
  });

  return router;
}
