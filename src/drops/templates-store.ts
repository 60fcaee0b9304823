import type { PracticeScope } from '../tenancy/scope.js';
import type { AuditWriter } from '../audit/store.js';
import { AuditAction } from '../audit/events.js';
import { getTemplate, listTemplates, validateTemplate } from './templates.js';
import type { DropTemplate, TemplatePurpose } from './types.js';

/**
 * Templates a campaign may use: the built-in library (./templates.ts, by id) and a practice's own
 * templates (by UUID), which pass the same PHI check before they are stored.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface TemplateSummary {
  id: string;
  name: string;
  purpose: TemplatePurpose;
  text: string;
  builtIn: boolean;
  healthcareExempt: boolean;
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
  return row ? { id: row.id, purpose: row.purpose, text: row.text, healthcareExempt: isHealthcareExempt(row.purpose) } : null;
}

export async function listPracticeTemplates(scope: PracticeScope): Promise<TemplateSummary[]> {
  const own = await scope.db.selectFrom('drop_templates').selectAll().where('practice_id', '=', scope.practiceId).orderBy('created_at').execute();
  return [
    ...listTemplates().map((t) => ({ id: t.id, name: t.id, purpose: t.purpose, text: t.text, builtIn: true, healthcareExempt: t.healthcareExempt })),
    ...own.map((t) => ({ id: t.id, name: t.name, purpose: t.purpose, text: t.text, builtIn: false, healthcareExempt: isHealthcareExempt(t.purpose) })),
  ];
}

/** Stores a practice's template, or says which words or placeholders failed the check. */
export async function createPracticeTemplate(
  scope: PracticeScope,
  audit: AuditWriter,
  input: { name: string; purpose: TemplatePurpose; text: string; createdBy: string },
): Promise<{ ok: true; value: TemplateSummary } | { ok: false; problems: ReturnType<typeof validateTemplate> }> {
  const problems = validateTemplate({ purpose: input.purpose, text: input.text });
  if (problems.length > 0) return { ok: false, problems };
  const row = await scope.db
    .insertInto('drop_templates')
    .values({ practice_id: scope.practiceId, name: input.name, purpose: input.purpose, text: input.text, created_by: input.createdBy })
    .returningAll()
    .executeTakeFirstOrThrow();
  await audit({ action: AuditAction.DropTemplateCreated, actor: input.createdBy, practiceId: scope.practiceId, subjectId: row.id, details: { purpose: row.purpose, length: row.text.length } });
  return { ok: true, value: { id: row.id, name: row.name, purpose: row.purpose, text: row.text, builtIn: false, healthcareExempt: isHealthcareExempt(row.purpose) } };
}
