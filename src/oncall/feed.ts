import { randomBytes } from 'node:crypto';
import { blindIndex, type Keyring } from '../adapters/keyring.js';
import type { IcsEvent } from './ics.js';
import { MAX_OVERRIDE_DAYS, type Schedule } from './schedule-schema.js';
import { shifts } from './schedule.js';

/**
 * A provider's on-call calendar feed: which shifts, with which stable UIDs (pure), and the
 * per-provider feed token calendar apps use instead of an API key (`?token=`).
 */

const MS_PER_DAY = 86_400_000;
/** How far ahead the feed reaches: the shifts that start within this many days, each whole. */
export const ICS_FEED_DAYS = 60;
/**
 * How far back the shifts are computed: further than any one shift piece lasts (an override
 * piece at most MAX_OVERRIDE_DAYS, a rotation piece at most a week), so the piece in progress
 * is never clipped — its start, and so its UID, is its real one.
 */
const ICS_LOOKBACK_DAYS = MAX_OVERRIDE_DAYS + 1;
/**
 * How far past the feed's last day the shifts are computed, for the same reason: a shift that
 * starts before the horizon keeps its real end, never "now + ICS_FEED_DAYS" (which moved with
 * every download while the UID stayed the same).
 */
const ICS_LOOKAHEAD_DAYS = MAX_OVERRIDE_DAYS + 1;

/** The window of shifts (and overrides to load) the feed at `now` is computed from. */
export function feedWindow(now: Date): { from: Date; to: Date } {
  return { from: new Date(now.getTime() - ICS_LOOKBACK_DAYS * MS_PER_DAY), to: new Date(now.getTime() + (ICS_FEED_DAYS + ICS_LOOKAHEAD_DAYS) * MS_PER_DAY) };
}

/**
 * Pure: the provider's shifts still to end after `now` that start within ICS_FEED_DAYS, as whole
 * calendar events (the last one ends when that shift really ends). The UID names the
 * schedule, the layer's source (the rotation or an override id) and the piece's real start, so
 * it is the same in every download while the shift is unchanged. No PHI: the practice and the
 * schedule's name only. `schedules` must carry the overrides overlapping `feedWindow(now)`.
 */
export function providerFeedEvents(input: { schedules: readonly Schedule[]; providerId: string; practiceName: string; now: Date }): IcsEvent[] {
  const { from, to } = feedWindow(input.now);
  const horizon = input.now.getTime() + ICS_FEED_DAYS * MS_PER_DAY;
  const events = input.schedules.flatMap((schedule) =>
    shifts(schedule, from, to)
      .filter((s) => s.providerId === input.providerId && s.end.getTime() > input.now.getTime() && s.start.getTime() < horizon)
      .map((s) => ({
        uid: `${schedule.id}-${s.sourceId}-${s.start.getTime()}@after-hours-line`,
        start: s.start,
        end: s.end,
        summary: `On call: ${input.practiceName} — ${schedule.name}`,
      })),
  );
  return events.sort((a, b) => a.start.getTime() - b.start.getTime() || (a.uid < b.uid ? -1 : a.uid > b.uid ? 1 : 0));
}

/** A feed token: 32 random bytes, base64url. Shown once; only its keyed hash is stored. */
export const FEED_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const FEED_TOKEN_PURPOSE = 'oncall-feed-token';

export function newFeedToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The stored form of a feed token (HMAC with the blind-index key): looked up by equality. */
export function feedTokenHash(k: Keyring, token: string): string {
  return blindIndex(k.indexKey, FEED_TOKEN_PURPOSE, token);
}
