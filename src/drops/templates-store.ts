import type { PracticeScope } from '../tenancy/scope.js';
import type { AuditWriter } from '../audit/store.js';
import { AuditAction } from '../audit/events.js';
import { currentMatrix } from '../outreach/matrix-store.js';
import { decideSend } from '../outreach/matrix.js';
import { getTemplate, listTemplates, PURPOSE_MESSAGE_TYPES, templateDetail, validateTemplate } from './templates.js';
import type { DropTemplate, TemplateChannel, TemplateMessageType, TemplatePurpose } from './types.js';

/**
 * Templates a campaign may use: the built-in library (./templates.ts, by id) and a practice's own
 * templates (by UUID), which pass the same PHI check, and the practice's communication matrix
 * (their message type × rvm), before they are stored.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface TemplateSummary {
  id: string;
  name: string;
  purpose: TemplatePurpose;
  messageType: TemplateMessageType;
  text: string;
  builtIn: boolean;
  healthcareExempt: boolean;
  /** Spoken (rvm) or written (sms). */
  channel: TemplateChannel;
}

/** Billing is not among the healthcare exemption's purposes (47 CFR 64.1200(a)(9)(iv)). */
export function isHealthcareExempt(purpose: TemplatePurpose): boolean {
  return purpose !== 'billing_callback';
}

export async function resolveTemplate(scope: PracticeScope, templateId: string): Promise<DropTemplate | null> {
  const builtIn = getTemplate(templateId);
  if (builtIn) return builtIn;
  if (!UUID.test(templateId)) return null;
  const row = await scope.db.selectFrom('drop_templates').selectAll().where('id', '=', templateId).where('practice_id', '=', scope.practiceId).executeTakeFirst();
  return row ? { id: row.id, purpose: row.purpose, messageType: row.message_type, text: row.text, healthcareExempt: isHealthcareExempt(row.purpose), channel: row.channel } : null;
}

export async function listPracticeTemplates(scope: PracticeScope): Promise<TemplateSummary[]> {
  const own = await scope.db.selectFrom('drop_templates').selectAll().where('practice_id', '=', scope.practiceId).orderBy('created_at').execute();
  return [
    ...listTemplates().map((t) => ({ id: t.id, name: t.id, purpose: t.purpose, messageType: t.messageType, text: t.text, builtIn: true, healthcareExempt: t.healthcareExempt, channel: t.channel ?? 'rvm' })),
    ...own.map((t) => ({ id: t.id, name: t.name, purpose: t.purpose, messageType: t.message_type, text: t.text, builtIn: false, healthcareExempt: isHealthcareExempt(t.purpose), channel: t.channel })),
  ];
}

export type CreateTemplateResult =
  | { ok: true; value: TemplateSummary }
  | { ok: false; problems: ReturnType<typeof validateTemplate> }
  | { ok: false; refused: { cell: string; message: string; matrixVersion: number } };

/**
 * Stores a practice's template, or says which words or placeholders failed the check, or which
 * cell of the practice's communication matrix refuses its message type × rvm with its detail.
 * `messageType` defaults to the purpose's own.
 */
export async function createPracticeTemplate(
  scope: PracticeScope,
  audit: AuditWriter,
  input: { name: string; purpose: TemplatePurpose; messageType?: TemplateMessageType | undefined; text: string; createdBy: string; channel?: TemplateChannel | undefined },
): Promise<CreateTemplateResult> {
  const messageType = input.messageType ?? input.purpose;
  const channel = input.channel ?? 'rvm';
  const problems = validateTemplate({ purpose: input.purpose, text: input.text, channel });
  if (!PURPOSE_MESSAGE_TYPES[input.purpose].includes(messageType)) {
    problems.push({ kind: 'invalid_message_type', term: messageType, category: input.purpose, reason: `a ${input.purpose} template is sent as ${PURPOSE_MESSAGE_TYPES[input.purpose].join(' or ')}` });
  }
  if (problems.length > 0) return { ok: false, problems };
  const matrix = await currentMatrix(scope);
  const verdict = decideSend(matrix.matrix, messageType, channel, templateDetail(input.text));
  if (!verdict.ok) return { ok: false, refused: { cell: verdict.cell, message: verdict.message, matrixVersion: matrix.version } };
  const row = await scope.db
    .insertInto('drop_templates')
    .values({ practice_id: scope.practiceId, name: input.name, purpose: input.purpose, message_type: messageType, text: input.text, created_by: input.createdBy, channel })
    .returningAll()
    .executeTakeFirstOrThrow();
  await audit({
    action: AuditAction.DropTemplateCreated,
    actor: input.createdBy,
    practiceId: scope.practiceId,
    subjectId: row.id,
    details: { channel: row.channel, purpose: row.purpose, messageType: row.message_type, length: row.text.length, matrixCell: verdict.allowed.cell, matrixVersion: matrix.version },
  });
  return { ok: true, value: { id: row.id, name: row.name, purpose: row.purpose, messageType: row.message_type, text: row.text, builtIn: false, healthcareExempt: isHealthcareExempt(row.purpose), channel: row.channel } };
}
