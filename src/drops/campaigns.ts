import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { CsvError, parse } from 'csv-parse/sync';
import type { AppContext } from '../app-context.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { AuditAction, type AuditEvent } from '../audit/events.js';
import type { DropStatus, DropVendor, OutreachCampaignChannel, OutreachSendStatus } from '../adapters/db-schema.js';
import { getPractice, listPracticeNumbers, type Practice, type PracticeNumber } from '../practices/store.js';
import { currentConsents, hasVendorBaa, optedOutAmong } from '../consent/store.js';
import { personalPlaceholdersIn, renderTemplate, templateDetail } from './templates.js';
import { loadPersonal, personalMiss, recipientParams, type PersonalValues, type Recipient } from '../outreach/personal.js';
import { appointmentsByIds } from '../patients/appointments.js';
import { resolveTemplate } from './templates-store.js';
import { currentMatrix, type CurrentMatrix } from '../outreach/matrix-store.js';
import { decideSend, type Detail, type SendDecision } from '../outreach/matrix.js';
import { assignSendTimes, decideMany, summarise, type Decision, type DryRunReport, type RecipientFacts, type SendChannel } from './eligibility.js';
import { recentSmsOf, sendCountsByOrigin } from '../outreach/sends-store.js';
import { providerConfigured } from './providers/index.js';
import { dispatchDueDrops } from './dispatcher.js';
import { isPersonalPlaceholder, PERSONAL_PLACEHOLDERS, type DropTemplate, type PersonalPlaceholder, type SkipReason, type TemplateMessageType, type TemplatePlaceholder } from './types.js';
import {
  campaignOf, CHUNK, dropCounts, dropTotals, finishWaitingDrops, hasRecipients, hasUnfinishedDrops, insertCampaign, insertDrops, knownPatientIds, listCampaignRows, markCompleted,
  patientContactFacts, PLAN_CHUNK, clearSchedule, queuedSpan, recentDropsOf, replaceSchedule, scheduledCount, transitionCampaign, unscheduleCampaign, waitingDrops,
  waitingRecipientFacts, type PatientContactFacts, type WaitingDrop,
} from './campaign-store.js';

/**
 * Campaigns of ringless-voicemail drops: recipients, a dry run, start / pause / resume / cancel,
 * and the plan: every waiting drop decided (pure, ./eligibility.ts) and given a send time spread
 * over the allowed windows at the campaign's rate, written in the table; what is due within the
 * dispatcher's window gets its BullMQ job at once (ids only), the rest when the dispatcher's sweep
 * finds it due (./dispatcher.ts). The worker (./drop-worker.ts) checks everything again before it
 * sends.
 *
 * Every operation acts for one practice through its `PracticeScope`: the request's (the admin
 * API) or, for the drop worker and the providers' callbacks, a system scope for the practice of
 * the drop in hand.
 *
 * Over 400 lines because a campaign's life (message, recipients, dry run, plan, commands,
 * progress) is one set of rules read together; its queries are in ./campaign-store.ts.
 */

export { dropJobId, type DropJobData } from './dispatcher.js';

const WEEK_MS = 7 * 24 * 3_600_000;
/** The drop callback line: a practice number running this flow gets drops' callbacks and opt-outs. */
export const DROP_CALLBACK_FLOW = 'drop-callback';

/**
 * What a campaign operation can come to. A refusal says why in domain terms (the route maps it to
 * HTTP): `invalid` input, `not_found`, or a `conflict` with the campaign's state or the practice's set-up.
 */
export type Refusal = 'invalid' | 'not_found' | 'conflict';
export type Result<T> = { ok: true; value: T } | { ok: false; reason: Refusal; message: string };

/** What planning a campaign touches: its drops are queued as BullMQ jobs, each step audited, at the injected time. */
export type PlanDeps = Pick<AppContext, 'audit' | 'clock' | 'queues'>;
/** What giving drops a final state touches beside the scope: the audit log and the time. */
export type FinishDeps = Pick<AppContext, 'audit' | 'clock'>;

export interface CampaignInput {
  name: string;
  templateId: string;
  templateParams: Partial<Record<TemplatePlaceholder, string>>;
  provider: DropVendor;
  humanAnswer: 'message' | 'hangup';
  ratePerMinute: number;
  /** A pre-rendered recording in audio/ (`npm run audio:render`); its transcript must be the message. */
  audioFile?: string;
  createdBy: string;
  /** Ringless voicemail (drops, the default) or SMS (through the practice's Twilio Messaging Service). */
  channel?: OutreachCampaignChannel;
}

/** A campaign's origin in the send ledger (src/outreach/sends-store.ts). */
export const campaignOrigin = (campaignId: string): string => `campaign:${campaignId}`;

export const AUDIO_FILE = /^[a-z0-9][a-z0-9._-]{0,80}[.](wav|mp3)$/;

/** The transcript beside a pre-rendered recording: `<file>.txt`. */
export function transcriptPath(audioDir: string, audioFile: string): string {
  return path.join(audioDir, `${audioFile}.txt`);
}

/**
 * A pre-rendered recording may stand in for text-to-speech only if it exists and its transcript
 * is exactly the rendered, PHI-checked message: the recording provably says what was checked.
 */
export async function checkAudioFile(audioDir: string, audioFile: string, text: string): Promise<string | null> {
  if (!AUDIO_FILE.test(audioFile)) return 'audioFile: expected a file name such as recall-demo.wav';
  const found = await stat(path.join(audioDir, audioFile)).catch(() => null);
  if (!found?.isFile()) return `audioFile: no such recording in ${path.basename(audioDir)}/`;
  const transcript = await readFile(transcriptPath(audioDir, audioFile), 'utf8').catch(() => null);
  if (transcript === null) return 'audioFile: the recording has no transcript beside it (<file>.txt, written by npm run audio:render)';
  if (transcript.trim() !== text.trim()) return 'audioFile: the transcript of the recording is not this campaign\u2019s message; render it again';
  return null;
}

/** Said when a campaign's template speaks each recipient's own appointment. */
export const PERSONAL_NOTICE =
  'Each recipient hears their own appointment\u2019s day, time (and location), from the appointment named in the recipient list or else their next booked or confirmed one; a recipient with none is skipped (no_appointment).';

/** Said wherever a campaign chooses Twilio: unlike a ringless drop, it rings the phone. */
export const TWILIO_RINGS_NOTICE =
  'Twilio voicemail drops place a real call: the recipient\u2019s phone rings, and a person who answers hears the message (or a polite hang-up, per humanAnswer).';

/**
 * The number drops come from and ask to be called back on: a practice number running the
 * drop-callback flow, where key 8 opts out (as every message says). Without one, no drops.
 */
export function callbackLine(numbers: readonly PracticeNumber[]): string | null {
  return numbers.find((n) => n.flowId === DROP_CALLBACK_FLOW)?.e164 ?? null;
}

/** A drop's row and detail in the communication matrix: its template's message type and what its words carry. */
export interface MessageKind {
  messageType: TemplateMessageType;
  detail: Detail;
}

/**
 * The practice's communication matrix on a message of this kind by this channel (ringless
 * voicemail unless said), and the matrix version that said so. `read`: how the matrix is read
 * (the drop worker passes the instance's short cache, `matrixFor`; the API paths read it afresh).
 */
export async function matrixVerdict(
  scope: PracticeScope,
  kind: MessageKind,
  channel: SendChannel = 'rvm',
  read: (scope: PracticeScope) => Promise<CurrentMatrix> = currentMatrix,
): Promise<{ decision: SendDecision; version: number }> {
  const matrix = await read(scope);
  return { decision: decideSend(matrix.matrix, kind.messageType, channel, kind.detail), version: matrix.version };
}

const kindOf = (t: DropTemplate): MessageKind => ({ messageType: t.messageType, detail: templateDetail(t.text) });

/** Why one recipient's message cannot speak their own appointment (src/outreach/personal.ts): they are skipped, with this reason. */
export type PersonalSkip = Extract<SkipReason, 'no_appointment' | 'no_location' | 'location_refused'>;
export const PERSONAL_SKIPS: readonly PersonalSkip[] = ['no_appointment', 'no_location', 'location_refused'];
export const isPersonalSkip = (reason: string): reason is PersonalSkip => (PERSONAL_SKIPS as readonly string[]).includes(reason);

export type CampaignMessage =
  | ({ ok: true; text: string; seconds: number; callerId: string; audioUrl?: string; appointmentId: string | null } & MessageKind)
  | { ok: false; reason: 'no_campaign' | 'template_invalid' | 'no_caller_id' | 'audio_mismatch' | PersonalSkip };

/** The rendered, PHI-checked message of a campaign of the scope's practice for one recipient, and the line it comes from. */
export async function campaignMessage(deps: Pick<AppContext, 'config' | 'clock'>, scope: PracticeScope, campaignId: string, recipient: Recipient): Promise<CampaignMessage> {
  const campaign = await campaignOf(scope, campaignId);
  const practice = campaign ? await getPractice(scope) : null;
  if (!campaign || !practice) return { ok: false, reason: 'no_campaign' };
  return messageFor(deps, scope, campaign, practice, recipient);
}

/**
 * `campaignMessage` for a campaign and practice already loaded (the drop worker has both): the
 * template rendered with the practice's values, the campaign's and this recipient's own
 * appointment (when the template speaks of it), as of the injected time.
 */
export async function messageFor(
  services: Pick<AppContext, 'config' | 'clock'>,
  scope: PracticeScope,
  campaign: { template_id: string; template_params: Partial<Record<TemplatePlaceholder, string>>; audio_file: string | null },
  practice: Practice,
  recipient: Recipient,
): Promise<CampaignMessage> {
  const template = await resolveTemplate(scope, campaign.template_id);
  if (!template) return { ok: false, reason: 'template_invalid' };
  const uses = personalPlaceholdersIn(template.text);
  let personal: PersonalValues | undefined;
  let appointmentId: string | null = null;
  if (uses.length > 0) {
    const [found] = await loadPersonal(scope, practice, [recipient], services.clock());
    const miss = found ? personalMiss(uses, found) : 'no_appointment';
    if (miss || !found?.ok) return { ok: false, reason: miss ?? 'no_appointment' };
    personal = found.values;
    appointmentId = found.appointmentId;
  }
  const rendered = await renderWith(scope, practice, template, campaign.template_params, { personal });
  if (!rendered.ok) return { ok: false, reason: rendered.reason };
  const message = { ok: true as const, text: rendered.text, seconds: rendered.seconds, callerId: rendered.callerId, appointmentId, ...rendered.kind };
  if (campaign.audio_file) {
    // Checked again at send time: the file on disk may have changed since the campaign was created.
    if (await checkAudioFile(services.config.audioDir, campaign.audio_file, rendered.text)) return { ok: false, reason: 'audio_mismatch' };
    return { ...message, audioUrl: `${services.config.publicBaseUrl}/audio/${campaign.audio_file}` };
  }
  return message;
}

type Rendered =
  | { ok: true; text: string; seconds: number; callerId: string; kind: MessageKind; personal: PersonalPlaceholder[] }
  | { ok: false; reason: 'template_invalid' | 'no_caller_id'; problems: Array<{ kind: string; term: string }> };

/**
 * The campaign's message without a recipient: its preview and check. The per-recipient
 * placeholders stay in the text as `{appointment_day}`… (listed in `personal`), counted at their
 * longest. `practice` is the scope's own (its name and callback line go into the message).
 */
export async function renderFor(scope: PracticeScope, practice: Practice, templateId: string, params: Partial<Record<TemplatePlaceholder, string>>): Promise<Rendered> {
  const template = await resolveTemplate(scope, templateId);
  if (!template) return { ok: false, reason: 'template_invalid', problems: [{ kind: 'unknown_template', term: templateId }] };
  return renderWith(scope, practice, template, params, 'preview');
}

/** One message: the preview (personal placeholders kept), or a recipient's (their values, if the template uses any). */
async function renderWith(
  scope: PracticeScope,
  practice: Practice,
  template: DropTemplate,
  params: Partial<Record<TemplatePlaceholder, string>>,
  recipient: 'preview' | { personal: PersonalValues | undefined },
): Promise<Rendered> {
  const preview = recipient === 'preview';
  const callerId = callbackLine(await listPracticeNumbers(scope));
  if (!callerId) return { ok: false, reason: 'no_caller_id', problems: [{ kind: 'no_drop_callback_line', term: `a practice number running the ${DROP_CALLBACK_FLOW} flow` }] };
  // The practice's name and callback line are always the practice's own, never the campaign's.
  const values = recipientParams({ name: practice.greetingName, callbackNumber: callerId }, params, preview ? undefined : recipient.personal);
  const rendered = renderTemplate(template, values, { keepPersonal: preview });
  if (!rendered.ok) return { ok: false, reason: 'template_invalid', problems: rendered.problems };
  return { ok: true, text: rendered.text, seconds: rendered.seconds, callerId, kind: kindOf(template), personal: preview ? personalPlaceholdersIn(template.text) : [] };
}

/** Why a campaign may not set these values: the personal placeholders are each recipient's own. Names the first such field. */
export function campaignWideRefusal(params: Readonly<Record<string, unknown>>): string | null {
  const name = Object.keys(params).find(isPersonalPlaceholder);
  return name ? personalFieldMessage(name) : null;
}

/** The message of a refused campaign-wide personal value (the route's zod check says the same). */
export const personalFieldMessage = (name: string): string =>
  `templateParams.${name}: {${name}} is filled in for each recipient from their own appointment, and cannot be set for a whole campaign (personal placeholders: ${PERSONAL_PLACEHOLDERS.join(', ')})`;

export async function createCampaign(
  services: Pick<AppContext, 'audit' | 'config'>,
  scope: PracticeScope,
  input: CampaignInput,
): Promise<Result<{ id: string; text: string; seconds: number; notices: string[] }>> {
  const practice = await getPractice(scope);
  if (!practice) return { ok: false, reason: 'not_found', message: 'practice not found' };
  const channel = input.channel ?? 'rvm';
  if (channel === 'sms') {
    if (input.provider !== 'twilio') return { ok: false, reason: 'invalid', message: 'provider: SMS campaigns go through Twilio (provider "twilio")' };
    if (input.audioFile) return { ok: false, reason: 'invalid', message: 'audioFile: an SMS campaign has no recording' };
    if (!practice.messagingServiceSid) {
      return { ok: false, reason: 'conflict', message: `the practice has no Twilio Messaging Service: set messagingServiceSid (PATCH /api/practices/${practice.id}) before sending patient SMS` };
    }
  }
  const chosen = await resolveTemplate(scope, input.templateId);
  if (chosen && (chosen.channel ?? 'rvm') !== channel) {
    return { ok: false, reason: 'invalid', message: `templateId: a ${chosen.channel === 'sms' ? 'written (SMS)' : 'spoken (ringless voicemail)'} template cannot be sent as ${channel === 'sms' ? 'SMS' : 'ringless voicemail'}` };
  }
  if (!(await hasVendorBaa(scope, input.provider))) {
    return { ok: false, reason: 'conflict', message: `provider: no signed BAA with ${input.provider} is on record for this practice (POST /api/vendor-baas)` };
  }
  if (!providerConfigured(services, input.provider)) {
    return { ok: false, reason: 'conflict', message: `provider: ${input.provider} is not configured on this service (RVM_API_URL, RVM_API_KEY)` };
  }
  const refusedParam = campaignWideRefusal(input.templateParams);
  if (refusedParam) return { ok: false, reason: 'invalid', message: refusedParam };
  const rendered = await renderFor(scope, practice, input.templateId, input.templateParams);
  if (!rendered.ok && rendered.reason === 'no_caller_id') {
    return {
      ok: false,
      reason: 'conflict',
      message: `the practice has no drop callback line: give one of its numbers the ${DROP_CALLBACK_FLOW} flow (PUT /api/practices/${practice.id}/numbers/<number> with {"flowId":"${DROP_CALLBACK_FLOW}"})`,
    };
  }
  if (!rendered.ok) {
    return { ok: false, reason: 'invalid', message: `template: ${rendered.problems.map((p) => `${p.kind} "${p.term}"`).join(', ')}` };
  }
  if (input.audioFile && rendered.personal.length > 0) {
    return { ok: false, reason: 'invalid', message: 'audioFile: a recording says the same words to everyone, and this template speaks each recipient\u2019s own appointment; use text-to-speech' };
  }
  if (input.audioFile) {
    const problem = await checkAudioFile(services.config.audioDir, input.audioFile, rendered.text);
    if (problem) return { ok: false, reason: 'invalid', message: problem };
  }
  const matrix = await matrixVerdict(scope, rendered.kind, channel);
  if (!matrix.decision.ok) return { ok: false, reason: 'conflict', message: `communication matrix: ${matrix.decision.message}` };
  const template = chosen;
  const id = await insertCampaign(scope, { ...input, audioFile: input.audioFile ?? null, channel });
  await services.audit({
    action: AuditAction.CampaignCreated,
    actor: input.createdBy,
    practiceId: scope.practiceId,
    subjectId: id,
    details: { channel, templateId: input.templateId, provider: input.provider, ratePerMinute: input.ratePerMinute, seconds: rendered.seconds, matrixCell: matrix.decision.allowed.cell, matrixVersion: matrix.version },
  });
  const notices = [
    ...(rendered.personal.length > 0 ? [PERSONAL_NOTICE] : []),
    ...(input.provider === 'twilio' && channel === 'rvm' ? [TWILIO_RINGS_NOTICE] : []),
    ...(template && !template.healthcareExempt
      ? [`This purpose is outside the FCC healthcare exemption: only patients with a current ${channel === 'sms' ? 'SMS' : 'ringless-voicemail'} consent receive it (as for every ${channel === 'sms' ? 'patient SMS' : 'drop'}).`]
      : []),
  ];
  return { ok: true, value: { id, text: rendered.text, seconds: rendered.seconds, notices } };
}

export interface RecipientRow {
  row: number;
  patientId: string | null;
  result: 'added' | 'duplicate' | 'unknown_patient' | 'invalid';
  message?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** One recipient as listed: a patient id and, optionally, the appointment the message is about. */
export interface RecipientInput {
  patientId: string | null;
  appointmentId?: string | null;
}

/**
 * Adds recipients by patient id (each optionally with the id of the appointment to remind them
 * of: one of theirs, in this practice), and reports on each row. Only a draft or paused campaign
 * takes new ones.
 */
export async function addRecipients(
  services: Pick<AppContext, 'audit'>,
  scope: PracticeScope,
  campaignId: string,
  recipients: readonly RecipientInput[],
  actor: string,
): Promise<Result<{ rows: RecipientRow[]; added: number }>> {
  const campaign = await campaignOf(scope, campaignId);
  if (!campaign) return { ok: false, reason: 'not_found', message: 'campaign not found' };
  if (campaign.state !== 'draft' && campaign.state !== 'paused') return { ok: false, reason: 'conflict', message: `recipients can be added to a draft or paused campaign; this one is ${campaign.state}` };
  const appointmentOf = new Map<number, string>();
  const report: RecipientRow[] = recipients.map(({ patientId: id, appointmentId }, i) => {
    if (!id || !UUID.test(id)) return { row: i + 1, patientId: id, result: 'invalid', message: 'patient_id must be a UUID' };
    if (appointmentId && !UUID.test(appointmentId)) return { row: i + 1, patientId: id.toLowerCase(), result: 'invalid', message: 'appointment_id must be a UUID' };
    if (appointmentId) appointmentOf.set(i + 1, appointmentId.toLowerCase());
    return { row: i + 1, patientId: id.toLowerCase(), result: 'added' };
  });
  const valid = [...new Set(report.filter((r) => r.result === 'added').map((r) => r.patientId ?? ''))];
  const known = await knownPatientIds(scope, valid);
  const appointmentPatient = new Map<string, string>();
  const namedAppointments = [...new Set(appointmentOf.values())];
  for (let i = 0; i < namedAppointments.length; i += CHUNK) {
    for (const a of await appointmentsByIds(scope, namedAppointments.slice(i, i + CHUNK))) appointmentPatient.set(a.id, a.patientId);
  }
  const seen = new Set<string>();
  const toInsert: Array<{ patientId: string; appointmentId: string | null }> = [];
  for (const r of report) {
    if (r.result !== 'added' || !r.patientId) continue;
    const appointmentId = appointmentOf.get(r.row) ?? null;
    if (!known.has(r.patientId)) Object.assign(r, { result: 'unknown_patient', message: 'no such patient in this practice' });
    else if (appointmentId && appointmentPatient.get(appointmentId) !== r.patientId) Object.assign(r, { result: 'invalid', message: 'appointment_id: no such appointment of this patient' });
    else if (seen.has(r.patientId)) Object.assign(r, { result: 'duplicate', message: 'listed twice' });
    else {
      seen.add(r.patientId);
      toInsert.push({ patientId: r.patientId, appointmentId });
    }
  }
  const inserted = await insertDrops(scope, { id: campaignId, provider: campaign.provider }, toInsert);
  for (const r of report) {
    if (r.result === 'added' && r.patientId && !inserted.has(r.patientId)) Object.assign(r, { result: 'duplicate', message: 'already a recipient' });
  }
  const counts: Record<string, number> = {};
  for (const r of report) counts[r.result] = (counts[r.result] ?? 0) + 1;
  await services.audit({ action: AuditAction.CampaignRecipientsAdded, actor, practiceId: scope.practiceId, subjectId: campaignId, details: { rows: report.length, ...counts } });
  return { ok: true, value: { rows: report, added: inserted.size } };
}

/** `parseRecipientRows`, the patient ids alone. */
export function parseRecipientCsv(csv: string): Result<Array<string | null>> {
  const rows = parseRecipientRows(csv);
  return rows.ok ? { ok: true, value: rows.value.map((r) => r.patientId) } : rows;
}

/**
 * CSV (RFC 4180, read by csv-parse) with a header row naming a `patient_id` column and,
 * optionally, an `appointment_id` column (the appointment to remind each recipient of; empty: their
 * next one, found at send time); other columns are ignored; one recipient a row. Quoted fields may hold commas, quotes (`""`) and line breaks;
 * fields are trimmed; a row with the wrong number of fields is reported invalid (null). A file that
 * cannot be read as CSV (an unclosed quote…) is refused with the error's kind and line, never its text.
 */
export function parseRecipientRows(csv: string): Result<Array<{ patientId: string | null; appointmentId: string | null }>> {
  let records: string[][];
  try {
    // Blank lines at the end are not rows; blank lines inside are (reported invalid).
    records = parse(csv.replace(/(?:\r?\n[ \t]*)+$/, ''), { bom: true, relax_column_count: true, trim: true, skip_empty_lines: false });
  } catch (err) {
    if (!(err instanceof CsvError)) throw err;
    const line = typeof err.lines === 'number' ? ` near line ${err.lines}` : '';
    return { ok: false, reason: 'invalid', message: `csv: could not be read (${err.code})${line}` };
  }
  const header = (records[0] ?? []).map((h) => h.toLowerCase());
  const col = header.indexOf('patient_id');
  if (col === -1) return { ok: false, reason: 'invalid', message: 'csv: the header row must name a patient_id column' };
  if (records.length - 1 > 200_000) return { ok: false, reason: 'invalid', message: 'csv: at most 200,000 rows' };
  const appointmentCol = header.indexOf('appointment_id');
  return {
    ok: true,
    value: records.slice(1).map((fields) =>
      fields.length === header.length ? { patientId: fields[col] || null, appointmentId: appointmentCol === -1 ? null : fields[appointmentCol] || null } : { patientId: null, appointmentId: null },
    ),
  };
}

/** Loads, in bulk, what eligibility needs about each recipient; `practice` is the scope's own. */
export async function loadFacts(scope: PracticeScope, practice: Practice, patientIds: readonly string[], now: Date, channel: SendChannel = 'rvm'): Promise<RecipientFacts[]> {
  const facts: RecipientFacts[] = [];
  const since = weekBefore(now);
  const rowsOf = (ids: readonly string[]) =>
    Promise.all([patientContactFacts(scope, ids), currentConsents(scope, ids, channel), recentDropsOf(scope, ids, since), recentSmsOf(scope, ids, since)]);
  // Pipelined: the next chunk's four queries run while this chunk's opt-outs are read (five connections at most).
  let next: ReturnType<typeof rowsOf> | null = patientIds.length > 0 ? rowsOf(patientIds.slice(0, CHUNK)) : null;
  for (let i = 0; next; i += CHUNK) {
    const [patients, consents, recent, sms] = await next;
    next = i + CHUNK < patientIds.length ? rowsOf(patientIds.slice(i + CHUNK, i + 2 * CHUNK)) : null;
    // Should the opt-outs fail first, the next chunk's failure is not left unhandled (the loop stops at the first).
    next?.catch(() => undefined);
    // One opt-out list per practice and number, for every channel: a STOP stops drops and SMS alike.
    const optedOut = await optedOutAmong(scope, patients.map((p) => p.phone_index));
    const dropsBy = groupTimes(recent.flatMap((r) => (r.sent_at ? [{ patientId: r.patient_id, at: r.sent_at }] : [])));
    const smsBy = groupTimes(sms.map((r) => ({ patientId: r.patient_id, at: r.sent_at })));
    for (const p of patients) {
      const consent = consents.get(p.id);
      facts.push(recipientFacts(practice, p, { consent: consent?.state ?? null, consentId: consent?.consentId ?? null, optedOut: optedOut.has(p.phone_index) }, dropsBy.get(p.id) ?? [], smsBy.get(p.id) ?? []));
    }
  }
  return facts;
}

/** Campaigns with more waiting recipients than this read their facts in one joined statement (`waitingRecipientFacts`). */
export const JOINED_FACTS_ABOVE = 5_000;

/**
 * `loadFacts` for a campaign's waiting drops (as `waitingDrops` read them). A large campaign's are
 * read in one statement keyed by the campaign (src/drops/campaign-store.ts, `waitingRecipientFacts`:
 * the same facts in a third to a half of the time at 100,000); a small one's by id, as everything
 * else reads them. `joinedAbove`: the size above which the joined read is used (tests lower it).
 */
export async function waitingFacts(
  scope: PracticeScope,
  practice: Practice,
  campaignId: string,
  drops: readonly WaitingDrop[],
  now: Date,
  channel: SendChannel,
  joinedAbove = JOINED_FACTS_ABOVE,
): Promise<RecipientFacts[]> {
  if (drops.length <= joinedAbove) return loadFacts(scope, practice, drops.map((d) => d.patient_id), now, channel);
  const rows = await waitingRecipientFacts(scope, campaignId, weekBefore(now), channel);
  return rows.map((r) => recipientFacts(practice, r, { consent: r.consent, consentId: r.consent_id, optedOut: r.opted_out }, r.drops_sent, r.sms_sent));
}

/** The start of the week the caps look back over. */
const weekBefore = (now: Date): Date => new Date(now.getTime() - WEEK_MS);

/** Send times by patient. */
function groupTimes(sends: ReadonlyArray<{ patientId: string; at: Date }>): Map<string, Date[]> {
  const by = new Map<string, Date[]>();
  for (const s of sends) {
    const list = by.get(s.patientId);
    if (list) list.push(s.at);
    else by.set(s.patientId, [s.at]);
  }
  return by;
}

const byTime = (times: Date[]): Date[] => times.sort((a, b) => a.getTime() - b.getTime());

/**
 * One recipient's facts from what either read found (the one place both paths turn rows into
 * facts): the practice's zone when the patient has none; and, across channels, an SMS counts
 * against the shared caps as a drop does.
 */
function recipientFacts(
  practice: Practice,
  p: Omit<PatientContactFacts, 'phone_index'>,
  permission: { consent: 'granted' | 'revoked' | null; consentId: string | null; optedOut: boolean },
  drops: readonly Date[],
  sms: readonly Date[],
): RecipientFacts {
  return {
    patientId: p.id,
    hasPhone: p.has_phone,
    consent: permission.consent ?? 'none',
    consentId: permission.consentId,
    optedOut: permission.optedOut,
    timeZone: p.time_zone ?? practice.timeZone,
    usState: p.us_state,
    recentDrops: byTime([...drops, ...sms]),
    recentSms: byTime([...sms]),
  };
}

/** Pure enough to share: each waiting drop's decision, from bulk-loaded facts; a recipient who may get a message but has no appointment to be told of is excluded. */
function decideAll(
  drops: readonly WaitingDrop[],
  facts: readonly RecipientFacts[],
  now: Date,
  practice: Practice,
  channel: SendChannel,
  personal: ReadonlyMap<string, PersonalSkip>,
): Array<{ drop: WaitingDrop; decision: Decision }> {
  const decided = decideMany(facts, now, practice.holidays, practice.timeZone, channel);
  const byPatient = new Map(facts.map((f, i) => [f.patientId, decided[i]]));
  return drops.map((drop) => {
    const decision: Decision = byPatient.get(drop.patient_id) ?? { kind: 'exclude', reason: 'unknown_patient' };
    const miss = decision.kind === 'exclude' ? undefined : personal.get(drop.id);
    return { drop, decision: miss ? { kind: 'exclude', reason: miss } : decision };
  });
}

/** The waiting drops that cannot speak their recipient's own appointment, by drop id (none when the template does not use one). */
async function personalMisses(scope: PracticeScope, practice: Practice, templateId: string, drops: readonly WaitingDrop[], now: Date): Promise<Map<string, PersonalSkip>> {
  const template = await resolveTemplate(scope, templateId);
  const uses = template ? personalPlaceholdersIn(template.text) : [];
  const misses = new Map<string, PersonalSkip>();
  if (uses.length === 0) return misses;
  const found = await loadPersonal(scope, practice, drops.map((d) => ({ patientId: d.patient_id, appointmentId: d.appointment_id })), now);
  drops.forEach((d, i) => {
    const miss = found[i] ? personalMiss(uses, found[i]) : 'no_appointment';
    if (miss) misses.set(d.id, miss);
  });
  return misses;
}

export async function dryRun(services: Pick<AppContext, 'clock'>, scope: PracticeScope, campaignId: string): Promise<Result<DryRunReport & { notices: string[] }>> {
  const campaign = await campaignOf(scope, campaignId);
  const practice = await getPractice(scope);
  if (!campaign || !practice) return { ok: false, reason: 'not_found', message: 'campaign not found' };
  const drops = await waitingDrops(scope, campaignId);
  const now = services.clock();
  const facts = await waitingFacts(scope, practice, campaign.id, drops, now, campaign.channel);
  const personal = await personalMisses(scope, practice, campaign.template_id, drops, now);
  const report = summarise(decideAll(drops, facts, now, practice, campaign.channel, personal).map((d) => d.decision));
  return { ok: true, value: { ...report, notices: noticesOf(campaign) } };
}

/**
 * Plans a running campaign: decides every waiting drop, skips those that may never get one
 * (recorded, with the reason), and gives the rest send times at the campaign's rate, each no
 * earlier than its recipient's next allowed moment, in the campaign schedule (./dispatcher.ts):
 * one narrow row a drop, the drop itself left pending. What is due within the dispatcher's window
 * is queued at once; the sweep queues the rest as it comes due. Bulk statements throughout
 * (100,000 recipients). Planning again (resume, a sequence adding recipients) replaces the plan.
 */
export async function planCampaign(
  services: PlanDeps,
  scope: PracticeScope,
  campaign: { id: string; rate_per_minute: number; template_id: string; channel: SendChannel },
  practice: Practice,
): Promise<{ queued: number; skipped: number }> {
  const now = services.clock();
  const drops = await waitingDrops(scope, campaign.id);
  const facts = await waitingFacts(scope, practice, campaign.id, drops, now, campaign.channel);
  const personal = await personalMisses(scope, practice, campaign.template_id, drops, now);
  const decisions = decideAll(drops, facts, now, practice, campaign.channel, personal);
  const sendable = decisions.filter((d) => d.decision.kind !== 'exclude');
  const times = assignSendTimes(
    sendable.map((d) => (d.decision.kind === 'defer' ? d.decision.until : now)),
    campaign.rate_per_minute,
  );
  const excluded = decisions.flatMap((d) => (d.decision.kind === 'exclude' ? [{ id: d.drop.id, reason: d.decision.reason }] : []));
  // The skips and the schedule touch different rows: side by side, two connections.
  await settleAll([
    finishMany(services, scope, campaign.id, 'skipped', excluded),
    replaceSchedule(scope, campaign.id, { ids: sendable.map((d) => d.drop.id), at: times, skipping: excluded.map((d) => d.id) }, now),
  ]);
  await dispatchDueDrops({ db: scope.db, queues: services.queues, clock: services.clock }, { campaignId: campaign.id });
  await services.audit({
    action: AuditAction.CampaignStateChanged,
    actor: 'system:rvm',
    practiceId: scope.practiceId,
    subjectId: campaign.id,
    details: { planned: true, queued: sendable.length, skipped: excluded.length, firstAt: times.reduce<Date | null>((a, t) => (a && a <= t ? a : t), null)?.toISOString() ?? null },
  });
  await completeIfDone(services, scope, campaign.id);
  return { queued: sendable.length, skipped: excluded.length };
}

/** Waits for every promise to settle, then rejects with the first failure (none left running behind it). */
async function settleAll(work: ReadonlyArray<Promise<unknown>>): Promise<void> {
  const failure = (await Promise.allSettled(work)).find((r) => r.status === 'rejected');
  if (failure) throw failure.reason;
}

/** Drop ids per `drop.final_batch` audit row: a row stays readable in the console and the export. */
export const FINAL_BATCH_IDS = 1_000;

/**
 * Gives many drops of one campaign the same final status, each with its reason on its own row,
 * and audits them: one `drop.final_batch` event per reason and FINAL_BATCH_IDS drops, naming every
 * drop it covers (the audit chain accounts for each recipient; ids only).
 */
export async function finishMany(
  services: FinishDeps,
  scope: PracticeScope,
  campaignId: string,
  status: Extract<DropStatus, 'skipped' | 'cancelled'>,
  drops: ReadonlyArray<{ id: string; reason: string }>,
): Promise<void> {
  const now = services.clock();
  for (let i = 0; i < drops.length; i += PLAN_CHUNK) {
    const rows = await finishWaitingDrops(scope, status, drops.slice(i, i + PLAN_CHUNK), now);
    const byReason = new Map<string, string[]>();
    for (const r of rows) {
      const ids = byReason.get(r.reason);
      if (ids) ids.push(r.id);
      else byReason.set(r.reason, [r.id]);
    }
    const events: AuditEvent[] = [];
    for (const [reason, ids] of byReason) {
      for (let j = 0; j < ids.length; j += FINAL_BATCH_IDS) {
        const dropIds = ids.slice(j, j + FINAL_BATCH_IDS);
        events.push({ action: AuditAction.DropsFinal, actor: 'system:rvm', practiceId: scope.practiceId, subjectId: campaignId, details: { campaignId, status, reason, count: dropIds.length, dropIds } });
      }
    }
    if (events.length > 0) await services.audit(events);
  }
}

/** A running campaign with nothing left to send or hear about is completed. */
export async function completeIfDone(services: FinishDeps, scope: PracticeScope, campaignId: string): Promise<void> {
  if (await hasUnfinishedDrops(scope, campaignId)) return;
  const completed = await markCompleted(scope, campaignId, services.clock());
  if (completed) await services.audit({ action: AuditAction.CampaignStateChanged, actor: 'system:rvm', practiceId: scope.practiceId, subjectId: campaignId, details: { state: 'completed' } });
}

export type CampaignCommand = 'start' | 'pause' | 'resume' | 'cancel';
export const CAMPAIGN_COMMANDS: readonly CampaignCommand[] = ['start', 'pause', 'resume', 'cancel'];

const TRANSITIONS: Record<CampaignCommand, { from: string[]; to: 'running' | 'paused' | 'cancelled' }> = {
  start: { from: ['draft'], to: 'running' },
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  cancel: { from: ['draft', 'running', 'paused'], to: 'cancelled' },
};

export async function commandCampaign(
  services: PlanDeps,
  scope: PracticeScope,
  campaignId: string,
  command: CampaignCommand,
  actor: string,
): Promise<Result<{ state: string; queued?: number; skipped?: number; notices: string[] }>> {
  const campaign = await campaignOf(scope, campaignId);
  const practice = await getPractice(scope);
  if (!campaign || !practice) return { ok: false, reason: 'not_found', message: 'campaign not found' };
  const t = TRANSITIONS[command];
  if (!t.from.includes(campaign.state)) return { ok: false, reason: 'conflict', message: `cannot ${command} a campaign that is ${campaign.state}` };
  // A campaign whose recipients never arrived (an interrupted create) must not "complete" empty.
  if (command === 'start' && !(await hasRecipients(scope, campaignId))) {
    return { ok: false, reason: 'conflict', message: `the campaign has no recipients: add them first (POST /api/campaigns/${campaignId}/recipients, or npm run campaign -- recipients ${campaignId} --csv <file>)` };
  }
  if ((command === 'start' || command === 'resume') && !(await hasVendorBaa(scope, campaign.provider))) {
    return { ok: false, reason: 'conflict', message: `provider: no signed BAA with ${campaign.provider} is on record for this practice` };
  }
  if (command === 'start' || command === 'resume') {
    // The matrix may have changed since the campaign was created: asked again before any drop is planned.
    const template = await resolveTemplate(scope, campaign.template_id);
    const matrix = template ? await matrixVerdict(scope, kindOf(template), campaign.channel) : null;
    if (matrix && !matrix.decision.ok) return { ok: false, reason: 'conflict', message: `communication matrix: ${matrix.decision.message}` };
  }
  const now = services.clock();
  // Resume starts from nothing planned (pause undid it; again here, should a stop have come between).
  if (command === 'resume') await unscheduleCampaign(scope, campaignId, now);
  if (!(await transitionCampaign(scope, campaignId, campaign.state, t.to, now, command === 'start'))) return { ok: false, reason: 'conflict', message: 'the campaign changed meanwhile; try again' };
  await services.audit({ action: AuditAction.CampaignStateChanged, actor, practiceId: scope.practiceId, subjectId: campaignId, details: { state: t.to, command } });
  const notices = noticesOf(campaign);
  switch (command) {
    case 'cancel': {
      await clearSchedule(scope, campaignId);
      const waiting = await waitingDrops(scope, campaignId);
      await finishMany(services, scope, campaignId, 'cancelled', waiting.map((d) => ({ id: d.id, reason: 'campaign_cancelled' })));
      return { ok: true, value: { state: t.to, notices } };
    }
    case 'pause':
      // Nothing stays planned: queued drops pending again (their jobs stale), the schedule cleared; resume plans afresh.
      await unscheduleCampaign(scope, campaignId, now);
      return { ok: true, value: { state: t.to, notices } };
    case 'start':
    case 'resume': {
      const planned = await planCampaign(services, scope, campaign, practice);
      return { ok: true, value: { state: t.to, ...planned, notices } };
    }
    default:
      return command satisfies never;
  }
}

/** What the console says beside a campaign: a Twilio drop rings the phone. */
function noticesOf(campaign: { provider: DropVendor; channel: OutreachCampaignChannel }): string[] {
  return campaign.provider === 'twilio' && campaign.channel === 'rvm' ? [TWILIO_RINGS_NOTICE] : [];
}

export interface CampaignProgress {
  campaign: {
    id: string;
    name: string;
    state: string;
    channel: OutreachCampaignChannel;
    templateId: string;
    provider: DropVendor;
    humanAnswer: 'message' | 'hangup';
    ratePerMinute: number;
    createdAt: string;
    startedAt: string | null;
  };
  counts: Record<DropStatus, number>;
  reasons: Record<string, number>;
  total: number;
  done: number;
  nextSendAt: string | null;
  lastSendAt: string | null;
  notices: string[];
  /** An SMS campaign: its messages in the send ledger by status (delivered, undelivered, failed…); null for drops. */
  sms: Partial<Record<OutreachSendStatus, number>> | null;
}

const FINAL_STATUSES: readonly DropStatus[] = ['delivered', 'failed', 'skipped', 'cancelled'];

export async function campaignProgress(scope: PracticeScope, campaignId: string): Promise<Result<CampaignProgress>> {
  const campaign = await campaignOf(scope, campaignId);
  if (!campaign) return { ok: false, reason: 'not_found', message: 'campaign not found' };
  const [rows, scheduled, times, sms] = await Promise.all([
    dropCounts(scope, campaignId),
    scheduledCount(scope, campaignId),
    queuedSpan(scope, campaignId),
    campaign.channel === 'sms' ? sendCountsByOrigin(scope, campaignOrigin(campaignId)) : Promise.resolve(null),
  ]);
  const counts: Record<DropStatus, number> = { pending: 0, queued: 0, sent: 0, delivered: 0, failed: 0, skipped: 0, cancelled: 0 };
  const reasons: Record<string, number> = {};
  for (const r of rows) {
    counts[r.status] += Number(r.n);
    if (r.reason) reasons[`${r.status}:${r.reason}`] = (reasons[`${r.status}:${r.reason}`] ?? 0) + Number(r.n);
  }
  // A pending drop with its send time in the schedule is planned to go: counted queued, as before it has its job.
  const planned = Math.min(scheduled, counts.pending);
  counts.pending -= planned;
  counts.queued += planned;
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const iso = (d: unknown): string | null => (d instanceof Date ? d.toISOString() : typeof d === 'string' ? new Date(d).toISOString() : null);
  return {
    ok: true,
    value: {
      campaign: {
        id: campaign.id,
        name: campaign.name,
        state: campaign.state,
        channel: campaign.channel,
        templateId: campaign.template_id,
        provider: campaign.provider,
        humanAnswer: campaign.human_answer,
        ratePerMinute: campaign.rate_per_minute,
        createdAt: campaign.created_at.toISOString(),
        startedAt: campaign.started_at?.toISOString() ?? null,
      },
      counts,
      reasons,
      total,
      done: FINAL_STATUSES.reduce((a, s) => a + counts[s], 0),
      nextSendAt: iso(times?.next),
      lastSendAt: iso(times?.last),
      notices: noticesOf(campaign),
      sms,
    },
  };
}

export interface ListedCampaign {
  id: string;
  name: string;
  state: string;
  provider: DropVendor;
  channel: OutreachCampaignChannel;
  createdAt: string;
  /** Recipients, and those whose drop reached a final status (the console's progress column). */
  total: number;
  done: number;
}

export async function listCampaigns(scope: PracticeScope): Promise<ListedCampaign[]> {
  const rows = await listCampaignRows(scope);
  const totals = await dropTotals(scope, rows.map((r) => r.id));
  return rows.map((r) => ({ id: r.id, name: r.name, state: r.state, provider: r.provider, channel: r.channel, createdAt: r.created_at.toISOString(), ...(totals.get(r.id) ?? { total: 0, done: 0 }) }));
}
