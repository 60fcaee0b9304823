import { z } from 'zod';

/**
 * An instant in a query string (`?from=`, `?to=`): an ISO 8601 date-time with offset
 * (`2026-11-01T12:00:00Z`) or a calendar date (`2026-11-01`, midnight UTC). Nothing looser:
 * `z.coerce.date()` took `1` (the year 2001), and years PostgreSQL cannot store (it answered 500).
 */

const QUERY_INSTANT_MESSAGE = 'expected an ISO 8601 date-time with offset (2026-11-01T12:00:00Z) or a date (2026-11-01)';

export const QueryInstantSchema = z
  .string({ error: QUERY_INSTANT_MESSAGE })
  .max(40, { error: QUERY_INSTANT_MESSAGE })
  .refine((s) => z.iso.datetime({ offset: true }).safeParse(s).success || z.iso.date().safeParse(s).success, { error: QUERY_INSTANT_MESSAGE })
  .transform((s, ctx) => {
    const date = new Date(s);
    const year = date.getUTCFullYear();
    if (Number.isNaN(date.getTime()) || year < 1 || year > 9999) {
      ctx.issues.push({ code: 'custom', message: QUERY_INSTANT_MESSAGE, input: s });
      return z.NEVER;
    }
    return date;
  });
