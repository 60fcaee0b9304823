import type { Redis } from 'ioredis';
import type { CallState, EngineEvent } from './engine.js';

/**
 * Call state in Redis, keyed by CallSid, with a TTL. It holds ids, counters and the language —
 * never PHI (no numbers, digits, names or dates).
 */

export const CALL_STATE_TTL_SECONDS = 4 * 60 * 60;
const REPLAY_DEPTH = 3;

/** What a webhook changed, kept so that Twilio's retry of it gets the same answer. */
export interface ReplayEntry {
  step: number;
  before: CallState;
  event: EngineEvent;
  /** When the step first ran (ISO): its replay runs as of then (office hours, the next appointment). */
  at?: string;
}

export interface StoredCall {
  state: CallState;
  replay: ReplayEntry[];
}

/** Every key of one call carries the call SID as a hash tag: one slot, so the call's scripts also run on Redis Cluster. */
export const callKey = (callSid: string): string => `call:{${callSid}}`;
const key = callKey;

export async function loadCall(redis: Redis, callSid: string): Promise<StoredCall | null> {
  const raw = await redis.get(key(callSid));
  return raw ? (JSON.parse(raw) as StoredCall) : null;
}

/**
 * Claims one step of one call, atomically across instances: true for the first webhook that
 * gets here, false for a concurrent duplicate. Only the claimant writes audit events.
 */
export async function claimStep(redis: Redis, callSid: string, step: number): Promise<boolean> {
  const ok = await redis.set(`${key(callSid)}:step:${step}`, '1', 'EX', CALL_STATE_TTL_SECONDS, 'NX');
  return ok === 'OK';
}

/** What the provider did in the whisper of one dial attempt, for the parent call's <Dial> action to read. */
export async function setWhisperOutcome(redis: Redis, callSid: string, attempt: number, outcome: string): Promise<void> {
  await redis.set(`${key(callSid)}:attempt:${attempt}`, outcome, 'EX', CALL_STATE_TTL_SECONDS);
}

export async function getWhisperOutcome(redis: Redis, callSid: string, attempt: number): Promise<string | null> {
  return redis.get(`${key(callSid)}:attempt:${attempt}`);
}

/** Claims step 0 (NX) and, only if the claim is won, saves the state: one round trip. */
const START_CALL = `
if redis.call('SET', KEYS[1], '1', 'EX', ARGV[1], 'NX') then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[1])
  return 1
end
return 0
`;

/**
 * A call's first webhook: claims its step 0 and saves the state it leads to, atomically and in
 * one round trip. True for the first delivery; false for a duplicate, which saves nothing (the
 * first delivery's state is already there for it to replay).
 */
export async function startCall(redis: Redis, callSid: string, entry: ReplayEntry, state: CallState): Promise<boolean> {
  const stored = JSON.stringify({ state, replay: [entry] } satisfies StoredCall);
  const won = await redis.eval(START_CALL, 2, `${key(callSid)}:step:0`, key(callSid), CALL_STATE_TTL_SECONDS, stored);
  return won === 1;
}

export async function saveCall(redis: Redis, callSid: string, prior: StoredCall | null, entry: ReplayEntry, state: CallState): Promise<void> {
  const replay = [...(prior?.replay ?? []), entry].slice(-REPLAY_DEPTH);
  await redis.set(key(callSid), JSON.stringify({ state, replay } satisfies StoredCall), 'EX', CALL_STATE_TTL_SECONDS);
}
