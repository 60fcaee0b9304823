// Over 400 lines because providers, schedules, overrides and policies are one store over the on-call tables, whose checks cross them (every id must belong to the same practice).
import { sql, type Transaction } from 'kysely';
import { z } from 'zod';
import { inTransaction, type Db } from '../adapters/postgres.js';
import type { Database, EscalationTier } from '../adapters/db-schema.js';
import { E164Schema, TimeZoneSchema } from '../practices/settings.js';
import { getPractice } from '../practices/store.js';
import type { PracticeScope } from '../tenancy/scope.js';
import { RotationSchema, ScheduleSchema, type Override, type OverrideInput, type Rotation, type Schedule } from './schedule-schema.js';

/**
 * The on-call domain's one query module: providers, schedules (rotation + overrides) and
 * escalation policies. Every function acts for one practice and never reads or writes another
 * practice's rows: an id of another practice is simply not found. The functions the admin API
 * reaches take the request's `PracticeScope` (its `ahl_tenant` connection, which row-level
 * security holds to the practice) and still name the practice in every query: defence in depth,
 * and the practice's index. The call path and the workers pass `systemScope`. Two lookups take
 * the database itself: the feed-token lookup, which finds the practice, and the practice admins
 * the lockout notice and the voicemail notification read.
 *
 * Input schemas for the admin API live here too, so every writer checks the same rules; the
 * store itself adds the checks that need the database (ids must belong to the same practice).
 */

// ---------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------

/** What a write can come to. `invalid` messages name the field and never echo the input. */
export type StoreResult<T> =
  | { ok: true; value: T }
  | { ok: false; reason: 'not_found' }
  | { ok: false; reason: 'invalid'; message: string };

const notFound = { ok: false, reason: 'not_found' } as const;
function invalid(message: string): { ok: false; reason: 'invalid'; message: string } {
  return { ok: false, reason: 'invalid', message };
}

type Executor = Db | Transaction<Database>;

/** Rejects a patch with nothing in it. */
export function nonEmpty(p: object): boolean {
  return Object.keys(p).length > 0;
}

// ---------------------------------------------------------------------------
// Providers
// ---------------------------------------------------------------------------

export interface Provider {
  id: string;
  practiceId: string;
  displayName: string;
  phone: string;
  smsPhone: string | null;
  isPracticeAdmin: boolean;
  active: boolean;
  /** Whether an access-line PIN is set (only its keyed hash is stored; never returned). */
  hasPin: boolean;
  /** When the current calendar-feed token was issued; null: none. */
  feedTokenIssuedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export const ProviderInputSchema = z.strictObject({
  displayName: z.string({ error: 'expected a string' }).trim().min(1, { error: 'required' }).max(80, { error: 'at most 80 characters' }),
  phone: E164Schema,
  smsPhone: E164Schema.nullable().optional(),
  isPracticeAdmin: z.boolean({ error: 'expected true or false' }).optional(),
  active: z.boolean({ error: 'expected true or false' }).optional(),
});
export type ProviderInput = z.output<typeof ProviderInputSchema>;

export type ProviderPatch = Partial<ProviderInput>;

const providerColumns = [
  'id',
  'practice_id',
  'display_name',
  'phone',
  'sms_phone',
  'is_practice_admin',
  'active',
  'pin_hash',
  'feed_token_created_at',
  'created_at',
  'updated_at',
] as const;

interface ProviderRow {
  id: string;
  practice_id: string;
  display_name: string;
  phone: string;
  sms_phone: string | null;
  is_practice_admin: boolean;
  active: boolean;
  pin_hash: string | null;
  feed_token_created_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

function toProvider(r: ProviderRow): Provider {
  return {
    id: r.id,
    practiceId: r.practice_id,
    displayName: r.display_name,
    phone: r.phone,
    smsPhone: r.sms_phone,
    isPracticeAdmin: r.is_practice_admin,
    active: r.active,
    hasPin: r.pin_hash !== null,
    feedTokenIssuedAt: r.feed_token_created_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/**
 * What the store writes without parsing: the access-line PIN as its keyed hash (made by the
 * caller, who holds the keyring; null clears it), under the id it was made for.
 */
interface ProviderSecrets {
  id?: string;
  pinHash?: string | null;
}

export async function createProvider(scope: PracticeScope, input: ProviderInput, secrets: ProviderSecrets = {}): Promise<Provider> {
  const row = await scope.db
    .insertInto('providers')
    .values({
      ...(secrets.id !== undefined ? { id: secrets.id } : {}),
      ...(secrets.pinHash !== undefined ? { pin_hash: secrets.pinHash } : {}),
      practice_id: scope.practiceId,
      display_name: input.displayName,
      phone: input.phone,
      sms_phone: input.smsPhone ?? null,
      ...(input.isPracticeAdmin !== undefined ? { is_practice_admin: input.isPracticeAdmin } : {}),
      ...(input.active !== undefined ? { active: input.active } : {}),
    })
    .returning(providerColumns)
    .executeTakeFirstOrThrow();
  return toProvider(row);
}

export async function updateProvider(scope: PracticeScope, id: string, patch: ProviderPatch, secrets: Omit<ProviderSecrets, 'id'> = {}): Promise<Provider | null> {
  const row = await scope.db
    .updateTable('providers')
    .set({
      ...(secrets.pinHash !== undefined ? { pin_hash: secrets.pinHash } : {}),
      ...(patch.displayName !== undefined ? { display_name: patch.displayName } : {}),
      ...(patch.phone !== undefined ? { phone: patch.phone } : {}),
      ...(patch.smsPhone !== undefined ? { sms_phone: patch.smsPhone } : {}),
      ...(patch.isPracticeAdmin !== undefined ? { is_practice_admin: patch.isPracticeAdmin } : {}),
      ...(patch.active !== undefined ? { active: patch.active } : {}),
      updated_at: sql<Date>`now()`,
    })
    .where('practice_id', '=', scope.practiceId)
    .where('id', '=', id)
    .returning(providerColumns)
    .executeTakeFirst();
  return row ? toProvider(row) : null;
}

export async function getProvider(scope: PracticeScope, id: string): Promise<Provider | null> {
  const row = await scope.db.selectFrom('providers').select(providerColumns).where('practice_id', '=', scope.practiceId).where('id', '=', id).executeTakeFirst();
  return row ? toProvider(row) : null;
}

export async function listProviders(scope: PracticeScope, opts: { activeOnly?: boolean } = {}): Promise<Provider[]> {
  let q = scope.db.selectFrom('providers').select(providerColumns).where('practice_id', '=', scope.practiceId);
  if (opts.activeOnly) q = q.where('active', '=', true);
  const rows = await q.orderBy('display_name').orderBy('id').execute();
  return rows.map(toProvider);
}

/** Sets (or, with null, revokes) the provider's calendar-feed token hash; false if not the practice's provider. */
export async function setFeedTokenHash(scope: PracticeScope, id: string, hash: string | null, at: Date): Promise<boolean> {
  const res = await scope.db
    .updateTable('providers')
    .set({ feed_token_hash: hash, feed_token_created_at: hash === null ? null : at, updated_at: sql<Date>`now()` })
    .where('practice_id', '=', scope.practiceId)
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** The provider whose calendar-feed token has this hash (any practice: the token names both, so this is the system role's lookup that finds the practice). */
export async function findProviderByFeedTokenHash(db: Db, hash: string): Promise<Provider | null> {
  const row = await db.selectFrom('providers').select(providerColumns).where('feed_token_hash', '=', hash).executeTakeFirst();
  return row ? toProvider(row) : null;
}

/** The practice's active providers flagged as practice admins (who are paged when nobody acknowledges). */
export async function listPracticeAdmins(db: Db, practiceId: string): Promise<Provider[]> {
  const rows = await db
    .selectFrom('providers')
    .select(providerColumns)
    .where('practice_id', '=', practiceId)
    .where('is_practice_admin', '=', true)
    .where('active', '=', true)
    .orderBy('display_name')
    .orderBy('id')
    .execute();
  return rows.map(toProvider);
}

/** Of `ids`, those that are not providers of this practice. */
async function foreignProviderIds(db: Executor, practiceId: string, ids: readonly string[]): Promise<Set<string>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Set();
  const rows = await db.selectFrom('providers').select('id').where('practice_id', '=', practiceId).where('id', 'in', unique).execute();
  const found = new Set(rows.map((r) => r.id));
  return new Set(unique.filter((id) => !found.has(id)));
}

async function foreignScheduleIds(db: Executor, practiceId: string, ids: readonly string[]): Promise<Set<string>> {
  const unique = [...new Set(ids)];
  if (unique.length === 0) return new Set();
  const rows = await db.selectFrom('oncall_schedules').select('id').where('practice_id', '=', practiceId).where('id', 'in', unique).execute();
  const found = new Set(rows.map((r) => r.id));
  return new Set(unique.filter((id) => !found.has(id)));
}

// ---------------------------------------------------------------------------
// Schedules
// ---------------------------------------------------------------------------

/** A schedule without its overrides, as listed and edited. */
export interface ScheduleRecord {
  id: string;
  practiceId: string;
  name: string;
  timeZone: string;
  rotation: Rotation;
  createdAt: Date;
  updatedAt: Date;
}

const scheduleFields = {
  name: z.string({ error: 'expected a string' }).trim().min(1, { error: 'required' }).max(80, { error: 'at most 80 characters' }),
  timeZone: TimeZoneSchema,
  rotation: RotationSchema,
};

/** A new schedule. Without `timeZone` it keeps the practice's (given, it overrides it). */
export const ScheduleInputSchema = z.strictObject({ ...scheduleFields, timeZone: scheduleFields.timeZone.optional() });
export type ScheduleInput = z.output<typeof ScheduleInputSchema>;

export const SchedulePatchSchema = z.strictObject(scheduleFields).partial().refine(nonEmpty, { message: 'nothing to change' });
export type SchedulePatch = z.output<typeof SchedulePatchSchema>;

const scheduleColumns = ['id', 'practice_id', 'name', 'time_zone', 'rotation', 'created_at', 'updated_at'] as const;

interface ScheduleRow {
  id: string;
  practice_id: string;
  name: string;
  time_zone: string;
  rotation: unknown;
  created_at: Date;
  updated_at: Date;
}

/** Stored rotations were checked on the way in; a row that no longer parses is a bug, reported without its contents. */
function parseRotation(row: ScheduleRow): Rotation {
  const parsed = RotationSchema.safeParse(row.rotation);
  if (!parsed.success) throw new Error(`stored rotation of schedule ${row.id} is invalid: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
  return parsed.data;
}

function toScheduleRecord(row: ScheduleRow): ScheduleRecord {
  return {
    id: row.id,
    practiceId: row.practice_id,
    name: row.name,
    timeZone: row.time_zone,
    rotation: parseRotation(row),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

async function checkMembers(db: Executor, practiceId: string, rotation: Rotation): Promise<string | null> {
  const foreign = await foreignProviderIds(db, practiceId, rotation.members);
  const i = rotation.members.findIndex((id) => foreign.has(id));
  return i >= 0 ? `rotation.members.${i}: no such provider in this practice` : null;
}

export async function createSchedule(scope: PracticeScope, input: ScheduleInput): Promise<StoreResult<ScheduleRecord>> {
  const { db, practiceId } = scope;
  const problem = await checkMembers(db, practiceId, input.rotation);
  if (problem) return invalid(problem);
  const timeZone = input.timeZone ?? (await getPractice(scope))?.timeZone;
  if (!timeZone) return notFound;
  const row = await db
    .insertInto('oncall_schedules')
    .values({ practice_id: practiceId, name: input.name, time_zone: timeZone, rotation: JSON.stringify(input.rotation) })
    .returning(scheduleColumns)
    .executeTakeFirstOrThrow();
  return { ok: true, value: toScheduleRecord(row) };
}

export async function updateSchedule(scope: PracticeScope, id: string, patch: SchedulePatch): Promise<StoreResult<ScheduleRecord>> {
  const { db, practiceId } = scope;
  if (patch.rotation) {
    const problem = await checkMembers(db, practiceId, patch.rotation);
    if (problem) return invalid(problem);
  }
  const row = await db
    .updateTable('oncall_schedules')
    .set({
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.timeZone !== undefined ? { time_zone: patch.timeZone } : {}),
      ...(patch.rotation !== undefined ? { rotation: JSON.stringify(patch.rotation) } : {}),
      updated_at: sql<Date>`now()`,
    })
    .where('practice_id', '=', practiceId)
    .where('id', '=', id)
    .returning(scheduleColumns)
    .executeTakeFirst();
  return row ? { ok: true, value: toScheduleRecord(row) } : notFound;
}

export async function getSchedule(scope: PracticeScope, id: string): Promise<ScheduleRecord | null> {
  const row = await scope.db.selectFrom('oncall_schedules').select(scheduleColumns).where('practice_id', '=', scope.practiceId).where('id', '=', id).executeTakeFirst();
  return row ? toScheduleRecord(row) : null;
}

export async function listSchedules(scope: PracticeScope): Promise<ScheduleRecord[]> {
  const rows = await scope.db.selectFrom('oncall_schedules').select(scheduleColumns).where('practice_id', '=', scope.practiceId).orderBy('name').orderBy('id').execute();
  return rows.map(toScheduleRecord);
}

/** Half-open window [from, to): only overrides overlapping it are loaded. */
export interface Window {
  from: Date;
  to: Date;
}

/**
 * The practice's schedules as the pure `Schedule` type, each with its overrides (all of them, or
 * only those overlapping `window`), sorted by name. `ids` narrows to those schedules.
 */
export async function loadSchedules(scope: PracticeScope, opts: { ids?: readonly string[]; window?: Window } = {}): Promise<Schedule[]> {
  const { db, practiceId } = scope;
  if (opts.ids && opts.ids.length === 0) return [];
  let q = db.selectFrom('oncall_schedules').select(scheduleColumns).where('practice_id', '=', practiceId);
  if (opts.ids) q = q.where('id', 'in', [...opts.ids]);
  const rows = await q.orderBy('name').orderBy('id').execute();
  if (rows.length === 0) return [];

  let oq = db
    .selectFrom('oncall_overrides')
    .innerJoin('oncall_schedules', 'oncall_schedules.id', 'oncall_overrides.schedule_id')
    .select(['oncall_overrides.id', 'oncall_overrides.schedule_id', 'oncall_overrides.provider_id', 'starts_at', 'ends_at', 'oncall_overrides.created_at'])
    .where('oncall_schedules.practice_id', '=', practiceId)
    .where(
      'oncall_overrides.schedule_id',
      'in',
      rows.map((r) => r.id),
    );
  if (opts.window) oq = oq.where('starts_at', '<', opts.window.to).where('ends_at', '>', opts.window.from);
  const overrides = await oq.orderBy('starts_at').orderBy('oncall_overrides.id').execute();

  const bySchedule = new Map<string, Override[]>();
  for (const o of overrides) {
    const list = bySchedule.get(o.schedule_id) ?? [];
    list.push({ id: o.id, providerId: o.provider_id, start: o.starts_at, end: o.ends_at, createdAt: o.created_at });
    bySchedule.set(o.schedule_id, list);
  }
  return rows.map((row) => {
    const parsed = ScheduleSchema.safeParse({
      id: row.id,
      name: row.name,
      timeZone: row.time_zone,
      rotation: row.rotation,
      overrides: bySchedule.get(row.id) ?? [],
    });
    if (!parsed.success) throw new Error(`stored schedule ${row.id} is invalid: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
    return parsed.data;
  });
}

/** One schedule of the practice with its overrides (all, or those overlapping `window`); null if not the practice's. */
export async function loadSchedule(scope: PracticeScope, scheduleId: string, window?: Window): Promise<Schedule | null> {
  const [schedule] = await loadSchedules(scope, { ids: [scheduleId], ...(window ? { window } : {}) });
  return schedule ?? null;
}

// ---------------------------------------------------------------------------
// Overrides
// ---------------------------------------------------------------------------

export interface OverrideRecord extends Override {
  scheduleId: string;
}

const overrideColumns = ['oncall_overrides.id', 'schedule_id', 'provider_id', 'starts_at', 'ends_at', 'oncall_overrides.created_at'] as const;

function toOverrideRecord(r: { id: string; schedule_id: string; provider_id: string; starts_at: Date; ends_at: Date; created_at: Date }): OverrideRecord {
  return { id: r.id, scheduleId: r.schedule_id, providerId: r.provider_id, start: r.starts_at, end: r.ends_at, createdAt: r.created_at };
}

/**
 * Adds an override to a schedule of the practice. `createdAt` is the database's clock at insert, so
 * "latest-created wins" follows the real order of writes whatever clock the service runs on.
 */
export async function createOverride(scope: PracticeScope, scheduleId: string, input: OverrideInput): Promise<StoreResult<OverrideRecord>> {
  const { db, practiceId } = scope;
  const schedule = await db.selectFrom('oncall_schedules').select('id').where('practice_id', '=', practiceId).where('id', '=', scheduleId).executeTakeFirst();
  if (!schedule) return notFound;
  if ((await foreignProviderIds(db, practiceId, [input.providerId])).size > 0) return invalid('providerId: no such provider in this practice');
  const row = await db
    .insertInto('oncall_overrides')
    .values({ schedule_id: scheduleId, provider_id: input.providerId, starts_at: input.start, ends_at: input.end })
    .returning(['id', 'schedule_id', 'provider_id', 'starts_at', 'ends_at', 'created_at'])
    .executeTakeFirstOrThrow();
  return { ok: true, value: toOverrideRecord(row) };
}

/** Deletes one override of one of the practice's schedules; false when there is no such override there. */
export async function deleteOverride(scope: PracticeScope, scheduleId: string, overrideId: string): Promise<boolean> {
  const { db, practiceId } = scope;
  const res = await db
    .deleteFrom('oncall_overrides')
    .where('id', '=', overrideId)
    .where('schedule_id', '=', scheduleId)
    .where('schedule_id', 'in', db.selectFrom('oncall_schedules').select('id').where('practice_id', '=', practiceId))
    .executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

/** Overrides of one of the practice's schedules (those overlapping `window`, if given), by start; null if no such schedule. */
export async function listOverrides(scope: PracticeScope, scheduleId: string, window?: Window): Promise<OverrideRecord[] | null> {
  const { db, practiceId } = scope;
  const schedule = await db.selectFrom('oncall_schedules').select('id').where('practice_id', '=', practiceId).where('id', '=', scheduleId).executeTakeFirst();
  if (!schedule) return null;
  // The schedule was just found in the practice; the query names the practice again all the same.
  let q = db
    .selectFrom('oncall_overrides')
    .select(overrideColumns)
    .where('schedule_id', '=', scheduleId)
    .where('schedule_id', 'in', db.selectFrom('oncall_schedules').select('id').where('practice_id', '=', practiceId));
  if (window) q = q.where('starts_at', '<', window.to).where('ends_at', '>', window.from);
  const rows = await q.orderBy('starts_at').orderBy('oncall_overrides.id').execute();
  return rows.map(toOverrideRecord);
}

// ---------------------------------------------------------------------------
// Escalation policies
// ---------------------------------------------------------------------------

export interface EscalationPolicy {
  id: string;
  practiceId: string;
  name: string;
  tiers: EscalationTier[];
  /** How many more times the whole chain is tried after the first round (0..5). */
  repeat: number;
  pageIntervalSeconds: number;
  pageMaxRepeats: number;
  isDefault: boolean;
  createdAt: Date;
  updatedAt: Date;
}

const uuid = (what: string) => z.uuid({ error: `expected a ${what} id (uuid)` });

export const EscalationTierSchema = z.strictObject({
  target: z.discriminatedUnion(
    'kind',
    [
      z.strictObject({ kind: z.literal('schedule'), scheduleId: uuid('schedule') }),
      z.strictObject({ kind: z.literal('provider'), providerId: uuid('provider') }),
    ],
    { error: 'expected { kind: "schedule", scheduleId } or { kind: "provider", providerId }' },
  ),
  ringSeconds: z
    .number({ error: 'expected a whole number of seconds, 10 to 60' })
    .int({ error: 'expected a whole number of seconds, 10 to 60' })
    .min(10, { error: 'at least 10 seconds' })
    .max(60, { error: 'at most 60 seconds' }),
}) satisfies z.ZodType<EscalationTier>;

export const TiersSchema = z
  .array(EscalationTierSchema, { error: 'expected an array of tiers' })
  .min(1, { error: 'at least one tier is required' })
  .max(10, { error: 'at most 10 tiers' });

function intBetween(lo: number, hi: number, unit: string) {
  const message = `expected a whole number${unit}, ${lo} to ${hi}`;
  return z.number({ error: message }).int({ error: message }).min(lo, { error: message }).max(hi, { error: message });
}

const policyFields = {
  name: z.string({ error: 'expected a string' }).trim().min(1, { error: 'required' }).max(80, { error: 'at most 80 characters' }),
  tiers: TiersSchema,
  repeat: intBetween(0, 5, ''),
  pageIntervalMinutes: intBetween(1, 120, ' of minutes'),
  pageMaxRepeats: intBetween(0, 20, ''),
  isDefault: z.boolean({ error: 'expected true or false' }),
};

/** A new policy as the admin API takes it; `pageIntervalMinutes` is stored in seconds. */
export const PolicyInputSchema = z.strictObject({
  name: policyFields.name,
  tiers: policyFields.tiers,
  repeat: policyFields.repeat.default(0),
  pageIntervalMinutes: policyFields.pageIntervalMinutes.default(10),
  pageMaxRepeats: policyFields.pageMaxRepeats.default(3),
  isDefault: policyFields.isDefault.default(false),
});
export type PolicyInput = z.output<typeof PolicyInputSchema>;

export const PolicyPatchSchema = z
  .strictObject(policyFields)
  .partial()
  .refine(nonEmpty, { message: 'nothing to change' });
export type PolicyPatch = z.output<typeof PolicyPatchSchema>;

const policyColumns = ['id', 'practice_id', 'name', 'tiers', 'repeat', 'page_interval_seconds', 'page_max_repeats', 'is_default', 'created_at', 'updated_at'] as const;

interface PolicyRow {
  id: string;
  practice_id: string;
  name: string;
  tiers: unknown;
  repeat: number;
  page_interval_seconds: number;
  page_max_repeats: number;
  is_default: boolean;
  created_at: Date;
  updated_at: Date;
}

function toPolicy(row: PolicyRow): EscalationPolicy {
  const tiers = TiersSchema.safeParse(row.tiers);
  if (!tiers.success) throw new Error(`stored tiers of policy ${row.id} are invalid: ${tiers.error.issues[0]?.message ?? 'unknown'}`);
  return {
    id: row.id,
    practiceId: row.practice_id,
    name: row.name,
    tiers: tiers.data,
    repeat: row.repeat,
    pageIntervalSeconds: row.page_interval_seconds,
    pageMaxRepeats: row.page_max_repeats,
    isDefault: row.is_default,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Every schedule and provider a tier names must be the practice's own. */
async function checkTiers(db: Executor, practiceId: string, tiers: readonly EscalationTier[]): Promise<string | null> {
  const scheduleIds = tiers.flatMap((t) => (t.target.kind === 'schedule' ? [t.target.scheduleId] : []));
  const providerIds = tiers.flatMap((t) => (t.target.kind === 'provider' ? [t.target.providerId] : []));
  const [badSchedules, badProviders] = await Promise.all([
    foreignScheduleIds(db, practiceId, scheduleIds),
    foreignProviderIds(db, practiceId, providerIds),
  ]);
  for (const [i, tier] of tiers.entries()) {
    const { target } = tier;
    switch (target.kind) {
      case 'schedule':
        if (badSchedules.has(target.scheduleId)) return `tiers.${i}.target.scheduleId: no such schedule in this practice`;
        break;
      case 'provider':
        if (badProviders.has(target.providerId)) return `tiers.${i}.target.providerId: no such provider in this practice`;
        break;
      default:
        return target satisfies never;
    }
  }
  return null;
}

/** Whether the practice had anything on call before `providerId`: another provider, or any policy (src/oncall/default-policy.ts). */
export async function hadOnCallBefore(db: Executor, practiceId: string, providerId: string): Promise<boolean> {
  const row = await db
    .selectNoFrom((eb) => [
      eb.exists(eb.selectFrom('providers').select('id').where('practice_id', '=', practiceId).where('id', '!=', providerId)).as('providers'),
      eb.exists(eb.selectFrom('escalation_policies').select('id').where('practice_id', '=', practiceId)).as('policies'),
    ])
    .executeTakeFirstOrThrow();
  return Boolean(row.providers) || Boolean(row.policies);
}

/** Serialises policy writes of one practice, so "one default" holds without a unique-index race. */
export async function lockPolicies(trx: Transaction<Database>, practiceId: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.escalation_policies.' || ${practiceId}))`.execute(trx);
}

/** Clears the practice's default flag on every policy but `keepId`; returns the ids cleared. */
async function clearDefault(trx: Transaction<Database>, practiceId: string, keepId: string | null): Promise<string[]> {
  let q = trx
    .updateTable('escalation_policies')
    .set({ is_default: false, updated_at: sql<Date>`now()` })
    .where('practice_id', '=', practiceId)
    .where('is_default', '=', true);
  if (keepId) q = q.where('id', '!=', keepId);
  const rows = await q.returning('id').execute();
  return rows.map((r) => r.id);
}

export interface PolicyWrite {
  policy: EscalationPolicy;
  /** Policies that were the default until this write made another one the default. */
  clearedDefaultIds: string[];
}

export async function createPolicy(scope: PracticeScope, input: PolicyInput): Promise<StoreResult<PolicyWrite>> {
  const { practiceId } = scope;
  return inTransaction(scope.db, async (trx) => {
    await lockPolicies(trx, practiceId);
    const problem = await checkTiers(trx, practiceId, input.tiers);
    if (problem) return invalid(problem);
    const cleared = input.isDefault ? await clearDefault(trx, practiceId, null) : [];
    const row = await trx
      .insertInto('escalation_policies')
      .values({
        practice_id: practiceId,
        name: input.name,
        tiers: JSON.stringify(input.tiers),
        repeat: input.repeat,
        page_interval_seconds: input.pageIntervalMinutes * 60,
        page_max_repeats: input.pageMaxRepeats,
        is_default: input.isDefault,
      })
      .returning(policyColumns)
      .executeTakeFirstOrThrow();
    return { ok: true, value: { policy: toPolicy(row), clearedDefaultIds: cleared } };
  });
}

export async function updatePolicy(scope: PracticeScope, id: string, patch: PolicyPatch): Promise<StoreResult<PolicyWrite>> {
  const { practiceId } = scope;
  return scope.db.transaction().execute(async (trx) => {
    await lockPolicies(trx, practiceId);
    const exists = await trx.selectFrom('escalation_policies').select('id').where('practice_id', '=', practiceId).where('id', '=', id).executeTakeFirst();
    if (!exists) return notFound;
    if (patch.tiers) {
      const problem = await checkTiers(trx, practiceId, patch.tiers);
      if (problem) return invalid(problem);
    }
    const cleared = patch.isDefault === true ? await clearDefault(trx, practiceId, id) : [];
    const row = await trx
      .updateTable('escalation_policies')
      .set({
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.tiers !== undefined ? { tiers: JSON.stringify(patch.tiers) } : {}),
        ...(patch.repeat !== undefined ? { repeat: patch.repeat } : {}),
        ...(patch.pageIntervalMinutes !== undefined ? { page_interval_seconds: patch.pageIntervalMinutes * 60 } : {}),
        ...(patch.pageMaxRepeats !== undefined ? { page_max_repeats: patch.pageMaxRepeats } : {}),
        ...(patch.isDefault !== undefined ? { is_default: patch.isDefault } : {}),
        updated_at: sql<Date>`now()`,
      })
      .where('practice_id', '=', practiceId)
      .where('id', '=', id)
      .returning(policyColumns)
      .executeTakeFirstOrThrow();
    return { ok: true, value: { policy: toPolicy(row), clearedDefaultIds: cleared } };
  });
}

export async function getPolicy(scope: PracticeScope, id: string): Promise<EscalationPolicy | null> {
  const row = await scope.db.selectFrom('escalation_policies').select(policyColumns).where('practice_id', '=', scope.practiceId).where('id', '=', id).executeTakeFirst();
  return row ? toPolicy(row) : null;
}

export async function listPolicies(scope: PracticeScope): Promise<EscalationPolicy[]> {
  const rows = await scope.db.selectFrom('escalation_policies').select(policyColumns).where('practice_id', '=', scope.practiceId).orderBy('name').orderBy('id').execute();
  return rows.map(toPolicy);
}

/** The practice's escalation policy of that name (a flow's `dial_oncall` names one), or null. */
export async function getPolicyByName(scope: PracticeScope, name: string): Promise<EscalationPolicy | null> {
  const row = await scope.db
    .selectFrom('escalation_policies')
    .select(policyColumns)
    .where('practice_id', '=', scope.practiceId)
    .where('name', '=', name)
    .orderBy('created_at')
    .executeTakeFirst();
  return row ? toPolicy(row) : null;
}

/** The practice's default escalation policy, or null when none is marked default. */
export async function getDefaultPolicy(scope: PracticeScope): Promise<EscalationPolicy | null> {
  const row = await scope.db
    .selectFrom('escalation_policies')
    .select(policyColumns)
    .where('practice_id', '=', scope.practiceId)
    .where('is_default', '=', true)
    .executeTakeFirst();
  return row ? toPolicy(row) : null;
}
