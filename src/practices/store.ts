import { sql } from 'kysely';
import type { Db } from '../adapters/postgres.js';
import type { Language } from '../calls/flow-types.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { DEFAULT_HOLIDAYS, DEFAULT_WEEKLY_HOURS, HolidaysSchema, WeeklyHoursSchema, type Holidays, type WeeklyHours } from './settings.js';

export interface Practice {
  id: string;
  slug: string;
  name: string;
  /** How the practice is named to callers; defaults to `name`. */
  greetingName: string;
  timeZone: string;
  fallbackNumber: string | null;
  frontDeskNumber: string | null;
  languages: Language[];
  weeklyHours: WeeklyHours;
  holidays: Holidays;
  /** Days the encrypted audio of a voicemail is kept. */
  voicemailRetentionDays: number;
  /** Twilio transcription of voicemails: off unless the practice turns it on. */
  voicemailTranscription: boolean;
  /** The provider access line (voice URL /twilio/voice/access) voicemail notifications name; null: none set. */
  accessNumber: string | null;
  /** The automatic reply to a patient's text (src/texts/replies.ts); null: the built-in one. */
  smsAutoReply: string | null;
  /** Minutes of inactivity after which a signed-in person of this practice is signed out (5–60). */
  idleLogoffMinutes: number;
  /** Suspended by the platform operator: its calls get the fail-safe answer, its keys 403 (src/practices/onboarding.ts). */
  suspended: boolean;
  /** Hours after the next opening by which a routine callback task is due (src/tasks/due.ts). */
  routineCallbackHours: number;
  /** The patient portal (https), linked from the portal notice e-mail (src/outreach/email-notice.ts); null: none. */
  patientPortalUrl: string | null;
  /** The Twilio Messaging Service (MG…) patient SMS go out through; null: none, so no patient SMS. */
  messagingServiceSid: string | null;
}

const columns = [
  'practices.id',
  'slug',
  'name',
  'greeting_name',
  'time_zone',
  'fallback_number',
  'front_desk_number',
  'languages',
  'weekly_hours',
  'holidays',
  'voicemail_retention_days',
  'voicemail_transcription',
  'access_number',
  'sms_auto_reply',
  'patient_portal_url',
  'suspended_at',
  'routine_callback_hours',
  'idle_logoff_minutes',
  'messaging_service_sid',
] as const;

interface Row {
  id: string;
  slug: string;
  name: string;
  greeting_name: string | null;
  time_zone: string;
  fallback_number: string | null;
  front_desk_number: string | null;
  languages: string[];
  weekly_hours: unknown;
  holidays: unknown;
  voicemail_retention_days: number;
  voicemail_transcription: boolean;
  access_number: string | null;
  sms_auto_reply: string | null;
  patient_portal_url: string | null;
  suspended_at: Date | null;
  routine_callback_hours: number;
  idle_logoff_minutes: number;
  messaging_service_sid: string | null;
}

function toPractice(row: Row): Practice {
  // Stored settings were validated on the way in; parse again so a bad row cannot crash a call.
  const hours = WeeklyHoursSchema.safeParse(row.weekly_hours);
  const holidays = HolidaysSchema.safeParse(row.holidays);
  const languages = row.languages.filter((l): l is Language => l === 'en' || l === 'es');
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    greetingName: row.greeting_name ?? row.name,
    timeZone: row.time_zone,
    fallbackNumber: row.fallback_number,
    frontDeskNumber: row.front_desk_number,
    languages: languages.length > 0 ? languages : ['en'],
    weeklyHours: hours.success ? hours.data : DEFAULT_WEEKLY_HOURS,
    holidays: holidays.success ? holidays.data : DEFAULT_HOLIDAYS,
    voicemailRetentionDays: row.voicemail_retention_days,
    voicemailTranscription: row.voicemail_transcription,
    accessNumber: row.access_number,
    smsAutoReply: row.sms_auto_reply,
    suspended: row.suspended_at !== null,
    routineCallbackHours: row.routine_callback_hours,
    idleLogoffMinutes: row.idle_logoff_minutes,
    patientPortalUrl: row.patient_portal_url,
    messagingServiceSid: row.messaging_service_sid,
  };
}

/** What a called number runs: its practice, the flow (a built-in id, or the practice's own flow at `flowVersion`), the practice's contacts. */
export interface NumberLookup {
  practice: Practice;
  flowId: string;
  flowVersion: number | null;
  /** The practice's contacts by key: where its flows may transfer a caller. */
  contacts: Record<string, string>;
}

export async function findPracticeByNumber(db: Db, e164: string): Promise<NumberLookup | null> {
  const row = await db
    .selectFrom('practice_numbers')
    .innerJoin('practices', 'practices.id', 'practice_numbers.practice_id')
    .select([
      ...columns,
      'practice_numbers.flow_id',
      'practice_numbers.flow_version',
      // One round trip for the webhook: the contacts come with the practice.
      sql<Record<string, string>>`(SELECT coalesce(jsonb_object_agg(c.key, c.number), '{}'::jsonb) FROM practice_contacts c WHERE c.practice_id = practices.id)`.as('contacts'),
    ])
    .where('practice_numbers.e164', '=', e164)
    .executeTakeFirst();
  return row ? { practice: toPractice(row), flowId: row.flow_id, flowVersion: row.flow_version, contacts: row.contacts } : null;
}

/** The scope's own practice (settings as stored); null once it is gone. */
export async function getPractice(scope: PracticeScope): Promise<Practice | null> {
  const row = await scope.db.selectFrom('practices').select(columns).where('practices.id', '=', scope.practiceId).executeTakeFirst();
  return row ? toPractice(row) : null;
}

/** Accepts a practice's id (uuid) or slug. */
export async function resolvePractice(db: Db, idOrSlug: string): Promise<Practice | null> {
  const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(idOrSlug);
  const row = await db
    .selectFrom('practices')
    .select(columns)
    .where(isUuid ? 'practices.id' : 'slug', '=', idOrSlug)
    .executeTakeFirst();
  return row ? toPractice(row) : null;
}

export interface PracticeNumber {
  e164: string;
  flowId: string;
}

export async function listPracticeNumbers(scope: PracticeScope): Promise<PracticeNumber[]> {
  const rows = await scope.db.selectFrom('practice_numbers').select(['e164', 'flow_id']).where('practice_id', '=', scope.practiceId).orderBy('e164').execute();
  return rows.map((r) => ({ e164: r.e164, flowId: r.flow_id }));
}

export interface PracticeSettings {
  voicemailRetentionDays: number;
  voicemailTranscription: boolean;
  accessNumber: string | null;
  smsAutoReply: string | null;
  name: string;
  greetingName: string | null;
  timeZone: string;
  fallbackNumber: string | null;
  frontDeskNumber: string | null;
  languages: Language[];
  weeklyHours: WeeklyHours;
  holidays: Holidays;
  routineCallbackHours: number;
  idleLogoffMinutes: number;
  patientPortalUrl: string | null;
  messagingServiceSid: string | null;
}

function settingsColumns(s: Partial<PracticeSettings>): Record<string, unknown> {
  return {
    ...(s.name !== undefined ? { name: s.name } : {}),
    ...(s.greetingName !== undefined ? { greeting_name: s.greetingName } : {}),
    ...(s.timeZone !== undefined ? { time_zone: s.timeZone } : {}),
    ...(s.fallbackNumber !== undefined ? { fallback_number: s.fallbackNumber } : {}),
    ...(s.frontDeskNumber !== undefined ? { front_desk_number: s.frontDeskNumber } : {}),
    ...(s.languages !== undefined ? { languages: s.languages } : {}),
    ...(s.weeklyHours !== undefined ? { weekly_hours: JSON.stringify(s.weeklyHours) } : {}),
    ...(s.holidays !== undefined ? { holidays: JSON.stringify(s.holidays) } : {}),
    ...(s.voicemailRetentionDays !== undefined ? { voicemail_retention_days: s.voicemailRetentionDays } : {}),
    ...(s.voicemailTranscription !== undefined ? { voicemail_transcription: s.voicemailTranscription } : {}),
    ...(s.accessNumber !== undefined ? { access_number: s.accessNumber } : {}),
    ...(s.smsAutoReply !== undefined ? { sms_auto_reply: s.smsAutoReply } : {}),
    ...(s.routineCallbackHours !== undefined ? { routine_callback_hours: s.routineCallbackHours } : {}),
    ...(s.idleLogoffMinutes !== undefined ? { idle_logoff_minutes: s.idleLogoffMinutes } : {}),
    ...(s.patientPortalUrl !== undefined ? { patient_portal_url: s.patientPortalUrl } : {}),
    ...(s.messagingServiceSid !== undefined ? { messaging_service_sid: s.messagingServiceSid } : {}),
  };
}

export async function createPractice(
  db: Db,
  input: { slug: string; name: string; timeZone: string; numbers: string[]; flowId?: string } & Partial<Omit<PracticeSettings, 'name' | 'timeZone'>>,
): Promise<Practice> {
  return db.transaction().execute(async (trx) => {
    const { slug, numbers, flowId, ...settings } = input;
    const row = await trx
      .insertInto('practices')
      .values({ slug, name: input.name, time_zone: input.timeZone, fallback_number: null, ...settingsColumns(settings) })
      .returning(columns)
      .executeTakeFirstOrThrow();
    if (numbers.length > 0) {
      await trx
        .insertInto('practice_numbers')
        .values(numbers.map((e164) => ({ e164, practice_id: row.id, ...(flowId ? { flow_id: flowId } : {}) })))
        .execute();
    }
    return toPractice(row);
  });
}

/**
 * Changes a practice's settings. `weeklyHoursDays` changes the days it names and keeps the others
 * (merged in the same UPDATE, so two admins changing different days both win).
 */
export async function updatePractice(
  scope: PracticeScope,
  patch: Partial<PracticeSettings>,
  opts: { weeklyHoursDays?: Partial<WeeklyHours> } = {},
): Promise<Practice | null> {
  const values = {
    ...settingsColumns(patch),
    ...(opts.weeklyHoursDays !== undefined ? { weekly_hours: sql<string>`weekly_hours || ${JSON.stringify(opts.weeklyHoursDays)}::jsonb` } : {}),
  };
  if (Object.keys(values).length === 0) return getPractice(scope);
  const row = await scope.db
    .updateTable('practices')
    .set({ ...values, updated_at: new Date() })
    .where('id', '=', scope.practiceId)
    .returning(columns)
    .executeTakeFirst();
  return row ? toPractice(row) : null;
}

/**
 * Assigns a number to the scope's practice (or changes its flow). Refuses a number another
 * practice owns: under the tenant role that practice's row is invisible, so the insert is tried
 * and the primary key (which row-level security does not hide) says whether the number is taken.
 */
export async function upsertPracticeNumber(scope: PracticeScope, e164: string, flowId: string): Promise<'created' | 'updated' | 'taken'> {
  const updated = await scope.db
    .updateTable('practice_numbers')
    // A built-in flow by id: any version of the practice's own flow it ran is no longer in force.
    .set({ flow_id: flowId, flow_version: null })
    .where('e164', '=', e164)
    .where('practice_id', '=', scope.practiceId)
    .executeTakeFirst();
  if (Number(updated.numUpdatedRows) > 0) return 'updated';
  const inserted = await scope.db
    .insertInto('practice_numbers')
    .values({ e164, practice_id: scope.practiceId, flow_id: flowId })
    .onConflict((oc) => oc.column('e164').doNothing())
    .returning('e164')
    .executeTakeFirst();
  return inserted ? 'created' : 'taken';
}

export async function removePracticeNumber(scope: PracticeScope, e164: string): Promise<boolean> {
  const res = await scope.db.deleteFrom('practice_numbers').where('e164', '=', e164).where('practice_id', '=', scope.practiceId).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/** Every practice number with its practice's fallback number (the fail-safe's map, ./caches.ts). */
export async function listFallbackNumbers(db: Db): Promise<Array<{ number: string; fallbackNumber: string | null }>> {
  const rows = await db
    .selectFrom('practice_numbers')
    .innerJoin('practices', 'practices.id', 'practice_numbers.practice_id')
    .select(['practice_numbers.e164', 'practices.fallback_number'])
    .execute();
  return rows.map((r) => ({ number: r.e164, fallbackNumber: r.fallback_number }));
}
