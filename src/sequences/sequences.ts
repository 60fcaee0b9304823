import type { AppContext } from '../app-context.js';
import { inTransaction } from '../adapters/postgres.js';
import type { AuditWriter } from '../audit/store.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { AuditAction } from '../audit/events.js';
import { csvCell } from '../audit/store.js';
import type { SequenceChannel, SequenceCondition, SequenceState } from '../adapters/db-schema.js';
import { currentMatrix } from '../outreach/matrix-store.js';
import { cellName, decideSend } from '../outreach/matrix.js';
import { EMAIL_MESSAGE_TYPES, type EmailMessageType } from '../outreach/email-templates.js';
import { createCampaign, parseRecipientRows, type Result } from '../drops/campaigns.js';
import { knownPatientIds, transitionCampaign } from '../drops/campaign-store.js';
import type { DropVendor } from '../adapters/db-schema.js';
import { dueAt } from './conditions.js';
import { hasRecipients, insertDraftRecipients, insertSequence, sequenceOf, sequencePaths, startSequence, stepsOf, stopAll, transitionSequence } from './store.js';

/**
 * Sequences (issue 15, items 5 and 6): ordered steps over recipients, each step a channel, a
 * template, a wait after the previous step and a condition (./conditions.ts, pure). An sms or
 * rvm step owns a campaign of that channel (created with the sequence, so the matrix, the
 * template's PHI check, the BAA and the Messaging Service are checked then); a due recipient
 * becomes a drop of it, planned and sent by the campaign machinery unchanged (consent, opt-out,
 * calling hours, caps, matrix at send, audit; the dispatcher queues it). An e-mail step calls
 * `sendEmailNotice` and records a ledger row: the sweep, ./sweep.ts.
 */

export type SequenceDeps = Pick<AppContext, 'audit' | 'clock' | 'config' | 'queues' | 'db' | 'keyring'>;

export interface StepInput {
  channel: SequenceChannel;
  templateId: string;
  waitHours: number;
  condition: SequenceCondition;
}

export interface SequenceInput {
  name: string;
  messageType: EmailMessageType;
  steps: StepInput[];
  /** The ringless-voicemail vendor of rvm steps (SMS goes through Twilio). */
  rvmProvider?: DropVendor;
  ratePerMinute?: number;
  createdBy: string;
}

export const sequenceOrigin = (sequenceId: string, position: number): string => `sequence:${sequenceId}:${position}`;

/** Creates a sequence: the matrix asked for each step's `<type> × <channel>` cell (a refusal names it); an sms or rvm step's campaign created in draft. */
export async function createSequence(services: SequenceDeps, scope: PracticeScope, input: SequenceInput): Promise<Result<{ id: string; cells: string[] }>> {
  if (input.steps.length === 0) return { ok: false, reason: 'invalid', message: 'steps: at least one step' };
  if (!EMAIL_MESSAGE_TYPES.includes(input.messageType)) return { ok: false, reason: 'invalid', message: 'messageType: not a patient message type' };
  const matrix = await currentMatrix(scope);
  const cells: string[] = [];
  for (const [i, step] of input.steps.entries()) {
    const verdict = decideSend(matrix.matrix, input.messageType, step.channel, 'none');
    if (!verdict.ok) return { ok: false, reason: 'conflict', message: `steps.${i}: communication matrix: ${verdict.message}` };
    cells.push(cellName(input.messageType, step.channel));
  }
  // The step campaigns and the sequence stand or fall together (a later step's refusal leaves no campaign behind); their audit rows are written once it stands.
  const held: Array<Parameters<AuditWriter>[0]> = [];
  const deferred = { ...services, audit: async (e: Parameters<AuditWriter>[0]): Promise<void> => void held.push(e) };
  const made = await inTransaction(scope.db, async (trx) => {
    const tx = { ...scope, db: trx } as PracticeScope;
    const r = await createSteps(deferred, tx, input);
    if (!r.ok) throw new StepRefused(r);
    return r.value;
  }).catch((e: unknown) => {
    if (e instanceof StepRefused) return e.refusal;
    throw e;
  });
  if ('ok' in made) return made;
  for (const e of held) await services.audit(e);
  const { id, campaignIds } = made;
  await services.audit({
    action: AuditAction.SequenceCreated,
    actor: input.createdBy,
    practiceId: scope.practiceId,
    subjectId: id,
    details: { messageType: input.messageType, steps: input.steps.map((s, i) => ({ channel: s.channel, templateId: s.templateId, waitHours: s.waitHours, condition: s.condition, campaignId: campaignIds[i] ?? null, matrixCell: cells[i] ?? null })), matrixVersion: matrix.version },
  });
  return { ok: true, value: { id, cells } };
}

/** Refuses a step from inside the transaction, which rolls back what was made before it. */
class StepRefused extends Error {
  constructor(readonly refusal: { ok: false; reason: 'invalid' | 'not_found' | 'conflict'; message: string }) {
    super(refusal.message);
  }
}

/** Each sms or rvm step's campaign, in draft, then the sequence (the caller's transaction holds them together). */
async function createSteps(services: SequenceDeps, scope: PracticeScope, input: SequenceInput): Promise<Result<{ id: string; campaignIds: Array<string | null> }>> {
  const campaignIds: Array<string | null> = [];
  for (const [i, step] of input.steps.entries()) {
    if (step.channel === 'email') {
      campaignIds.push(null);
      continue;
    }
    const made = await createCampaign(services, scope, {
      name: `${input.name.slice(0, 100)} / step ${i + 1}`,
      templateId: step.templateId,
      templateParams: {},
      provider: step.channel === 'sms' ? 'twilio' : (input.rvmProvider ?? 'rvm_http'),
      humanAnswer: 'message',
      ratePerMinute: input.ratePerMinute ?? 60,
      createdBy: input.createdBy,
      channel: step.channel,
    });
    if (!made.ok) return { ok: false, reason: made.reason, message: `steps.${i}: ${made.message}` };
    campaignIds.push(made.value.id);
  }
  const id = await insertSequence(scope, {
    name: input.name,
    messageType: input.messageType,
    createdBy: input.createdBy,
    steps: input.steps.map((s, i) => ({ ...s, campaignId: campaignIds[i] ?? null })),
  });
  return { ok: true, value: { id, campaignIds } };
}

/** An audience from a CSV (`patient_id[,appointment_id]`): unknown patients refused by row count, never echoed. */
export async function addAudienceCsv(services: Pick<AppContext, 'audit'>, scope: PracticeScope, sequenceId: string, csv: string, actor: string): Promise<Result<{ added: number; unknown: number; duplicate: number }>> {
  const sequence = await sequenceOf(scope, sequenceId);
  if (!sequence) return { ok: false, reason: 'not_found', message: 'sequence not found' };
  if (sequence.state !== 'draft') return { ok: false, reason: 'conflict', message: `cannot change the audience of a sequence that is ${sequence.state}` };
  const parsed = parseRecipientRows(csv);
  if (!parsed.ok) return parsed;
  return addAudience(services, scope, sequenceId, parsed.value.flatMap((r) => (r.patientId ? [{ patientId: r.patientId, appointmentId: r.appointmentId, dueAt: null }] : [])), actor);
}

/** Adds recipients known to the practice; each may carry its own first due time (a reminder before its appointment). */
export async function addAudience(
  services: Pick<AppContext, 'audit'>,
  scope: PracticeScope,
  sequenceId: string,
  rows: ReadonlyArray<{ patientId: string; appointmentId: string | null; dueAt: Date | null }>,
  actor: string,
): Promise<Result<{ added: number; unknown: number; duplicate: number }>> {
  const known = await knownPatientIds(scope, rows.map((r) => r.patientId));
  const listed = rows.filter((r) => known.has(r.patientId));
  const inserted = await insertDraftRecipients(scope, sequenceId, listed);
  if (!('added' in inserted)) return inserted.state ? { ok: false, reason: 'conflict', message: `cannot change the audience of a sequence that is ${inserted.state}` } : { ok: false, reason: 'not_found', message: 'sequence not found' };
  const added = inserted.added;
  const counts = { added: added.size, unknown: rows.length - listed.length, duplicate: listed.length - added.size };
  await services.audit({ action: AuditAction.SequenceRecipientsAdded, actor, practiceId: scope.practiceId, subjectId: sequenceId, details: counts });
  return { ok: true, value: counts };
}

export type SequenceCommand = 'start' | 'pause' | 'resume' | 'cancel';
const TRANSITIONS: Record<SequenceCommand, { from: SequenceState[]; to: SequenceState }> = {
  start: { from: ['draft'], to: 'running' },
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  cancel: { from: ['draft', 'running', 'paused'], to: 'cancelled' },
};

export async function commandSequence(services: SequenceDeps, scope: PracticeScope, sequenceId: string, command: SequenceCommand, actor: string): Promise<Result<{ state: SequenceState }>> {
  const sequence = await sequenceOf(scope, sequenceId);
  if (!sequence) return { ok: false, reason: 'not_found', message: 'sequence not found' };
  const t = TRANSITIONS[command];
  if (!t.from.includes(sequence.state)) return { ok: false, reason: 'conflict', message: `cannot ${command} a sequence that is ${sequence.state}` };
  if (command === 'start' && !(await hasRecipients(scope, sequenceId))) return { ok: false, reason: 'conflict', message: `the sequence has no audience: add one first (POST /api/sequences/${sequenceId}/audience)` };
  const now = services.clock();
  const steps = await stepsOf(scope, sequenceId);
  if (command === 'start') {
    // The step campaigns run from now on; they get their drops as recipients come due.
    for (const step of steps) if (step.campaign_id) await transitionCampaign(scope, step.campaign_id, 'draft', 'running', now, true);
  }
  // A start schedules and moves under the sequence's row lock, which an audience add holds while it inserts.
  const moved = command === 'start' ? await startSequence(scope, sequenceId, now, dueAt(now, steps[0]?.wait_hours ?? 0)) : await transitionSequence(scope, sequenceId, sequence.state, t.to, now);
  if (!moved) return { ok: false, reason: 'conflict', message: 'the sequence changed meanwhile; try again' };
  await services.audit({ action: AuditAction.SequenceStateChanged, actor, practiceId: scope.practiceId, subjectId: sequenceId, details: { state: t.to, command } });
  if (command === 'cancel') {
    const stopped = await stopAll(scope, sequenceId, 'cancelled', now);
    await services.audit({ action: AuditAction.SequenceStateChanged, actor, practiceId: scope.practiceId, subjectId: sequenceId, details: { state: t.to, recipientsStopped: stopped } });
  }
  return { ok: true, value: { state: t.to } };
}

export interface StepReport {
  position: number;
  channel: SequenceChannel;
  condition: SequenceCondition;
  campaignId: string | null;
  /** Handed to the channel and accepted (sent or further). */
  sent: number;
  delivered: number;
  replied: number;
  /** Sent this step, and their appointment is now confirmed. */
  confirmed: number;
  /** Stopped at this step because they had opted out. */
  optedOut: number;
  failed: number;
  /** Not sent: the condition, a stop, or the channel's own refusal (no consent, calling hours…), by reason. */
  skipped: number;
  /** Still on their way (planned, queued). */
  pending: number;
  reasons: Record<string, number>;
}

export interface PathStep {
  position: number;
  channel: SequenceChannel;
  status: string;
  reason: string | null;
  at: string | null;
}

export interface SequenceReport {
  sequence: { id: string; name: string; state: SequenceState; messageType: string; createdAt: string; startedAt: string | null };
  recipients: number;
  stopped: Record<string, number>;
  steps: StepReport[];
  /** Per recipient, ids only: the steps they went through (channel, status, when). */
  paths: Array<{ recipientId: string; patientId: string; appointmentId: string | null; stoppedReason: string | null; steps: PathStep[] }>;
}

/** A step run's status as the report reads it: the ledger's (SMS, e-mail), else the drop's, else the run's own. */
function runStatus(row: { outcome: string | null; drop_status: string | null; send_status: string | null }): string {
  return row.send_status ?? row.drop_status ?? row.outcome ?? 'none';
}

const SENT = new Set(['queued', 'sent', 'delivered', 'undelivered']);
const FAILED = new Set(['failed', 'undelivered', 'refused']);
const PENDING = new Set(['pending', 'planned']);

export async function sequenceReport(scope: PracticeScope, sequenceId: string): Promise<Result<SequenceReport>> {
  const sequence = await sequenceOf(scope, sequenceId);
  if (!sequence) return { ok: false, reason: 'not_found', message: 'sequence not found' };
  const [steps, rows] = await Promise.all([stepsOf(scope, sequenceId), sequencePaths(scope, sequenceId)]);
  const reports: StepReport[] = steps.map((s) => ({ position: s.position, channel: s.channel, condition: s.condition, campaignId: s.campaign_id, sent: 0, delivered: 0, replied: 0, confirmed: 0, optedOut: 0, failed: 0, skipped: 0, pending: 0, reasons: {} }));
  const paths = new Map<string, SequenceReport['paths'][number]>();
  const stopped: Record<string, number> = {};
  for (const row of rows) {
    let path = paths.get(row.recipient_id);
    if (!path) {
      path = { recipientId: row.recipient_id, patientId: row.patient_id, appointmentId: row.appointment_id, stoppedReason: row.stopped_reason, steps: [] };
      paths.set(row.recipient_id, path);
      if (row.stopped_reason) stopped[row.stopped_reason] = (stopped[row.stopped_reason] ?? 0) + 1;
    }
    if (row.position === null) continue;
    const report = reports[row.position];
    const step = steps[row.position];
    if (!report || !step) continue;
    const status = runStatus(row);
    const reason = row.outcome === 'skipped' ? row.reason : (row.send_reason ?? row.drop_reason);
    path.steps.push({ position: row.position, channel: step.channel, status: row.outcome === 'skipped' ? 'skipped' : status, reason, at: row.at?.toISOString() ?? null });
    if (row.outcome === 'skipped') {
      report.skipped++;
      if (row.reason === 'opted_out') report.optedOut++;
    } else if (SENT.has(status)) {
      report.sent++;
      if (status === 'delivered') report.delivered++;
      if (row.replied_at) report.replied++;
      if (row.appointment_status === 'confirmed') report.confirmed++;
      if (FAILED.has(status)) report.failed++;
    } else if (FAILED.has(status)) report.failed++;
    else if (PENDING.has(status)) report.pending++;
    else report.skipped++;
    if (reason) report.reasons[`${row.outcome === 'skipped' ? 'skipped' : status}:${reason}`] = (report.reasons[`${row.outcome === 'skipped' ? 'skipped' : status}:${reason}`] ?? 0) + 1;
  }
  return {
    ok: true,
    value: {
      sequence: { id: sequence.id, name: sequence.name, state: sequence.state, messageType: sequence.message_type, createdAt: sequence.created_at.toISOString(), startedAt: sequence.started_at?.toISOString() ?? null },
      recipients: paths.size,
      stopped,
      steps: reports,
      paths: [...paths.values()],
    },
  };
}

const CSV_COLUMNS = ['recipientId', 'patientId', 'appointmentId', 'stoppedReason', 'step', 'channel', 'status', 'reason', 'at'] as const;

/** The report's paths as CSV, one line per recipient and step (the audit export's cell quoting: formulas neutralised). */
export function reportCsv(report: SequenceReport): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const p of report.paths) {
    const steps = p.steps.length > 0 ? p.steps : [null];
    for (const s of steps) {
      lines.push([p.recipientId, p.patientId, p.appointmentId, p.stoppedReason, s?.position ?? '', s?.channel ?? '', s?.status ?? '', s?.reason ?? '', s?.at ?? ''].map(csvCell).join(','));
    }
  }
  return `${lines.join('\n')}\n`;
}
