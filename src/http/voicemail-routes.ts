import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import { retryVoicemail } from '../voicemail/pipeline.js';
import {
  acknowledgeVoicemail,
  getVoicemail,
  issuePlaybackToken,
  listDeadLetter,
  listVoicemails,
  playability,
  playbackUrl,
  redeemPlaybackLink,
} from '../voicemail/playback-store.js';
import { rangeRequest, streamVoicemail, type RangeOf } from '../voicemail/stream.js';
import { actorOf, permit, principalOf } from './api-auth.js';
import { numberViewFor } from '../calls/number-view.js';
import { AuditAction } from '../audit/events.js';
import { badRequest, notFound, zodProblems } from './responses.js';
import { QueryInstantSchema } from './query-dates.js';

const Uuid = z.string().uuid();
export const ListQuery = z.strictObject({
  state: z.enum(['received', 'stored', 'complete', 'failed', 'expired']).optional(),
  urgency: z.enum(['urgent', 'routine']).optional(),
  from: QueryInstantSchema.optional(),
  to: QueryInstantSchema.optional(),
  /** Only the voicemails still to handle: their callback task open or claimed, or none yet. */
  unhandled: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export const AckBody = z.strictObject({ note: z.string().trim().min(1).max(2000).optional() });

/** The request's Range header as Express reads it (`req.range`), for a body of the size the playback finds. */
function rangeOf(req: express.Request): RangeOf {
  return (size) => rangeRequest(req.range(size), size, req.get('range'));
}

/** Voicemails of the key's practice: metadata, listening, acknowledgement, the dead-letter list. */
export function voicemailRouter(services: Services): express.Router {
  const router = express.Router();

  router.get('/voicemails', async (req, res) => {
    const q = ListQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, q.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; '));
    const principal = principalOf(res);
    const scope = await permit(services, req, res, ['admin', 'staff', 'provider', 'auditor'], principal.practiceId);
    if (!scope) return;
    // As GET /api/calls: staff call back (the number in full); an auditor tells callers apart (masked).
    const view = numberViewFor(principal.role);
    const voicemails = await listVoicemails(scope, q.data, { keyring: services.keyring, view });
    // Only the full view decrypts: a masked number (an auditor's) opened nothing.
    const numbersOpened = view === 'full' ? voicemails.filter((v) => v.callerNumber !== null).length : 0;
    const notesOpened = view === 'full' ? voicemails.filter((v) => v.acknowledgedNote !== null).length : 0;
    // Opening callers' numbers (and acknowledgement notes) is a read of PHI: recorded, with counts only.
    if (numbersOpened > 0 || notesOpened > 0) {
      await services.audit({ action: AuditAction.VoicemailListRead, actor: actorOf(res), practiceId: scope.practiceId, details: { voicemails: voicemails.length, numbersOpened, notesOpened, view } });
    }
    res.json({ voicemails });
  });

  router.get('/voicemails/dead-letter', async (req, res) => {
    const scope = await permit(services, req, res, ['admin'], principalOf(res).practiceId);
    if (!scope) return;
    res.json({ voicemails: await listDeadLetter(scope) });
  });

  router.get('/voicemails/:id/audio', async (req, res) => {
    const id = Uuid.safeParse(req.params.id);
    if (!id.success) return badRequest(res, 'id must be a UUID');
    const principal = principalOf(res);
    // An auditor reads the metadata and the audit log, never the audio.
    const scope = await permit(services, req, res, ['admin', 'staff', 'provider'], principal.practiceId, id.data);
    if (!scope) return;
    const row = await getVoicemail(scope, id.data);
    if (!row) return notFound(res);
    await streamVoicemail(services, row, res, rangeOf(req), { actor: actorOf(res), via: 'api' }, { head: req.method === 'HEAD' });
  });

  router.post('/voicemails/:id/ack', async (req, res) => {
    const id = Uuid.safeParse(req.params.id);
    if (!id.success) return badRequest(res, 'id must be a UUID');
    const body = AckBody.safeParse(req.body ?? {});
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const principal = principalOf(res);
    const scope = await permit(services, req, res, ['admin', 'staff', 'provider'], principal.practiceId, id.data);
    if (!scope) return;
    // The person (or key) who acknowledged, as the audit log names them; the note kept sealed.
    const ack = await acknowledgeVoicemail(services, scope, { id: id.data, by: actorOf(res), via: 'api', note: body.data.note });
    if (ack.result === 'not_found') return notFound(res);
    res.json(ack);
  });

  router.post('/voicemails/:id/retry', async (req, res) => {
    const id = Uuid.safeParse(req.params.id);
    if (!id.success) return badRequest(res, 'id must be a UUID');
    const principal = principalOf(res);
    const scope = await permit(services, req, res, ['admin'], principal.practiceId, id.data);
    if (!scope) return;
    const retry = await retryVoicemail(services, scope, { id: id.data, actor: actorOf(res) });
    switch (retry.result) {
      case 'not_found':
        return notFound(res);
      case 'not_dead_lettered':
        return void res.status(409).json({ error: 'conflict', message: `only a dead-lettered voicemail can be retried; this one is ${retry.state}` });
      case 'changed':
        return void res.status(409).json({ error: 'conflict', message: 'the voicemail changed state; read it again' });
      case 'requeued':
        return void res.status(202).json({ id: retry.id, state: retry.state });
      default:
        return retry satisfies never;
    }
  });

  router.post('/voicemails/:id/playback-link', async (req, res) => {
    const id = Uuid.safeParse(req.params.id);
    if (!id.success) return badRequest(res, 'id must be a UUID');
    const principal = principalOf(res);
    const scope = await permit(services, req, res, ['admin', 'staff', 'provider'], principal.practiceId, id.data);
    if (!scope) return;
    const row = await getVoicemail(scope, id.data);
    if (!row) return notFound(res);
    const playable = playability(row);
    if (!playable.ok) {
      if (playable.reason === 'not_stored') return void res.status(409).json({ error: 'not_stored', message: 'this voicemail is not stored yet; try again in a minute' });
      return notFound(res);
    }
    const issued = await issuePlaybackToken(scope, row.id, actorOf(res), services.clock());
    if (!issued) return notFound(res);
    const { token, expiresAt } = issued;
    res.status(201).json({ url: playbackUrl(services.config.publicBaseUrl, token), expiresAt: expiresAt.toISOString() });
  });

  return router;
}

/**
 * `GET /playback/:token` — no API key: the single-use token is the credential. Unknown, used
 * and expired tokens (and audio gone since) get the same 404. Only GET (Twilio's <Play> fetches
 * with GET): a HEAD would have to leave the token unused, and request logs carry the path.
 */
export function playbackRouter(services: Services): express.Router {
  const router = express.Router();
  router.get('/playback/:token', async (req, res) => {
    if (req.method === 'HEAD') return void res.status(405).setHeader('Allow', 'GET').end();
    // No permit and no scope: the token, looked up by its hash across practices, is the credential.
    const link = await redeemPlaybackLink(services.db, req.params.token, services.clock());
    if (!link) return notFound(res);
    await streamVoicemail(services, link.row, res, rangeOf(req), { actor: 'playback_token', via: 'link', details: { issuedTo: link.issuedTo } });
  });
  return router;
}
