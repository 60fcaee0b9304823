import express from 'express';
import { z } from 'zod';
import type { Services } from '../services.js';
import type { ApiRole } from '../auth/api-keys.js';
import { actorOf, permit, principalOf } from './api-auth.js';
import { E164Schema } from '../practices/settings.js';
import { ConsentInput, DisclosureInput, VendorBaaInput } from '../consent/consent.js';
import {
  consentHistory,
  countOptOuts,
  isOptedOut,
  listDisclosures,
  listVendorBaas,
  recordConsent,
  recordDisclosure,
  recordOptOut,
  recordVendorBaa,
} from '../consent/store.js';
import { currentState } from '../consent/consent.js';
import { isPersonalPlaceholder, TEMPLATE_PLACEHOLDERS } from '../drops/types.js';
import { MESSAGE_TYPES } from '../outreach/matrix.js';
import { createPracticeTemplate, listPracticeTemplates } from '../drops/templates-store.js';
import { smsWorstCase, validateTemplate } from '../drops/templates.js';
import { MAX_SMS_SEGMENTS, smsLength } from '../outreach/sms-text.js';
import {
  addRecipients,
  CAMPAIGN_COMMANDS,
  campaignProgress,
  commandCampaign,
  createCampaign,
  dryRun,
  listCampaigns,
  parseRecipientRows,
  personalFieldMessage,
  type CampaignCommand,
  type RecipientInput,
  type Refusal,
} from '../drops/campaigns.js';
import { campaignOf, listDrops } from '../drops/campaign-store.js';
import { handleVendorWebhook, type VendorWebhookResult } from '../drops/drop-service.js';
import { RVM_SIGNATURE_HEADER } from '../drops/providers/http-provider.js';
import { badRequest, zodProblems } from './responses.js';

/**
 * Admin API of the ringless-voicemail domain: consent and its
 * disclosures, opt-outs, vendor BAAs, templates and campaigns. Every route is scoped to the
 * key's own practice: it reaches the practice's rows only through the `PracticeScope` its permit
 * check returns (row-level security holds that scope to the practice).
 */

const Uuid = z.string().uuid();
const WRITE: readonly ApiRole[] = ['admin', 'staff'];
const READ: readonly ApiRole[] = ['admin', 'staff', 'auditor'];

/** A domain refusal as HTTP: invalid → 400, not_found → 404, conflict → 409. */
const REFUSAL_STATUS = { invalid: 400, not_found: 404, conflict: 409 } as const satisfies Record<Refusal, number>;
const REFUSAL_ERROR = { invalid: 'bad_request', not_found: 'not_found', conflict: 'conflict' } as const satisfies Record<Refusal, string>;

/** A domain refusal as the API answers it. */
export function refusalAnswer(r: { reason: Refusal; message: string }): { status: number; body: { error: string; message: string } } {
  return { status: REFUSAL_STATUS[r.reason], body: { error: REFUSAL_ERROR[r.reason], message: r.message } };
}

function fail(res: express.Response, r: { reason: Refusal; message: string }): void {
  const answer = refusalAnswer(r);
  res.status(answer.status).json(answer.body);
}

export const TemplateInput = z.strictObject({
  name: z.string().trim().min(1).max(120),
  purpose: z.enum(['appointment_reminder', 'callback_request', 'office_closure', 'recall', 'billing_callback']),
  /** Its row of the communication matrix; the purpose's own when absent (see PURPOSE_MESSAGE_TYPES). */
  messageType: z.enum(MESSAGE_TYPES).exclude(['staff_page']).optional(),
  text: z.string().trim().min(1).max(2000),
  /** Spoken (ringless voicemail) or written (SMS); rvm when absent. */
  channel: z.enum(['rvm', 'sms']).default('rvm'),
});

export const CampaignInputSchema = z.strictObject({
  name: z.string().trim().min(1).max(120),
  templateId: z.string().min(1).max(80),
  // Campaign-wide values only: the personal placeholders ({appointment_day}…) are each recipient's own.
  templateParams: z
    .partialRecord(z.enum(TEMPLATE_PLACEHOLDERS), z.string().max(120))
    .superRefine((params, ctx) => {
      for (const name of Object.keys(params).filter(isPersonalPlaceholder)) {
        ctx.addIssue({ code: 'custom', path: [name], message: personalFieldMessage(name).replace(/^templateParams\.[a-z_]+: /, '') });
      }
    })
    .default({}),
  provider: z.enum(['rvm_http', 'twilio']),
  /** Ringless voicemail (drops) or SMS (provider twilio, through the practice's Messaging Service); rvm when absent. */
  channel: z.enum(['rvm', 'sms']).default('rvm'),
  humanAnswer: z.enum(['message', 'hangup']).default('message'),
  ratePerMinute: z.number().int().min(1).max(600).default(30),
  audioFile: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,80}[.](wav|mp3)$/, { message: 'expected a file name in audio/ such as recall-demo.wav' }).optional(),
  patientIds: z.array(z.string().max(64)).max(200_000).optional(),
});

/** What the PHI check reads: the purpose decides which placeholders are allowed. */
export const TemplateCheckInput = TemplateInput.pick({ purpose: true, text: true, channel: true });

/** A phone number in a body (never a URL): patient lookup, opt-out and opt-out check. */
export const PhoneBody = z.strictObject({ phone: E164Schema });

export const DropsQuery = z.object({
  status: z.enum(['pending', 'queued', 'sent', 'delivered', 'failed', 'skipped', 'cancelled']).optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(500),
  offset: z.coerce.number().int().min(0).default(0),
});

/** JSON recipients (the route also takes text/csv with a patient_id column). */
export const RecipientsBody = z.strictObject({ patientIds: z.array(z.string().max(64)).min(1).max(200_000) });

/** An SMS template's length as the console shows it: its own text, and at its worst (placeholders at their longest, with the opt-out sentence). */
function smsCheck(text: string): { encoding: string; segments: number; units: number; worstCase: { encoding: string; segments: number }; maxSegments: number } {
  const own = smsLength(text);
  const worst = smsWorstCase(text);
  return { encoding: own.encoding, segments: own.segments, units: own.units, worstCase: { encoding: worst.encoding, segments: worst.segments }, maxSegments: MAX_SMS_SEGMENTS };
}

export function rvmRouter(services: Services): express.Router {
  const router = express.Router();

  // --- Consent ----------------------------------------------------------------
  router.get('/consent-disclosures', async (req, res) => {
    const scope = await permit(services, req, res, READ, principalOf(res).practiceId);
    if (!scope) return;
    res.json({ disclosures: await listDisclosures(scope) });
  });

  router.post('/consent-disclosures', async (req, res) => {
    const scope = await permit(services, req, res, ['admin'], principalOf(res).practiceId);
    if (!scope) return;
    const body = DisclosureInput.safeParse(req.body);
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const r = await recordDisclosure(scope, services.audit, body.data, actorOf(res));
    if (!r.ok) return fail(res, r);
    res.status(201).json(r.value);
  });

  router.get('/patients/:patientId/consents', async (req, res) => {
    const id = Uuid.safeParse(req.params.patientId);
    if (!id.success) return badRequest(res, 'patientId must be a UUID');
    const scope = await permit(services, req, res, READ, principalOf(res).practiceId, id.data);
    if (!scope) return;
    const history = await consentHistory(scope, id.data);
    if (!history) return void res.status(404).json({ error: 'not_found' });
    res.json({ patientId: id.data, current: currentState(history), history });
  });

  router.post('/patients/:patientId/consents', async (req, res) => {
    const id = Uuid.safeParse(req.params.patientId);
    if (!id.success) return badRequest(res, 'patientId must be a UUID');
    const scope = await permit(services, req, res, WRITE, principalOf(res).practiceId, id.data);
    if (!scope) return;
    const body = ConsentInput.safeParse(req.body);
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const r = await recordConsent(scope, services.audit, { patientId: id.data, consent: body.data, recordedBy: actorOf(res) });
    if (!r.ok) return fail(res, r);
    res.status(201).json(r.value);
  });

  // --- Opt-outs (numbers in bodies, never in URLs) -----------------------------
  router.post('/opt-outs', async (req, res) => {
    const scope = await permit(services, req, res, WRITE, principalOf(res).practiceId);
    if (!scope) return;
    const body = PhoneBody.safeParse(req.body);
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const source = principalOf(res).role === 'staff' ? 'staff' : 'api';
    const result = await recordOptOut(services, scope, { phone: body.data.phone, source, recordedBy: actorOf(res) });
    res.status(result === 'recorded' ? 201 : 200).json({ result });
  });

  router.post('/opt-outs/check', async (req, res) => {
    const scope = await permit(services, req, res, READ, principalOf(res).practiceId);
    if (!scope) return;
    const body = PhoneBody.safeParse(req.body);
    if (!body.success) return badRequest(res, zodProblems(body.error));
    res.json({ optedOut: await isOptedOut(scope, services.keyring, body.data.phone) });
  });

  router.get('/opt-outs', async (req, res) => {
    const scope = await permit(services, req, res, READ, principalOf(res).practiceId);
    if (!scope) return;
    res.json({ bySource: await countOptOuts(scope) });
  });

  // --- Vendor BAAs ---------------------------------------------------------------
  router.get('/vendor-baas', async (req, res) => {
    const scope = await permit(services, req, res, READ, principalOf(res).practiceId);
    if (!scope) return;
    res.json({ baas: await listVendorBaas(scope) });
  });

  router.post('/vendor-baas', async (req, res) => {
    const scope = await permit(services, req, res, ['admin'], principalOf(res).practiceId);
    if (!scope) return;
    const body = VendorBaaInput.safeParse(req.body);
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const r = await recordVendorBaa(scope, services.audit, body.data, actorOf(res));
    if (!r.ok) return fail(res, r);
    res.status(201).json(r.value);
  });

  // --- Templates -----------------------------------------------------------------
  router.get('/drop-templates', async (req, res) => {
    const scope = await permit(services, req, res, READ, principalOf(res).practiceId);
    if (!scope) return;
    res.json({ templates: await listPracticeTemplates(scope) });
  });

  router.post('/drop-templates', async (req, res) => {
    const scope = await permit(services, req, res, ['admin'], principalOf(res).practiceId);
    if (!scope) return;
    const body = TemplateInput.safeParse(req.body);
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const r = await createPracticeTemplate(scope, services.audit, { ...body.data, createdBy: actorOf(res) });
    if (!r.ok && 'refused' in r) {
      return void res.status(409).json({ error: 'matrix_refused', message: `communication matrix: ${r.refused.message}`, cell: r.refused.cell, matrixVersion: r.refused.matrixVersion });
    }
    if (!r.ok) {
      return void res.status(400).json({
        error: 'template_rejected',
        message: `the template failed the check: ${r.problems.map((p) => `${p.kind} "${p.term}"`).join(', ')}`,
        problems: r.problems,
      });
    }
    res.status(201).json(r.value);
  });

  // The check alone, nothing stored: the console shows its verdict while the text is typed.
  router.post('/drop-templates/check', async (req, res) => {
    const scope = await permit(services, req, res, ['admin'], principalOf(res).practiceId);
    if (!scope) return;
    const body = TemplateCheckInput.safeParse(req.body);
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const problems = validateTemplate(body.data);
    res.json({ ok: problems.length === 0, problems, ...(body.data.channel === 'sms' ? { sms: smsCheck(body.data.text) } : {}) });
  });

  // --- Campaigns -----------------------------------------------------------------
  router.get('/campaigns', async (req, res) => {
    const scope = await permit(services, req, res, READ, principalOf(res).practiceId);
    if (!scope) return;
    res.json({ campaigns: await listCampaigns(scope) });
  });

  router.post('/campaigns', async (req, res) => {
    const scope = await permit(services, req, res, ['admin'], principalOf(res).practiceId);
    if (!scope) return;
    const body = CampaignInputSchema.safeParse(req.body);
    if (!body.success) return badRequest(res, zodProblems(body.error));
    const { patientIds, ...input } = body.data;
    const created = await createCampaign(services, scope, { ...input, createdBy: actorOf(res) });
    if (!created.ok) return fail(res, created);
    const recipients = patientIds ? await addRecipients(services, scope, created.value.id, patientIds.map((patientId) => ({ patientId })), actorOf(res)) : null;
    res.status(201).json({ ...created.value, ...(recipients?.ok ? { recipients: recipients.value } : {}) });
  });

  router.get('/campaigns/:campaignId', async (req, res) => {
    const id = Uuid.safeParse(req.params.campaignId);
    if (!id.success) return badRequest(res, 'campaignId must be a UUID');
    const scope = await permit(services, req, res, READ, principalOf(res).practiceId, id.data);
    if (!scope) return;
    const r = await campaignProgress(scope, id.data);
    if (!r.ok) return fail(res, r);
    res.json(r.value);
  });

  router.get('/campaigns/:campaignId/drops', async (req, res) => {
    const id = Uuid.safeParse(req.params.campaignId);
    if (!id.success) return badRequest(res, 'campaignId must be a UUID');
    const q = DropsQuery.safeParse(req.query);
    if (!q.success) return badRequest(res, zodProblems(q.error));
    const scope = await permit(services, req, res, READ, principalOf(res).practiceId, id.data);
    if (!scope) return;
    if (!(await campaignOf(scope, id.data))) return void res.status(404).json({ error: 'not_found' });
    const rows = await listDrops(scope, id.data, q.data);
    res.json({
      drops: rows.map((d) => ({
        id: d.id,
        patientId: d.patient_id,
        status: d.status,
        reason: d.reason,
        provider: d.provider,
        providerRef: d.provider_ref,
        answeredBy: d.answered_by,
        attempts: d.attempts,
        scheduledFor: d.scheduled_for?.toISOString() ?? null,
        sentAt: d.sent_at?.toISOString() ?? null,
        finalAt: d.final_at?.toISOString() ?? null,
      })),
    });
  });

  // Recipients: JSON { patientIds: [...] } or a CSV body (text/csv) with a patient_id column (and optionally appointment_id).
  router.post('/campaigns/:campaignId/recipients', express.text({ type: ['text/csv', 'text/plain'], limit: '16mb' }), async (req, res) => {
    const id = Uuid.safeParse(req.params.campaignId);
    if (!id.success) return badRequest(res, 'campaignId must be a UUID');
    const scope = await permit(services, req, res, ['admin'], principalOf(res).practiceId, id.data);
    if (!scope) return;
    let recipients: RecipientInput[];
    if (typeof req.body === 'string') {
      const parsed = parseRecipientRows(req.body);
      if (!parsed.ok) return fail(res, parsed);
      recipients = parsed.value;
    } else {
      const body = RecipientsBody.safeParse(req.body);
      if (!body.success) return badRequest(res, `${zodProblems(body.error)} (or send text/csv with a patient_id column)`);
      recipients = body.data.patientIds.map((patientId) => ({ patientId }));
    }
    const r = await addRecipients(services, scope, id.data, recipients, actorOf(res));
    if (!r.ok) return fail(res, r);
    const summary: Record<string, number> = {};
    for (const row of r.value.rows) summary[row.result] = (summary[row.result] ?? 0) + 1;
    res.json({ added: r.value.added, summary, rows: r.value.rows.filter((row) => row.result !== 'added') });
  });

  router.post('/campaigns/:campaignId/dry-run', async (req, res) => {
    const id = Uuid.safeParse(req.params.campaignId);
    if (!id.success) return badRequest(res, 'campaignId must be a UUID');
    const scope = await permit(services, req, res, ['admin', 'staff'], principalOf(res).practiceId, id.data);
    if (!scope) return;
    const r = await dryRun(services, scope, id.data);
    if (!r.ok) return fail(res, r);
    res.json(r.value);
  });

  router.post('/campaigns/:campaignId/:command', async (req, res) => {
    const id = Uuid.safeParse(req.params.campaignId);
    const command = z.enum(CAMPAIGN_COMMANDS as [CampaignCommand, ...CampaignCommand[]]).safeParse(req.params.command);
    if (!id.success) return badRequest(res, 'campaignId must be a UUID');
    if (!command.success) return void res.status(404).json({ error: 'not_found', message: `commands: ${CAMPAIGN_COMMANDS.join(', ')}` });
    const scope = await permit(services, req, res, ['admin'], principalOf(res).practiceId, id.data);
    if (!scope) return;
    const r = await commandCampaign(services, scope, id.data, command.data, actorOf(res));
    if (!r.ok) return fail(res, r);
    res.json(r.value);
  });

  return router;
}

/** A vendor webhook's outcome as HTTP: 503 unconfigured, 401 bad signature, 400 malformed, 404 unknown drop, else 200. */
export function vendorWebhookAnswer(r: VendorWebhookResult): { status: number; body: Record<string, string> } {
  switch (r.result) {
    case 'not_configured':
      return { status: 503, body: { error: 'not_configured' } };
    case 'unauthorized':
      return { status: 401, body: { error: 'unauthorized' } };
    case 'malformed':
      return { status: 400, body: { error: 'bad_request', message: r.message } };
    case 'unknown_drop':
      return { status: 404, body: { error: 'not_found' } };
    case 'recorded':
    case 'already_final':
      return { status: 200, body: { result: r.result } };
    default:
      return r satisfies never;
  }
}

/**
 * The ringless-voicemail vendor's status webhook (`POST /rvm/webhook`). Not a Twilio route: the
 * vendor signs the raw body with the shared secret (X-RVM-Signature), checked before parsing.
 */
export function rvmWebhookRouter(services: Services): express.Router {
  const router = express.Router();
  router.post('/rvm/webhook', express.text({ type: () => true, limit: '64kb' }), async (req, res) => {
    const raw = typeof req.body === 'string' ? req.body : '';
    const result = await handleVendorWebhook(services, raw, req.get(RVM_SIGNATURE_HEADER));
    const answer = vendorWebhookAnswer(result);
    res.status(answer.status).json(answer.body);
  });
  return router;
}
