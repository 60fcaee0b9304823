import { z } from 'zod';
import { LocalDateSchema, TimeZoneSchema, WEEKDAYS } from '../practices/settings.js';

/**
 * On-call schedules, modelled on GoAlert: one rotation (members hand off in order at a fixed local
 * wall time) plus temporary overrides that replace whoever the rotation has on call.
 *
 * `RotationSchema` and `OverrideInputSchema` take JSON from the admin API; `OverrideSchema` and
 * `ScheduleSchema` check rows as the database layer loads them (Dates already parsed). Bad input is
 * refused, never repaired; messages name the field and never echo the input back.
 */

export const MAX_ROTATION_MEMBERS = 50;
export const MAX_OVERRIDE_DAYS = 31;
const MS_PER_DAY = 86_400_000;

const HANDOFF_CLOCK = /^(?:[01]\d|2[0-3]):[0-5]\d$/;
const LENGTHS = ['daily', 'weekly'] as const;

/** strictObject whose own errors say what went wrong without repeating the offending keys. */
function objectError(what: string) {
  return (issue: { code?: string }): string =>
    issue.code === 'unrecognized_keys' ? `${what}: unknown field` : `${what}: expected an object`;
}

export function providerIdSchema(field: string) {
  return z.uuid({ error: `${field}: expected a provider id (uuid)` });
}

// ---------------------------------------------------------------------------
// Rotation
// ---------------------------------------------------------------------------

export const RotationSchema = z
  .strictObject(
    {
      members: z
        .array(providerIdSchema('members'), { error: 'members: expected an array of provider ids' })
        .min(1, { error: 'members: at least one provider is required' })
        .max(MAX_ROTATION_MEMBERS, { error: `members: at most ${MAX_ROTATION_MEMBERS} providers` })
        .refine((ids) => new Set(ids).size === ids.length, { error: 'members: a provider may appear only once' }),
      length: z.enum(LENGTHS, { error: 'length: expected daily or weekly' }),
      handoffTime: z
        .string({ error: 'handoffTime: expected a time HH:MM' })
        .regex(HANDOFF_CLOCK, { error: 'handoffTime: expected a time HH:MM between 00:00 and 23:59' }),
      handoffWeekday: z.enum(WEEKDAYS, { error: `handoffWeekday: expected one of ${WEEKDAYS.join(', ')}` }).optional(),
      startDate: z
        .string({ error: 'startDate: expected a calendar date YYYY-MM-DD' })
        .refine((s) => LocalDateSchema.safeParse(s).success, { error: 'startDate: expected a calendar date YYYY-MM-DD' }),
    },
    { error: objectError('rotation') },
  )
  .superRefine((rotation, ctx) => {
    if (rotation.length === 'weekly' && rotation.handoffWeekday === undefined) {
      ctx.addIssue({ code: 'custom', message: 'handoffWeekday: required when length is weekly', path: ['handoffWeekday'] });
    }
    if (rotation.length === 'daily' && rotation.handoffWeekday !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: 'handoffWeekday: only allowed when length is weekly',
        path: ['handoffWeekday'],
      });
    }
  });
export type Rotation = z.output<typeof RotationSchema>;

// ---------------------------------------------------------------------------
// Overrides
// ---------------------------------------------------------------------------

export interface Interval {
  start: Date;
  end: Date;
}

/** end after start, and at most MAX_OVERRIDE_DAYS later. Skipped when either field already failed. */
export function checkInterval(o: Interval, ctx: z.RefinementCtx): void {
  // Zod runs object refinements after non-fatal field issues too, so a field may still be a raw string.
  if (!(o.start instanceof Date) || !(o.end instanceof Date)) return;
  const start = o.start.getTime();
  const end = o.end.getTime();
  if (Number.isNaN(start) || Number.isNaN(end)) return;
  if (end <= start) {
    ctx.addIssue({ code: 'custom', message: 'end: must be after start', path: ['end'] });
  } else if (end - start > MAX_OVERRIDE_DAYS * MS_PER_DAY) {
    ctx.addIssue({ code: 'custom', message: `end: at most ${MAX_OVERRIDE_DAYS} days after start`, path: ['end'] });
  }
}

export function isoInstantSchema(field: string) {
  const message = `${field}: expected an ISO 8601 date-time with offset, such as 2026-03-08T13:00:00Z`;
  return z.iso.datetime({ offset: true, error: message }).transform((s, ctx) => {
    const date = new Date(s);
    if (Number.isNaN(date.getTime())) {
      ctx.issues.push({ code: 'custom', message, input: s });
      return z.NEVER;
    }
    return date;
  });
}

/** An override as the admin API receives it: who, from when, until when (ISO strings with offset). */
export const OverrideInputSchema = z
  .strictObject(
    {
      providerId: providerIdSchema('providerId'),
      start: isoInstantSchema('start'),
      end: isoInstantSchema('end'),
    },
    { error: objectError('override') },
  )
  .superRefine(checkInterval);
export type OverrideInput = z.output<typeof OverrideInputSchema>;

function dateSchema(field: string) {
  return z.date({ error: `${field}: expected a valid Date` });
}

/** A stored override. Among overlapping overrides the latest-created wins (then the larger id). */
export const OverrideSchema = z
  .strictObject(
    {
      id: z.string({ error: 'id: expected a string' }).min(1, { error: 'id: required' }).max(128, { error: 'id: too long' }),
      providerId: providerIdSchema('providerId'),
      start: dateSchema('start'),
      end: dateSchema('end'),
      createdAt: dateSchema('createdAt'),
    },
    { error: objectError('override') },
  )
  .superRefine(checkInterval);
export type Override = z.output<typeof OverrideSchema>;

// ---------------------------------------------------------------------------
// Schedule
// ---------------------------------------------------------------------------

const TIME_ZONE_MESSAGE = 'timeZone: expected an IANA time zone such as America/New_York';

export const ScheduleSchema = z.strictObject(
  {
    id: z.string({ error: 'id: expected a string' }).min(1, { error: 'id: required' }).max(128, { error: 'id: too long' }),
    name: z
      .string({ error: 'name: expected a string' })
      .min(1, { error: 'name: required' })
      .max(200, { error: 'name: at most 200 characters' }),
    timeZone: z
      .string({ error: TIME_ZONE_MESSAGE })
      .refine((s) => TimeZoneSchema.safeParse(s).success, { error: TIME_ZONE_MESSAGE }),
    rotation: RotationSchema,
    overrides: z.array(OverrideSchema, { error: 'overrides: expected an array' }),
  },
  { error: objectError('schedule') },
);
export type Schedule = z.output<typeof ScheduleSchema>;
