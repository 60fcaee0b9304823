// Over 400 lines because every Twilio webhook's edge (signature, deadline answer, durable-before-2xx rule) is one router read together; the decisions are in the domains.
import express, { type Request, type Response } from 'express';
import { AuditAction } from '../audit/events.js';
import type { Services } from '../services.js';
import type { AppContext } from '../app-context.js';
import { tenantScope } from '../tenancy/mint.js';
import { logger, setLogContext } from '../log/logger.js';
import { CallSidSchema, normaliseE164, parseVoiceWebhook, type VoiceWebhook } from '../calls/twilio-params.js';
import {
  failSafeTwiml as failSafeFor,
  handleCallStatus,
  handleFlowWebhook,
  acceptRecordingStatus,
  loadPractice,
  type FlowRequest,
  type ScopeFor,
} from '../calls/voice-service.js';
import { NODE_ID } from '../calls/flow-schema.js';
import { verifyTwilioSignature } from './twilio-auth.js';
import { TIMED_OUT, withDeadline } from '../adapters/deadline.js';
import { routeLabel } from '../log/route-label.js';
import { emptyTwiml, FAIL_SAFE_DIAL_PATH, failSafeDialResult, hangupTwiml } from '../calls/fail-safe.js';
import { handleWhisper, handleWhisperAnswer, type WhisperQuery } from '../oncall/whisper-service.js';
import { handleSmsIncoming, smsNotReceivedTwiml } from '../texts/sms-incoming.js';
import { handleAccessAction, handleAccessIncoming, resumeAccessMenu } from '../voicemail/access-line.js';
import { handleCallBackAnswer, handleCallBackConnect, handleCallBackDialed, handleCallBackStatus } from '../tasks/call-back.js';
import { handleDropAnswer, handleDropConfirm, handleDropStatus } from '../drops/drop-service.js';
import { handleSmsStatus } from '../drops/sms-status.js';
import type { FailSafeReason, UnprocessedRoute } from '../adapters/metrics.js';
import { boundTwilioRoutes, TWILIO_ROUTE_DEADLINE_MS, type TimeoutAnswer } from './twilio-deadline.js';

const EMPTY_TWIML = emptyTwiml();

const UNPROCESSED_BY_PATH: Readonly<Record<string, UnprocessedRoute>> = {
  '/sms/incoming': 'sms_incoming',
  '/voice/status': 'call_status',
  '/rvm/status': 'rvm_status',
};

/** A callback answered 200 whose effect was not stored (Twilio will not send it again): counted and logged. */
function unprocessed(deps: Pick<AppContext, 'metrics'>, route: UnprocessedRoute, why: 'error' | 'deadline'): void {
  deps.metrics.countUnprocessed(route);
  logger.error('twilio callback answered but not processed; Twilio will not resend it', { route, why });
}
/** Twilio gives up on a webhook at 15 s; the fallback answer never waits longer than this on PostgreSQL. */
const FALLBACK_LOOKUP_MS = 2_000;
/** The SMS fallback's try at storing a text: well inside Twilio's 15 s, so the patient hears back either way. */
const SMS_FALLBACK_MS = 8_000;

function sendTwiml(res: Response, twiml: string): void {
  // Past the route's deadline the safe answer has gone already (./twilio-deadline.ts).
  if (res.headersSent) return;
  res.status(200).type('text/xml').send(twiml);
}

function bodyField(req: Request, name: string): string | undefined {
  const v = (req.body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : undefined;
}

function queryString(req: Request, name: string): string | undefined {
  const v = req.query[name];
  return typeof v === 'string' ? v : undefined;
}

/**
 * Every voice route: verified signature, parsed parameters, one domain call. Whatever
 * goes wrong, Twilio gets valid TwiML that keeps the caller safe — never a 5xx.
 */
function voiceRoute(
  services: Pick<Services, 'metrics' | 'audit' | 'caches'>,
  handle: (p: VoiceWebhook, req: Request) => Promise<string | null>,
  onFailure?: string,
  onError?: () => void,
) {
  return async (req: Request, res: Response): Promise<void> => {
    const to = bodyField(req, 'To');
    // The caller's leg gets the fail-safe; a provider's leg (the whisper) is simply hung up.
    const failure = (reason: FailSafeReason): string => {
      if (onFailure !== undefined) return onFailure;
      // Past the route's deadline its safe answer has gone and was counted already.
      if (!res.headersSent) services.metrics.countFailSafe(reason);
      return failSafeFor(services, to);
    };
    const parsed = parseVoiceWebhook(req.body);
    if (!parsed.ok) {
      const route = routeLabel(req, '/twilio');
      logger.warn('malformed twilio webhook', { route, fields: parsed.fields });
      // Answer first: the caller must not wait on an audit write (PostgreSQL may be what is failing).
      sendTwiml(res, failure('malformed'));
      void services
        .audit({ action: AuditAction.TwilioWebhookMalformed, actor: 'twilio', details: { route, fields: parsed.fields.slice(0, 20) } })
        .catch((err: unknown) => logger.error('audit write failed', { err }));
      return;
    }
    setLogContext({ callSid: parsed.value.CallSid });
    try {
      const twiml = await handle(parsed.value, req);
      sendTwiml(res, twiml ?? failure('unusable_request'));
    } catch (err) {
      const route = routeLabel(req, '/twilio');
      if (onError) {
        // Not a caller's turn (a status callback): nothing fail-safe was answered.
        logger.error('twilio callback failed', { err, route });
        // Past the route's deadline the deadline answer was counted already.
        if (!res.headersSent) onError();
        sendTwiml(res, failure('error'));
        return;
      }
      logger.error('voice webhook failed; answering fail-safe', { err, route });
      sendTwiml(res, failure('error'));
      void services
        .audit({ action: AuditAction.CallFailSafe, actor: 'system', callSid: parsed.value.CallSid, leg: 'parent', details: { route, reason: 'error' } })
        .catch(() => undefined);
    }
  };
}

/** `?s=<step>&n=<node>[&empty=1]` on flow action URLs; null when they are not ours. */
function flowAction(req: Request): FlowRequest | null {
  const s = queryString(req, 's');
  const n = queryString(req, 'n');
  if (!s || !/^\d{1,4}$/.test(s) || !n || !NODE_ID.test(n)) return null;
  return { kind: 'action', step: Number(s), node: n, empty: queryString(req, 'empty') === '1' };
}

function whisperQuery(req: Request): WhisperQuery | null {
  const parent = queryString(req, 'parent');
  const a = queryString(req, 'a');
  if (!parent || !CallSidSchema.safeParse(parent).success || !a || !/^\d{1,3}$/.test(a)) return null;
  return { parent, attempt: Number(a) };
}

const HANGUP_TWIML = hangupTwiml();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** `?c=<id>` on a call back's URLs (src/tasks/call-back.ts): its opaque id, nothing else. */
function callBackId(req: Request): string | null {
  const c = queryString(req, 'c');
  return c && UUID.test(c) ? c : null;
}

/**
 * Twilio's fallback URL: the disclaimer, then the practice's fallback number. The practice is
 * loaded within FALLBACK_LOOKUP_MS (from the practice cache when fresh; a lookup that succeeds
 * refreshes the number's fallback entry, which a fresh instance may lack). Whatever happened —
 * found, not found, failed or slow — the answer forwards to the number's fallback entry, else
 * FALLBACK_NUMBER.
 */
async function fallbackTwiml(services: Pick<Services, 'caches'>, to: string | undefined): Promise<string> {
  const number = to === undefined ? null : normaliseE164(to);
  if (!number) return failSafeFor(services, to);
  try {
    await withDeadline(loadPractice(services, number), FALLBACK_LOOKUP_MS);
  } catch (err) {
    logger.warn('fallback: practice lookup failed; using the last known number', { err });
  }
  return failSafeFor(services, number);
}

/** What a Twilio route answers when it runs out of time: each route's own safe answer. */
function timeoutAnswer(services: Pick<Services, 'metrics' | 'caches'>, req: Request): TimeoutAnswer {
  switch (req.path) {
    case '/voice/whisper':
    case '/voice/whisper-answer':
    case '/callback/answer':
    case '/callback/connect':
    case '/callback/dialed':
    case '/rvm/answer':
    case '/rvm/confirm':
      return { status: 200, twiml: HANGUP_TWIML };
    case '/sms/status':
      // A patient SMS's delivery status, not stored yet: never a 2xx.
      return { status: 503, twiml: EMPTY_TWIML };
    case '/voice/recording-status':
      // Not durable yet, so never a 2xx. Our <Record> URLs add no #rc, so Twilio does not resend it: the reconciler finds the recording.
      return { status: 503, twiml: EMPTY_TWIML };
    case '/sms/incoming':
      // Not stored (yet), so never a 2xx: Twilio then requests the number's SMS fallback URL (/twilio/sms/fallback).
      unprocessed(services, 'sms_incoming', 'deadline');
      return { status: 503, twiml: EMPTY_TWIML };
    case '/sms/fallback':
      // The patient is told the text was not received (it may still be stored by the run that ran out of time).
      return { status: 200, twiml: smsNotReceivedTwiml(bodyField(req, 'To')) };
    case '/voice/status':
    case '/callback/status':
    case '/rvm/status':
      // Twilio does not resend these: counted and logged so that an operator sees what was lost.
      unprocessed(services, UNPROCESSED_BY_PATH[req.path] ?? 'sms_incoming', 'deadline');
      return { status: 200, twiml: EMPTY_TWIML };
    default:
      services.metrics.countFailSafe('deadline');
      return { status: 200, twiml: failSafeFor(services, bodyField(req, 'To')) };
  }
}

export function twilioRouter(services: Services): express.Router {
  const router = express.Router();
  // Reads the (bounded) body itself and checks the signature before any route sees the request.
  router.use(verifyTwilioSignature(services));
  router.use(boundTwilioRoutes(TWILIO_ROUTE_DEADLINE_MS, (req) => timeoutAnswer(services, req)));
  // A webhook finds its practice by the number called (or its call's record) in the system role;
  // from then on it acts for that practice alone, in the tenant role (row-level security).
  const scopeFor: ScopeFor = (practiceId) => tenantScope(services, practiceId);

  router.post('/voice/incoming', voiceRoute(services, (p) => handleFlowWebhook(services, scopeFor, { kind: 'incoming' }, p)));
  router.post(
    '/voice/flow',
    voiceRoute(services, async (p, req) => {
      const action = flowAction(req);
      return action ? handleFlowWebhook(services, scopeFor, action, p) : null;
    }),
  );
  // The provider's leg: a failure here hangs up that leg (the chain moves on); it never bridges.
  router.post(
    '/voice/whisper',
    voiceRoute(services, async (p, req) => {
      const q = whisperQuery(req);
      return q ? handleWhisper(services, scopeFor, q, p).catch(() => HANGUP_TWIML) : HANGUP_TWIML;
    }, HANGUP_TWIML),
  );
  router.post(
    '/voice/whisper-answer',
    voiceRoute(services, async (p, req) => {
      const q = whisperQuery(req);
      return q ? handleWhisperAnswer(services, q, p).catch(() => HANGUP_TWIML) : HANGUP_TWIML;
    }, HANGUP_TWIML),
  );
  // The provider access line (a number whose voice URL is /twilio/voice/access): PIN, then urgent voicemails.
  router.post('/voice/access', voiceRoute(services, (p) => handleAccessIncoming({ ...services, scopeFor }, p)));
  router.post(
    '/voice/access-action',
    voiceRoute(services, async (p, req) => {
      const s = queryString(req, 's');
      return s && /^\d{1,4}$/.test(s) ? handleAccessAction({ ...services, scopeFor }, Number(s), p) : null;
    }),
  );
  // A call back through the practice line (src/tasks/call-back.ts): the person's own leg, whom
  // Twilio rang; on any failure that leg is hung up (it is our outbound call: no caller to keep safe).
  router.post(
    '/callback/answer',
    voiceRoute(services, async (p, req) => {
      const c = callBackId(req);
      return c ? handleCallBackAnswer(services, scopeFor, c, p) : HANGUP_TWIML;
    }, HANGUP_TWIML),
  );
  router.post(
    '/callback/connect',
    voiceRoute(services, async (p, req) => {
      const c = callBackId(req);
      return c ? handleCallBackConnect(services, scopeFor, c, p) : HANGUP_TWIML;
    }, HANGUP_TWIML),
  );
  // The <Dial> to the patient ended: the outcome on the task; a provider on the access line goes back to its menu.
  // Its failure is its own (counted as call_back_dialed, not a caller's fail-safe): the caller's leg
  // ending then settles the call back from the patient leg's status (handleCallBackStatus).
  router.post(
    '/callback/dialed',
    voiceRoute(
      services,
      async (p, req) => {
        const c = callBackId(req);
        if (!c) return HANGUP_TWIML;
        const done = await handleCallBackDialed(services, scopeFor, c, p);
        return done.origin === 'access_line' ? resumeAccessMenu({ ...services, scopeFor }, p.CallSid) : done.twiml;
      },
      HANGUP_TWIML,
      () => unprocessed(services, 'call_back_dialed', 'error'),
    ),
  );
  router.post(
    '/callback/status',
    voiceRoute(
      services,
      async (p, req) => {
        const c = callBackId(req);
        if (c) await handleCallBackStatus(services, scopeFor, c, p);
        return EMPTY_TWIML;
      },
      EMPTY_TWIML,
      () => unprocessed(services, 'call_status', 'error'),
    ),
  );
  // A text is answered 2xx only once stored (src/texts/sms-incoming.ts). Twilio never resends an SMS
  // webhook; on a 5xx (or no answer in 15 s) it requests the number's SMS fallback URL instead, below.
  router.post('/sms/incoming', async (req, res) => {
    try {
      sendTwiml(res, await handleSmsIncoming(services, scopeFor, req.body as Record<string, unknown>));
    } catch (err) {
      logger.error('sms webhook failed; answering 503 (Twilio requests the SMS fallback URL)', { err });
      // Past the route's deadline the deadline answer was counted already.
      if (res.headersSent) return;
      unprocessed(services, 'sms_incoming', 'error');
      res.status(503).type('text/xml').send(EMPTY_TWIML);
    }
  });
  // The SMS fallback URL: the same handling once more (a text already stored is not stored twice:
  // its MessageSid), within SMS_FALLBACK_MS; if it still cannot be stored, the patient is told so
  // (911, the number to call) rather than left waiting for a call back.
  router.post('/sms/fallback', async (req, res) => {
    try {
      const answer = await withDeadline(handleSmsIncoming(services, scopeFor, req.body as Record<string, unknown>), SMS_FALLBACK_MS);
      if (answer === TIMED_OUT) throw new Error('sms fallback out of time');
      sendTwiml(res, answer);
    } catch (err) {
      logger.error('sms fallback could not store the text; the patient is told it was not received', { err });
      sendTwiml(res, smsNotReceivedTwiml(bodyField(req, 'To')));
    }
  });
  router.post(
    '/voice/status',
    voiceRoute(
      services,
      async (p) => {
        await handleCallStatus(services, scopeFor, p);
        return EMPTY_TWIML;
      },
      // A status callback is not a caller's turn: no fail-safe <Dial> to answer it.
      EMPTY_TWIML,
      () => unprocessed(services, 'call_status', 'error'),
    ),
  );
  // Acknowledged (200) only once durable: in PostgreSQL or the local spool. The 503 is the last resort, when neither took it:
  // Twilio does not resend it (no #rc on our <Record> URLs); the reconciler finds the recording at Twilio.
  router.post('/voice/recording-status', async (req, res) => {
    const parsed = parseVoiceWebhook(req.body);
    if (!parsed.ok) {
      const route = routeLabel(req, '/twilio');
      logger.warn('malformed twilio webhook', { route, fields: parsed.fields });
      sendTwiml(res, EMPTY_TWIML);
      void services
        .audit({ action: AuditAction.TwilioWebhookMalformed, actor: 'twilio', details: { route, fields: parsed.fields.slice(0, 20) } })
        .catch((err: unknown) => logger.error('audit write failed', { err }));
      return;
    }
    setLogContext({ callSid: parsed.value.CallSid });
    const node = queryString(req, 'n');
    const urgency = queryString(req, 'u');
    try {
      await acceptRecordingStatus(services, parsed.value, {
        node: node && NODE_ID.test(node) ? node : null,
        urgency: urgency === 'urgent' || urgency === 'routine' ? urgency : null,
        verified: queryString(req, 'v') === '1',
      });
      sendTwiml(res, EMPTY_TWIML);
    } catch (err) {
      logger.error('recording callback neither recorded nor spooled; answering 503 (the reconciler finds the recording at Twilio)', { err });
      if (!res.headersSent) res.status(503).type('text/xml').send(EMPTY_TWIML);
    }
  });
  // A Twilio voicemail drop: its TwiML once the greeting ended, and its final status. On any
  // failure the drop call plays nothing (it is our outbound call: there is no caller to keep safe).
  router.post('/rvm/answer', async (req, res) => {
    try {
      sendTwiml(res, await handleDropAnswer(services, scopeFor, queryString(req, 'd'), req.body));
    } catch (err) {
      logger.error('drop answer failed', { err });
      sendTwiml(res, HANGUP_TWIML);
    }
  });
  // A key at an appointment message's "press 1 to confirm" (src/drops/drop-service.ts); on a failure, a hang-up.
  router.post('/rvm/confirm', async (req, res) => {
    try {
      sendTwiml(res, await handleDropConfirm(services, scopeFor, queryString(req, 'd'), req.body));
    } catch (err) {
      logger.error('drop confirm failed', { err });
      sendTwiml(res, HANGUP_TWIML);
    }
  });
  router.post('/rvm/status', async (req, res) => {
    try {
      await handleDropStatus(services, queryString(req, 'd'), req.body);
    } catch (err) {
      logger.error('drop status failed', { err });
      // The drop is closed as failed by its 24-hour sweep if no final word ever comes.
      if (!res.headersSent) unprocessed(services, 'rvm_status', 'error');
    }
    sendTwiml(res, EMPTY_TWIML);
  });
  // A patient SMS's delivery status (src/drops/sms-status.ts): 2xx only once stored; malformed 400; a failure 503.
  router.post('/sms/status', async (req, res) => {
    try {
      const result = await handleSmsStatus(services, req.body);
      if (res.headersSent) return;
      if (result.kind === 'malformed') {
        const route = routeLabel(req, '/twilio');
        logger.warn('malformed twilio webhook', { route, fields: result.fields });
        await services.audit({ action: AuditAction.TwilioWebhookMalformed, actor: 'twilio', details: { route, fields: result.fields.slice(0, 20) } });
        return void res.status(400).type('text/xml').send(EMPTY_TWIML);
      }
      if (result.kind === 'ignored' && result.why === 'unknown_message') logger.warn('sms status for no message of ours', { route: 'sms_status' });
      sendTwiml(res, EMPTY_TWIML);
    } catch (err) {
      logger.error('sms status not stored; answering 503', { err });
      if (!res.headersSent) res.status(503).type('text/xml').send(EMPTY_TWIML);
    }
  });
  router.post('/voice/fallback', async (req, res) => {
    const to = bodyField(req, 'To');
    const callSid = bodyField(req, 'CallSid');
    const errorCode = bodyField(req, 'ErrorCode');
    // Answer without waiting for the audit write: Twilio gives up at 15 s and PostgreSQL may hang.
    void services
      .audit({
        action: AuditAction.TwilioFallback,
        actor: 'twilio',
        callSid: CallSidSchema.safeParse(callSid).data ?? null,
        leg: 'parent',
        details: { errorCode: errorCode && /^\d{1,6}$/.test(errorCode) ? errorCode : null },
      })
      .catch((err: unknown) => logger.error('audit write failed', { err }));
    services.metrics.countFailSafe('twilio_fallback');
    sendTwiml(res, await fallbackTwiml(services, to));
  });
  // The fail-safe <Dial>'s action: the apology only when the dial did not connect. No database,
  // nothing that can fail: it must answer while PostgreSQL or Redis is down.
  router.post(FAIL_SAFE_DIAL_PATH.slice('/twilio'.length), (req, res) => {
    sendTwiml(res, failSafeDialResult(bodyField(req, 'DialCallStatus')));
  });
  // Unknown Twilio path (after a valid signature): still answer with TwiML.
  router.use((req, res) => {
    logger.warn('unknown twilio route', { route: routeLabel(req, '/twilio') });
    services.metrics.countFailSafe('unknown_route');
    sendTwiml(res, failSafeFor(services, bodyField(req, 'To')));
  });
  return router;
}
