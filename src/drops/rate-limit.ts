import type { Redis } from 'ioredis';

/**
 * A rate limiter shared by every instance through Redis: each caller reserves the next free
 * slot, `max(now, last slot + 1000 / perSecond)`, in one Lua script (atomic), then sleeps
 * until its slot. Used for Twilio's outbound-call rate, 1 call per second per account by
 * default (key `rate:twilio-calls:<AccountSid>`).
 *
 * Time: with no `now`, the script reads the Redis server's clock, so instances with skewed
 * clocks still share one timeline. A `now` (tests) is used for the reservation instead.
 * The key lives only while a reservation is in the future (plus one interval), so an idle
 * limiter leaves nothing behind. ioredis applies its keyPrefix to the script's KEYS.
 */

const RESERVE_SCRIPT = `
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local interval = tonumber(ARGV[2])
local notBefore = tonumber(ARGV[3]) or now
local last = tonumber(redis.call('GET', KEYS[1]))
local slot = math.max(now, notBefore)
if last ~= nil and last + interval > slot then slot = last + interval end
local ttl = math.ceil(slot - now + interval) + 1000
redis.call('SET', KEYS[1], tostring(slot), 'PX', ttl)
return math.ceil(slot - now)
`;

export const TWILIO_CALLS_PER_SECOND = 1;

export function twilioCallRateKey(accountSid: string): string {
  return `rate:twilio-calls:${accountSid}`;
}

/** Patient SMS per second per Twilio account (a 10DLC long code's conservative pace; campaigns pace themselves below it). */
export const TWILIO_SMS_PER_SECOND = 1;

export function twilioSmsRateKey(accountSid: string): string {
  return `rate:twilio-sms:${accountSid}`;
}

/**
 * Reserves the next slot under `key` for `perSecond` operations a second and waits for it.
 * Resolves with the milliseconds waited (0 when the slot was free). A long queue of callers
 * means a long wait for the last one: callers bound their own concurrency.
 */
export async function acquireSlot(redis: Redis, key: string, perSecond: number, now?: () => number): Promise<number> {
  if (!(Number.isFinite(perSecond) && perSecond > 0)) throw new RangeError('perSecond must be a positive number');
  const interval = 1000 / perSecond;
  const at = now === undefined ? '' : String(now());
  const reply = await redis.eval(RESERVE_SCRIPT, 1, key, at, String(interval), '');
  const wait = Math.max(0, Number(reply) || 0);
  if (wait > 0) await new Promise<void>((resolve) => setTimeout(resolve, wait));
  return wait;
}

/**
 * Reserves, without waiting, the first free slot under `key` at or after `notBefore` (epoch ms)
 * for `perSecond` operations a second, and returns it (epoch ms, on the caller's clock).
 * Used to keep a campaign's pace when drops are deferred to the same moment.
 */
export async function reserveSlot(redis: Redis, key: string, perSecond: number, notBefore: number, now: number = Date.now()): Promise<number> {
  if (!(Number.isFinite(perSecond) && perSecond > 0)) throw new RangeError('perSecond must be a positive number');
  const reply = await redis.eval(RESERVE_SCRIPT, 1, key, String(now), String(1000 / perSecond), String(Math.round(notBefore)));
  return now + Math.max(0, Number(reply) || 0);
}
