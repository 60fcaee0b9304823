import type { AppContext } from '../app-context.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { AuditAction } from '../audit/events.js';
import { currentConsents } from './store.js';

/**
 * E-mail opt-outs: per practice and address, by the address's blind index (as `opt_outs` is for
 * numbers). Recorded by the unsubscribe link of a notice (its page or its one-click POST) or by
 * staff and API keys (`POST /api/email-opt-outs`); an address opted out is never sent a notice by
 * that practice again, whatever its consent says later. Nothing removes one (migration 0033
 * denies the tenant role UPDATE and DELETE). Never the address in a log or an audit row.
 */

export const EMAIL_OPT_OUT_SOURCES = ['unsubscribe_link', 'staff', 'api'] as const;
export type EmailOptOutSource = (typeof EMAIL_OPT_OUT_SOURCES)[number];

/**
 * Records the opt-out (idempotent) and appends a revocation of the `email` consent of every
 * patient of the practice with that address that had a grant, so their history shows it too.
 * Audited with counts only.
 */
export async function recordEmailOptOut(
  deps: Pick<AppContext, 'audit'>,
  scope: PracticeScope,
  input: { emailIndex: string; source: EmailOptOutSource; recordedBy: string },
): Promise<'recorded' | 'already'> {
  const { db, practiceId } = scope;
  const inserted = await db
    .insertInto('email_opt_outs')
    .values({ practice_id: practiceId, email_index: input.emailIndex, source: input.source, recorded_by: input.recordedBy })
    .onConflict((oc) => oc.columns(['practice_id', 'email_index']).doNothing())
    .returning('created_at')
    .executeTakeFirst();
  const patients = await db.selectFrom('patients').select('id').where('practice_id', '=', practiceId).where('email_index', '=', input.emailIndex).execute();
  const states = await currentConsents(scope, patients.map((p) => p.id), 'email');
  const revocations = [...states]
    .filter(([, s]) => s.state === 'granted')
    .map(([patientId]) => ({
      practice_id: practiceId,
      patient_id: patientId,
      channel: 'email' as const,
      action: 'revoked' as const,
      source: input.source === 'staff' ? ('staff' as const) : ('api' as const),
      disclosure_version: null,
      recorded_by: input.recordedBy,
      evidence_ref: input.source === 'unsubscribe_link' ? 'email-unsubscribe-link' : null,
    }));
  if (revocations.length > 0) await db.insertInto('consents').values(revocations).execute();
  await deps.audit({
    action: AuditAction.EmailOptOutRecorded,
    actor: input.recordedBy,
    practiceId,
    details: { source: input.source, result: inserted ? 'recorded' : 'already', patients: patients.length, consentsRevoked: revocations.length },
  });
  return inserted ? 'recorded' : 'already';
}

export async function isEmailOptedOut(scope: PracticeScope, emailIndex: string): Promise<boolean> {
  const row = await scope.db.selectFrom('email_opt_outs').select('email_index').where('practice_id', '=', scope.practiceId).where('email_index', '=', emailIndex).executeTakeFirst();
  return row !== undefined;
}
