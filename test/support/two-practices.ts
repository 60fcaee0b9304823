import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sql } from 'kysely';
import type { Db } from '../../src/adapters/postgres.js';
import { encryptingStream } from '../../src/adapters/envelope.js';
import { API_ROLES, createApiKey, type ApiRole } from '../../src/auth/api-keys.js';
import { storageKey, voicemailContext } from '../../src/voicemail/pipeline.js';
import { callApi } from './api-request.js';
import { DEFAULT_TEST_NOW, type Harness } from './harness.js';
import { randomTwilioSid } from './twilio-double.js';
import { randomWav } from './wav.js';
import { DEFAULT_MATRIX } from '../../src/outreach/matrix.js';

/**
 * Two practices with one of everything a practice owns, for the isolation sweep
 * (test/isolation-sweep.test.ts): API keys of every role, providers, a schedule with an override,
 * an escalation policy, a patient with consent and a booked appointment (and a second patient),
 * an opt-out, a drop template, a vendor BAA, a draft campaign, voicemails (one stored with
 * audio, one dead-lettered), a page, a call with legs and a lockout in force. What the API can create is created through it, as the practice's
 * admin; the rest (what calls and workers write) is inserted as the tables' owner.
 *
 * Each row is in the state where a wrongly allowed request would change it (the page open, the
 * voicemail dead-lettered, the lockout in force, the campaign a draft), and out of reach of the
 * background sweeps (the page's rounds spent, its deliveries sent), so the snapshot of a
 * practice moves only if a request moved it.
 */

export interface PracticeFixture {
  id: string;
  name: string;
  slug: string;
  mainNumber: string;
  callbackNumber: string;
  /** API keys by role, and their ids. */
  keys: Record<ApiRole, string>;
  keyIds: Record<ApiRole, string>;
  /** An admin key nobody uses: what a revoke aimed at this practice would revoke. */
  spareKeyId: string;
  /** A staff member's account (a user with a membership here only), and their e-mail. */
  userId: string;
  userEmail: string;
  /** A pending invitation of this practice's (what a revoke aimed at it would revoke). */
  invitationId: string;
  providerId: string;
  providerName: string;
  providerPhone: string;
  secondProviderId: string;
  scheduleId: string;
  scheduleName: string;
  overrideId: string;
  /** A pending swap request on the schedule (its primary provider's window handed to the second). */
  swapId: string;
  policyId: string;
  policyName: string;
  patientId: string;
  patientPhone: string;
  patientFirstName: string;
  patientLastName: string;
  patientDateOfBirth: string;
  patientMrn: string;
  /** A second patient, with an MRN and no name: the MRN is one a probe may give one of the other practice's patients. */
  secondPatientId: string;
  secondPatientMrn: string;
  /** The patient's booked appointment, in the future of the harness clock. */
  appointmentId: string;
  disclosureVersion: string;
  optOutPhone: string;
  templateId: string;
  templateName: string;
  baaId: string;
  campaignId: string;
  campaignName: string;
  /** A draft sequence (one rvm step) with the patient as its audience. */
  sequenceId: string;
  sequenceName: string;
  voicemailId: string;
  /** The voicemail's callback task, open and overdue. */
  taskId: string;
  failedVoicemailId: string;
  pageId: string;
  callSid: string;
  lockoutId: string;
  /** A finished (dry run) CSV import, with one report entry naming the patient. */
  importId: string;
}

/** The id of what a setup request created; throws with the answer when it did not. */
async function created(h: Harness, key: string, path: string, body: unknown): Promise<string> {
  const res = await callApi(h, 'POST', path, key, body);
  const id = res.body.id;
  if (res.status !== 201 || typeof id !== 'string') throw new Error(`setup POST ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return id;
}

/** Phone numbers of practice `n` (1 or 2): +1312555<n><digit>, 555-01xx being reserved for fiction. */
function phone(n: number, digit: number): string {
  return `+131255501${n}${digit}`;
}

export const TEMPLATE_TEXT = 'Hello, this is {practice_name}. Our office will be closed on Friday. Please call {callback_number} if you need us. To stop these messages, call {callback_number} and press 8.';

/**
 * One practice and all its data. `word` makes its names unmistakable (a leak check looks for
 * them in every answer); `n` keeps its numbers apart from the other practice's.
 */
export async function seedPractice(h: Harness, owner: Db, word: string, n: number): Promise<PracticeFixture> {
  const slug = `${word.toLowerCase()}-clinic`;
  const name = `${word} Family Clinic`;
  const mainNumber = phone(n, 0);
  const callbackNumber = phone(n, 1);
  const practice = await owner
    .insertInto('practices')
    .values({ slug, name, time_zone: 'America/New_York', fallback_number: phone(n, 9), greeting_name: null, front_desk_number: null, access_number: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  const id = practice.id;
  await owner
    .insertInto('practice_numbers')
    .values([
      { e164: mainNumber, practice_id: id, flow_id: 'after-hours' },
      { e164: callbackNumber, practice_id: id, flow_id: 'drop-callback' },
    ])
    .execute();

  const keys = {} as Record<ApiRole, string>;
  const keyIds = {} as Record<ApiRole, string>;
  for (const role of API_ROLES) {
    const k = await createApiKey(h.services.db, { role, practiceId: id, label: `${word} ${role}` });
    keys[role] = k.key;
    keyIds[role] = k.id;
  }
  const spareKeyId = (await createApiKey(h.services.db, { role: 'admin', practiceId: id, label: `${word} spare` })).id;
  const admin = keys.admin;
  const userEmail = `${word.toLowerCase()}.staff@example.org`;
  const user = await owner.insertInto('users').values({ email: userEmail, display_name: `${word} Staff`, password_hash: null }).returning('id').executeTakeFirstOrThrow();
  await owner.insertInto('memberships').values({ user_id: user.id, practice_id: id, role: 'staff' }).execute();
  const userId = user.id;
  const invitation = await owner
    .insertInto('invitations')
    .values({ practice_id: id, token_hash: `fixture-invitation-${word.toLowerCase()}`, email: `${word.toLowerCase()}.invited@example.org`, role: 'staff', provider_id: null, invited_by: 'system:fixture', expires_at: new Date('2099-01-01T00:00:00Z') })
    .returning('id')
    .executeTakeFirstOrThrow();
  const invitationId = invitation.id;

  const providerName = `Dr. ${word} Primary`;
  const providerPhone = phone(n, 2);
  const providerId = await created(h, admin, '/api/oncall/providers', { displayName: providerName, phone: providerPhone, smsPhone: providerPhone, pin: '4821' });
  const secondProviderId = await created(h, admin, '/api/oncall/providers', { displayName: `Dr. ${word} Second`, phone: phone(n, 3), smsPhone: null });
  const scheduleName = `${word} Weeknights`;
  const scheduleId = await created(h, admin, '/api/oncall/schedules', {
    name: scheduleName,
    rotation: { members: [providerId, secondProviderId], length: 'weekly', handoffTime: '08:00', handoffWeekday: 'mon', startDate: '2026-11-02' },
  });
  const override = await callApi(h, 'POST', `/api/oncall/schedules/${scheduleId}/overrides`, admin, { providerId: secondProviderId, start: '2026-12-24T17:00:00-05:00', end: '2026-12-26T08:00:00-05:00' });
  const overrideId = (override.body.override as { id?: string } | undefined)?.id;
  if (override.status !== 201 || !overrideId) throw new Error(`setup override: ${override.status} ${JSON.stringify(override.body)}`);
  // Inserted as the owner, not asked through the API: no SMS to the provider and no audit row, so the browser tests that seed practices see nothing new.
  const swap = await owner
    .insertInto('oncall_swaps')
    .values({ practice_id: id, schedule_id: scheduleId, from_provider: providerId, to_provider: secondProviderId, starts_at: new Date('2027-03-01T22:00:00Z'), ends_at: new Date('2027-03-02T13:00:00Z'), requested_by: 'api_key:fixture' })
    .returning('id')
    .executeTakeFirstOrThrow();
  const swapId = swap.id;
  const policyName = `${word} Nights policy`;
  const policyId = await created(h, admin, '/api/oncall/policies', {
    name: policyName,
    tiers: [{ target: { kind: 'schedule', scheduleId }, ringSeconds: 25 }],
    repeat: 1,
    pageIntervalMinutes: 10,
    pageMaxRepeats: 3,
    isDefault: true,
  });

  const patientPhone = phone(n, 4);
  const patientFirstName = `${word}ina`;
  const patientLastName = `${word}son`;
  const patientDateOfBirth = `198${n}-04-12`;
  const patientMrn = `${word.toUpperCase()}-MRN-${n}`;
  const patientId = await created(h, admin, '/api/patients', { phone: patientPhone, firstName: patientFirstName, lastName: patientLastName, dateOfBirth: patientDateOfBirth, mrn: patientMrn, usState: 'FL', timeZone: 'America/New_York', recallDue: `2030-06-1${n}` });
  const secondPatientMrn = `${word.toUpperCase()}-MRN-SECOND-${n}`;
  const secondPatientId = await created(h, admin, '/api/patients', { phone: phone(n, 6), dateOfBirth: `197${n}-09-30`, mrn: secondPatientMrn });
  const disclosureVersion = `rvm-${word.toLowerCase()}-2026`;
  await expectCreated(h, admin, '/api/consent-disclosures', { version: disclosureVersion, channel: 'rvm', text: 'We may leave you prerecorded voicemail reminders about appointments. Reply STOP or call us to opt out.' });
  await expectCreated(h, admin, `/api/patients/${patientId}/consents`, { channel: 'rvm', action: 'granted', source: 'paper_form', disclosureVersion, evidenceRef: `scan-${word.toLowerCase()}-1` });
  const optOutPhone = phone(n, 5);
  await expectCreated(h, admin, '/api/opt-outs', { phone: optOutPhone });
  const templateName = `${word} closure notice`;
  const templateId = await created(h, admin, '/api/drop-templates', { name: templateName, purpose: 'office_closure', text: TEMPLATE_TEXT });
  // A matrix of its own (version 1): billing callbacks never by e-mail.
  const matrix = await callApi(h, 'PUT', `/api/practices/${id}/communication-matrix`, admin, { ...DEFAULT_MATRIX, billing_callback: { ...DEFAULT_MATRIX.billing_callback, email: { allowed: false, detail: 'none' } } });
  if (matrix.status !== 200) throw new Error(`setup PUT communication-matrix: ${matrix.status} ${JSON.stringify(matrix.body)}`);
  const baaId = await created(h, admin, '/api/vendor-baas', { vendor: 'twilio', signedAt: '2026-10-01', documentRef: `contracts/${word.toLowerCase()}-twilio-baa.pdf` });
  const campaignName = `${word} November recall`;
  const campaignId = await created(h, admin, '/api/campaigns', { name: campaignName, templateId: 'recall', templateParams: { callback_number: '(312) 555-0100' }, provider: 'twilio', ratePerMinute: 30, patientIds: [patientId] });
  const sequenceName = `${word} recall sequence`;
  const sequenceId = await created(h, admin, '/api/sequences', { name: sequenceName, messageType: 'recall', steps: [{ channel: 'rvm', templateId: 'recall', waitHours: 0, condition: 'always' }], rvmProvider: 'twilio' });
  const audience = await callApi(h, 'POST', `/api/sequences/${sequenceId}/audience`, admin, { patientIds: [patientId] });
  if (audience.status !== 200) throw new Error(`setup POST sequence audience: ${audience.status} ${JSON.stringify(audience.body)}`);

  const callSid = await insertCall(owner, { practiceId: id, to: mainNumber, providerId, providerPhone, patientId });
  const pageId = await insertPage(owner, { practiceId: id, callSid, policyId, providerId, providerPhone });
  const voicemailId = await insertStoredVoicemail(h, owner, id, callSid);
  const taskId = await insertTask(owner, id, voicemailId, callSid);
  const failedVoicemailId = await insertFailedVoicemail(owner, id);
  const lockoutId = await insertLockout(owner, id);
  const importId = await insertImport(owner, id, patientId);
  const appointmentId = await insertAppointment(owner, { practiceId: id, patientId, providerId });

  return {
    id,
    name,
    slug,
    mainNumber,
    callbackNumber,
    keys,
    keyIds,
    spareKeyId,
    userId,
    userEmail,
    invitationId,
    providerId,
    providerName,
    providerPhone,
    secondProviderId,
    scheduleId,
    scheduleName,
    overrideId,
    swapId,
    policyId,
    policyName,
    patientId,
    patientPhone,
    patientFirstName,
    patientLastName,
    patientDateOfBirth,
    patientMrn,
    secondPatientId,
    secondPatientMrn,
    appointmentId,
    disclosureVersion,
    optOutPhone,
    templateId,
    templateName,
    baaId,
    campaignId,
    campaignName,
    sequenceId,
    sequenceName,
    voicemailId,
    taskId,
    failedVoicemailId,
    pageId,
    callSid,
    lockoutId,
    importId,
  };
}

async function expectCreated(h: Harness, key: string, path: string, body: unknown): Promise<void> {
  const res = await callApi(h, 'POST', path, key, body);
  if (res.status !== 201) throw new Error(`setup POST ${path}: ${res.status} ${JSON.stringify(res.body)}`);
}

const minutes = (m: number): Date => new Date(DEFAULT_TEST_NOW.getTime() + m * 60_000);

/** A finished inbound call from the patient's number (matched by it) with its parent leg and one unanswered dial leg to the provider. */
async function insertCall(owner: Db, c: { practiceId: string; to: string; providerId: string; providerPhone: string; patientId: string }): Promise<string> {
  const callSid = randomTwilioSid('CA');
  await owner
    .insertInto('calls')
    .values({ call_sid: callSid, practice_id: c.practiceId, direction: 'inbound', from_index: null, to_number: c.to, status: 'completed', status_history: JSON.stringify([]), patient_id: c.patientId, match: 'number', outcome: 'abandoned_at_menu', duration_seconds: 95 })
    .execute();
  await owner
    .insertInto('call_legs')
    .values([
      { call_sid: callSid, leg_sid: callSid, practice_id: c.practiceId, kind: 'parent', tier: null, round: null, provider_id: null, number_tried: null, outcome: 'completed', duration_seconds: 95, started_at: minutes(-70), ended_at: minutes(-68) },
      { call_sid: callSid, leg_sid: randomTwilioSid('CA'), practice_id: c.practiceId, kind: 'dial', tier: 1, round: 1, provider_id: c.providerId, number_tried: c.providerPhone, outcome: 'no-answer', duration_seconds: 0, started_at: minutes(-69), ended_at: minutes(-69) },
    ])
    .execute();
  return callSid;
}

/** An open page whose rounds are spent and whose delivery was sent: the paging sweeps leave it alone, an ack would close it. */
async function insertPage(owner: Db, p: { practiceId: string; callSid: string; policyId: string; providerId: string; providerPhone: string }): Promise<string> {
  const page = await owner
    .insertInto('pages')
    .values({ practice_id: p.practiceId, call_sid: p.callSid, policy_id: p.policyId, reference_code: String(randomInt(100_000, 1_000_000)), status: 'open', rounds_sent: 99, acknowledged_at: null, acknowledged_by: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  await owner
    .insertInto('page_deliveries')
    .values({ page_id: page.id, round: 1, provider_id: p.providerId, number_tried: p.providerPhone, status: 'sent', attempts: 1, message_sid: randomTwilioSid('SM'), error_code: null, created_at: minutes(-68), updated_at: minutes(-68) })
    .execute();
  return page.id;
}

/** A voicemail as the pipeline leaves it: its audio encrypted in storage, notified, Twilio's copy deleted. */
async function insertStoredVoicemail(h: Harness, owner: Db, practiceId: string, callSid: string): Promise<string> {
  const recordingSid = randomTwilioSid('RE');
  const row = await owner
    .insertInto('voicemails')
    .values({ practice_id: practiceId, call_sid: callSid, recording_sid: recordingSid, reference_code: String(randomInt(100_000, 1_000_000)), urgency: 'urgent', duration_seconds: 12, state: 'received', created_at: minutes(-68) })
    .returning('id')
    .executeTakeFirstOrThrow();
  const keyed = { id: row.id, practice_id: practiceId, recording_sid: recordingSid };
  const enc = encryptingStream(h.services.keyring, voicemailContext(keyed));
  const key = storageKey(keyed);
  const [stored] = await Promise.all([h.services.storage.put(key, enc.stream), pipeline(Readable.from([randomWav(4_000)]), enc.stream)]);
  await owner
    .updateTable('voicemails')
    .set({
      state: 'complete',
      storage_key: key,
      content_type: 'audio/x-wav',
      plaintext_bytes: enc.plaintextBytes(),
      plaintext_sha256: enc.plaintextDigest(),
      ciphertext_bytes: stored.bytes,
      stored_at: minutes(-67),
      notified_at: minutes(-67),
      twilio_deleted_at: minutes(-67),
    })
    .where('id', '=', row.id)
    .execute();
  return row.id;
}

/** A callback task (as the voicemail job creates one), open and overdue; a fresh source id unless given. */
export async function insertTask(owner: Db, practiceId: string, voicemailId: string = randomUUID(), callSid: string | null = null): Promise<string> {
  const id = randomUUID();
  await owner
    .insertInto('callback_tasks')
    .values({ id, practice_id: practiceId, source: 'voicemail', source_id: voicemailId, call_sid: callSid, reason: 'clinical', urgency: 'urgent', callback_enc: null, callback_index: null, patient_id: null, match: 'unknown', due_at: minutes(-38) })
    .execute();
  return id;
}

/** A booked appointment a week ahead (what the booking system's import writes, so inserted as the owner). */
async function insertAppointment(owner: Db, a: { practiceId: string; patientId: string; providerId: string }): Promise<string> {
  const row = await owner
    .insertInto('appointments')
    .values({ practice_id: a.practiceId, patient_id: a.patientId, starts_at: minutes(7 * 24 * 60), status: 'booked', provider_id: a.providerId, location_name: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** A dead-lettered voicemail (failed for good, its requeue budget spent): only an admin's retry moves it. */
export async function insertFailedVoicemail(owner: Db, practiceId: string): Promise<string> {
  const row = await owner
    .insertInto('voicemails')
    .values({
      practice_id: practiceId,
      call_sid: randomTwilioSid('CA'),
      recording_sid: randomTwilioSid('RE'),
      reference_code: String(randomInt(100_000, 1_000_000)),
      urgency: 'routine',
      duration_seconds: 9,
      state: 'failed',
      attempts: 5,
      last_error: 'fetch_failed',
      last_error_transient: false,
      requeues: 99,
      created_at: minutes(-50),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** A caller's number locked out of the patient line, in force for another hour. */
export async function insertLockout(owner: Db, practiceId: string): Promise<string> {
  const row = await owner
    .insertInto('verification_lockouts')
    .values({ practice_id: practiceId, scope: 'number', patient_id: null, provider_id: null, phone_index: randomBytes(32).toString('hex'), line: 'patient', earlier: 0, started_at: minutes(-5), locked_until: minutes(60), cleared_at: null, cleared_by: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** A dry-run patients import as the worker leaves it: done, its upload deleted, one duplicate row reported. */
async function insertImport(owner: Db, practiceId: string, patientId: string): Promise<string> {
  const id = randomUUID();
  await owner
    .insertInto('imports')
    .values({ id, practice_id: practiceId, kind: 'patients', dry_run: true, status: 'done', upload_key: null, upload_bytes: 120, rows_read: 2, created_count: 1, duplicate_count: 1, failure: null, created_by: 'api_key:seed', started_at: minutes(-40), finished_at: minutes(-39) })
    .execute();
  await owner
    .insertInto('import_entries')
    .values({ import_id: id, practice_id: practiceId, position: 0, row_number: 3, outcome: 'duplicate', field: 'mrn', reason: 'a new MRN, but the same name and date of birth as a patient on file', existing_id: patientId })
    .execute();
  return id;
}

/** Tables whose rows belong to a practice through a parent row rather than a practice_id column. */
const CHILD_TABLES: Record<string, { column: string; parent: string; parentColumn?: string }> = {
  // People belong to no practice: a practice's are those with a membership in it (0020).
  users: { column: 'id', parent: 'memberships', parentColumn: 'user_id' },
  recovery_codes: { column: 'user_id', parent: 'memberships', parentColumn: 'user_id' },
  oncall_overrides: { column: 'schedule_id', parent: 'oncall_schedules' },
  page_deliveries: { column: 'page_id', parent: 'pages' },
  playback_tokens: { column: 'voicemail_id', parent: 'voicemails' },
  voicemail_notifications: { column: 'voicemail_id', parent: 'voicemails' },
};

/**
 * Every row a practice owns, read as the tables' owner (row-level security does not apply), per
 * table, in a stable order, in one round trip. The tables come from the schema itself: a new
 * table with a practice_id column is in the snapshot the day it lands; one without it must be a
 * child table named above (or the snapshot refuses to run).
 */
export async function practiceSnapshot(owner: Db, schema: string, practiceId: string): Promise<Record<string, string[]>> {
  const columns = await sql<{ table_name: string; has_practice: boolean }>`
    SELECT table_name, bool_or(column_name = 'practice_id') AS has_practice
    FROM information_schema.columns WHERE table_schema = ${schema} AND table_name NOT LIKE 'kysely_%'
    GROUP BY table_name ORDER BY table_name`.execute(owner);
  const selects = columns.rows.map(({ table_name: table, has_practice: hasPractice }) => {
    const child = CHILD_TABLES[table];
    const where =
      table === 'practices'
        ? sql`t.id = ${practiceId}`
        : hasPractice
          ? sql`t.practice_id = ${practiceId}`
          : child
            ? sql`${sql.ref(`t.${child.column}`)} IN (SELECT ${sql.ref(child.parentColumn ?? 'id')} FROM ${sql.table(child.parent)} WHERE practice_id = ${practiceId})`
            : null;
    if (!where) throw new Error(`table ${table} has no practice_id and is not a known child table: add it to CHILD_TABLES in test/support/two-practices.ts`);
    return sql`SELECT ${table}::text AS tbl, to_jsonb(t)::text AS r FROM ${sql.table(table)} t WHERE ${where}`;
  });
  const rows = await sql<{ tbl: string; r: string }>`SELECT tbl, r FROM (${sql.join(selects, sql` UNION ALL `)}) AS everything ORDER BY tbl, r`.execute(owner);
  const out: Record<string, string[]> = Object.fromEntries(columns.rows.map((c) => [c.table_name, [] as string[]]));
  for (const { tbl, r } of rows.rows) out[tbl]?.push(r);
  return out;
}
