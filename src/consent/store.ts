import { sql, type Selectable, type SelectQueryBuilder } from 'kysely';
import type { AppContext } from '../app-context.js';
import type { PracticeScope } from '../tenancy/scope.js';
import type { ConsentChannel, ConsentsTable, Database, DropVendor } from '../adapters/db-schema.js';
import type { Keyring } from '../adapters/keyring.js';
import { inTransaction } from '../adapters/postgres.js';
import { AuditAction } from '../audit/events.js';
import type { AuditWriter } from '../audit/store.js';
import { phoneIndex } from '../patients/store.js';
import type { ConsentEntry, ConsentInputType, ConsentState, OptOutSource } from './consent.js';

/**
 * Queries of the consent registry, the opt-out list and vendor BAAs. Each takes the practice's
 * `PracticeScope` (a request's, held to the practice by row-level security, or a worker's) and
 * still names the practice in its filter: defence in depth, and the filter uses the index.
 */

/** A refusal says why in domain terms (`invalid` input, `not_found`, a `conflict` with what is recorded); the route maps it to HTTP. */
export type StoreResult<T> = { ok: true; value: T } | { ok: false; reason: 'invalid' | 'not_found' | 'conflict'; message: string };

// ---------------------------------------------------------------------------
// Disclosures
// ---------------------------------------------------------------------------

export interface Disclosure {
  version: string;
  channel: ConsentChannel;
  text: string;
  recordedBy: string;
  createdAt: string;
}

/** Stores a new disclosure version; a version, once stored, never changes. */
export async function recordDisclosure(
  scope: PracticeScope,
  audit: AuditWriter,
  input: { version: string; channel: ConsentChannel; text: string },
  recordedBy: string,
): Promise<StoreResult<Disclosure>> {
  const { db, practiceId } = scope;
  const row = await db
    .insertInto('consent_disclosures')
    .values({ practice_id: practiceId, version: input.version, channel: input.channel, text: input.text, recorded_by: recordedBy })
    .onConflict((oc) => oc.columns(['practice_id', 'version']).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (!row) return { ok: false, reason: 'conflict', message: `version: "${input.version}" is already recorded; a disclosure never changes, add a new version` };
  await audit({ action: AuditAction.ConsentDisclosureRecorded, actor: recordedBy, practiceId, subjectId: input.version, details: { channel: input.channel, length: input.text.length } });
  return { ok: true, value: { version: row.version, channel: row.channel, text: row.text, recordedBy: row.recorded_by, createdAt: row.created_at.toISOString() } };
}

export async function listDisclosures(scope: PracticeScope): Promise<Disclosure[]> {
  const { db, practiceId } = scope;
  const rows = await db.selectFrom('consent_disclosures').selectAll().where('practice_id', '=', practiceId).orderBy('created_at').execute();
  return rows.map((r) => ({ version: r.version, channel: r.channel, text: r.text, recordedBy: r.recorded_by, createdAt: r.created_at.toISOString() }));
}

// ---------------------------------------------------------------------------
// Consent history
// ---------------------------------------------------------------------------

async function patientExists(scope: PracticeScope, patientId: string): Promise<boolean> {
  const row = await scope.db.selectFrom('patients').select('id').where('id', '=', patientId).where('practice_id', '=', scope.practiceId).executeTakeFirst();
  return row !== undefined;
}

/** Appends a grant or a revocation to a patient's history. */
export async function recordConsent(
  scope: PracticeScope,
  audit: AuditWriter,
  input: { patientId: string; consent: ConsentInputType; recordedBy: string },
): Promise<StoreResult<ConsentEntry>> {
  const { db, practiceId } = scope;
  const { patientId, consent } = input;
  if (!(await patientExists(scope, patientId))) return { ok: false, reason: 'not_found', message: 'no such patient in this practice' };
  if (consent.action === 'granted') {
    const disclosure = await db
      .selectFrom('consent_disclosures')
      .select('channel')
      .where('practice_id', '=', practiceId)
      .where('version', '=', consent.disclosureVersion ?? '')
      .executeTakeFirst();
    if (!disclosure) return { ok: false, reason: 'invalid', message: `disclosureVersion: no disclosure "${consent.disclosureVersion}" is recorded for this practice` };
    if (disclosure.channel !== consent.channel) {
      return { ok: false, reason: 'invalid', message: `disclosureVersion: "${consent.disclosureVersion}" is the ${disclosure.channel} disclosure, not the ${consent.channel} one` };
    }
  }
  const row = await db
    .insertInto('consents')
    .values({
      practice_id: practiceId,
      patient_id: patientId,
      channel: consent.channel,
      action: consent.action,
      source: consent.source,
      disclosure_version: consent.action === 'granted' ? (consent.disclosureVersion ?? null) : null,
      recorded_by: input.recordedBy,
      evidence_ref: consent.evidenceRef ?? null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  await audit({
    action: AuditAction.ConsentRecorded,
    actor: input.recordedBy,
    practiceId,
    subjectId: patientId,
    details: { consentId: row.id, channel: row.channel, action: row.action, source: row.source, disclosureVersion: row.disclosure_version },
  });
  return { ok: true, value: toEntry(row) };
}

function toEntry(r: {
  id: string;
  seq: string;
  channel: ConsentChannel;
  action: 'granted' | 'revoked';
  source: ConsentEntry['source'];
  disclosure_version: string | null;
  recorded_by: string;
  evidence_ref: string | null;
  recorded_at: Date;
}): ConsentEntry {
  return {
    id: r.id,
    seq: Number(r.seq),
    channel: r.channel,
    action: r.action,
    source: r.source,
    disclosureVersion: r.disclosure_version,
    recordedBy: r.recorded_by,
    evidenceRef: r.evidence_ref,
    recordedAt: r.recorded_at.toISOString(),
  };
}

/** A patient's whole history, oldest first; null when the patient is not the practice's. */
export async function consentHistory(scope: PracticeScope, patientId: string): Promise<ConsentEntry[] | null> {
  if (!(await patientExists(scope, patientId))) return null;
  const rows = await scope.db.selectFrom('consents').selectAll().where('practice_id', '=', scope.practiceId).where('patient_id', '=', patientId).orderBy('seq').execute();
  return rows.map(toEntry);
}

/**
 * The latest entry of one channel for each patient of the practice (newest `seq` first, one row a
 * patient): a patient's current state is its action, and its id the grant a message goes out
 * under. The one definition of "current consent": `currentConsents` narrows it to a list of ids,
 * a large campaign's joined read (src/drops/campaign-store.ts) to the campaign's recipients.
 */
export function latestConsents(scope: PracticeScope, channel: ConsentChannel): SelectQueryBuilder<Database, 'consents', Pick<Selectable<ConsentsTable>, 'patient_id' | 'action' | 'id'>> {
  return scope.db
    .selectFrom('consents')
    .select(['patient_id', 'action', 'id'])
    .distinctOn('patient_id')
    .where('practice_id', '=', scope.practiceId)
    .where('channel', '=', channel)
    .orderBy('patient_id')
    .orderBy('seq', 'desc');
}

/** The current state of one channel for many patients at once (patients with no entry are absent). */
export async function currentConsents(
  scope: PracticeScope,
  patientIds: readonly string[],
  channel: ConsentChannel,
): Promise<Map<string, { state: Exclude<ConsentState, 'none'>; consentId: string }>> {
  const out = new Map<string, { state: Exclude<ConsentState, 'none'>; consentId: string }>();
  if (patientIds.length === 0) return out;
  const rows = await latestConsents(scope, channel).where(sql<boolean>`patient_id = ANY(${patientIds}::uuid[])`).execute();
  for (const r of rows) out.set(r.patient_id, { state: r.action, consentId: r.id });
  return out;
}

// ---------------------------------------------------------------------------
// Opt-outs
// ---------------------------------------------------------------------------

/** What recording an opt-out needs beside the practice's scope: the blind-index key and the audit log. */
export type OptOutDeps = Pick<AppContext, 'keyring' | 'audit'>;

/**
 * Records that a number opted out of the practice's drops (idempotent), and appends a revocation
 * of the ringless-voicemail and SMS consent of every patient of the practice with that number,
 * so their consent history shows it too. Nothing about the number is logged or audited.
 */
export async function recordOptOut(
  deps: OptOutDeps,
  scope: PracticeScope,
  input: { phone: string; source: OptOutSource; recordedBy: string },
): Promise<'recorded' | 'already'> {
  const { db, practiceId } = scope;
  const index = phoneIndex(deps.keyring, input.phone);
  const inserted = await db
    .insertInto('opt_outs')
    .values({ practice_id: practiceId, phone_index: index, source: input.source, recorded_by: input.recordedBy })
    .onConflict((oc) => oc.columns(['practice_id', 'phone_index']).doNothing())
    .returning('created_at')
    .executeTakeFirst();
  const patients = await db.selectFrom('patients').select('id').where('practice_id', '=', practiceId).where('phone_index', '=', index).execute();
  const channels: ConsentChannel[] = input.source === 'sms_stop' ? ['rvm', 'sms'] : ['rvm'];
  const revocations = [];
  for (const channel of channels) {
    const states = await currentConsents(scope, patients.map((p) => p.id), channel);
    for (const [patientId, s] of states) {
      if (s.state !== 'granted') continue;
      revocations.push({
        practice_id: practiceId,
        patient_id: patientId,
        channel,
        action: 'revoked' as const,
        source: input.source,
        disclosure_version: null,
        recorded_by: input.recordedBy,
        evidence_ref: null,
      });
    }
  }
  if (revocations.length > 0) await db.insertInto('consents').values(revocations).execute();
  await deps.audit({
    action: AuditAction.OptOutRecorded,
    actor: input.recordedBy,
    practiceId: practiceId,
    details: { source: input.source, result: inserted ? 'recorded' : 'already', patients: patients.length, consentsRevoked: revocations.length },
  });
  return inserted ? 'recorded' : 'already';
}

/**
 * START (UNSTOP, YES) from a number: its opt-out of the practice is removed, audited (never the
 * number). The consents STOP revoked stay revoked: texting START is not a grant (a grant names a
 * disclosure and evidence). opt_outs refuses a DELETE unless the transaction names this opt-in
 * (migration 0023), so nothing else removes one by accident.
 */
export async function removeOptOut(deps: OptOutDeps, scope: PracticeScope, input: { phone: string; recordedBy: string }): Promise<'removed' | 'none'> {
  const { practiceId } = scope;
  const index = phoneIndex(deps.keyring, input.phone);
  const removed = await inTransaction(scope.db, async (trx) => {
    await sql`SELECT set_config('ahl.opt_in', 'sms_start', true)`.execute(trx);
    const res = await trx.deleteFrom('opt_outs').where('practice_id', '=', practiceId).where('phone_index', '=', index).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  });
  await deps.audit({
    action: AuditAction.OptOutRemoved,
    actor: input.recordedBy,
    practiceId,
    details: { source: 'sms_start', result: removed ? 'removed' : 'none' },
  });
  return removed ? 'removed' : 'none';
}

export async function isOptedOut(scope: PracticeScope, keyring: Keyring, phone: string): Promise<boolean> {
  const row = await scope.db.selectFrom('opt_outs').select('phone_index').where('practice_id', '=', scope.practiceId).where('phone_index', '=', phoneIndex(keyring, phone)).executeTakeFirst();
  return row !== undefined;
}

/**
 * The blind indexes of the numbers that opted out of the practice: one list for every channel (a
 * STOP stops drops and SMS alike). `optedOutAmong` narrows it to some numbers, a large campaign's
 * joined read (src/drops/campaign-store.ts) asks it of each recipient's number.
 */
export function optedOutNumbers(scope: PracticeScope): SelectQueryBuilder<Database, 'opt_outs', { phone_index: string }> {
  return scope.db.selectFrom('opt_outs').select('phone_index').where('practice_id', '=', scope.practiceId);
}

/** Which of these blind indexes opted out of the practice's drops. */
export async function optedOutAmong(scope: PracticeScope, phoneIndexes: readonly string[]): Promise<Set<string>> {
  if (phoneIndexes.length === 0) return new Set();
  const rows = await optedOutNumbers(scope).where(sql<boolean>`phone_index = ANY(${[...new Set(phoneIndexes)]}::text[])`).execute();
  return new Set(rows.map((r) => r.phone_index));
}

export async function countOptOuts(scope: PracticeScope): Promise<Record<string, number>> {
  const rows = await scope.db
    .selectFrom('opt_outs')
    .select(['source', (eb) => eb.fn.countAll<string>().as('n')])
    .where('practice_id', '=', scope.practiceId)
    .groupBy('source')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.source, Number(r.n)]));
}

// ---------------------------------------------------------------------------
// Vendor BAAs
// ---------------------------------------------------------------------------

export interface VendorBaa {
  id: string;
  vendor: DropVendor;
  signedAt: string;
  documentRef: string;
  recordedBy: string;
  createdAt: string;
}

export async function recordVendorBaa(
  scope: PracticeScope,
  audit: AuditWriter,
  input: { vendor: DropVendor; signedAt: string; documentRef: string },
  recordedBy: string,
): Promise<StoreResult<VendorBaa>> {
  const { db, practiceId } = scope;
  const row = await db
    .insertInto('vendor_baas')
    .values({ practice_id: practiceId, vendor: input.vendor, signed_at: input.signedAt, document_ref: input.documentRef, recorded_by: recordedBy })
    .onConflict((oc) => oc.columns(['practice_id', 'vendor']).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (!row) return { ok: false, reason: 'conflict', message: `vendor: a BAA with ${input.vendor} is already on record for this practice` };
  await audit({ action: AuditAction.VendorBaaRecorded, actor: recordedBy, practiceId, subjectId: row.id, details: { vendor: row.vendor, signedAt: input.signedAt } });
  return { ok: true, value: toBaa(row) };
}

function toBaa(r: { id: string; vendor: DropVendor; signed_at: Date; document_ref: string; recorded_by: string; created_at: Date }): VendorBaa {
  return { id: r.id, vendor: r.vendor, signedAt: r.signed_at.toISOString().slice(0, 10), documentRef: r.document_ref, recordedBy: r.recorded_by, createdAt: r.created_at.toISOString() };
}

export async function listVendorBaas(scope: PracticeScope): Promise<VendorBaa[]> {
  const rows = await scope.db.selectFrom('vendor_baas').selectAll().where('practice_id', '=', scope.practiceId).orderBy('created_at').execute();
  return rows.map(toBaa);
}

export async function hasVendorBaa(scope: PracticeScope, vendor: DropVendor): Promise<boolean> {
  const row = await scope.db.selectFrom('vendor_baas').select('id').where('practice_id', '=', scope.practiceId).where('vendor', '=', vendor).executeTakeFirst();
  return row !== undefined;
}
