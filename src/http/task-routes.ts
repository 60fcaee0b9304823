import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import { REASONS } from '../calls/flow-types.js';
import { assign, claim, close, listTaskSummaries, readTask, recordAttempt, type AssignResult, type ChangeResult } from '../tasks/work.js';
import { placeCallBack, type PlaceResult } from '../tasks/call-back.js';
import { actorOf, isSessionPrincipal, permit, principalOf } from './api-auth.js';
import { numberViewFor } from '../calls/number-view.js';
import { badRequest, notFound, zodProblems } from './responses.js';

export const TASK_STATUSES = ['open', 'claimed', 'done', 'unreachable', 'cancelled'] as const;
export const ATTEMPT_OUTCOMES = ['reached', 'no_answer', 'voicemail_left', 'wrong_number', 'other'] as const;
export const CLOSE_OUTCOMES = ['done', 'unreachable', 'cancelled'] as const;

/** An actor as the audit log names one: `user:<id>` or `api_key:<id>`. */
const ACTOR = /^(user|api_key):[A-Za-z0-9_-]{1,64}$/;

export const TaskListQuery = z.strictObject({
  status: z.enum(TASK_STATUSES).optional(),
  reason: z.enum(REASONS).optional(),
  urgency: z.enum(['urgent', 'routine']).optional(),
  overdue: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
  /** `me`: the request's own actor. */
  assignee: z.union([z.literal('me'), z.string().regex(ACTOR, { error: 'expected me, user:<id> or api_key:<id>' })]).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(100_000).default(0),
});

const Note = z.string().trim().min(1).max(2000);
export const AttemptBody = z.strictObject({ outcome: z.enum(ATTEMPT_OUTCOMES), note: Note.optional() });
export const CloseBody = z.strictObject({ outcome: z.enum(CLOSE_OUTCOMES), note: Note.optional() });
const TaskId = z.string().uuid();
/** Whom an admin gives a task to: a person (`user:<uuid>`), or null to release it to open. */
export const AssignBody = z.strictObject({
  assignee: z.union([z.string().regex(/^user:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, { error: 'expected user:<id> or null' }), z.null()]),
});
/**
 * Where the call back rings: only `me`, the person's own phone (a provider's provider phone, else
 * the phone on their account). Never a number from the request.
 */
export const CallBody = z.strictObject({ to: z.literal('me').default('me') });

const REFUSALS = {
  no_callback_number: 'this task has no number to call back',
  no_phone: 'no phone to ring: a provider needs a provider phone linked to their account, anyone else a phone on their account (PUT /api/me/phone); an API key has none',
  no_practice_number: 'the practice has no number to call from',
} as const;

/** A call back's answer: 201 placed (or logged), 404, 409 with the reason, 502 when Twilio refused. */
function callAnswer(res: express.Response, r: PlaceResult): void {
  switch (r.result) {
    case 'ok':
      return void res.status(201).json({ callId: r.callId, state: r.state });
    case 'not_found':
      return notFound(res);
    case 'conflict':
      return void res.status(409).json({ error: 'conflict', message: `this task is ${r.status}`, status: r.status });
    case 'in_progress':
      return void res.status(409).json({ error: 'call_in_progress', message: 'a call back on this task is under way' });
    case 'refused':
      return void res.status(409).json({ error: r.reason, message: REFUSALS[r.reason] });
    case 'twilio_error':
      return void res.status(502).json({ error: 'call_failed', message: 'the call could not be placed; the attempt is recorded as failed', callId: r.callId });
    default:
      return r satisfies never;
  }
}

/** A change's answer: the task, 404, or 409 with the task's state. */
function answer(res: express.Response, r: ChangeResult, created = false): void {
  switch (r.result) {
    case 'ok':
      return void res.status(created ? 201 : 200).json(r.task);
    case 'not_found':
      return notFound(res);
    case 'conflict':
      return void res.status(409).json({ error: 'conflict', message: `this task is ${r.status}${r.status === 'claimed' ? ' by someone else' : ''}`, status: r.status, assignee: r.assignee });
    default:
      return r satisfies never;
  }
}

/** Callback tasks of the key's practice: every message a patient left, to call back (src/tasks/). */
export function taskRouter(services: Services): express.Router {
  const router = express.Router();

  router.get('/tasks', async (req, res) => {
    const q = TaskListQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, zodProblems(q.error));
    const scope = await permit(services, req, res, ['admin', 'staff', 'provider', 'auditor'], principalOf(res).practiceId);
    if (!scope) return;
    const { assignee, ...filter } = q.data;
    const tasks = await listTaskSummaries(services, scope, { ...filter, assignee: assignee === 'me' ? actorOf(res) : assignee });
    res.json({ tasks });
  });

  router.get('/tasks/:id', async (req, res) => {
    const id = TaskId.safeParse(req.params.id);
    if (!id.success) return badRequest(res, 'id must be a UUID');
    const principal = principalOf(res);
    const scope = await permit(services, req, res, ['admin', 'staff', 'provider', 'auditor'], principal.practiceId, id.data);
    if (!scope) return;
    // Those who call back read the number; an auditor tells tasks apart (masked, no notes).
    const task = await readTask(services, scope, id.data, actorOf(res), numberViewFor(principal.role));
    if (!task) return notFound(res);
    res.json(task);
  });

  router.post('/tasks/:id/claim', async (req, res) => {
    const id = TaskId.safeParse(req.params.id);
    if (!id.success) return badRequest(res, 'id must be a UUID');
    const scope = await permit(services, req, res, ['admin', 'staff', 'provider'], principalOf(res).practiceId, id.data);
    if (!scope) return;
    answer(res, await claim(services, scope, id.data, actorOf(res)));
  });

  router.post('/tasks/:id/attempts', async (req, res) => {
    const id = TaskId.safeParse(req.params.id);
    if (!id.success) return badRequest(res, 'id must be a UUID');
    const body = AttemptBody.safeParse(req.body ?? {});
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const scope = await permit(services, req, res, ['admin', 'staff', 'provider'], principalOf(res).practiceId, id.data);
    if (!scope) return;
    answer(res, await recordAttempt(services, scope, id.data, actorOf(res), body.data), true);
  });

  router.post('/tasks/:id/close', async (req, res) => {
    const id = TaskId.safeParse(req.params.id);
    if (!id.success) return badRequest(res, 'id must be a UUID');
    const body = CloseBody.safeParse(req.body ?? {});
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const scope = await permit(services, req, res, ['admin', 'staff', 'provider'], principalOf(res).practiceId, id.data);
    if (!scope) return;
    answer(res, await close(services, scope, id.data, actorOf(res), body.data));
  });

  router.post('/tasks/:id/assign', async (req, res) => {
    const id = TaskId.safeParse(req.params.id);
    if (!id.success) return badRequest(res, 'id must be a UUID');
    const body = AssignBody.safeParse(req.body ?? {});
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const scope = await permit(services, req, res, ['admin'], principalOf(res).practiceId, id.data);
    if (!scope) return;
    const r: AssignResult = await assign(services, scope, id.data, actorOf(res), body.data.assignee);
    if (r.result === 'not_assignable') return badRequest(res, 'assignee: not an active member of this practice who works callbacks');
    answer(res, r);
  });

  router.post('/tasks/:id/call', async (req, res) => {
    const id = TaskId.safeParse(req.params.id);
    if (!id.success) return badRequest(res, 'id must be a UUID');
    const body = CallBody.safeParse(req.body ?? {});
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const principal = principalOf(res);
    const scope = await permit(services, req, res, ['admin', 'staff', 'provider'], principal.practiceId, id.data);
    if (!scope) return;
    const userId = isSessionPrincipal(principal) ? principal.userId : null;
    callAnswer(res, await placeCallBack(services, scope, id.data, { actor: actorOf(res), userId, role: principal.role }));
  });

  return router;
}
