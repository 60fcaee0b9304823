import type { Request, Response } from 'express';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { recordRefusal, type Refusal } from '../audit/refusals.js';
import { logger } from '../log/logger.js';
import type { Services } from '../services.js';

/**
 * Rate limits at the edge, on Redis (shared by every instance), each a budget per minute:
 *
 * - `apiSource`: every /api request, per source, before the key is looked at.
 * - `authFailures`: failed API-key checks per source; once spent, the source's /api requests
 *   are refused before any key lookup until the minute is over.
 * - `apiKey`: every authenticated /api request, per key.
 * - `signInSource`: staff sign-in attempts (password, second factor, invitation, reset), per source.
 * - `signInAccount`: failed sign-ins per account (its e-mail's hash, or the person's id at the
 *   second factor), over 15 minutes: once spent, the account's sign-ins are refused until then.
 *   Each attempt takes its point before it is tried and a success gives it back, so concurrent
 *   attempts cannot all pass a check made before any failure was counted.
 * - `passwordResetAccount`: password-reset requests per account, the same number over 15
 *   minutes, a budget of their own: asking resets for someone's e-mail never locks them out of
 *   signing in.
 * - `unsubscribe`: the public unsubscribe link (`GET` and `POST /u/:token`), per source.
 * - `twilioUnsigned`: /twilio requests that fail the signature check, per source. A validly
 *   signed webhook is never limited (it may be a live call); an unsigned request from a source
 *   whose budget is spent is refused before its body is read.
 *
 * A refusal answers 429 with Retry-After and is counted in the source's refusal summary
 * (../audit/refusals.ts), never one audit row each. Should Redis fail, each instance falls back
 * to an in-memory limiter of the same budget (rate-limiter-flexible's insurance limiter).
 *
 * The source is Express's `req.ip`: the socket's address, or the client named in
 * X-Forwarded-For when the request came through a proxy listed in TRUSTED_PROXIES.
 */

export type LimitName = 'apiSource' | 'apiKey' | 'authFailures' | 'twilioUnsigned' | 'signInSource' | 'signInAccount' | 'passwordResetAccount' | 'unsubscribe';
export type EdgeLimiters = Record<LimitName, RateLimiterRedis>;

/** The limits' names in audit counts. */
const LIMIT_CODES: Record<LimitName, string> = { apiSource: 'api_source', apiKey: 'api_key', authFailures: 'auth_failures', twilioUnsigned: 'twilio_unsigned', signInSource: 'sign_in_source', signInAccount: 'sign_in_account', passwordResetAccount: 'password_reset_account', unsubscribe: 'unsubscribe' };

const WINDOW_S = 60;
const limiters = new WeakMap<Services, EdgeLimiters>();

/** The service's limiters (one set per Services, built on first use). */
export function limitersFor(services: Pick<Services, 'redis' | 'config'> & object): EdgeLimiters {
  const known = limiters.get(services as Services);
  if (known) return known;
  const { rateLimits } = services.config;
  const make = (name: LimitName, points: number, duration: number = WINDOW_S): RateLimiterRedis =>
    new RateLimiterRedis({
      storeClient: services.redis,
      keyPrefix: `rl-${name}`,
      points,
      duration,
      insuranceLimiter: new RateLimiterMemory({ keyPrefix: `rl-${name}`, points, duration }),
    });
  const built: EdgeLimiters = {
    apiSource: make('apiSource', rateLimits.apiPerSource),
    apiKey: make('apiKey', rateLimits.apiPerKey),
    authFailures: make('authFailures', rateLimits.authFailuresPerSource),
    twilioUnsigned: make('twilioUnsigned', rateLimits.twilioUnsignedPerSource),
    signInSource: make('signInSource', rateLimits.signInPerSource),
    signInAccount: make('signInAccount', rateLimits.signInFailuresPerAccount, 15 * 60),
    passwordResetAccount: make('passwordResetAccount', rateLimits.signInFailuresPerAccount, 15 * 60),
    unsubscribe: make('unsubscribe', rateLimits.unsubscribePerSource),
  };
  limiters.set(services as Services, built);
  return built;
}

/** The client's address: IPv4-mapped IPv6 written as IPv4; bounded. */
export function requestSource(req: Request): string {
  const ip = req.ip ?? req.socket.remoteAddress ?? 'unknown';
  return (ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip).slice(0, 64);
}

export type LimitVerdict = { ok: true } | { ok: false; retryAfterS: number };

const refused = (res: RateLimiterRes): LimitVerdict => ({ ok: false, retryAfterS: Math.max(1, Math.ceil(res.msBeforeNext / 1000)) });

/** Takes one point; refused when the budget is spent. Any other failure lets the request through (logged). */
export async function consumeLimit(limiter: RateLimiterRedis, key: string): Promise<LimitVerdict> {
  try {
    await limiter.consume(key);
    return { ok: true };
  } catch (err) {
    if (err instanceof RateLimiterRes) return refused(err);
    logger.warn('rate limiter unavailable; request let through', { err });
    return { ok: true };
  }
}

/**
 * Gives back the point an attempt took (`consumeLimit` first, so concurrent attempts cannot all
 * pass a check made before any is counted; the point returned when the attempt succeeded).
 */
export async function refundLimit(limiter: RateLimiterRedis, key: string): Promise<void> {
  try {
    await limiter.reward(key, 1);
  } catch (err) {
    logger.warn('rate limiter unavailable; point not given back', { err });
  }
}

/** Whether the budget is already spent, without taking a point. */
export async function limitSpent(limiter: RateLimiterRedis, key: string): Promise<LimitVerdict> {
  try {
    const res = await limiter.get(key);
    return res !== null && res.consumedPoints >= limiter.points ? refused(res) : { ok: true };
  } catch (err) {
    logger.warn('rate limiter unavailable; request let through', { err });
    return { ok: true };
  }
}

/**
 * Every refusal by a rate limit goes through here (the place to count them in metrics):
 * counted in the source's refusal summary, then 429 with Retry-After, JSON or plain text.
 */
export async function refuseRateLimited(
  services: Services,
  req: Request,
  res: Response,
  limit: LimitName,
  verdict: { retryAfterS: number },
  format: 'json' | 'text',
): Promise<void> {
  await countRefusal(services, { source: requestSource(req), kind: `rate_limited:${LIMIT_CODES[limit]}` });
  if (res.headersSent) return;
  res.setHeader('Retry-After', String(verdict.retryAfterS));
  if (format === 'json') res.status(429).json({ error: 'rate_limited', message: `too many requests; retry after ${verdict.retryAfterS} s` });
  else res.status(429).type('text/plain').send('Too Many Requests');
}

/** A refusal counted (and audited while the source's minute has in-full budget); never throws. */
export async function countRefusal(services: Services, refusal: Refusal): Promise<void> {
  try {
    await recordRefusal(services, refusal);
  } catch (err) {
    logger.error('audit write failed', { err });
  }
}
