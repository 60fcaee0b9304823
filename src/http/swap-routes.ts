import express from 'express';
import type { Services } from '../services.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { AuditAction } from '../audit/events.js';
import type { ApiRole } from '../auth/api-keys.js';
import { logger } from '../log/logger.js';
import { getProvider } from '../oncall/store.js';
import { decideSwapRequest, listSwaps, mayRequestSwap, providerOfUser, requestSwap, SwapInputSchema, SwapListQuery, type Swap, type SwapAction, type SwapActor } from '../oncall/swaps.js';
import { notifyStaff, practiceSender } from '../notify/staff-sender.js';
import { actorOf, isSessionPrincipal, keyPrincipalOf, permit, principalOf } from './api-auth.js';
import { badRequest, notFound } from './responses.js';
import { auditOverrideCreated, idParam, practiceOf, problems } from './oncall-routes.js';

/**
 * Swap requests under /api/oncall (src/oncall/swaps.ts): ask to hand a window of a schedule to
 * another provider, list a schedule's swaps, accept (which makes the override), decline, cancel.
 * Who may act on a given swap is the domain's `decideSwap`; the roles here are the outer gate.
 */

const READERS: readonly ApiRole[] = ['admin', 'staff', 'provider', 'auditor'];
export const SWAP_REQUESTERS: readonly ApiRole[] = ['admin', 'staff', 'provider'];
export const SWAP_DECIDERS: readonly ApiRole[] = ['admin', 'provider'];
export const SWAP_CANCELLERS: readonly ApiRole[] = ['admin', 'staff', 'provider'];

const AUDIT_OF = {
  accept: AuditAction.OncallSwapAccepted,
  decline: AuditAction.OncallSwapDeclined,
  cancel: AuditAction.OncallSwapCancelled,
} as const satisfies Record<SwapAction, string>;

/** The text a provider asked to take a window gets: no PHI, no names or times, a console link to the schedule's swaps by id. */
export function swapNoticeText(baseUrl: string, practiceName: string, swap: Pick<Swap, 'scheduleId'>): string {
  return `${practiceName}: a swap request waits for you. ${baseUrl}/console/on-call?schedule=${swap.scheduleId}`;
}

export function swapRouter(services: Services): express.Router {
  const router = express.Router();

  /** The request's actor: a person's session names the provider their account is; a key names none. */
  async function swapActor(res: express.Response, scope: PracticeScope): Promise<SwapActor> {
    const p = keyPrincipalOf(res);
    const providerId = isSessionPrincipal(p) ? await providerOfUser(scope, p.userId) : null;
    return { actor: actorOf(res), role: principalOf(res).role, providerId };
  }

  function forbidden(res: express.Response, message: string): void {
    res.status(403).json({ error: 'forbidden', message });
  }

  /**
   * Tells the provider asked (SMS to their SMS number, else their phone) through the staff notice
   * path, which asks the communication matrix's staff_page cell. Sent after the swap is audited
   * and answered, best effort: a failure is logged with ids only, and the swap stands.
   */
  async function notifyTarget(scope: PracticeScope, swap: Swap): Promise<void> {
    try {
      const [target, sender] = await Promise.all([getProvider(scope, swap.toProviderId), practiceSender(scope)]);
      if (!target?.active || !sender.practice) return;
      const text = swapNoticeText(services.config.publicBaseUrl, sender.practice.greetingName, swap);
      await notifyStaff(services, { what: 'swap request notice', scope, from: sender.from, subject: text, text }, [
        { key: `provider:${target.id}`, channel: 'sms', to: target.smsPhone ?? target.phone },
      ]);
    } catch (err) {
      logger.error('swap request notice failed', { err, practiceId: scope.practiceId, swapId: swap.id });
    }
  }

  /** A schedule's swaps, newest first (`?state=` narrows). */
  router.get('/oncall/schedules/:id/swaps', async (req, res) => {
    const q = SwapListQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, problems(q.error));
    const id = idParam(req, res, 'id');
    const practiceId = id && (q.data.practiceId ?? principalOf(res).practiceId);
    const scope = practiceId && id && (await permit(services, req, res, READERS, practiceId, id));
    if (!scope) return;
    const swaps = await listSwaps(scope, id, q.data.state ? { state: q.data.state } : {});
    if (!swaps) return notFound(res);
    res.json({ swaps });
  });

  router.post('/oncall/schedules/:id/swaps', async (req, res) => {
    const practiceId = practiceOf(req, res);
    const id = practiceId && idParam(req, res, 'id');
    const scope = practiceId && id && (await permit(services, req, res, SWAP_REQUESTERS, practiceId, id));
    if (!scope) return;
    const body = SwapInputSchema.safeParse(req.body ?? {});
    if (!body.success) return badRequest(res, problems(body.error));
    const who = await swapActor(res, scope);
    if (!mayRequestSwap(body.data, who)) return forbidden(res, 'a provider hands only their own shifts, signed in as themselves');
    const made = await requestSwap(scope, id, body.data, who.actor, services.clock());
    if (!made.ok) return made.reason === 'invalid' ? badRequest(res, made.message) : notFound(res);
    const swap = made.value;
    await services.audit({
      action: AuditAction.OncallSwapRequested,
      actor: who.actor,
      practiceId: scope.practiceId,
      subjectId: swap.id,
      details: { scheduleId: swap.scheduleId, fromProviderId: swap.fromProviderId, toProviderId: swap.toProviderId },
    });
    res.status(201).json(swap);
    // After the answer: an SMS gateway that is slow or down neither holds the request nor loses the audit row.
    void notifyTarget(scope, swap);
  });

  function decision(action: SwapAction, roles: readonly ApiRole[]): express.RequestHandler {
    return async (req, res) => {
      const practiceId = practiceOf(req, res);
      const id = practiceId && idParam(req, res, 'id');
      const scope = practiceId && id && (await permit(services, req, res, roles, practiceId, id));
      if (!scope) return;
      const who = await swapActor(res, scope);
      const done = await decideSwapRequest(scope, id, action, who, services.clock());
      if (!done.ok) {
        switch (done.reason) {
          case 'not_found':
            return notFound(res);
          case 'forbidden':
            return forbidden(res, action === 'cancel' ? 'only whoever asked, or an admin, cancels a swap' : 'only the provider asked, or an admin, decides a swap');
          case 'conflict':
            return void res.status(409).json({ error: 'conflict', message: 'this swap is no longer pending' });
          case 'passed':
            return void res.status(409).json({ error: 'conflict', message: 'the window has passed' });
          case 'moved':
            return void res.status(409).json({ error: 'conflict', message: 'the window is no longer on call for the provider who asked (the schedule changed since): ask again' });
          case 'invalid':
            return badRequest(res, done.message);
          default:
            return done satisfies never;
        }
      }
      const { swap, override } = done.value;
      if (override) await auditOverrideCreated(services, who.actor, scope, override, { swapId: swap.id });
      await services.audit({
        action: AUDIT_OF[action],
        actor: who.actor,
        practiceId: scope.practiceId,
        subjectId: swap.id,
        details: { scheduleId: swap.scheduleId, ...(override ? { overrideId: override.id } : {}) },
      });
      res.json({ swap, ...(override ? { override } : {}) });
    };
  }

  router.post('/oncall/swaps/:id/accept', decision('accept', SWAP_DECIDERS));
  router.post('/oncall/swaps/:id/decline', decision('decline', SWAP_DECIDERS));
  router.post('/oncall/swaps/:id/cancel', decision('cancel', SWAP_CANCELLERS));

  return router;
}
