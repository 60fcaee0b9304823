import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import type { ApiRole } from '../auth/api-keys.js';
import type { SequenceState } from '../adapters/db-schema.js';
import { MESSAGE_TYPES, cellName } from '../outreach/matrix.js';
import { SEQUENCE_CHANNELS, SEQUENCE_CONDITIONS } from '../sequences/conditions.js';
import { commandSequence, createSequence, reportCsv, sequenceReport, type SequenceCommand, type SequenceReport } from '../sequences/sequences.js';
import { addAudienceOf, parseAudience } from '../sequences/audiences.js';
import { listSequences, sequenceOf, stepsOf } from '../sequences/store.js';
import { actorOf, permit, principalOf } from './api-auth.js';
import { refusalAnswer } from './drops-routes.js';
import { badRequest, notFound, zodProblems } from './responses.js';

/**
 * The sequences API (issue 15, item 5): create a sequence of steps, give it an audience (CSV,
 * patient ids, a patient search, appointments in a window, patients due for recall), start,
 * pause, resume or cancel it, and read its report (JSON or CSV). As the campaigns it is made of:
 * admins create and command; admins, staff and auditors read. Ids only in URLs; the domain
 * (src/sequences) audits what changes.
 */

const WRITE: readonly ApiRole[] = ['admin'];
const READ: readonly ApiRole[] = ['admin', 'staff', 'auditor'];
export const SEQUENCE_COMMANDS = ['start', 'pause', 'resume', 'cancel'] as const satisfies readonly SequenceCommand[];

export const SequenceParams = z.strictObject({ sequenceId: z.uuid({ message: 'expected a UUID' }) });
export const SequenceCommandParams = SequenceParams.extend({ command: z.enum(SEQUENCE_COMMANDS) });

export const SequenceStepInput = z.strictObject({
  channel: z.enum(SEQUENCE_CHANNELS),
  templateId: z.string().trim().min(1).max(80),
  /** Hours after the previous step (the first: after the start). */
  waitHours: z.number().min(0).max(24 * 60),
  condition: z.enum(SEQUENCE_CONDITIONS).default('always'),
});

export const SequenceInputSchema = z.strictObject({
  name: z.string().trim().min(1).max(120),
  messageType: z.enum(MESSAGE_TYPES).exclude(['staff_page']),
  steps: z.array(SequenceStepInput).min(1).max(10),
  rvmProvider: z.enum(['rvm_http', 'twilio']).optional(),
  ratePerMinute: z.number().int().min(1).max(600).optional(),
});

export const SequenceListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});

// --- Answers (the OpenAPI document's schemas; test/sequences-api.test.ts checks the routes' answers against them) ---

const SEQUENCE_STATES = ['draft', 'running', 'paused', 'cancelled', 'completed'] as const satisfies readonly SequenceState[];
const Instant = z.iso.datetime({ offset: true });
const Counts = z.record(z.string(), z.number().int());

const SequenceSummary = z.strictObject({
  id: z.uuid(),
  name: z.string(),
  state: z.enum(SEQUENCE_STATES),
  messageType: z.string(),
  createdAt: Instant,
  startedAt: Instant.nullable(),
});

export const SequenceListAnswer = z.strictObject({
  sequences: z.array(
    SequenceSummary.extend({
      steps: z.number().int().meta({ description: 'how many steps' }),
      recipients: z.number().int(),
      active: z.number().int().meta({ description: 'recipients not yet stopped' }),
    }),
  ),
  limit: z.number().int(),
  offset: z.number().int(),
});

export const SequenceDetailAnswer = SequenceSummary.extend({
  steps: z.array(
    z.strictObject({
      position: z.number().int(),
      channel: z.enum(SEQUENCE_CHANNELS),
      templateId: z.string(),
      waitHours: z.number(),
      condition: z.enum(SEQUENCE_CONDITIONS),
      campaignId: z.uuid().nullable().meta({ description: 'the campaign of an sms or rvm step; null for e-mail' }),
    }),
  ),
});

export const AudienceAnswerSchema = z.strictObject({
  added: z.number().int(),
  unknown: z.number().int().meta({ description: 'not patients of this practice (or an appointment not theirs): counted, never echoed' }),
  duplicate: z.number().int().meta({ description: 'already recipients' }),
  past: z
    .number()
    .int()
    .optional()
    .meta({ description: 'appointments audience only: appointments already started (at or before now), left out. One still ahead whose reminder time has gone by is due now.' }),
});

export const SequenceReportAnswer = z.strictObject({
  sequence: SequenceSummary,
  recipients: z.number().int(),
  stopped: Counts.meta({ description: 'recipients stopped, by reason (confirmed, opted_out, completed, cancelled)' }),
  steps: z.array(
    z.strictObject({
      position: z.number().int(),
      channel: z.enum(SEQUENCE_CHANNELS),
      condition: z.enum(SEQUENCE_CONDITIONS),
      campaignId: z.uuid().nullable(),
      sent: z.number().int().meta({ description: 'handed to the channel and accepted (sent or further)' }),
      delivered: z.number().int(),
      replied: z.number().int(),
      confirmed: z.number().int().meta({ description: 'sent this step, and their appointment is now confirmed' }),
      optedOut: z.number().int(),
      failed: z.number().int(),
      skipped: z.number().int().meta({ description: 'not sent: the condition, a stop, or the channel’s own refusal' }),
      pending: z.number().int().meta({ description: 'still on their way (planned, queued)' }),
      reasons: Counts.meta({ description: '`<status>:<reason>` counts' }),
    }),
  ),
  paths: z.array(
    z.strictObject({
      recipientId: z.uuid(),
      patientId: z.uuid(),
      appointmentId: z.uuid().nullable(),
      stoppedReason: z.string().nullable(),
      steps: z.array(z.strictObject({ position: z.number().int(), channel: z.enum(SEQUENCE_CHANNELS), status: z.string(), reason: z.string().nullable(), at: Instant.nullable() })),
    }),
  ).meta({ description: 'per recipient, ids only: the steps they went through' }),
});

function fail(res: express.Response, r: { reason: 'invalid' | 'not_found' | 'conflict'; message: string }): void {
  const answer = refusalAnswer(r);
  res.status(answer.status).json(answer.body);
}

function sequenceId(req: express.Request, res: express.Response): string | null {
  const p = SequenceParams.safeParse({ sequenceId: req.params.sequenceId });
  if (!p.success) {
    badRequest(res, zodProblems(p.error));
    return null;
  }
  return p.data.sequenceId;
}

export function sequenceRouter(services: Services): express.Router {
  const router = express.Router();

  router.get('/sequences', async (req, res) => {
    const scope = await permit(services, req, res, READ, principalOf(res).practiceId);
    if (!scope) return;
    const q = SequenceListQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, zodProblems(q.error));
    const rows = await listSequences(scope, q.data);
    res.json({
      sequences: rows.map((s) => ({
        id: s.id,
        name: s.name,
        state: s.state,
        messageType: s.message_type,
        createdAt: s.created_at.toISOString(),
        startedAt: s.started_at?.toISOString() ?? null,
        steps: s.steps,
        recipients: s.recipients,
        active: s.active,
      })),
      limit: q.data.limit,
      offset: q.data.offset,
    });
  });

  router.post('/sequences', async (req, res) => {
    const scope = await permit(services, req, res, WRITE, principalOf(res).practiceId);
    if (!scope) return;
    const body = SequenceInputSchema.safeParse(req.body);
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const { rvmProvider, ratePerMinute, ...input } = body.data;
    const made = await createSequence(services, scope, { ...input, ...(rvmProvider ? { rvmProvider } : {}), ...(ratePerMinute ? { ratePerMinute } : {}), createdBy: actorOf(res) });
    if (!made.ok) {
      // A closed cell of the communication matrix: 409 naming it (`<type> × <channel>`).
      const refused = /^steps\.(\d+): communication matrix: /.exec(made.message);
      const step = refused ? input.steps[Number(refused[1])] : undefined;
      if (made.reason === 'conflict' && step) return void res.status(409).json({ error: 'matrix_refused', message: made.message, cell: cellName(input.messageType, step.channel) });
      return fail(res, made);
    }
    res.status(201).json(made.value);
  });

  router.get('/sequences/:sequenceId', async (req, res) => {
    const id = sequenceId(req, res);
    if (!id) return;
    const scope = await permit(services, req, res, READ, principalOf(res).practiceId, id);
    if (!scope) return;
    const s = await sequenceOf(scope, id);
    if (!s) return notFound(res);
    const steps = await stepsOf(scope, id);
    res.json({
      id: s.id,
      name: s.name,
      state: s.state,
      messageType: s.message_type,
      createdAt: s.created_at.toISOString(),
      startedAt: s.started_at?.toISOString() ?? null,
      steps: steps.map((st) => ({ position: st.position, channel: st.channel, templateId: st.template_id, waitHours: st.wait_hours, condition: st.condition, campaignId: st.campaign_id })),
    });
  });

  // An audience: a text/csv body (patient_id[,appointment_id]), or JSON with exactly one of csv, patientIds, search, appointments, recall.
  router.post('/sequences/:sequenceId/audience', express.text({ type: ['text/csv', 'text/plain'], limit: '16mb' }), async (req, res) => {
    const id = sequenceId(req, res);
    if (!id) return;
    const scope = await permit(services, req, res, WRITE, principalOf(res).practiceId, id);
    if (!scope) return;
    const parsed = typeof req.body === 'string' ? parseAudience({ csv: req.body }) : parseAudience(req.body);
    if (!parsed.success) return badRequest(res, 'error' in parsed ? zodProblems(parsed.error) : parsed.message);
    const r = await addAudienceOf(services, scope, id, parsed.data, actorOf(res));
    if (!r.ok) return fail(res, r);
    res.json(r.value);
  });

  // The report, as JSON or as CSV: one lookup for both.
  const reportOf = async (req: express.Request, res: express.Response): Promise<{ id: string; report: SequenceReport } | null> => {
    const id = sequenceId(req, res);
    if (!id) return null;
    const scope = await permit(services, req, res, READ, principalOf(res).practiceId, id);
    if (!scope) return null;
    const r = await sequenceReport(scope, id);
    if (!r.ok) {
      fail(res, r);
      return null;
    }
    return { id, report: r.value };
  };

  router.get('/sequences/:sequenceId/report', async (req, res) => {
    const found = await reportOf(req, res);
    if (found) res.json(found.report);
  });

  router.get('/sequences/:sequenceId/report.csv', async (req, res) => {
    const found = await reportOf(req, res);
    if (found) res.type('text/csv').attachment(`sequence-${found.id}.csv`).send(reportCsv(found.report));
  });

  router.post('/sequences/:sequenceId/:command', async (req, res) => {
    const p = SequenceCommandParams.safeParse(req.params);
    if (!p.success) {
      if (p.error.issues.some((i) => i.path[0] === 'command')) return void res.status(404).json({ error: 'not_found', message: `commands: ${SEQUENCE_COMMANDS.join(', ')}` });
      return badRequest(res, zodProblems(p.error));
    }
    const scope = await permit(services, req, res, WRITE, principalOf(res).practiceId, p.data.sequenceId);
    if (!scope) return;
    const r = await commandSequence(services, scope, p.data.sequenceId, p.data.command, actorOf(res));
    if (!r.ok) return fail(res, r);
    res.json(r.value);
  });

  return router;
}
